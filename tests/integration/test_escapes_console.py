"""CVE-2025-52565: the terminal bound on /dev/console.

With ``process.terminal`` the runtime binds the pty's slave on the container's /dev/console.
runc made that bind by path (/dev/pts/N onto /dev/console), before the masked and read-only
paths, so an image or a racing container whose /dev/pts/N or /dev/console was a symlink could
make the runtime bind a host file such as /proc/sys/kernel/core_pattern, writable, where the
container reaches it.  Here the pty comes
from the devpts mounted at /dev/pts (checked by fstat), the slave from its master (TIOCGPTPEER),
and the target is a file the runtime created with O_EXCL|O_NOFOLLOW or the image's own file
checked by fstat; the bind goes from fd to fd.  Each hostile bundle below drops the tmpfs on
/dev (legal OCI) so the image's /dev is what the runtime meets."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess

import pytest

from tests.conftest import NSINIT
from tests.integration.test_terminal import read_until

pytestmark = pytest.mark.root

CORE_PATTERN = "/proc/sys/kernel/core_pattern"
DONE = "--done--"

# What the container's process reports about its terminal and /dev/console.
REPORT = "; ".join(
    [
        "echo tty=$(tty)",
        "echo console=$(stat -L -c %t:%T /dev/console)",
        'echo pty=$(stat -L -c %t:%T "$(tty)")',
        "echo console_mounts=$(grep -c ' /dev/console ' /proc/self/mountinfo)",
        "echo hello > /dev/console && echo wrote=yes",
        "echo " + DONE,
    ]
)


@pytest.fixture
def core_pattern():
    """The host's kernel.core_pattern, checked unchanged after the test (and put back if a
    broken runtime changed it, so a failing test leaves the host as it found it)."""
    with open(CORE_PATTERN) as f:
        before = f.read()
    yield before
    with open(CORE_PATTERN) as f:
        after = f.read()
    if after != before:
        with open(CORE_PATTERN, "w") as f:
            f.write(before)
    assert after == before, f"the host's core_pattern changed: {after!r}"


@pytest.fixture
def image(rootfs, tmp_path):
    """A private copy of the busybox rootfs a test may booby-trap."""
    copy = tmp_path / "rootfs"
    shutil.copytree(rootfs, copy, symlinks=True)
    return copy


def with_terminal(bundle, image, script: str = REPORT, keep_dev_tmpfs: bool = False) -> None:
    bundle.config["root"]["path"] = str(image)
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["args"] = ["/bin/sh", "-c", script]
    if not keep_dev_tmpfs:
        bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]
    bundle.write()


def on_a_pty(argv: list[str], until: bytes = b"\0") -> tuple[int, str]:
    """Run ``argv`` on a pty of ours, its own session: (exit code, all it wrote)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        out = read_until(master, until, timeout=20)
        out += read_until(master, b"\0", timeout=1)  # the rest, up to EOF
        return p.wait(timeout=30), out.decode(errors="replace")
    finally:
        os.close(master)


def run_on_a_pty(bundle) -> tuple[int, str]:
    """``nsinit exec CONFIG`` in the foreground on a pty."""
    return on_a_pty(
        [*NSINIT, "--root", str(bundle.state_root), "exec", str(bundle.config_path)], DONE.encode()
    )


def report(out: str) -> dict[str, str]:
    lines = out.replace("\r", "").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.mark.parametrize("example", ["busybox", "userns"])
def test_dev_console_is_the_containers_pty(make_bundle, rootfs, example):
    """runtime-spec: /dev/console is set up if terminal is enabled, by binding the pty.  The
    container's /dev/console is the same device as its tty, one mount, and writable; in a
    user namespace too (the bind is made by the init, root of the container's namespaces)."""
    bundle = make_bundle(example)
    # The shared rootfs: a user namespace's root must reach it (pytest's temp dirs are 0700).
    with_terminal(bundle, rootfs, keep_dev_tmpfs=True)
    code, out = run_on_a_pty(bundle)
    assert code == 0, out
    got = report(out)
    assert got["tty"].startswith("/dev/pts/"), out
    assert got["console"] == got["pty"] and got["console"].startswith("88:"), out  # 136 = 0x88
    assert got["console_mounts"] == "1" and got["wrote"] == "yes", out
    assert "hello" in out


@pytest.mark.parametrize("existing", ["none", "file", "device"])
def test_dev_console_without_a_dev_tmpfs(bundle, image, existing):
    """Without a tmpfs on /dev the image's /dev is used: a missing /dev/console is created,
    an existing regular file or device node is covered by the pty, all as runc does."""
    if existing == "file":
        (image / "dev" / "console").write_text("the image's own\n")
    elif existing == "device":
        os.mknod(image / "dev" / "console", 0o600 | 0o020000, os.makedev(5, 1))
    with_terminal(bundle, image)
    code, out = run_on_a_pty(bundle)
    assert code == 0, out
    got = report(out)
    assert got["console"] == got["pty"] and got["console_mounts"] == "1", out
    if existing == "file":
        assert (image / "dev" / "console").read_text() == "the image's own\n"  # covered, not written


