"""The container's process, observed from inside: pid 1, exit codes, env, cwd,
user, umask, rlimits, capabilities, no_new_privs, oom_score_adj, fds."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import NSINIT, status_field

pytestmark = pytest.mark.root


def test_the_process_is_pid_1(bundle):
    r = bundle.sh("echo $$")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the LINUX32 domain's machine name is x86's")
@pytest.mark.parametrize("domain, machine", [("LINUX32", "i686"), ("LINUX", "x86_64")])
def test_personality_domain(bundle, domain, machine):
    """linux.personality: the execution domain the process runs in (and keeps
    across execve): LINUX32 reports a 32-bit machine, as ``setarch i686`` does."""
    bundle.config["linux"]["personality"] = {"domain": domain}
    r = bundle.sh("uname -m; cat /proc/self/personality")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [machine, "00000008" if domain == "LINUX32" else "00000000"]
    assert r.stderr == ""


def test_personality_applies_to_exec_too(bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    bundle.config["process"]["args"] = ["sleep", "60"]
    bundle.write()
    argv = [*NSINIT, "--root", str(bundle.state_root)]
    err = bundle.path / "create.err"  # not a pipe: the container keeps nsinit's stdio open
    with open(err, "w") as f:
        create = [*argv, "create", "-b", str(bundle.path), bundle.id]
        r = subprocess.run(create, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f, timeout=30)
    assert r.returncode == 0, err.read_text()
    try:
        assert bundle.exec_sh("uname -m").split() == ["i686"]
    finally:
        subprocess.run([*argv, "delete", "--force", bundle.id], capture_output=True)


def _stat_fields(text: str) -> list[str]:
    """/proc/PID/stat's fields after the command name (field 3 is index 0)."""
    return text.rsplit(")", 1)[1].split()


@pytest.mark.parametrize(
    "scheduler, policy, nice",
    [({"policy": "SCHED_BATCH", "nice": 7}, 3, 7), ({"policy": "SCHED_IDLE"}, 5, 0)],
)
def test_scheduler_is_the_processs(bundle, scheduler, policy, nice):
    """process.scheduler: sched_setattr before execve; /proc/self/stat's
    policy (field 41) and nice (field 19) inside."""
    bundle.config["process"]["scheduler"] = scheduler
    r = bundle.sh("cat /proc/self/stat")
    assert r.returncode == 0, r.stderr
    fields = _stat_fields(r.stdout)
    assert (int(fields[40 - 2]), int(fields[18 - 2])) == (policy, nice)


