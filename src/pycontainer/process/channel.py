"""The parent <-> init channel: a pair of pipes carrying one JSON object per
message, each framed by its length (pipes need no socket module, whose import
alone costs a millisecond of every container start).  Every message that crosses it is in this table; the
methods below say what they mean, so neither side handles raw dicts.

=====================  ==========  ==============================================
message                direction   meaning
=====================  ==========  ==============================================
``idmap_request``      child->par  (two-step path) the child made its user
                                   namespace; write /proc/<pid>/{uid,gid}_map
``idmap_written``      par->child  the id maps are written; go on
``init_pid``           child->par  (two-step path) the host pid of the init
``go``                 par->init   the id maps are written (if any): set up the
                                   container (in parallel with the next step);
                                   ``pid``: the init's host pid; ``setgroups``:
                                   whether its user namespace allows setgroups
                                   (read by the parent from the host's /proc)
``in_cgroups``         par->init   the init is in its cgroups: it may now
                                   unshare its cgroup namespace and report ready
``create_runtime``     init->par  the init's mounts are made, before pivot_root:
                                   run the prestart and createRuntime hooks
                                   (sent only when the config has such hooks)
``hooks_done``         par->init   they ran; go on (createContainer hooks next)
``seccomp_fd``         child->par  (a profile with SCMP_ACT_NOTIFY rules) the filter
                                   is loaded; ``fd``: the notify fd's number in
                                   the child, for the parent's pidfd_getfd
``seccomp_done``       par->child  the seccomp agent has the fd; go on
``ready``              init->par   rootfs, hostname, ... done; the init now
                                   blocks on the exec fifo until ``start``
``error``              child->par  setup failed: ``kind`` (an exception class
                                   name of pycontainer.errors), ``message`` and
                                   ``attrs`` (errors.to_wire); the child exits
                                   after sending it
=====================  ==========  ==============================================

The start signal itself does not use this channel: it goes through the exec
fifo in the state dir, so ``nsinit start`` works from another process.
"""

from __future__ import annotations

import os

from pycontainer import jsonio
from pycontainer.errors import ContainerError, from_wire, to_wire

# One message is one write(2) of at most PIPE_BUF bytes, so it is atomic.
PIPE_BUF = 4096


class ChannelClosed(ContainerError):
    """The other end went away before saying what was expected."""


