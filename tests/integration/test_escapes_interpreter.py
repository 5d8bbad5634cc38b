"""CVE-2019-5736 and its kin: the container must never run, nor hold, the host's interpreter
(the runtime's own binary, on a writable host filesystem) or any other file of the runtime.

The hostile image here carries a dynamic loader, a libc and a fake ``libpython`` at the path
the host interpreter's RUNPATH names.  Whenever the container gets the kernel to exec the host
interpreter (an entrypoint ``/proc/self/exe``, a ``#!/proc/self/exe`` script, a
``#!/proc/self/fd/N`` naming a runtime fd), that library's constructor runs first, inside the
container, and prints the device and inode of ``/proc/self/exe``: image code holding the
host's interpreter, which it could keep open and overwrite once it is idle."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pycontainer import Container, syscalls
from tests.conftest import NSINIT

pytestmark = pytest.mark.root

HOST_PYTHON = os.path.realpath(sys.executable)
_st = os.stat(HOST_PYTHON)
HOST_EXE = f"exe={_st.st_dev}:{_st.st_ino}"

FAKE_LIBPYTHON = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
__attribute__((constructor)) static void hostile(void)
{
    struct stat st;
    stat("/proc/self/exe", &st);
    int fd = open("/proc/self/exe", O_WRONLY);
    printf("HOSTILE exe=%lu:%lu wronly=%d\n", (unsigned long)st.st_dev, (unsigned long)st.st_ino,
           fd < 0 ? errno : 0);
    fflush(stdout);
    _exit(42);
}
int Py_BytesMain(int argc, char **argv) { return 0; }
"""


def _needed_host_libs() -> list[str]:
    """The loader and libc the host interpreter is linked with (ldd's paths)."""
    out = subprocess.run(["ldd", HOST_PYTHON], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        for word in line.split():
            if word.startswith("/") and ("ld-linux" in word or "libc.so" in word):
                paths.append(word)
    return paths


@pytest.fixture(scope="module")
def hostile_rootfs(rootfs, tmp_path_factory) -> Path:
    """The busybox rootfs plus a loader, a libc and the fake libpython."""
    top = tmp_path_factory.mktemp("hostile")
    top.chmod(0o755)
    root = top / "rootfs"
    shutil.copytree(rootfs, root, symlinks=True)
    for lib in _needed_host_libs():
        dest = root / lib.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(lib), dest)
    runpath = Path(sys.base_prefix) / "lib"  # the interpreter's RUNPATH (pyenv builds)
    target = root / str(runpath).lstrip("/") / f"libpython{sys.version_info[0]}.{sys.version_info[1]}.so.1.0"
    target.parent.mkdir(parents=True, exist_ok=True)
    source = top / "fake.c"
    source.write_text(FAKE_LIBPYTHON)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(target), str(source)], check=True)
    # Scripts whose interpreter is the runtime's binary, or one of its fds.
    (root / "evil").write_text("#!/proc/self/exe\n")
    (root / "evil").chmod(0o755)
    for n in range(3, 64):
        (root / f"fd{n}").write_text(f"#!/proc/self/fd/{n}\n")
        (root / f"fd{n}").chmod(0o755)
    return root


def nsinit(bundle, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), *args], capture_output=True, text=True, timeout=timeout
    )


def created(bundle, args: list[str]) -> Container:
    """The bundle's container, created by this process (the library); the caller's ``with``
    deletes it."""
    bundle.config["process"]["args"] = args
    bundle.write()
    return Container.create(bundle.id, bundle.path, root=bundle.state_root)


@pytest.fixture
def hostile_bundle(bundle, hostile_rootfs):
    bundle.config["root"]["path"] = str(hostile_rootfs)
    bundle.config["process"]["terminal"] = False
    return bundle


