"""The C core through pycontainer.syscalls: each call does what its name says,
and a failure is an OSError naming the syscall."""

from __future__ import annotations

import errno
import os

import pytest

from pycontainer import syscalls

pytestmark = pytest.mark.root


def in_child(fn) -> int:
    """Run fn in a forked child; its exit code (fn returns the code)."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(fn())
        except BaseException:
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_clone_makes_namespaces_and_behaves_like_fork():
    r, w = os.pipe()
    pid = syscalls.clone(syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWPID)
    if pid == 0:
        os.close(r)
        syscalls.sethostname("inner-host")
        os.write(w, f"{os.getpid()} {os.uname().nodename}".encode())
        os._exit(7)
    os.close(w)
    out = os.read(r, 100).decode().split()
    os.close(r)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
    assert out == ["1", "inner-host"]
    assert os.uname().nodename != "inner-host"


def test_unshare_and_setns_by_fd():
    host_uts = os.readlink("/proc/self/ns/uts")

    def child() -> int:
        fd = os.open("/proc/self/ns/uts", os.O_RDONLY)
        syscalls.unshare(syscalls.CLONE_NEWUTS)
        if os.readlink("/proc/self/ns/uts") == host_uts:
            return 1
        syscalls.setns(fd, syscalls.CLONE_NEWUTS)
        return 0 if os.readlink("/proc/self/ns/uts") == host_uts else 2

    assert in_child(child) == 0


def test_failures_name_the_syscall():
    with pytest.raises(OSError) as info:
        syscalls.setns(-1, 0)
    assert info.value.errno == errno.EBADF
    assert str(info.value).startswith("[Errno 9] setns:")
    with pytest.raises(OSError) as info:
        syscalls.mount("/nonexistent-source", "/nonexistent-target", None, 0x1000)  # MS_BIND
    assert "mount /nonexistent-source on /nonexistent-target" in str(info.value)
    with pytest.raises(OSError) as info:
        syscalls.pivot_root("/nonexistent", "/nonexistent")
    assert "pivot_root" in str(info.value)


def test_capget_reads_our_sets():
    eff, perm, inh = syscalls.capget()
    assert eff & (1 << 21)  # CAP_SYS_ADMIN: we are root
    assert perm & eff == eff


def test_openat2_stays_in_root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("inside")
    (tmp_path / "link").symlink_to("/etc/passwd")
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = syscalls.openat2(root, "link", os.O_RDONLY, 0, syscalls.RESOLVE_IN_ROOT)
        try:
            assert os.read(fd, 100) == b"inside"
        finally:
            os.close(fd)
    finally:
        os.close(root)


def test_exec_final_reports_the_failing_step():
    def child() -> int:
        req = syscalls.ExecRequest(path="/nonexistent/program", argv=["x"], envp=[])
        try:
            syscalls.exec_final(req)
        except OSError as e:
            return 3 if e.errno == errno.ENOENT and str(e).startswith("[Errno 2] execve:") else 4
        return 5

    assert in_child(child) == 3


def test_exec_final_sets_ids_caps_and_no_new_privs(tmp_path):
    out = tmp_path / "status"

    def child() -> int:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o666)
        os.dup2(fd, 1)
        caps = {
            "bounding": 1 << 5,
            "effective": 1 << 5,
            "permitted": 1 << 5,
            "inheritable": 1 << 5,
            "ambient": 1 << 5,
        }
        req = syscalls.ExecRequest(
            path="/bin/cat",
            argv=["cat", "/proc/self/status"],
            envp=[],
            uid=4321,
            gid=4322,
            groups=[7],
            capabilities=caps,
            no_new_privs=True,
        )
        syscalls.exec_final(req)
        return 1

    assert in_child(child) == 0
    status = dict(line.split(":", 1) for line in out.read_text().splitlines())
    assert status["Uid"].split() == ["4321"] * 4
    assert status["Gid"].split() == ["4322"] * 4
    assert status["Groups"].split() == ["7"]
    assert int(status["CapBnd"], 16) == 1 << 5
    assert int(status["CapAmb"], 16) == 1 << 5
    assert int(status["CapEff"], 16) == 1 << 5
    assert status["NoNewPrivs"].strip() == "1"
    # Signals Python ignores (SIGPIPE) are back to their defaults after exec.
    assert int(status["SigIgn"], 16) & (1 << (13 - 1)) == 0


def test_clone_runs_cpythons_fork_hooks():
    """Like os.fork: os.register_at_fork callbacks run around the clone."""
    calls = []
    os.register_at_fork(
        before=lambda: calls.append("before"),
        after_in_parent=lambda: calls.append("parent"),
        after_in_child=lambda: calls.append("child"),
    )
    r, w = os.pipe()
    pid = syscalls.clone(0)
    if pid == 0:
        os.write(w, ",".join(calls).encode())
        os._exit(0)
    os.close(w)
    in_child = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert in_child.endswith("before,child")
    assert calls[-2:] == ["before", "parent"]