@pytest.mark.parametrize(
    "target, found",
    [(CORE_PATTERN, "a symbolic link"), ("/etc", "a symbolic link"), (None, "a directory")],
)
def test_a_hostile_dev_console_is_refused(bundle, image, core_pattern, target, found):
    """The image's /dev/console is a symlink to the host-sensitive core_pattern (which the
    container's /proc shows: it is not namespaced), a symlink to a directory, or a directory.
    A runtime that creates and binds by path follows the link: it binds the pty over the
    container's core_pattern or /etc (or fails on a directory only by luck of mount(2)).
    Here create fails naming /dev/console and what it is, and the host is untouched."""
    console = image / "dev" / "console"
    if target is None:
        console.mkdir()
        (console / "inside").write_text("")
    else:
        os.symlink(target, console)
    with_terminal(bundle, image)
    code, out = run_on_a_pty(bundle)
    assert code != 0, out
    assert "/dev/console" in out and found in out, out
    assert DONE not in out  # the process never ran
    if target is None:
        assert os.listdir(console) == ["inside"]
    else:
        assert os.readlink(console) == target


@pytest.mark.parametrize("kind", ["symlink", "null-device", "fifo"])
def test_a_hostile_dev_pts_ptmx_is_refused(bundle, image, core_pattern, kind):
    """A config without a devpts on /dev/pts leaves the image's /dev/pts: its ptmx a symlink to
    core_pattern, another device node, or a fifo.  The runtime checks the handle (device 5:2,
    inode 2 of a devpts) before it opens the node for real, so nothing else is opened read-write
    with the runtime's privileges; create fails naming /dev/pts/ptmx."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev/pts"]
    pts = image / "dev" / "pts"
    pts.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        os.symlink(CORE_PATTERN, pts / "ptmx")
    elif kind == "null-device":
        os.mknod(pts / "ptmx", 0o666 | 0o020000, os.makedev(1, 3))
    else:
        os.mkfifo(pts / "ptmx")
    with_terminal(bundle, image)
    code, out = run_on_a_pty(bundle)
    assert code != 0, out
    assert "/dev/pts/ptmx is not the ptmx of a devpts on /dev/pts" in out, out
    assert DONE not in out


def test_exec_with_a_terminal_leaves_dev_console_alone(bundle, image):
    """An ``exec``'d process gets a pty of its own and nothing is mounted (as runc: only the
    init's terminal is /dev/console): the image's /dev/console, here a symlink to /etc, stays."""
    os.symlink("/etc", image / "dev" / "console")
    with_terminal(bundle, image)
    bundle.config["process"]["terminal"] = False
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    from pycontainer import Container

    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        argv = [*NSINIT, "--root", str(bundle.state_root), "exec", "-t", bundle.id, "/bin/sh", "-c"]
        code, out = on_a_pty(
            [*argv, "tty; readlink /dev/console; grep -c ' /dev/console ' /proc/self/mountinfo"]
        )
    assert code == 1  # grep -c found nothing
    words = out.replace("\r", "").split()
    assert words[0].startswith("/dev/pts/") and words[1:] == ["/etc", "0"], out


def test_the_bind_source_is_never_a_pts_path(bundle, image, core_pattern):
    """The shape of the CVE: devpts is mounted by the config elsewhere (/dev/ptsx), the image's
    /dev/ptmx leads to it and its /dev/pts/0 is a symlink to core_pattern.  A runtime that
    binds "/dev/pts/" + ptsname onto /dev/console binds the host's core_pattern there, writable
    (masked and read-only paths come later): ``echo x > /dev/console`` sets the host's
    core_pattern.  Here the pty must come from the devpts at /dev/pts, and the bind source is
    the slave's fd: create fails, the host's core_pattern is untouched."""
    for m in bundle.config["mounts"]:
        if m["destination"] == "/dev/pts":
            m["destination"] = "/dev/ptsx"
    (image / "dev" / "pts").mkdir(parents=True, exist_ok=True)
    os.symlink(CORE_PATTERN, image / "dev" / "pts" / "0")
    os.symlink("ptsx/ptmx", image / "dev" / "ptmx")
    with_terminal(bundle, image, "echo '|/bin/evil' > /dev/console; echo " + DONE)
    bundle.config["linux"]["readonlyPaths"] = []
    bundle.write()
    code, out = run_on_a_pty(bundle)
    assert code != 0, out
    assert "/dev/pts/ptmx is not the ptmx of a devpts on /dev/pts" in out and DONE not in out, out
