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
import stat
import time

from pycontainer import OCI_VERSION, jsonio
from pycontainer.errors import (
    ContainerError,
    ContainerExists,
    ContainerNotFound,
    InvalidState,
    StateUnreadable,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

DEFAULT_ROOT = "/run/pycontainer"
STATE_FILE = "state.json"
CONFIG_FILE = "config.json"  # the config the container was created with (exec's defaults)
EXEC_FIFO = "exec.fifo"
# What the runtime itself puts in a container's directory (besides these, the
# network code's record and hosts file, named by NETWORK_FILES): the only names
# `delete --force` removes from a directory without a usable state.
RUNTIME_FILES = {
    STATE_FILE: stat.S_ISREG,
    f".{STATE_FILE}.tmp": stat.S_ISREG,
    CONFIG_FILE: stat.S_ISREG,
    EXEC_FIFO: stat.S_ISFIFO,
}
NETWORK_FILES = ("network.json", "network.json.tmp", "hosts", "netns")  # netns: network.NETNS_PIN
# The state holds process.env (passwords, tokens): only its owner may read it.
ROOT_MODE = 0o711  # traversable: a user's tools may look up their own container by id
DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077  # while the runtime writes state: nothing it makes there is for others
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

    # The fields' types, for type checkers (the slots above hold them).
    id: str
    pid: int
    bundle: str
    rootfs: str
    created: str
    annotations: dict[str, str]
    owner: str
    oci_version: str
    init_start_time: int
    cgroups_path: str
    cgroup_paths: dict[str, str]
    cgroup_created: list[str]
    hooks: dict[str, Any]
    creator_pid: int
    creator_start_time: int
    status: str

    def __init__(self, **fields: Any) -> None:
        unknown = set(fields) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"unknown state fields: {sorted(unknown)}")
        for name, default in self.FIELDS.items():
            value = fields.get(name, default)
            if value is None:
                value = [] if name == "cgroup_created" else {}
            setattr(self, name, value)
        self.status = "creating"

    def to_dict(self) -> dict[str, Any]:
        """Every field, in the order of ``state.json`` (what is stored, not what ``state`` prints)."""
        return {name: getattr(self, name) for name in self.FIELDS}

    def to_oci(self) -> dict[str, Any]:
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


def open_process(pid: int, start_time: int | None) -> int | None:
    """A pidfd for process ``pid`` if it is still the one that started at
    ``start_time`` (the init on record), else None.  The start time is read
    again once the pidfd is held: the pidfd then names that process for good,
    so a signal through it can never reach a process that took the pid since."""
    if not pid or process_start_time(pid) != start_time:
        return None
    try:
        fd = os.pidfd_open(pid)  # close-on-exec always
    except ProcessLookupError:
        return None
    if process_start_time(pid) != start_time:
        os.close(fd)
        return None
    return fd


def signal_process(pidfd: int, sig: int) -> bool:
    """Send ``sig`` through the pidfd; False if the process has ended."""
    import _signal

    try:
        _signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return False
    return True


def wait_exited(pidfd: int, timeout: float) -> bool:
    """Wait (at most ``timeout`` seconds) for the pidfd's process to exit,
    as a process that is not its parent can: the pidfd turns readable."""
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def open_namespace_of(pidfd: int, pid: int, name: str) -> int:
    """An fd for /proc/PID/ns/NAME of the process the pidfd holds: opened by
    pid, then the pidfd is checked alive (while it lives, the pid is its)."""
    fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    if not signal_process(pidfd, 0):
        os.close(fd)
        raise InvalidState("the container's init has exited")
    return fd


