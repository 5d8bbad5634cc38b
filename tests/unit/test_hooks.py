"""The lifecycle hook runner: small shell scripts in tmp_path as hooks, no root needed."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from pycontainer.errors import ContainerError
from pycontainer.hooks import OUTPUT_LIMIT, HookError, run_hook, run_hooks
from pycontainer.spec.models import Hook

STATE = {
    "ociVersion": "1.2.0",
    "id": "hooked",
    "pid": 4242,
    "status": "created",
    "bundle": "/run/bundles/hooked",
    "rootfs": "/run/bundles/hooked/rootfs",
    "created": "2024-01-02T03:04:05.000000006Z",
    "annotations": {"org.example/key": "välue"},
    "owner": "",
}


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def no_fd_leak():
    """Every test: no fd of ours is left open, whatever the outcome."""
    before = open_fds()
    yield
    assert open_fds() == before


def script(tmp_path, name: str, body: str, mode: int = 0o755) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return str(path)


def hook(path: str, args=None, env=None, timeout=None) -> Hook:
    h = Hook(path=path)
    h.args = list(args or [])
    h.env = list(env or [])
    h.timeout = timeout
    return h


def gone(pid: int) -> bool:
    """Neither running nor a zombie waiting to be reaped."""
    return not os.path.exists(f"/proc/{pid}")


def kill_quietly(pid_file) -> None:
    try:
        os.kill(int(pid_file.read_text()), 9)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass


# --- what the hook gets ------------------------------------------------------------------------------


def test_state_json_on_stdin(tmp_path):
    out = tmp_path / "stdin"
    path = script(tmp_path, "copy", '/bin/cat > "$1"')
    run_hook(hook(path, [path, str(out)]), STATE, phase="createRuntime", index=0)
    assert json.loads(out.read_text()) == STATE


def test_args_and_exact_env(tmp_path):
    out = tmp_path / "record"
    # /proc/$$/environ is the environment execve gave (the shell exports PWD on top).
    body = 'printf "[%s]\\n" "$@" > "$1"; /bin/cat /proc/$$/environ > "$1.env"'
    path = script(tmp_path, "record", body)
    env = ["A=1", "B=two words", "EMPTY=", "EQ=x=y"]
    run_hook(hook(path, ["ignored-argv0", str(out), "x y", ""], env), STATE, phase="prestart", index=0)
    assert out.read_text() == f"[{out}]\n[x y]\n[]\n"
    assert (tmp_path / "record.env").read_text() == "\0".join(env) + "\0"


def test_empty_env_and_args(tmp_path):
    out = tmp_path / "record"
    body = f'echo "$#" > {out}; /bin/cat /proc/$$/environ /proc/$$/cmdline >> {out}'
    path = script(tmp_path, "record", body)
    run_hook(hook(path), STATE, phase="prestart", index=0)
    count, _, rest = out.read_text().partition("\n")
    assert count == "0"
    assert rest == f"/bin/sh\0{path}\0"  # argv was [path]; no environment at all


def test_argv0_is_args0(tmp_path):
    out = tmp_path / "cmdline"
    cmd = '/bin/cat /proc/$$/cmdline > "$0"; true'
    run_hook(hook("/bin/sh", ["my-hook", "-c", cmd, str(out)]), STATE, phase="poststart", index=0)
    assert out.read_text().split("\0")[0] == "my-hook"


def test_duplicate_env_last_wins(tmp_path):
    out = tmp_path / "environ"
    path = script(tmp_path, "record", f"/bin/cat /proc/$$/environ > {out}")
    run_hook(hook(path, env=["A=1", "B=2", "A=3"]), STATE, phase="prestart", index=0)
    assert sorted(out.read_text().split("\0")[:-1]) == ["A=3", "B=2"]


def test_only_stdio_reaches_the_hook(tmp_path):
    out = tmp_path / "fds"
    leaky = os.open("/dev/null", os.O_RDONLY)
    os.set_inheritable(leaky, True)
    try:
        # ls's own fds: stdio and the directory it reads (dash keeps a close-on-exec copy of fd 1).
        cmd = '/bin/ls /proc/self/fd > "$0"'
        run_hook(hook("/bin/sh", ["sh", "-c", cmd, str(out)]), STATE, phase="startContainer", index=0)
    finally:
        os.close(leaky)
    assert sorted(out.read_text().split()) == ["0", "1", "2", "3"]


# --- failures ----------------------------------------------------------------------------------------


def test_exit_status_with_output(tmp_path):
    path = script(tmp_path, "fail", "echo to stdout; echo 'no network for you' >&2; exit 3")
    with pytest.raises(HookError) as info:
        run_hook(hook(path), STATE, phase="createRuntime", index=2)
    e = info.value
    assert isinstance(e, ContainerError)
    assert str(e) == (
        f"createRuntime hook #2 ({path}) failed: exit status 3, stdout: to stdout, stderr: no network for you"
    )
    assert (e.phase, e.index, e.path, e.exit_status, e.signal) == ("createRuntime", 2, path, 3, None)
    assert not e.timed_out
    assert (e.stdout, e.stderr) == (b"to stdout\n", b"no network for you\n")


def test_exit_status_without_output(tmp_path):
    path = script(tmp_path, "fail", "exit 1")
    with pytest.raises(HookError, match=r"^poststop hook #0 \(.*\) failed: exit status 1$"):
        run_hook(hook(path), STATE, phase="poststop", index=0)


def test_killed_by_signal(tmp_path):
    path = script(tmp_path, "die", "kill -TERM $$")
    with pytest.raises(HookError) as info:
        run_hook(hook(path), STATE, phase="prestart", index=0)
    assert str(info.value) == f"prestart hook #0 ({path}) failed: killed by signal 15 (SIGTERM)"
    assert info.value.signal == 15


def test_missing_path(tmp_path):
    path = str(tmp_path / "nowhere")
    with pytest.raises(HookError) as info:
        run_hook(hook(path), STATE, phase="createContainer", index=1)
    assert str(info.value) == f"createContainer hook #1 ({path}) failed: No such file or directory"
    assert info.value.errno == 2


def test_not_executable(tmp_path):
    path = script(tmp_path, "plain", "exit 0", mode=0o644)
    with pytest.raises(HookError) as info:
        run_hook(hook(path), STATE, phase="prestart", index=0)
    assert str(info.value) == f"prestart hook #0 ({path}) failed: Permission denied"
    assert info.value.errno == 13


def test_bad_interpreter(tmp_path):
    path = tmp_path / "badinterp"
    path.write_text("#!/no/such/shell\n")
    path.chmod(stat.S_IRWXU)
    with pytest.raises(HookError, match=r"failed: No such file or directory$"):
        run_hook(hook(str(path)), STATE, phase="prestart", index=0)


@pytest.mark.parametrize(
    "h, reason",
    [
        (hook("relative/hook"), "path is not absolute"),
        (hook("/bin/true", env=["NOEQUALS"]), "environment entry 'NOEQUALS' is not of the form NAME=value"),
        (hook("/bin/true", env=["=x"]), "environment entry '=x' is not of the form NAME=value"),
        (hook("/bin/true", args=["true", "a\0b"]), "path or argument contains a NUL byte"),
    ],
)
def test_rejected_before_spawning(h, reason):
    with pytest.raises(HookError) as info:
        run_hook(h, STATE, phase="prestart", index=0)
    assert str(info.value) == f"prestart hook #0 ({h.path}) failed: {reason}"


def test_timeout_kills_and_reaps(tmp_path):
    pid_file, sleeper_file = tmp_path / "pid", tmp_path / "sleeper"
    # The shell is the hook; the sleep it leaves holds stdout and stderr open.
    body = f"echo $$ > {pid_file}; echo started; /bin/sleep 5 & echo $! > {sleeper_file}; wait"
    path = script(tmp_path, "slow", body)
    start = time.monotonic()
    try:
        with pytest.raises(HookError) as info:
            run_hook(hook(path, timeout=1), STATE, phase="poststart", index=0)
        elapsed = time.monotonic() - start
    finally:
        kill_quietly(sleeper_file)
    assert 0.9 < elapsed < 1.5
    assert str(info.value) == f"poststart hook #0 ({path}) failed: timeout after 1s, stdout: started"
    assert info.value.timed_out
    assert gone(int(pid_file.read_text()))


def test_success_does_not_wait_for_what_the_hook_left_running(tmp_path):
    sleeper_file = tmp_path / "sleeper"
    path = script(tmp_path, "daemonize", f"/bin/sleep 5 & echo $! > {sleeper_file}; exit 0")
    start = time.monotonic()
    try:
        run_hook(hook(path), STATE, phase="createRuntime", index=0)
    finally:
        kill_quietly(sleeper_file)
    assert time.monotonic() - start < 1


def test_timeout_not_reached(tmp_path):
    path = script(tmp_path, "quick", "/bin/cat > /dev/null")
    run_hook(hook(path, timeout=5), STATE, phase="prestart", index=0)


# --- large inputs and outputs ------------------------------------------------------------------------


def big_state() -> dict:
    return dict(STATE, annotations={"big": "x" * (2 * 1024 * 1024)})


def test_hook_that_ignores_stdin(tmp_path):
    path = script(tmp_path, "ignore", "exit 0")
    run_hook(hook(path), big_state(), phase="prestart", index=0)


def test_hook_that_closes_stdin_then_works(tmp_path):
    path = script(tmp_path, "close", "exec 0<&-; /bin/sleep 0.1")
    run_hook(hook(path), big_state(), phase="prestart", index=0)


def test_large_stdout_no_deadlock(tmp_path):
    path = script(tmp_path, "chatty", "/bin/dd if=/dev/zero bs=65536 count=24 2>/dev/null")
    run_hook(hook(path), STATE, phase="prestart", index=0)


def test_large_input_and_outputs_both_ways(tmp_path):
    # Echoes the 2 MiB state to stdout while we are still writing it, then 1.5 MiB to stderr.
    body = "/bin/cat; /bin/dd if=/dev/zero bs=65536 count=24 2>/dev/null | /usr/bin/tr '\\0' e >&2; exit 4"
    path = script(tmp_path, "echo", body)
    state = big_state()
    with pytest.raises(HookError) as info:
        run_hook(hook(path), state, phase="prestart", index=0)
    e = info.value
    assert e.exit_status == 4
    assert len(e.stdout) == len(e.stderr) == OUTPUT_LIMIT  # the last 64 KiB of each
    assert e.stdout.endswith(b'"owner":""}')
    assert e.stderr == b"e" * OUTPUT_LIMIT
    assert len(str(e)) < 10_000  # the message carries an excerpt only
    assert str(e).endswith("stderr: ..." + "e" * 4096)


# --- run_hooks ---------------------------------------------------------------------------------------


def test_run_hooks_in_order_stops_at_first_failure(tmp_path):
    log = tmp_path / "log"
    hooks = [
        hook(script(tmp_path, "one", f"echo one >> {log}")),
        hook(script(tmp_path, "two", f"echo two >> {log}; echo bad >&2; exit 2")),
        hook(script(tmp_path, "three", f"echo three >> {log}")),
    ]
    with pytest.raises(HookError) as info:
        run_hooks(hooks, STATE, "createContainer")
    assert log.read_text() == "one\ntwo\n"
    assert str(info.value) == f"createContainer hook #1 ({hooks[1].path}) failed: exit status 2, stderr: bad"


def test_run_hooks_all_succeed(tmp_path):
    log = tmp_path / "log"
    hooks = [hook(script(tmp_path, f"h{i}", f'/bin/cat > /dev/null; echo {i} >> "{log}"')) for i in range(3)]
    run_hooks(hooks, STATE, "poststop")
    assert log.read_text() == "0\n1\n2\n"
    run_hooks([], STATE, "poststop")


def test_no_child_left(tmp_path):
    """Every path reaps its hook: no child of ours is left, zombie or not."""
    path = script(tmp_path, "fail", "exit 1")
    for h in (hook(path), hook(str(tmp_path / "missing")), hook("/bin/true")):
        try:
            run_hook(h, STATE, phase="prestart", index=0)
        except HookError:
            pass
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


# --- odd surroundings --------------------------------------------------------------------------------


def test_without_pidfd(tmp_path, monkeypatch):
    """Kernels before 5.3: the exit is polled with waitpid(WNOHANG)."""

    def enosys(pid, flags=0):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", enosys)
    out = tmp_path / "stdin"
    path = script(tmp_path, "copy", f"/bin/cat > {out}")
    run_hook(hook(path), STATE, phase="prestart", index=0)
    assert json.loads(out.read_text()) == STATE
    path = script(tmp_path, "echo", "/bin/cat; echo oops >&2; exit 5")
    with pytest.raises(HookError, match=r"exit status 5, stdout: .*, stderr: oops$") as info:
        run_hook(hook(path), big_state(), phase="prestart", index=0)
    assert len(info.value.stdout) == OUTPUT_LIMIT
    start = time.monotonic()
    with pytest.raises(HookError, match=r"failed: timeout after 1s$"):
        run_hook(hook("/bin/sleep", ["sleep", "5"], timeout=1), STATE, phase="prestart", index=0)
    assert time.monotonic() - start < 1.5


def test_caller_with_stdio_closed(tmp_path):
    """With 0-2 closed our pipes land there; the child must not clobber them."""
    out = tmp_path / "stdin"
    path = script(tmp_path, "copy", f"/bin/cat > {out}; echo stderr text >&2; exit 1")
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    try:
        for fd in (0, 1, 2):
            os.close(fd)
        with pytest.raises(HookError) as info:
            run_hook(hook(path), STATE, phase="prestart", index=0)
    finally:
        for fd, copy in enumerate(saved):
            os.dup2(copy, fd)
            os.close(copy)
    assert json.loads(out.read_text()) == STATE
    assert info.value.stderr == b"stderr text\n"