def test_the_fake_library_does_catch_the_host_interpreter(hostile_rootfs):
    """The probe itself: the host interpreter exec'd in the image's root runs the image's
    libpython (so the tests below cannot pass for a broken probe)."""
    probe = (
        "import os, sys; fd = os.open(sys.executable, os.O_RDONLY); "
        "os.chroot(sys.argv[1]); os.execve(fd, ['x'], {})"
    )
    r = subprocess.run([HOST_PYTHON, "-c", probe, str(hostile_rootfs)], capture_output=True, text=True)
    assert r.returncode == 42 and "HOSTILE" in r.stdout, (r.stdout, r.stderr)


def test_entrypoint_proc_self_exe_does_not_run_the_host_interpreter(hostile_bundle):
    """An entrypoint /proc/self/exe reaches the sealed trampoline, never the runtime."""
    hostile_bundle.config["process"]["args"] = ["/proc/self/exe", "-c", "pass"]
    r = hostile_bundle.run()
    assert "HOSTILE" not in r.stdout, r.stdout
    assert r.returncode == 127, (r.stdout, r.stderr)


def test_proc_self_exe_script_hit_by_exec_does_not_run_the_host_interpreter(hostile_bundle):
    """``#!/proc/self/exe`` run by ``nsinit exec`` (an engine's health probe running /bin/sh)."""
    with created(hostile_bundle, ["/bin/sleep", "60"]) as c:
        c.start()
        r = nsinit(hostile_bundle, "exec", hostile_bundle.id, "/evil")
    assert "HOSTILE" not in r.stdout, r.stdout
    assert r.returncode == 127, (r.stdout, r.stderr)


def test_no_runtime_fd_is_a_script_interpreter(hostile_bundle, capfd):
    """CVE-2024-21626's twin: a ``#!/proc/self/fd/N`` script names fd N of whoever execs it.
    The program using the library holds the host interpreter open (inheritable and
    close-on-exec); the container's entrypoint names that fd.  Marking fds close-on-exec is
    not enough (the kernel opens the interpreter before it closes them): they must be closed."""
    held = [os.open(HOST_PYTHON, os.O_RDONLY), os.open(HOST_PYTHON, os.O_RDONLY | os.O_CLOEXEC)]
    os.set_inheritable(held[0], True)
    try:
        for fd in held:
            hostile_bundle.config["process"]["args"] = [f"/fd{fd}"]
            hostile_bundle.write()
            b = hostile_bundle
            with Container.create(b.id, b.path, root=b.state_root) as c:
                c.start()
                code = c.wait()
            captured = capfd.readouterr()
            assert "HOSTILE" not in captured.out, (fd, captured.out)
            assert code == 127 and "no such file or directory" in captured.err, (fd, code, captured.err)
    finally:
        for fd in held:
            os.close(fd)


def test_exec_process_sees_only_its_stdio_and_no_runtime_fd_interpreter(hostile_bundle):
    """Every ``#!/proc/self/fd/N`` (N = 3..15) exec'd by ``nsinit exec`` finds no fd N, and
    ``ls -l /proc/self/fd`` shows stdio and ls's own directory only."""
    with created(hostile_bundle, ["/bin/sleep", "60"]) as c:
        c.start()
        results = [nsinit(hostile_bundle, "exec", hostile_bundle.id, f"/fd{n}") for n in range(3, 16)]
        listing = nsinit(hostile_bundle, "exec", hostile_bundle.id, "/bin/ls", "/proc/self/fd")
    for n, r in enumerate(results, start=3):
        assert "HOSTILE" not in r.stdout, (n, r.stdout)
        assert r.returncode == 127 and "no such file or directory" in r.stderr, (n, r.stderr)
    assert sorted(int(x) for x in listing.stdout.split()) == [0, 1, 2, 3], listing.stdout  # 3: ls's directory