class StateDir:
    """One container's directory under the state root."""

    def __init__(self, root: str | os.PathLike[str], container_id: str) -> None:
        check_id(container_id)
        if not os.fspath(root):
            raise ContainerError("state root: empty path")
        self.root = os.fspath(root)
        self.id = container_id
        self.path = os.path.join(self.root, container_id)
        self.fifo = os.path.join(self.path, EXEC_FIFO)

    def create(self) -> None:
        """Make the directory; exactly one of two racing creators wins."""
        make_root(self.root)
        old_umask = os.umask(UMASK)
        try:
            try:
                os.mkdir(self.path, DIR_MODE)
            except FileExistsError:
                raise ContainerExists(f"container with id {self.id!r} already exists") from None
            try:
                os.mkfifo(self.fifo, FILE_MODE)
            except BaseException:
                os.rmdir(self.path)
                raise
        finally:
            os.umask(old_umask)

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
        write_private(tmp, jsonio.dumps(state.to_dict()))
        os.replace(tmp, os.path.join(self.path, STATE_FILE))

    def save_config(self, config: dict[str, Any]) -> None:
        write_private(os.path.join(self.path, CONFIG_FILE), jsonio.dumps(config))

    @property
    def config_path(self) -> str:
        return os.path.join(self.path, CONFIG_FILE)

    def load(self) -> State:
        check_root(self.root)
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

    def foreign(self) -> list[str]:
        """What in the directory the runtime did not make: names it never
        uses, entries of the wrong type (a directory named config.json), and
        anything owned by someone else."""
        try:
            names = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            try:
                st = os.lstat(os.path.join(self.path, name))
            except FileNotFoundError:
                continue
            is_kind = RUNTIME_FILES.get(name, stat.S_ISREG if name in NETWORK_FILES else None)
            if is_kind is None or not is_kind(st.st_mode) or st.st_uid != os.geteuid():
                found.append(name)
        return found

    def remove(self) -> None:
        """Remove the directory: only the files the runtime makes there
        (state.json first, so a remove cut short leaves a directory that
        ``delete --force`` treats as a leftover).  Anything else is left
        where it is, and named in the error."""
        names = [STATE_FILE, *(n for n in RUNTIME_FILES if n != STATE_FILE), *NETWORK_FILES]
        foreign = self.foreign()
        for name in names:
            if name in foreign:
                continue
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass
        if foreign:
            raise ContainerError(self.foreign_message(foreign))
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass

    def foreign_message(self, foreign: list[str]) -> str:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        return (
            f"container {self.id!r}: {self.path} holds files the runtime did not make ({shown}): "
            "left in place; remove them yourself"
        )


def write_private(path: str, text: str) -> None:
    """A new file only its owner can read (O_EXCL|O_NOFOLLOW: never through a
    link or into a file someone else made)."""
    try:
        os.unlink(path)  # a temporary left by a killed writer
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    with open(fd, "w") as f:
        f.write(text)


def make_root(root: str) -> None:
    """The state root, made if missing (its parents too, as for any
    directory; the root itself ROOT_MODE), and checked (check_root)."""
    old_umask = os.umask(0o022)  # fixed: the parents are traversable, whatever the caller's umask
    try:
        parent = os.path.dirname(os.path.abspath(root))
        os.makedirs(parent, exist_ok=True)
        os.mkdir(root, ROOT_MODE)
    except FileExistsError:
        pass
    except OSError as e:
        raise ContainerError(f"state root {root}: {e.strerror}") from None
    finally:
        os.umask(old_umask)
    check_root(root)


def check_root(root: str) -> None:
    """An existing state root must be a directory of root's or ours that no
    one else can write: else another user could plant a state that makes us
    signal their choice of process, or read what we keep there."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return  # nothing there yet: create makes it
    except OSError as e:
        raise ContainerError(f"state root {root}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ContainerError(f"state root {root}: not a directory")
    if st.st_uid not in (0, os.geteuid()):
        raise ContainerError(
            f"state root {root}: owned by uid {st.st_uid}, not by root or by us: refusing to use it"
        )
    if st.st_mode & 0o022:
        raise ContainerError(
            f"state root {root}: mode {stat.S_IMODE(st.st_mode):04o} lets others write it "
            f"(at most {ROOT_MODE:04o}): refusing to use it"
        )


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

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)
