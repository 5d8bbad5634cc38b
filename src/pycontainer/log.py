"""A logger that costs nothing until someone listens.

Importing :mod:`logging` costs over a millisecond (it pulls in threading,
traceback and string), which is a noticeable share of a container's start.
``get_logger(name)`` returns a stand-in that forwards to the standard
``logging`` module only when the host program has imported it (a tool that
configured logging gets pycontainer's records as usual) or when
:func:`enable` was called (``nsinit --debug``).  Otherwise debug and info
records are dropped; warnings and errors still import logging and go out.
"""

from __future__ import annotations

import os
import sys

_enabled = False


def enable() -> None:
    """Forward every record to the logging module from now on."""
    global _enabled
    _enabled = True


class LazyLogger:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _real(self, always: bool):
        if always or _enabled or "logging" in sys.modules:
            import logging

            return logging.getLogger(self.name)
        return None

    def debug(self, msg: str, *args) -> None:
        real = self._real(False)
        if real is not None:
            real.debug(msg, *args)

    def info(self, msg: str, *args) -> None:
        real = self._real(False)
        if real is not None:
            real.info(msg, *args)

    def warning(self, msg: str, *args) -> None:
        self._real(True).warning(msg, *args)

    def error(self, msg: str, *args) -> None:
        self._real(True).error(msg, *args)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)


# Where a log file must never be: kernel interfaces, where "appending" a
# line writes a setting (/proc/sys/..., /sys/...) or reaches a device.
_NOT_FOR_LOGS = ("/proc", "/sys", "/dev")


def open_log_file(path: str) -> int:
    """The --log file opened for appending (made 0600 if new): a regular
    file, not a link, a directory, a device or a file of /proc, /sys or /dev.
    Raises ContainerError naming the path."""
    import stat

    from pycontainer.errors import ContainerError

    if not path:
        raise ContainerError("--log: empty path")
    flags = (
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
    )
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as e:
        raise ContainerError(f"--log {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        where = os.readlink(f"/proc/self/fd/{fd}")  # where it really is, links resolved
    except OSError as e:
        os.close(fd)
        raise ContainerError(f"--log {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ContainerError(f"--log {path}: not a regular file")
    for top in _NOT_FOR_LOGS:
        if where == top or where.startswith(top + "/"):
            os.close(fd)
            raise ContainerError(
                f"--log {path}: {where} is a kernel or device file under {top}, not a log file"
            )
    return fd
