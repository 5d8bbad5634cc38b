"""Terminals (``process.terminal: true``), runc's way.

The pty is opened on the container's own devpts (``/dev/pts/ptmx`` in its
root), so the container owns its terminal, and for the init it is bound on
the container's ``/dev/console``.  Its master goes out over a
unix socket: the one the engine named with ``--console-socket`` (connected by
nsinit before the clone, inherited by the init), or, for a foreground
``nsinit run`` without one, a socketpair whose other end nsinit keeps to proxy
the user's terminal (:class:`TerminalProxy`).  The slave becomes the process's
controlling terminal and its stdin, stdout and stderr.

Only imported for a config that asks for a terminal (socket costs a few ms).
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import struct
import termios

from pycontainer import syscalls
from pycontainer.errors import ContainerError
from pycontainer.mountopts import MS_BIND
from pycontainer.securejoin import fd_path, open_in_root

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

TIOCGPTPEER = 0x5441  # open the slave of a master fd (Linux 4.13), no path lookup
TIOCSPTLCK = 0x40045431  # (un)lock the slave: unlockpt(3)
PTMX_DEVICE = os.makedev(5, 2)  # /dev/ptmx, as devpts makes it (ptmx inode of each instance)
DEVPTS_ROOT_INO, DEVPTS_PTMX_INO = 1, 2  # fixed in fs/devpts/inode.c
PTY_SLAVE_MAJORS = range(136, 144)  # UNIX98_PTY_SLAVE_MAJOR, UNIX98_PTY_MAJOR_COUNT majors


def connect_console_socket(path: str) -> int:
    """A connected fd to the engine's console socket (close-on-exec)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise ContainerError(f"--console-socket {path}: {e.strerror or e}") from None
    return sock.detach()