def test_the_init_is_not_dumpable_while_created(bundle):
    """While the container is ``created`` its pid 1 is the runtime (the host's interpreter):
    a process exec'd into it must not open /proc/1/exe, /proc/1/fd or /proc/1/map_files.  The
    init already has the process's credentials then (runc's order), the same uid and
    capabilities as the exec'd process, so only its being non-dumpable keeps it out."""
    bundle.config["process"]["terminal"] = False
    # Names may be listed (the directories belong to root); the links may not be followed.
    script = (
        "cat /proc/1/exe >/dev/null 2>&1; echo exe=$?; readlink /proc/1/fd/1 >/dev/null 2>&1; echo fd=$?; "
        "m=$(ls /proc/1/map_files | head -n1); readlink /proc/1/map_files/$m >/dev/null 2>&1; "
        "echo map_files=$?"
    )
    with created(bundle, ["/bin/true"]):
        r = nsinit(bundle, "exec", bundle.id, "/bin/sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["exe=1", "fd=1", "map_files=1"], r.stdout


def test_the_trampoline_memfd_is_sealed_and_not_the_interpreter():
    """What a container process is exec'd from: a memfd no one can write, resize, reseal or
    chmod, whose inode is not the host interpreter's."""
    fd = syscalls.sealed_trampoline()
    try:
        st = os.fstat(fd)
        assert (st.st_dev, st.st_ino) != (_st.st_dev, _st.st_ino)
        seals = fcntl.fcntl(fd, syscalls.F_GET_SEALS)
        assert seals & syscalls.SEALS == syscalls.SEALS
        assert os.get_inheritable(fd) is False
        # Reopened for writing through /proc, as a process holding /proc/PID/exe would.
        wfd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
        try:
            with pytest.raises(OSError) as info:
                os.write(wfd, b"x")
            assert info.value.errno == errno.EPERM
        finally:
            os.close(wfd)
        with pytest.raises(OSError):
            os.ftruncate(fd, 0)
        with pytest.raises(OSError):
            fcntl.fcntl(fd, syscalls.F_ADD_SEALS, 0)  # F_SEAL_SEAL: no seal can be removed or added
    finally:
        os.close(fd)


def _caps_after_exec(uid: int, caps: dict, target: str, through_trampoline: bool) -> list[str]:
    """The Cap* lines of ``target /proc/self/status`` exec'd by the final step in a child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            fd = syscalls.sealed_trampoline() if through_trampoline else -1
            req = syscalls.ExecRequest(
                path=target, argv=["cat", "/proc/self/status"], envp=[], uid=uid, gid=uid, groups=[],
                capabilities=caps, trampoline_fd=fd,
            )  # fmt: skip
            syscalls.exec_final(req)
        finally:
            os._exit(99)
    os.close(w)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    return [line for line in out.decode().splitlines() if line.startswith("Cap")]


@pytest.mark.skipif(shutil.which("setcap") is None, reason="needs setcap (libcap2-bin) for file capabilities")
def test_the_trampoline_changes_no_capability_set():
    """Two execs (trampoline, then the program) must leave the same five sets as one, for
    root and non-root, with and without inheritable and ambient capabilities, and for programs
    with file capabilities (inheritable-based and permitted-based): runc dropped its runc-dmz
    for a difference here (opencontainers/runc#4125)."""
    top = Path(tempfile.mkdtemp(prefix="pycontainer-caps-"))  # reachable by uid 1000
    try:
        top.chmod(0o755)
        targets = ["/bin/cat"]
        for name, fcaps in (("cat-i", "cap_net_bind_service+ei"), ("cat-p", "cap_kill+ep")):
            shutil.copy("/bin/cat", top / name)
            subprocess.run(["setcap", fcaps, str(top / name)], check=True)
            targets.append(str(top / name))
        some = (1 << 5) | (1 << 10) | (1 << 12)  # CAP_KILL, CAP_NET_BIND_SERVICE, CAP_NET_ADMIN
        for target in targets:
            for uid in (0, 1000):
                for inheritable, ambient in ((0, 0), (some, 0), (some, 1 << 5)):
                    caps = {"bounding": some, "effective": some, "permitted": some}
                    caps |= {"inheritable": inheritable, "ambient": ambient}
                    direct = _caps_after_exec(uid, caps, target, through_trampoline=False)
                    via = _caps_after_exec(uid, caps, target, through_trampoline=True)
                    assert via == direct, (target, uid, inheritable, ambient)
    finally:
        shutil.rmtree(top)
