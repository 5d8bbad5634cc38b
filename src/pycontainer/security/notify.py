"""The seccomp agent: where the notify fd of a profile with ``SCMP_ACT_NOTIFY`` rules goes.

The runtime spec (config-linux.md, "seccomp"; runtime.md, "Container process state"): the
runtime connects to the unix socket ``linux.seccomp.listenerPath`` and sends, in one message,
the container process state as JSON and the notify fd by SCM_RIGHTS::

    {"ociVersion": "1.2.0", "fds": ["seccompFd"], "pid": 4422, "metadata": "...",
     "state": {"ociVersion": ..., "id": ..., "status": "creating", "pid": 4422, "bundle": ..., ...}}

The container's process loads its filter (the kernel hands it the notify fd), tells the
parent the fd's number over the channel and waits; the parent takes a copy with
pidfd_getfd(2), sends it here, and lets the process go on (runc does the same).  Only a
config with such rules imports this module, and with it ``socket``.
"""

from __future__ import annotations

import os
import stat

from pycontainer import jsonio
from pycontainer.errors import ConfigError, ContainerError

PATH = "linux.seccomp.listenerPath"


def check_listener_path(path: str) -> None:
    """Before anything is made: the agent's socket must be there (a ConfigError naming the path)."""
    if not os.path.isabs(path):
        raise ConfigError(f"{path!r} is not an absolute path (expected the seccomp agent's socket)", PATH)
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror} (expected the seccomp agent's unix socket)", PATH) from None
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"{path} is not a unix socket (expected the seccomp agent's socket)", PATH)


def process_state(pid: int, metadata: str | None, state: dict) -> dict:
    """The containerProcessState document (runtime.md): ``pid`` the process the filter is on."""
    from pycontainer import OCI_VERSION

    doc: dict = {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": pid}
    if metadata:
        doc["metadata"] = metadata
    doc["state"] = state
    return doc


def send_to_agent(listener_path: str, metadata: str | None, pid: int, child_fd: int, state: dict) -> None:
    """Copy fd ``child_fd`` of process ``pid`` (its notify fd) and send it with the state."""
    from pycontainer import syscalls

    try:
        notify_fd = syscalls.pidfd_getfd(pid, child_fd)
    except OSError as e:
        raise ContainerError(f"seccomp: cannot take the notify fd of process {pid}: {e}") from None
    try:
        send_fd(listener_path, jsonio.dumps(process_state(pid, metadata, state)).encode(), notify_fd)
    finally:
        os.close(notify_fd)


def send_fd(listener_path: str, payload: bytes, fd: int) -> None:
    """One message on a new connection to ``listener_path``: ``payload`` and ``fd`` (SCM_RIGHTS)."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(listener_path)
            socket.send_fds(sock, [payload], [fd])
    except OSError as e:
        raise ContainerError(
            f"failed to send the seccomp notify fd to the agent at {listener_path}: {e.strerror or e}"
        ) from None
