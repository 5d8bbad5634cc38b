"""Signal numbers, names and handlers, without the ``signal`` module.

``signal`` wraps the C module ``_signal`` in IntEnums, and importing enum
(with functools and collections) costs more than a millisecond of every
container start.  The numbers are plain ints here; ``_signal`` is the C
module CPython's own ``signal`` is built on.
"""

from __future__ import annotations

import _signal

SIG_DFL = _signal.SIG_DFL
SIGHUP = _signal.SIGHUP
SIGINT = _signal.SIGINT
SIGQUIT = _signal.SIGQUIT
SIGKILL = _signal.SIGKILL
SIGUSR1 = _signal.SIGUSR1
SIGUSR2 = _signal.SIGUSR2
SIGTERM = _signal.SIGTERM
SIGWINCH = _signal.SIGWINCH

# What a foreground `nsinit run` relays to the container (runc's signal proxy).
FORWARDED = (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH)

set_handler = _signal.signal


def names() -> dict[str, int]:
    """SIGNAME -> number, including real-time ones as SIGRTMIN+N."""
    table = {n: getattr(_signal, n) for n in dir(_signal) if n.startswith("SIG") and not n.startswith("SIG_")}
    rtmin, rtmax = table.get("SIGRTMIN", 34), table.get("SIGRTMAX", 64)
    for i in range(1, rtmax - rtmin):
        table[f"SIGRTMIN+{i}"] = rtmin + i
        table[f"SIGRTMAX-{i}"] = rtmax - i
    return table


def parse(text: str) -> int:
    """A signal by number, name or short name (9, SIGKILL, KILL, kill)."""
    if text.isdigit():
        number = int(text)
        if 0 < number < 65:
            return number
        raise ValueError(f"invalid signal number {number}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    found = names().get(name)
    if found is None:
        raise ValueError(f"unknown signal {text!r}")
    return found