@pytest.mark.parametrize(
    "io_priority, shown",
    [
        ({"class": "IOPRIO_CLASS_IDLE", "priority": 0}, "idle"),
        ({"class": "IOPRIO_CLASS_BE", "priority": 6}, "best-effort: prio 6"),
    ],
)
def test_io_priority_is_the_processs(bundle, io_priority, shown):
    bundle.config["process"]["ioPriority"] = io_priority
    r = bundle.sh("ionice -p $$")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == shown


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cpus")
def test_exec_cpu_affinity_and_scheduler_for_exec(bundle):
    """process.execCPUAffinity.final (exec only: not the init's) and the
    exec'd process's own scheduler."""
    bundle.config["process"]["args"] = ["sleep", "60"]
    bundle.write()
    argv = [*NSINIT, "--root", str(bundle.state_root)]
    err = bundle.path / "create.err"  # not a pipe: the container keeps nsinit's stdio open
    with open(err, "w") as f:
        create = [*argv, "create", "-b", str(bundle.path), bundle.id]
        r = subprocess.run(create, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f, timeout=30)
    assert r.returncode == 0, err.read_text()
    process = {
        **bundle.config["process"],
        "args": ["/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status; cat /proc/self/stat"],
        "execCPUAffinity": {"initial": "0", "final": "1"},
        "scheduler": {"policy": "SCHED_BATCH", "nice": 3},
    }
    (bundle.path / "process.json").write_text(json.dumps(process))
    try:
        r = subprocess.run(
            [*argv, "exec", "--process", str(bundle.path / "process.json"), bundle.id],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 0, r.stderr
        first, stat = r.stdout.splitlines()
        assert first.split() == ["Cpus_allowed_list:", "1"]
        fields = _stat_fields(stat)
        assert (int(fields[40 - 2]), int(fields[18 - 2])) == (3, 3)
    finally:
        subprocess.run([*argv, "delete", "--force", bundle.id], capture_output=True, timeout=30)


def test_exit_code_comes_back(bundle):
    assert bundle.sh("exit 7").returncode == 7


def test_killed_by_signal_gives_128_plus_n(bundle):
    # pid 1 ignores signals it has no handler for, except from its ancestors' namespace.
    r = bundle.sh("kill -9 $$; sleep 5")
    assert r.returncode in (0, 137)  # SIGKILL from inside the pid ns is ignored for pid 1
    r = bundle.sh("sh -c 'kill -9 $$'; exit $?")
    assert r.returncode == 137


def test_args_override_and_env(bundle):
    bundle.config["process"]["env"].append("GREETING=hello world")
    r = bundle.run("/bin/sh", "-c", 'echo "$GREETING"')
    assert r.stdout.strip() == "hello world"


def test_cwd_is_used_and_created_if_missing(bundle):
    bundle.config["process"]["cwd"] = "/work/here"
    r = bundle.sh("pwd")
    assert r.stdout.strip() == "/work/here", r.stderr


def test_user_ids_and_additional_groups(bundle):
    bundle.config["process"]["user"] = {"uid": 1234, "gid": 2345, "additionalGids": [11, 22]}
    r = bundle.sh("cat /proc/self/status")
    assert r.returncode == 0, r.stderr
    assert status_field(r.stdout, "Uid").split() == ["1234"] * 4
    assert status_field(r.stdout, "Gid").split() == ["2345"] * 4
    assert status_field(r.stdout, "Groups").split() == ["11", "22"]


def test_umask(bundle):
    bundle.config["process"]["user"]["umask"] = 0o027
    assert bundle.sh("umask").stdout.strip() == "0027"


def test_rlimits(bundle):
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]
    r = bundle.sh("ulimit -n; ulimit -Hn; ulimit -c")
    assert r.stdout.split() == ["321", "654", "0"], r.stderr


def test_raising_a_hard_rlimit_beyond_ours_is_a_clear_error(bundle):
    hard = 1 << 40
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard}]
    r = bundle.sh("true")
    assert r.returncode != 0
    assert "RLIMIT_NOFILE" in r.stderr


def test_capabilities_sets(bundle):
    caps = {
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "effective": ["CAP_KILL"],
        "inheritable": ["CAP_CHOWN"],
        "ambient": ["CAP_CHOWN"],
    }
    bundle.config["process"]["capabilities"] = caps
    bundle.config["process"]["noNewPrivileges"] = False
    r = bundle.sh("cat /proc/self/status")
    assert r.returncode == 0, r.stderr
    kill, chown, raw = 1 << 5, 1 << 0, 1 << 13
    # Across execve of a root process the kernel recomputes: P' = bounding-limited full set... for uid 0
    # with no file caps, permitted = inheritable|bounding and effective = permitted.
    assert int(status_field(r.stdout, "CapBnd"), 16) == kill | chown | raw
    assert int(status_field(r.stdout, "CapInh"), 16) == chown
    assert int(status_field(r.stdout, "CapAmb"), 16) == chown


