"""Terminals (``process.terminal: true``), runc's way.

The pty is opened inside the container, on its own devpts (``/dev/ptmx`` after
pivot_root), so the container owns its terminal.  Its master goes out over a
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
import struct
import termios

from pycontainer.errors import ContainerError

TIOCGPTPEER = 0x5441  # open the slave of a master fd (Linux 4.13), no path lookup
TIOCSPTLCK = 0x40045431  # (un)lock the slave: unlockpt(3)


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


def setup_terminal(console_fd: int, console_size=None) -> None:
    """In the container (after pivot_root): open a pty on the container's
    devpts, send its master over ``console_fd``, and make the slave our
    controlling terminal and stdio."""
    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise ContainerError(
            f"opening /dev/ptmx in the container: {e.strerror} (is /dev/pts mounted?)"
        ) from None
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
        if console_size is not None:
            set_window_size(master, console_size.height, console_size.width)
        send_fd(console_fd, master)
    finally:
        os.close(master)
        os.close(console_fd)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)


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
        self._saved = None

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
