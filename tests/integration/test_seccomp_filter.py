"""Compiled seccomp programs loaded for real: compiled here (the parent), loaded by the C core's final
step in a forked child right before it execs busybox, whose syscalls then meet the filter."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pycontainer import syscalls
from pycontainer.security import seccomp as sc
from pycontainer.spec import load_config
from pycontainer.spec.models import Seccomp, SeccompArg, Syscall

pytestmark = pytest.mark.root
pyseccomp = pytest.importorskip("pyseccomp")

BUSYBOX = "/bin/busybox"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine-configs"
ENGINE_PROFILES = [
    p
    for p in sorted(FIXTURES.glob("*.json"))
    if (json.loads(p.read_text()).get("linux") or {}).get("seccomp")
]
SIGSYS_DEATH = -signal.SIGSYS


def profile(default="SCMP_ACT_ALLOW", rules=(), default_errno=None, flags=()) -> Seccomp:
    return Seccomp(
        default_action=default, default_errno_ret=default_errno, flags=list(flags), syscalls=list(rules)
    )


def rule(names, action, errno_ret=None, args=()) -> Syscall:
    return Syscall(
        names=list(names),
        action=action,
        errno_ret=errno_ret,
        args=[SeccompArg(index=i, op=op, value=v, value_two=v2) for i, op, v, v2 in args],
    )


def run(
    cwd: Path,
    compiled: sc.CompiledFilter | None,
    argv: list[str],
    *,
    no_new_privs: bool = True,
    capabilities: dict[str, int] | None = None,
    seccomp_flags: int | None = None,
    path: str = BUSYBOX,
) -> tuple[int, str]:
    """Exec argv under the filter in a forked child: (exit code, stdout+stderr).  -N: killed by
    signal N; 90 + errno: exec_final failed at its seccomp step."""
    out = cwd / f".out.{len(list(cwd.iterdir()))}"
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGSYS dumps core by default
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            req = syscalls.ExecRequest(
                path=path,
                argv=argv,
                envp=["PATH=/bin:/usr/bin"],
                capabilities=capabilities,
                no_new_privs=no_new_privs,
                seccomp_filter=compiled.bpf if compiled else b"",
                seccomp_flags=seccomp_flags
                if seccomp_flags is not None
                else compiled.flags
                if compiled
                else 0,
            )
            syscalls.exec_final(req)
        except OSError as e:
            os.write(2, f"exec_final: {e}\n".encode())
            os._exit(90 + e.errno if str(e).startswith(f"[Errno {e.errno}] seccomp") else 89)
        except BaseException as e:
            os.write(2, f"child: {e!r}\n".encode())
        os._exit(88)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    text = out.read_text()
    out.unlink()
    return code, text


def status(text: str) -> dict[str, str]:
    return {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


MKDIR_ENOSYS = profile(rules=[rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", 38)])


@pytest.mark.parametrize("no_new_privs", [True, False], ids=["nnp", "no-nnp"])
def test_errno_rule_fails_mkdir_and_nothing_else(tmp_path, no_new_privs):
    compiled = sc.compile_profile(MKDIR_ENOSYS)
    code, text = run(tmp_path, compiled, ["mkdir", "newdir"], no_new_privs=no_new_privs)
    assert code == 1 and "Function not implemented" in text
    assert not (tmp_path / "newdir").exists()
    code, text = run(tmp_path, compiled, ["touch", "newfile"], no_new_privs=no_new_privs)
    assert code == 0, text
    assert (tmp_path / "newfile").exists()
    code, text = run(tmp_path, compiled, ["cat", "/proc/self/status"], no_new_privs=no_new_privs)
    assert status(text)["Seccomp"] == "2" and status(text)["Seccomp_filters"] == "1"
    assert status(text)["NoNewPrivs"] == str(int(no_new_privs))
    # Without the filter mkdir works: it was the filter.
    assert run(tmp_path, None, ["mkdir", "newdir"]) == (0, "")


def test_without_no_new_privs_the_filter_goes_in_before_the_capabilities_go(tmp_path):
    """Loading a filter without no_new_privs needs CAP_SYS_ADMIN: the C core loads it first."""
    only_chown = 1 << 0
    caps = dict.fromkeys(("bounding", "effective", "permitted", "inheritable"), only_chown)
    caps["ambient"] = 0
    compiled = sc.compile_profile(MKDIR_ENOSYS)
    code, text = run(tmp_path, compiled, ["cat", "/proc/self/status"], no_new_privs=False, capabilities=caps)
    assert code == 0, text
    st = status(text)
    assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "0" and int(st["CapEff"], 16) == only_chown
    code, text = run(tmp_path, compiled, ["mkdir", "d"], no_new_privs=False, capabilities=caps)
    assert code == 1 and "Function not implemented" in text


def test_argument_filter_on_kills_signal(tmp_path):
    """kill(pid, SIGUSR1) fails with EPERM; kill(pid, 0) and kill(pid, SIGTERM) go through."""
    compiled = sc.compile_profile(
        profile(rules=[rule(["kill"], "SCMP_ACT_ERRNO", 1, args=[(1, "SCMP_CMP_EQ", signal.SIGUSR1, 0)])])
    )
    target = subprocess.Popen([BUSYBOX, "sleep", "30"])
    try:
        code, text = run(tmp_path, compiled, ["kill", "-USR1", str(target.pid)])
        assert code == 1 and "Operation not permitted" in text
        assert target.poll() is None  # SIGUSR1 would have killed it
        assert run(tmp_path, compiled, ["kill", "-0", str(target.pid)]) == (0, "")
        assert run(tmp_path, compiled, ["kill", "-TERM", str(target.pid)]) == (0, "")
        assert target.wait(timeout=10) == -signal.SIGTERM
    finally:
        target.kill()
        target.wait()


def test_two_comparisons_of_one_argument_are_ored(tmp_path):
    compiled = sc.compile_profile(
        profile(
            rules=[
                rule(
                    ["kill"],
                    "SCMP_ACT_ERRNO",
                    1,
                    args=[(1, "SCMP_CMP_EQ", signal.SIGUSR1, 0), (1, "SCMP_CMP_EQ", signal.SIGUSR2, 0)],
                )
            ]
        )
    )
    target = subprocess.Popen([BUSYBOX, "sleep", "30"])
    try:
        for sig in ("USR1", "USR2"):
            code, text = run(tmp_path, compiled, ["kill", f"-{sig}", str(target.pid)])
            assert code == 1 and "Operation not permitted" in text, sig
        assert target.poll() is None
        assert run(tmp_path, compiled, ["kill", "-TERM", str(target.pid)]) == (0, "")
        assert target.wait(timeout=10) == -signal.SIGTERM
    finally:
        target.kill()
        target.wait()


def test_masked_eq_on_chmods_mode(tmp_path):
    """No setuid bit: (mode & S_ISUID) == S_ISUID gets EACCES, whichever chmod call is used."""
    setuid = 0o4000
    compiled = sc.compile_profile(
        profile(
            rules=[
                rule(
                    ["chmod", "fchmod"],
                    "SCMP_ACT_ERRNO",
                    13,
                    args=[(1, "SCMP_CMP_MASKED_EQ", setuid, setuid)],
                ),
                rule(["fchmodat"], "SCMP_ACT_ERRNO", 13, args=[(2, "SCMP_CMP_MASKED_EQ", setuid, setuid)]),
            ]
        )
    )
    target = tmp_path / "file"
    target.write_text("")
    target.chmod(0o644)
    code, text = run(tmp_path, compiled, ["chmod", "4755", "file"])
    assert code == 1 and "Permission denied" in text
    assert target.stat().st_mode & 0o7777 == 0o644
    assert run(tmp_path, compiled, ["chmod", "755", "file"]) == (0, "")
    assert target.stat().st_mode & 0o7777 == 0o755
    assert run(tmp_path, compiled, ["chmod", "u+s", "file"])[0] == 1
    assert target.stat().st_mode & 0o7777 == 0o755


def _docker_profile() -> Seccomp:
    return load_config(FIXTURES / "docker-create-memory64m-pids50.json").linux.seccomp


def test_deny_by_default_with_an_allow_list(tmp_path):
    """Docker's profile (default EPERM) without mkdir in its allow list."""
    seccomp = _docker_profile()
    for r in seccomp.syscalls:
        r.names = [n for n in r.names if n not in ("mkdir", "mkdirat")]
    compiled = sc.compile_profile(seccomp)
    code, text = run(tmp_path, compiled, ["mkdir", "d"])
    assert code == 1 and "Operation not permitted" in text
    assert run(tmp_path, compiled, ["sh", "-c", "touch f && ls f"]) == (0, "f\n")


