"""Container state on disk: one directory per container under the state root
(default /run/pycontainer; for another user, a directory of its own: see
``default_root``), holding ``state.json`` and the exec fifo.

The status is never stored: it is derived each time from the init process
(alive, and the same process: its start time is kept, so a reused pid cannot
fool us) and the exec fifo (present until ``start``).

``create`` writes the state first, before it makes anything else on the host
(with no init pid yet, the cgroup directories it is about to make, and who is
creating it), and again once the init is ready: a create killed at any step
leaves a state that ``delete --force`` can undo.  Until the init pid is on
record the status is "creating" while the creator lives, "stopped" after.
"""

from __future__ import annotations

import os
import time

from pycontainer import OCI_VERSION, jsonio
from pycontainer.errors import ContainerError, ContainerExists, ContainerNotFound, StateUnreadable

DEFAULT_ROOT = "/run/pycontainer"
STATE_FILE = "state.json"
CONFIG_FILE = "config.json"  # the config the container was created with (exec's defaults)
EXEC_FIFO = "exec.fifo"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def default_root() -> str:
    """The state root when none is given: /run/pycontainer for root; for any
    other user $XDG_RUNTIME_DIR/pycontainer, else /run/user/UID/pycontainer
    (runc's rule: an unprivileged user cannot write /run)."""
    uid = os.geteuid()
    if uid == 0:
        return DEFAULT_ROOT
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    return os.path.join(runtime_dir, "pycontainer")


MAX_ID = 255  # NAME_MAX: the id names a directory and a cgroup


def check_id(container_id: str) -> None:
    """Ids name directories: no separators, no '.'/'..', no NUL (runc's rule)."""
    if not isinstance(container_id, str):
        raise ContainerError(f"invalid container id {container_id!r}: not a string")
    shown = repr(container_id) if len(container_id) <= 64 else repr(container_id[:64]) + "..."
    if len(container_id) > MAX_ID:
        raise ContainerError(f"invalid container id {shown}: longer than {MAX_ID} characters")
    if not container_id or container_id in (".", "..") or not _ID_CHARS.issuperset(container_id):
        raise ContainerError(f"invalid container id {shown}: use letters, digits and + - . _")


class State:
    """The runtime-spec state (plus runc's extra fields), and what ``delete``
    needs to undo: the cgroup directories."""

    # Field name -> default; the order is the order of state.json.
    FIELDS = {
        "id": "",
        "pid": 0,
        "bundle": "",
        "rootfs": "",
        "created": "",
        "annotations": None,
        "owner": "",
        "oci_version": OCI_VERSION,
        "init_start_time": 0,
        "cgroups_path": "",
        "cgroup_paths": None,
        "cgroup_created": None,
        "hooks": None,  # poststart and poststop hooks, as JSON
        # The process making the container, until the init's pid is on record.
        "creator_pid": 0,
        "creator_start_time": 0,
    }
    __slots__ = (*FIELDS, "status")

    def __init__(self, **fields) -> None:
        unknown = set(fields) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"unknown state fields: {sorted(unknown)}")
        for name, default in self.FIELDS.items():
            value = fields.get(name, default)
            if value is None:
                value = [] if name == "cgroup_created" else {}
            setattr(self, name, value)
        self.status = "creating"

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    def to_oci(self) -> dict:
        """The JSON ``nsinit state`` prints (runc's field names and order)."""
        return {
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": self.pid if self.status != "stopped" else 0,
            "status": self.status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "annotations": self.annotations,
            "owner": self.owner,
        }

    def __repr__(self) -> str:
        return f"State(id={self.id!r}, pid={self.pid}, status={self.status!r})"


def now_rfc3339() -> str:
    """UTC time as RFC 3339 with nanoseconds, like Go's time.RFC3339Nano."""
    ns = time.time_ns()
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"
    )


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None  # a zombie has finished running
    return int(fields[19])


