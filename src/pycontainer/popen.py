"""What a container (its init) and a process ``exec`` adds share with
``subprocess.Popen``: ``wait(timeout)``, ``await wait_async(timeout)``,
``poll()`` and ``communicate()``, on a pidfd of the process.

The process's exit is seen on its pidfd (it turns readable: ``poll(2)`` or
the event loop's ``add_reader``, never a sleep loop), and its exit code is
taken with ``waitid(P_PIDFD)``: exactly that process, which only works for
our own child.  For a container another process made (``Container.load``),
the kernel tells the exit code to its parent alone: ``wait`` still blocks
until the init exits, and returns None.
"""

from __future__ import annotations

import _thread
import os

from pycontainer.errors import TimeoutExpired

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # pragma: no cover
    from typing import IO, Any


class PopenLike:
    """Mixed into Container and ExecProcess, which call :meth:`_init_popen`
    and may override :meth:`_exit_fd`."""

    stdin: IO[Any] | None
    stdout: IO[Any] | None
    stderr: IO[Any] | None
    args: object  # what TimeoutExpired and CalledProcessError name

    def _init_popen(self, pidfd: int | None, args: object) -> None:
        self.stdin = self.stdout = self.stderr = None
        self.args = args
        self._pidfd = pidfd  # ours, for our own child (opened before it can be reaped)
        self._code: int | None = None
        self._reaped = False  # _code is final (None: not ours to know)
        self._reap_lock = _thread.allocate_lock()
        self._communication: Any = None

    def _exit_fd(self) -> tuple[int | None, bool]:
        """A pidfd to wait on (None if the process is gone) and whether the
        caller must close it."""
        return self._pidfd, False

    def _close_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, None
        if fd is not None:
            os.close(fd)

    def _close_streams(self) -> None:
        """Close our ends of the process's pipes."""
        for f in (self.stdin, self.stdout, self.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass  # stdin: the process is gone (EPIPE on the flush)

    def __del__(self) -> None:
        if getattr(self, "_pidfd", None) is not None:
            self._close_pidfd()

    @property
    def returncode(self) -> int | None:
        """The exit code once known (128+N if killed by signal N), as Popen's."""
        return self._code

    def poll(self) -> int | None:
        """The exit code if the process has exited, else None (no waiting)."""
        try:
            return self.wait(0)
        except TimeoutExpired:
            return None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process to exit (at most ``timeout`` seconds, else
        TimeoutExpired); its exit code, 128+N if killed by signal N.  None
        if it cannot be known: the process is not our child (a container
        made by another process), or someone else reaped it."""
        if self._reaped:
            return self._code
        fd, owned = self._exit_fd()
        if fd is None:
            return self._reap(None)
        try:
            if not _readable(fd, timeout):
                raise TimeoutExpired(self.args, timeout or 0.0)
            return self._reap(fd)
        finally:
            if owned:
                os.close(fd)

    async def wait_async(self, timeout: float | None = None) -> int | None:
        """:meth:`wait` for asyncio: the event loop watches the pidfd
        (``add_reader``); no thread is used or blocked."""
        if self._reaped:
            return self._code
        import asyncio

        fd, owned = self._exit_fd()
        if fd is None:
            return self._reap(None)
        # A copy of our own: add_reader allows one callback per fd, and
        # several tasks may wait for the same process.
        watched = os.dup(fd)
        if owned:
            os.close(fd)
        loop = asyncio.get_running_loop()
        exited = loop.create_future()

        def readable() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(watched, readable)
        try:
            await asyncio.wait_for(exited, timeout)
            return self._reap(watched)
        except TimeoutError:
            raise TimeoutExpired(self.args, timeout or 0.0) from None
        finally:
            loop.remove_reader(watched)
            os.close(watched)

    def _reap(self, fd: int | None) -> int | None:
        """The exit code of the process, which has exited (``fd``: its
        pidfd, None if it could not be opened any more); reaped once, by
        whichever thread gets here first."""
        with self._reap_lock:
            if not self._reaped:
                self._code = _exit_code(fd) if fd is not None else None
                self._reaped = True  # the pidfd stays open: another thread may be polling it
            return self._code

    def communicate(
        self, input: bytes | str | None = None, timeout: float | None = None
    ) -> tuple[bytes | str | None, bytes | str | None]:
        """Send ``input`` to stdin (then close it), read stdout and stderr
        to EOF, wait for the process: ``(stdout, stderr)``, None for a
        stream that is not PIPE.  As ``subprocess.Popen.communicate``: on
        TimeoutExpired nothing is lost, call it again to go on."""
        from pycontainer import stdio

        return stdio.communicate(self, input, timeout)


def _readable(fd: int, timeout: float | None) -> bool:
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))


def _exit_code(pidfd: int) -> int | None:
    """waitid(P_PIDFD) of a process that has exited: its exit code (128+N
    for signal N, as a shell says), None if it is not our child."""
    try:
        info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED)
    except ChildProcessError:
        return None
    if info is None:  # pragma: no cover - only with WNOHANG
        return None
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return 128 + info.si_status