def test_enosys_for_syscalls_newer_than_the_profile(tmp_path):
    """runc's -ENOSYS stub: under docker's profile (newest syscall futex_waitv, 449 on x86_64) a newer
    syscall fails with ENOSYS, an older one it does not allow with EPERM, the allowed ones work.
    The newer one is set_mempolicy_home_node (450, Linux 5.17), which every kernel we test on has."""
    if pyseccomp.system_arch() != pyseccomp.Arch.X86_64:
        pytest.skip("syscall numbers of x86_64")
    compiled = sc.compile_profile(_docker_profile())
    probe = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def call(nr, *args):\n"
        "    ctypes.set_errno(0)\n"
        "    libc.syscall(nr, *args)\n"
        "    return ctypes.get_errno()\n"
        # set_mempolicy_home_node with flags 1 (EINVAL), add_key, getpid
        "print(call(450, 0, 0, 0, 1), call(248, 0, 0, 0, 0, 0), call(39))\n"
    )
    code, text = run(tmp_path, compiled, [sys.executable, "-I", "-S", "-c", probe], path=sys.executable)
    assert code == 0, text
    assert text.split() == [str(errno.ENOSYS), str(errno.EPERM), "0"]
    # Without a filter the kernel knows both (EINVAL for flags 1, EFAULT for a NULL key type).
    code, text = run(tmp_path, None, [sys.executable, "-I", "-S", "-c", probe], path=sys.executable)
    assert text.split() == [str(errno.EINVAL), str(errno.EFAULT), "0"]