class StateDir:
    """One container's directory under the state root."""

    def __init__(self, root: str | os.PathLike, container_id: str) -> None:
        check_id(container_id)
        self.root = os.fspath(root)
        self.id = container_id
        self.path = os.path.join(self.root, container_id)
        self.fifo = os.path.join(self.path, EXEC_FIFO)

    def create(self) -> None:
        """Make the directory; exactly one of two racing creators wins."""
        try:
            os.makedirs(self.root, mode=0o711, exist_ok=True)
        except OSError as e:
            raise ContainerError(f"state root {self.root}: {e.strerror}") from None
        try:
            os.mkdir(self.path, 0o711)
        except FileExistsError:
            raise ContainerExists(f"container with id {self.id!r} already exists") from None
        try:
            os.mkfifo(self.fifo, 0o622)
        except BaseException:
            os.rmdir(self.path)
            raise

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def lock(self) -> _Lock:
        """Hold the container's lock (flock on its directory) for a change of
        its state: start and delete by two nsinit processes at once must not
        interleave.  Raises ContainerNotFound if the container went away."""
        return _Lock(self)

    def save(self, state: State) -> None:
        """Write state.json atomically (write a temp file, rename over)."""
        tmp = os.path.join(self.path, f".{STATE_FILE}.tmp")
        with open(tmp, "w") as f:
            f.write(jsonio.dumps(state.to_dict()))
        os.replace(tmp, os.path.join(self.path, STATE_FILE))

    def save_config(self, config: dict) -> None:
        with open(os.path.join(self.path, CONFIG_FILE), "w") as f:
            f.write(jsonio.dumps(config))

    @property
    def config_path(self) -> str:
        return os.path.join(self.path, CONFIG_FILE)

    def load(self) -> State:
        try:
            with open(os.path.join(self.path, STATE_FILE)) as f:
                data = jsonio.loads(f.read())
            state = State(**data)
            _check_types(state)
        except FileNotFoundError:
            raise ContainerNotFound(f"container {self.id!r} does not exist") from None
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise StateUnreadable(f"container {self.id!r}: state file is unreadable: {e}") from None
        state.status = self.status_of(state)
        return state

    def status_of(self, state: State) -> str:
        if not state.pid:
            creator = state.creator_pid
            if creator and process_start_time(creator) == state.creator_start_time:
                return "creating"
            return "stopped"  # a create that died (or failed) before its init was ready
        if process_start_time(state.pid) != state.init_start_time:
            return "stopped"
        return "created" if os.path.exists(self.fifo) else "running"

    def remove(self) -> None:
        """Remove the directory; state.json first, so a remove cut short
        leaves a directory that ``delete --force`` treats as a leftover."""
        names = [STATE_FILE]
        try:
            names += [n for n in os.listdir(self.path) if n != STATE_FILE]
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass


_TYPES = {
    "id": str,
    "pid": int,
    "init_start_time": int,
    "creator_pid": int,
    "creator_start_time": int,
    "cgroups_path": str,
    "cgroup_paths": dict,
    "cgroup_created": list,
    "hooks": dict,
    "annotations": dict,
}


def _check_types(state: State) -> None:
    """A state file edited or damaged into other types must not reach kill(2)."""
    for name, kind in _TYPES.items():
        value = getattr(state, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{name} is {type(value).__name__}, not {kind.__name__}")


class _Lock:
    __slots__ = ("state_dir", "fd")

    def __init__(self, state_dir: StateDir) -> None:
        self.state_dir = state_dir
        self.fd = -1

    def __enter__(self) -> _Lock:
        import fcntl

        try:
            self.fd = os.open(self.state_dir.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(f"container {self.state_dir.id!r} does not exist") from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(self.state_dir.path, STATE_FILE)):
            os.close(self.fd)
            raise ContainerNotFound(f"container {self.state_dir.id!r} does not exist")
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)