def test_capabilities_of_a_non_root_user_are_exactly_the_config(bundle):
    caps = {
        "bounding": ["CAP_KILL", "CAP_CHOWN"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "effective": ["CAP_KILL", "CAP_CHOWN"],
        "inheritable": ["CAP_KILL", "CAP_CHOWN"],
        "ambient": ["CAP_KILL"],
    }
    bundle.config["process"]["capabilities"] = caps
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    r = bundle.sh("cat /proc/self/status")
    assert r.returncode == 0, r.stderr
    kill, chown = 1 << 5, 1 << 0
    assert int(status_field(r.stdout, "CapBnd"), 16) == kill | chown
    # A non-root execve keeps only the ambient set in permitted and effective.
    assert int(status_field(r.stdout, "CapPrm"), 16) == kill
    assert int(status_field(r.stdout, "CapEff"), 16) == kill
    assert int(status_field(r.stdout, "CapAmb"), 16) == kill


def test_no_new_privileges(bundle):
    bundle.config["process"]["noNewPrivileges"] = True
    assert status_field(bundle.sh("cat /proc/self/status").stdout, "NoNewPrivs") == "1"
    bundle.config["process"]["noNewPrivileges"] = False
    assert status_field(bundle.sh("cat /proc/self/status").stdout, "NoNewPrivs") == "0"


def test_oom_score_adj(bundle):
    bundle.config["process"]["oomScoreAdj"] = 500
    assert bundle.sh("cat /proc/self/oom_score_adj").stdout.strip() == "500"


def test_no_host_fd_reaches_the_container(bundle, tmp_path):
    # An inheritable fd in the runtime (as a careless engine might leave) must not leak.
    leak = open(tmp_path / "secret", "w")
    os.set_inheritable(leak.fileno(), True)
    try:
        bundle.write()
        argv = [
            *NSINIT,
            "--root",
            str(bundle.state_root),
            "exec",
            str(bundle.config_path),
            "--",
            "/bin/ls",
            "/proc/self/fd",
        ]
        p = subprocess.run(argv, capture_output=True, text=True, pass_fds=(leak.fileno(),), timeout=30)
    finally:
        leak.close()
    assert p.returncode == 0, p.stderr
    # ls's own directory fd is 3.
    assert sorted(int(x) for x in p.stdout.split()) == [0, 1, 2, 3]


def test_stdio_is_the_runtimes(bundle):
    bundle.write()
    argv = [*NSINIT, "--root", str(bundle.state_root), "exec", str(bundle.config_path), "--", "/bin/cat"]
    p = subprocess.run(argv, input="piped in\n", capture_output=True, text=True, timeout=30)
    assert p.stdout == "piped in\n"


def test_preserve_fds_passes_extra_fds(bundle, tmp_path):
    passed = tmp_path / "passed"
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "echo through-fd-3 >&3; ls /proc/self/fd"]
    bundle.write()
    nsinit = [
        *NSINIT,
        "--root",
        str(bundle.state_root),
        "run",
        "--preserve-fds",
        "1",
        "-b",
        str(bundle.path),
        bundle.id,
    ]
    # The shell opens fd 3 on the file, then becomes nsinit.
    p = subprocess.run(
        ["sh", "-c", 'exec "$@" 3>"$PASSED"', "sh", *nsinit],
        env={**os.environ, "PASSED": str(passed)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    assert passed.read_text() == "through-fd-3\n"
    assert sorted(int(x) for x in p.stdout.split()) == [0, 1, 2, 3, 4]  # 4: ls's own directory fd


def test_signals_to_nsinit_reach_the_container(bundle):
    import signal
    import time

    bundle.config["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 42' TERM; echo ready; sleep 100 & wait"]
    bundle.write()
    argv = [*NSINIT, "--root", str(bundle.state_root), "exec", str(bundle.config_path)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 42
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_a_session_keyring_of_its_own(bundle):
    bundle.config["linux"]["maskedPaths"] = []
    r = bundle.sh("cat /proc/keys")
    assert r.returncode == 0, r.stderr
    assert "_ses." in r.stdout  # named after the container, as runc names it
    bundle.write()
    argv = [
        *NSINIT,
        "--root",
        str(bundle.state_root),
        "run",
        "--no-new-keyring",
        "-b",
        str(bundle.path),
        bundle.id + "-nk",
    ]
    bundle.config["process"]["args"] = ["/bin/cat", "/proc/keys"]
    bundle.write()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert f"_ses.{bundle.id}-nk" not in p.stdout
