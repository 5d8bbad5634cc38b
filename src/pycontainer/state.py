"""Container state on disk: one directory per container under the state root
(default /run/pycontainer), holding ``state.json`` and the exec fifo.

The status is never stored: it is derived each time from the init process
(alive, and the same process: its start time is kept, so a reused pid cannot
fool us) and the exec fifo (present until ``start``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pycontainer import OCI_VERSION
from pycontainer.errors import ContainerError, ContainerNotFound

DEFAULT_ROOT = Path("/run/pycontainer")
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
_ID_RE = re.compile(r"^[\w+\-.]+$")


def check_id(container_id: str) -> None:
    """Ids name directories: no separators, no '.'/'..', no NUL (runc's rule)."""
    if (
        not container_id
        or container_id in (".", "..")
        or not _ID_RE.match(container_id)
        or len(container_id) > 1024
    ):
        raise ContainerError(f"invalid container id {container_id!r}: use letters, digits and + - . _")


@dataclass
class State:
    """The runtime-spec state (plus runc's extra fields), and what ``delete``
    needs to undo: the cgroup paths."""

    id: str
    pid: int
    bundle: str
    rootfs: str
    created: str
    annotations: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    status: str = "creating"
    oci_version: str = OCI_VERSION
    init_start_time: int = 0
    cgroups_path: str = ""
    cgroup_paths: dict[str, str] = field(default_factory=dict)
    cgroup_created: list[str] = field(default_factory=list)

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


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


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

    def __init__(self, root: Path, container_id: str) -> None:
        check_id(container_id)
        self.root = Path(root)
        self.id = container_id
        self.path = self.root / container_id

    @property
    def fifo(self) -> Path:
        return self.path / EXEC_FIFO

    def create(self) -> None:
        """Make the directory; exactly one of two racing creators wins."""
        self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        try:
            self.path.mkdir(mode=0o711)
        except FileExistsError:
            from pycontainer.errors import ContainerExists

            raise ContainerExists(f"container with id {self.id!r} already exists") from None
        os.mkfifo(self.fifo, 0o622)

    def exists(self) -> bool:
        return self.path.is_dir()

    def save(self, state: State) -> None:
        """Write state.json atomically (write a temp file, rename over)."""
        data = asdict(state)
        data.pop("status")
        tmp = self.path / f".{STATE_FILE}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path / STATE_FILE)

    def load(self) -> State:
        try:
            with open(self.path / STATE_FILE) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ContainerNotFound(f"container {self.id!r} does not exist") from None
        except (OSError, ValueError) as e:
            raise ContainerError(f"container {self.id!r}: state file is unreadable: {e}") from None
        state = State(**data)
        state.status = self.status_of(state)
        return state

    def status_of(self, state: State) -> str:
        if not state.pid or process_start_time(state.pid) != state.init_start_time:
            return "stopped"
        return "created" if self.fifo.exists() else "running"

    def remove(self) -> None:
        for name in (STATE_FILE, EXEC_FIFO, f".{STATE_FILE}.tmp"):
            try:
                (self.path / name).unlink()
            except FileNotFoundError:
                pass
        try:
            self.path.rmdir()
        except FileNotFoundError:
            pass