@pytest.mark.parametrize(
    "action, errno_ret, expected",
    [
        ("SCMP_ACT_KILL", None, SIGSYS_DEATH),
        ("SCMP_ACT_KILL_THREAD", None, SIGSYS_DEATH),
        ("SCMP_ACT_KILL_PROCESS", None, SIGSYS_DEATH),
        ("SCMP_ACT_TRAP", None, SIGSYS_DEATH),
        ("SCMP_ACT_TRACE", None, "Function not implemented"),  # no tracer: ENOSYS
        ("SCMP_ACT_ERRNO", None, "Operation not permitted"),
        ("SCMP_ACT_LOG", None, "made"),
        ("SCMP_ACT_ERRNO", 0, "faked"),  # returns 0, does nothing
    ],
)
def test_actions(tmp_path, action, errno_ret, expected):
    compiled = sc.compile_profile(profile(rules=[rule(["mkdir", "mkdirat"], action, errno_ret)]))
    code, text = run(tmp_path, compiled, ["mkdir", "d"])
    made = (tmp_path / "d").exists()
    if expected == SIGSYS_DEATH:
        assert code == SIGSYS_DEATH and not made
    elif expected == "made":
        assert code == 0 and made
    elif expected == "faked":
        assert code == 0 and not made
    else:
        assert code == 1 and expected in text and not made


def test_flags_reach_seccomp(tmp_path):
    compiled = sc.compile_profile(
        profile(
            rules=[rule(["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", 38)],
            flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
        )
    )
    assert compiled.flags == sc.SECCOMP_FILTER_FLAG_LOG | sc.SECCOMP_FILTER_FLAG_SPEC_ALLOW
    code, text = run(tmp_path, compiled, ["mkdir", "d"])
    assert code == 1 and "Function not implemented" in text


def test_wait_killable_recv_without_a_listener_is_einval(tmp_path):
    """Why compile_profile drops the flag while there is no SCMP_ACT_NOTIFY: the kernel refuses it."""
    seccomp = profile(
        rules=[rule(["mkdir"], "SCMP_ACT_ERRNO")], flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    )
    compiled = sc.compile_profile(seccomp)
    assert compiled.flags == 0
    assert run(tmp_path, compiled, ["true"]) == (0, "")
    code, text = run(tmp_path, compiled, ["true"], seccomp_flags=sc.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
    assert code == 90 + errno.EINVAL, text


@pytest.mark.parametrize("path", ENGINE_PROFILES, ids=lambda p: p.name)
def test_engine_profiles_run_busybox(tmp_path, path):
    spec = load_config(path)
    compiled = sc.compile_profile(spec.linux.seccomp)
    nnp = spec.process.no_new_privileges
    assert run(tmp_path, compiled, ["true"], no_new_privs=nnp) == (0, "")
    code, text = run(
        tmp_path,
        compiled,
        ["sh", "-c", "mkdir d && echo x > d/f && chmod 600 d/f && cat d/f /proc/self/status"],
        no_new_privs=nnp,
    )
    assert code == 0, text
    assert text.startswith("x\n") and status(text)["Seccomp"] == "2"
