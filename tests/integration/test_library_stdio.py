"""The library shaped like subprocess: per-container stdio (PIPE, DEVNULL, fds,
files), wait(timeout), communicate, stop, run() and run_async(), from many
threads and asyncio tasks at once, with nothing left on the host."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import pycontainer
from pycontainer import Container, load_config

pytestmark = pytest.mark.root


def _ids_script(tag: str) -> list[str]:
    return ["/bin/sh", "-c", f"echo out-{tag}; echo err-{tag} >&2"]


def test_twenty_threads_each_get_their_own_output(bundle, capfd):
    bundle.write()
    results: dict[int, object] = {}
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            # The application's own output (one write: print's text and newline
            # are two, which threads interleave): must stay on its stdout.
            os.write(1, f"app-{n}\n".encode())
            results[n] = pycontainer.run(
                bundle.path, _ids_script(str(n)), root=bundle.state_root, capture_output=True
            )
            os.write(1, f"app-after-{n}\n".encode())
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    for n in range(20):
        r = results[n]
        assert (r.returncode, r.stdout, r.stderr) == (0, f"out-{n}\n".encode(), f"err-{n}\n".encode())
    captured = capfd.readouterr()
    lines = captured.out.splitlines()
    assert sorted(lines) == sorted([f"app-{n}" for n in range(20)] + [f"app-after-{n}" for n in range(20)])
    assert "out-" not in captured.err and "err-" not in captured.err


def test_twenty_asyncio_tasks_each_get_their_own_output(bundle, capfd):
    bundle.write()

    async def one(n: int) -> pycontainer.CompletedProcess:
        print(f"app-{n}", flush=True)
        return await pycontainer.run_async(
            bundle.path, _ids_script(str(n)), root=bundle.state_root, capture_output=True, text=True
        )

    async def main() -> list[pycontainer.CompletedProcess]:
        return await asyncio.gather(*(one(n) for n in range(20)))

    results = asyncio.run(main())
    for n, r in enumerate(results):
        assert (r.returncode, r.stdout, r.stderr) == (0, f"out-{n}\n", f"err-{n}\n")
    captured = capfd.readouterr()
    assert sorted(captured.out.splitlines()) == sorted(f"app-{n}" for n in range(20))
    assert "out-" not in captured.err


def test_run_timeout_kills_and_deletes_everything(bundle):
    bundle.write()
    began = time.monotonic()
    with pytest.raises(pycontainer.TimeoutExpired) as caught:
        pycontainer.run(bundle.path, ["/bin/sleep", "100"], root=bundle.state_root, timeout=1)
    took = time.monotonic() - began
    assert 1 <= took < 5, took
    assert caught.value.timeout == 1 and caught.value.cmd == ["/bin/sleep", "100"]
    assert not [n for n in os.listdir(bundle.state_root) if n.startswith("pycontainer-")]


def test_run_timeout_with_capture_keeps_the_output_so_far(bundle):
    bundle.write()
    with pytest.raises(pycontainer.TimeoutExpired) as caught:
        pycontainer.run(
            bundle.path,
            ["/bin/sh", "-c", "echo early; sleep 100"],
            root=bundle.state_root,
            capture_output=True,
            timeout=1,
        )
    assert caught.value.stdout == b"early\n"


def test_run_async_timeout(bundle):
    bundle.write()
    began = time.monotonic()
    with pytest.raises(pycontainer.TimeoutExpired):
        asyncio.run(
            pycontainer.run_async(bundle.path, ["/bin/sleep", "100"], root=bundle.state_root, timeout=1)
        )
    assert time.monotonic() - began < 5


def test_stop_kills_a_shell_that_ignores_sigterm(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "trap '' TERM; sleep 100; true"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as box:
        box.start()
        with pytest.raises(pycontainer.TimeoutExpired):
            box.wait(timeout=0.2)
        began = time.monotonic()
        assert box.stop(timeout=1) == 128 + signal.SIGKILL
        assert 1 <= time.monotonic() - began < 5
        assert box.status == "stopped"


def test_stop_returns_the_exit_code_of_a_process_that_obeys(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as box:
        box.start()
        time.sleep(0.3)  # the trap is set
        assert box.stop(timeout=10) == 7


def test_kill_and_stop_on_an_exited_container_do_not_raise(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "exit 3"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as box:
        box.start()
        while box.poll() is None:  # exited but not reaped: the race every timeout path has
            time.sleep(0.01)
        assert box.kill() is False  # reaped now: nothing to signal
        assert box.kill(signal.SIGKILL, all_processes=True) is False
        assert box.stop(timeout=1) == 3
        assert box.wait() == 3 and box.returncode == 3
    # The CLI keeps runc's behaviour: an error for a stopped container.
    other = Container.create(bundle.id, bundle.path, root=bundle.state_root)
    try:
        other.start()
        other.wait()
        from tests.conftest import NSINIT

        r = subprocess.run(
            [*NSINIT, "--root", str(bundle.state_root), "kill", bundle.id, "KILL"],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 1 and "stopped" in r.stderr
    finally:
        other.delete(force=True)


def test_kill_right_after_exit_before_reaping(bundle):
    bundle.config["process"]["args"] = ["/bin/true"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as box:
        box.start()
        time.sleep(0.3)  # a zombie now, not reaped
        box.kill(signal.SIGKILL)  # must not raise
        assert box.stop(0) == 0


def test_communicate_200_kb_both_ways(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "cat; head -c 200000 /dev/zero | tr '\\0' e >&2"]
    bundle.write()
    payload = os.urandom(100_000).hex().encode()  # 200 kB
    box = Container.create(
        bundle.id,
        bundle.path,
        root=bundle.state_root,
        stdin=pycontainer.PIPE,
        stdout=pycontainer.PIPE,
        stderr=pycontainer.PIPE,
    )
    with box:
        box.start()
        out, err = box.communicate(payload, timeout=30)
        assert out == payload
        assert err == b"e" * 200_000
        assert box.returncode == 0


def test_communicate_timeout_then_again(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "echo one; sleep 1; echo two"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root, stdout=pycontainer.PIPE) as box:
        box.start()
        with pytest.raises(pycontainer.TimeoutExpired) as caught:
            box.communicate(timeout=0.3)
        assert caught.value.output == b"one\n"
        assert box.communicate(timeout=10) == (b"one\ntwo\n", None)


def test_devnull_file_and_stderr_to_stdout(bundle, tmp_path):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "cat; echo out; echo err >&2"]
    bundle.write()
    target = tmp_path / "out.txt"
    with open(target, "wb") as f:
        with Container.create(
            bundle.id,
            bundle.path,
            root=bundle.state_root,
            stdin=pycontainer.DEVNULL,
            stdout=f,
            stderr=pycontainer.STDOUT,
        ) as box:
            box.start()
            assert box.wait(timeout=10) == 0
            assert box.stdin is box.stdout is box.stderr is None
    assert target.read_bytes() == b"out\nerr\n"


def test_exec_with_pipes(bundle):
    bundle.config["process"]["args"] = ["/bin/sleep", "100"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as box:
        box.start()
        proc = box.exec(
            args=["/bin/sh", "-c", "cat; echo e >&2; exit 4"],
            stdin=pycontainer.PIPE,
            stdout=pycontainer.PIPE,
            stderr=pycontainer.PIPE,
            text=True,
        )
        assert proc.communicate("hello", timeout=10) == ("hello", "e\n")
        assert proc.wait() == 4 and proc.returncode == 4
        proc.kill()  # exited: nothing happens
        slow = box.exec(args=["/bin/sleep", "100"], stdout=pycontainer.DEVNULL)
        with pytest.raises(pycontainer.TimeoutExpired):
            slow.wait(timeout=0.1)
        slow.kill(signal.SIGKILL)
        assert slow.wait(timeout=10) == 128 + signal.SIGKILL


def test_terminal_config_refuses_stdio_arguments(bundle):
    bundle.config["process"]["terminal"] = True
    bundle.write()
    with pytest.raises(pycontainer.ConfigError) as caught:
        Container.create(bundle.id, bundle.path, root=bundle.state_root, stdout=pycontainer.PIPE)
    assert caught.value.path == "process.terminal"
    assert not os.path.exists(os.path.join(bundle.state_root, bundle.id))


def test_run_check_and_args_leave_the_spec_alone(bundle):
    bundle.config["process"]["args"] = ["/bin/true"]
    bundle.write()
    spec = load_config(bundle.config_path)
    with pytest.raises(pycontainer.CalledProcessError) as caught:
        pycontainer.run(
            spec, ["/bin/sh", "-c", "echo x; exit 5"], root=bundle.state_root, capture_output=True, check=True
        )
    assert (caught.value.returncode, caught.value.stdout) == (5, b"x\n")
    assert spec.process.args == ["/bin/true"]
    r = pycontainer.run(spec, root=bundle.state_root, input=b"ignored")
    assert r.returncode == 0 and r.args == ["/bin/true"] and r.stdout is None


def test_keyboard_interrupt_during_run_leaves_nothing(bundle):
    bundle.write()

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(KeyboardInterrupt):
            pycontainer.run(bundle.path, ["/bin/sleep", "100"], root=bundle.state_root, capture_output=True)
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(KeyboardInterrupt):
            pycontainer.run(bundle.path, ["/bin/sleep", "100"], root=bundle.state_root)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not [n for n in os.listdir(bundle.state_root) if n.startswith("pycontainer-")]


def test_cancelled_run_async_leaves_nothing(bundle):
    bundle.write()

    async def main() -> None:
        task = asyncio.ensure_future(
            pycontainer.run_async(
                bundle.path, ["/bin/sleep", "100"], root=bundle.state_root, capture_output=True
            )
        )
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_wait_from_another_process(bundle):
    """The init is not that process's child: wait blocks on the pidfd until
    it exits and says the code is unknown (None), never a made-up -1."""
    bundle.config["process"]["args"] = ["/bin/sleep", "1"]
    bundle.write()
    script = (
        "import sys; sys.path.insert(0, sys.argv[3]); import pycontainer, time\n"
        "c = pycontainer.Container.load(sys.argv[1], sys.argv[2])\n"
        "try:\n    c.wait(timeout=0.05)\nexcept pycontainer.TimeoutExpired:\n    print('timeout')\n"
        "t = time.monotonic(); print(c.wait(timeout=20), round(time.monotonic() - t) >= 0)\n"
    )
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as box:
        box.start()
        r = subprocess.run(
            [sys.executable, "-c", script, bundle.id, str(bundle.state_root), src],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.stdout.split("\n")[:2] == ["timeout", "None True"], r.stderr
        assert box.poll() == 0  # exited by then; our own wait knows the code


def test_another_containers_init_does_not_hold_our_pipes(make_bundle):
    """A clone inherits every fd of the caller until it execs: a container
    created (and not started) after ours would keep our stdin's write end,
    and our `cat` would never see EOF."""
    first, second = make_bundle(), make_bundle()
    first.config["process"]["args"] = ["/bin/cat"]
    first.write()
    second.config["process"]["args"] = ["/bin/true"]
    second.write()
    with Container.create(
        first.id, first.path, root=first.state_root, stdin=pycontainer.PIPE, stdout=pycontainer.PIPE
    ) as box:
        with Container.create(second.id, second.path, root=second.state_root):  # waits, never started
            box.start()
            assert box.communicate(b"data", timeout=5) == (b"data", None)


def test_readme_sandbox_example_runs(bundle):
    """The README's sandbox example, as printed (this test's bundle and state
    root swapped in)."""
    import re

    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- the sandbox example.*?-->\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its sandbox example"
    code = match.group(1).replace('"specs/busybox/config.json"', repr(str(bundle.write())))
    code = code.replace('"/run/pycontainer"', repr(str(bundle.state_root)))
    began = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-u", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src")},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["0 42 no network", "killed after 1 s"]
    assert time.monotonic() - began < 10