def console_pair() -> tuple[int, int]:
    """(ours, the init's): for a foreground run without --console-socket."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


class Pty:
    """A pty of the container's devpts: the master (for the engine or our
    proxy) and the slave (the process's terminal), both checked by fd."""

    __slots__ = ("master", "slave")

    def __init__(self, master: int, slave: int) -> None:
        self.master, self.slave = master, slave

    def close(self) -> None:
        for fd in (self.master, self.slave):
            os.close(fd)


def open_pty(root: str, *, bind_console: bool) -> Pty:
    """A new pty on the devpts mounted at ``<root>/dev/pts``; with
    ``bind_console``, bound on ``<root>/dev/console`` too (the init, in its own
    mount namespace, before pivot_root: nothing is opened by path after it).

    Everything under ``root`` belongs to the image and may be a trap: a
    symlinked /dev/pts/ptmx or /dev/console, a device node that is no pty, a
    directory where a file should be.  Each object is opened inside the root
    (securejoin), checked with fstat, and used by fd; the slave is obtained
    from the master itself (TIOCGPTPEER), never by its /dev/pts/N name, so no
    path can redirect the bind mount (CVE-2025-52565)."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        pty = _allocate(root_fd)
        if bind_console:
            try:
                _bind_console(root_fd, pty.slave)
            except BaseException:
                pty.close()
                raise
        return pty
    finally:
        os.close(root_fd)


def _allocate(root_fd: int) -> Pty:
    try:
        pts = open_in_root(root_fd, "/dev/pts")
    except OSError as e:
        raise ContainerError(
            f"process.terminal: /dev/pts in the container: {e.strerror} (is devpts mounted?)"
        ) from None
    try:
        devpts = os.fstat(pts)
        # The master: checked as an O_PATH handle before the real open, so no
        # other device node is opened in its place (opening some devices has
        # effects: a watchdog starts counting).  On a devpts nothing can be
        # renamed or created, so the name still leads to the checked inode;
        # the real open is compared with it all the same.
        checked = _open_checked(
            pts,
            "ptmx",
            lambda st: _is_ptmx(st, devpts),
            "/dev/pts/ptmx is not the ptmx of a devpts on /dev/pts",
        )
        try:
            try:
                master = os.open("ptmx", os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pts)
            except OSError as e:
                raise ContainerError(f"process.terminal: opening /dev/pts/ptmx: {e.strerror}") from None
            if not os.path.samestat(os.fstat(master), os.fstat(checked)):
                os.close(master)
                raise ContainerError("process.terminal: /dev/pts/ptmx changed while it was opened")
        finally:
            os.close(checked)
    finally:
        os.close(pts)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        os.close(master)
        raise ContainerError(f"process.terminal: allocating a pty on /dev/pts: {e.strerror}") from None
    st = os.fstat(slave)
    # A slave of the devpts mounted at /dev/pts, not of another instance the
    # image's /dev/pts/ptmx led the kernel to.
    if not (
        stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in PTY_SLAVE_MAJORS and st.st_dev == devpts.st_dev
    ):
        os.close(master)
        os.close(slave)
        raise ContainerError("process.terminal: the pty is not on the devpts mounted at /dev/pts")
    return Pty(master, slave)


def _bind_console(root_fd: int, slave: int) -> None:
    """Bind the slave on /dev/console (runtime-spec: "/dev/console is set up if
    terminal is enabled"): the target is a file the runtime creates (O_EXCL,
    O_NOFOLLOW) in /dev resolved inside the root, or the image's own
    /dev/console if fstat says it is a file or a device node; the mount is
    made from fd to fd."""
    try:
        dev = open_in_root(root_fd, "/dev", create="dir")
    except OSError as e:
        raise ContainerError(f"process.terminal: /dev in the container: {e.strerror}") from None
    try:
        try:
            target = os.open(
                "console",
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o666,
                dir_fd=dev,
            )
        except FileExistsError:
            target = _open_checked(
                dev, "console", _is_console_target, "/dev/console must be a regular file or a device node"
            )
    except OSError as e:
        raise ContainerError(f"process.terminal: /dev/console in the container: {e.strerror}") from None
    finally:
        os.close(dev)
    try:
        syscalls.mount(fd_path(slave), fd_path(target), None, MS_BIND)
    except OSError as e:
        raise ContainerError(f"process.terminal: binding the pty on /dev/console: {e.strerror}") from None
    finally:
        os.close(target)


def _open_checked(dir_fd: int, name: str, check, problem: str) -> int:
    """An O_PATH fd of ``name`` in ``dir_fd`` (never following a symlink) that
    passes ``check(stat)``; else a ContainerError saying what is there."""
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        raise ContainerError(f"process.terminal: {problem}: {e.strerror}") from None
    st = os.fstat(fd)
    if check(st):
        return fd
    os.close(fd)
    raise ContainerError(f"process.terminal: {problem}, found {_kind(st.st_mode)} in the container")


def _is_ptmx(st: os.stat_result, pts_dir: os.stat_result) -> bool:
    """The ptmx of a devpts instance: device 5:2, inode 2 beside the
    instance's root directory (inode 1) on the same filesystem."""
    return (
        stat.S_ISCHR(st.st_mode)
        and st.st_rdev == PTMX_DEVICE
        and st.st_ino == DEVPTS_PTMX_INO
        and pts_dir.st_ino == DEVPTS_ROOT_INO
        and st.st_dev == pts_dir.st_dev
    )


def _is_console_target(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISCHR, "another character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a fifo"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "an unknown file type")


def setup_terminal(console_fd: int, pty: Pty, console_size=None) -> None:
    """Send the pty's master over ``console_fd`` and make the slave our
    controlling terminal and stdio.  Only fds: no path is opened here (for
    the init this runs after pivot_root)."""
    try:
        if console_size is not None:
            set_window_size(pty.master, console_size.height, console_size.width)
        send_fd(console_fd, pty.master)
    finally:
        os.close(pty.master)
        os.close(console_fd)
    os.setsid()
    fcntl.ioctl(pty.slave, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(pty.slave, target)
    if pty.slave > 2:
        os.close(pty.slave)


def send_fd(sock_fd: int, fd: int) -> None:
    """One message with a byte of data and exactly one fd (SCM_RIGHTS)."""
    sock = socket.socket(fileno=sock_fd)
    try:
        socket.send_fds(sock, [b"\0"], [fd])
    finally:
        sock.detach()


def recv_fd(sock_fd: int) -> int:
    sock = socket.socket(fileno=sock_fd)
    try:
        _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    finally:
        sock.detach()
    if len(fds) != 1:
        raise ContainerError("the container sent no terminal")
    os.set_inheritable(fds[0], False)
    return fds[0]


def set_window_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def window_size(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return rows, cols


class TerminalProxy:
    """Joins the user's terminal (our stdin/stdout) to the container's pty
    master, as ``runc run`` does in the foreground: stdin in raw mode, the
    window size passed on (and again on SIGWINCH), until the container's side
    closes."""

    def __init__(self, master: int) -> None:
        self.master = master
        self._saved: list[Any] | None = None

    def __enter__(self) -> TerminalProxy:
        if os.isatty(0):
            self._saved = termios.tcgetattr(0)
            raw = termios.tcgetattr(0)
            # cfmakeraw: no echo, no line editing, no signals from keys: the container's terminal does that.
            raw[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                        | termios.IGNCR | termios.ICRNL | termios.IXON)  # fmt: skip
            raw[1] &= ~termios.OPOST
            raw[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
            raw[2] = (raw[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
            termios.tcsetattr(0, termios.TCSANOW, raw)
        self.resize()
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, self._saved)

    def resize(self) -> None:
        size = window_size(0) if os.isatty(0) else None
        if size:
            set_window_size(self.master, *size)

    def run(self) -> None:
        """Copy both ways until the container closes its side."""
        import select

        poller = select.poll()
        poller.register(self.master, select.POLLIN)
        stdin_open = True
        poller.register(0, select.POLLIN)
        while True:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            for fd, event in events:
                if fd == self.master:
                    try:
                        data = os.read(self.master, 65536)
                    except OSError:  # EIO: every slave fd is closed, the container is done
                        data = b""
                    if not data:
                        return
                    _write_all(1, data)
                elif stdin_open:
                    data = os.read(0, 65536) if event & (select.POLLIN | select.POLLHUP) else b""
                    if data:
                        _write_all(self.master, data)
                    else:
                        stdin_open = False
                        poller.unregister(0)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
