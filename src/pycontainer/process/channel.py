"""The parent <-> init channel: a SOCK_SEQPACKET socketpair carrying one JSON
object per message.  Every message that crosses it is in this table; the
methods below say what they mean, so neither side handles raw dicts.

=====================  ==========  ==============================================
message                direction   meaning
=====================  ==========  ==============================================
``idmap_request``      child->par  (two-step path) the child made its user
                                   namespace; write /proc/<pid>/{uid,gid}_map
``idmap_written``      par->child  the id maps are written; go on
``init_pid``           child->par  (two-step path) the host pid of the init
``go``                 par->init   the init is in its cgroups (and mapped):
                                   set up the container
``ready``              init->par   rootfs, hostname, ... done; the init now
                                   blocks on the exec fifo until ``start``
``error``              child->par  setup failed: ``kind`` (an exception class
                                   name of pycontainer.errors) and ``message``;
                                   the child exits after sending it
=====================  ==========  ==============================================

The start signal itself does not use this channel: it goes through the exec
fifo in the state dir, so ``nsinit start`` works from another process.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass

from pycontainer.errors import ContainerError

MAX_MESSAGE = 65536


class ChannelClosed(ContainerError):
    """The other end went away before saying what was expected."""


@dataclass
class Channel:
    sock: socket.socket

    @staticmethod
    def pair() -> tuple[Channel, Channel]:
        """(parent end, child end); both close-on-exec."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return Channel(a), Channel(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    # -- raw -------------------------------------------------------------------
    def send(self, type_: str, **fields) -> None:
        self.sock.send(json.dumps({"type": type_, **fields}).encode())

    def recv(self) -> dict:
        data = self.sock.recv(MAX_MESSAGE)
        if not data:
            raise ChannelClosed("container init exited unexpectedly during setup")
        return json.loads(data)

    def expect(self, *types: str) -> dict:
        """Receive the next message; an ``error`` message is raised as the
        exception it names, anything not in ``types`` is a protocol error."""
        msg = self.recv()
        if msg["type"] == "error":
            raise error_from_message(msg)
        if msg["type"] not in types:
            raise ContainerError(f"protocol error: got {msg['type']!r}, expected {' or '.join(types)}")
        return msg

    # -- child side ------------------------------------------------------------
    def request_id_maps(self, pid: int) -> None:
        self.send("idmap_request", pid=pid)
        self.expect("idmap_written")

    def report_init_pid(self, pid: int) -> None:
        self.send("init_pid", pid=pid)

    def wait_for_go(self) -> None:
        self.expect("go")

    def report_ready(self) -> None:
        self.send("ready")

    def report_error(self, exc: BaseException) -> bool:
        """Send the error; False if nobody is listening any more."""
        kind = type(exc).__name__ if isinstance(exc, ContainerError) else "ContainerError"
        try:
            self.send("error", kind=kind, message=str(exc))
            return True
        except OSError:
            return False

    # -- parent side -----------------------------------------------------------
    def id_maps_written(self) -> None:
        self.send("idmap_written")

    def go(self) -> None:
        self.send("go")

    def wait_for_ready(self) -> None:
        self.expect("ready")


def error_from_message(msg: dict) -> Exception:
    from pycontainer import errors

    cls = getattr(errors, msg.get("kind", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.PycontainerError)):
        cls = ContainerError
    return cls(msg.get("message", "container init failed"))
