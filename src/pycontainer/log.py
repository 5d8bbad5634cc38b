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