class Channel:
    """One end: reads from ``rfd``, writes to ``wfd`` (both close-on-exec)."""

    __slots__ = ("rfd", "wfd", "early")

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.early: set[str] = set()  # messages that came before they were waited for

    @staticmethod
    def pair() -> tuple[Channel, Channel]:
        """(parent end, child end)."""
        to_parent_r, to_parent_w = os.pipe2(os.O_CLOEXEC)
        to_child_r, to_child_w = os.pipe2(os.O_CLOEXEC)
        return Channel(to_parent_r, to_child_w), Channel(to_child_r, to_parent_w)

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.rfd = self.wfd = -1

    # -- raw -------------------------------------------------------------------
    def send(self, type_: str, **fields) -> None:
        data = jsonio.dumps({"type": type_, **fields}).encode()
        # An error's message (and attributes) made to fit: cut the message
        # (JSON escapes may take six bytes a character), then drop the
        # attributes; its class still crosses.
        keep = 1000
        while len(data) + 4 > PIPE_BUF and "message" in fields and keep >= 125:
            fields["message"] = fields["message"][:keep] + "..."
            data = jsonio.dumps({"type": type_, **fields}).encode()
            keep //= 2
        if len(data) + 4 > PIPE_BUF and "attrs" in fields:
            fields["attrs"] = {}
            data = jsonio.dumps({"type": type_, **fields}).encode()
        os.write(self.wfd, len(data).to_bytes(4, "big") + data)

    def recv(self) -> dict:
        size = int.from_bytes(self._read_exactly(4), "big")
        return jsonio.loads(self._read_exactly(size))

    def _read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = os.read(self.rfd, n - len(data))
            if not chunk:
                raise ChannelClosed("container init exited unexpectedly during setup")
            data += chunk
        return data

    def expect(self, *types: str) -> dict:
        """Receive the next message; an ``error`` message is raised as the
        exception it names, anything not in ``types`` is a protocol error."""
        msg = self.recv()
        if msg["type"] == "error":
            raise error_from_message(msg)
        if msg["type"] not in types:
            raise ContainerError(f"protocol error: got {msg['type']!r}, expected {' or '.join(types)}")
        return msg

    def reported_error(self) -> Exception | None:
        """The error the other side sent, if any, from what is left in the
        pipe; call only once the other side is gone (else it may block)."""
        try:
            while True:
                msg = self.recv()
                if msg["type"] == "error":
                    return error_from_message(msg)
        except (ChannelClosed, OSError, ValueError):
            return None

    # -- child side ------------------------------------------------------------
    def request_id_maps(self, pid: int) -> None:
        self.send("idmap_request", pid=pid)
        self.expect("idmap_written")

    def report_init_pid(self, pid: int) -> None:
        self.send("init_pid", pid=pid)

    def wait_for_go(self) -> tuple[int, bool]:
        """Returns our host pid (for the state hooks get) and whether our user
        namespace allows setgroups."""
        msg = self.expect("go")
        return msg["pid"], msg["setgroups"]

    def wait_until_in_cgroups(self) -> None:
        if "in_cgroups" in self.early:
            return
        self.expect("in_cgroups")

    def run_create_runtime_hooks(self) -> None:
        """Ask the parent to run prestart and createRuntime hooks; wait."""
        self.send("create_runtime")
        # The parent may have finished placing us in our cgroups meanwhile.
        while self.expect("hooks_done", "in_cgroups")["type"] == "in_cgroups":
            self.early.add("in_cgroups")

    def hand_over_seccomp_fd(self, fd: int) -> None:
        """Tell the parent our notify fd; wait until the agent has it."""
        self.send("seccomp_fd", fd=fd)
        self.expect("seccomp_done")

    def report_ready(self) -> None:
        self.send("ready")

    def report_error(self, exc: BaseException) -> bool:
        """Send the error (its class, message and attributes: errors.to_wire);
        False if nobody is listening any more."""
        try:
            self.send("error", **to_wire(exc))
            return True
        except OSError:
            return False

    # -- parent side -----------------------------------------------------------
    def id_maps_written(self) -> None:
        self.send("idmap_written")

    def go(self, init_pid: int, setgroups_allowed: bool) -> None:
        self.send("go", pid=init_pid, setgroups=setgroups_allowed)

    def placed_in_cgroups(self) -> None:
        try:
            self.send("in_cgroups")
        except BrokenPipeError:
            pass  # the init died; wait_for_ready reads why

    def wait_for_ready(self, on_create_runtime=None, on_seccomp_fd=None) -> None:
        """Wait for ``ready``; a ``create_runtime`` request on the way is
        answered by calling ``on_create_runtime()``, a ``seccomp_fd`` by
        ``on_seccomp_fd(fd)``."""
        while True:
            msg = self.expect("ready", "create_runtime", "seccomp_fd")
            if msg["type"] == "ready":
                return
            if msg["type"] == "create_runtime":
                on_create_runtime()
                self.send("hooks_done")
            else:
                if on_seccomp_fd is None:
                    raise ContainerError("protocol error: a seccomp fd nobody asked for")
                on_seccomp_fd(msg["fd"])
                self.send("seccomp_done")


def error_from_message(msg: dict) -> Exception:
    """The exception an ``error`` message describes, with its class and
    attributes (errors.from_wire; an unknown class is a ContainerError)."""
    return from_wire(msg.get("kind"), msg.get("message"), msg.get("attrs"))
