"""The OCI runtime-spec config: models (models.py), loading (load.py) and checking (validate.py).

Loading and checking are separate steps on purpose: ``load_config`` rejects what is malformed
(wrong JSON types, missing required keys), ``check`` rejects what is well-formed but inconsistent
(an unknown namespace, a hostname without a UTS namespace)::

    spec = load_config(bundle / "config.json")
    check(spec)
"""

from __future__ import annotations

from pycontainer.spec.load import dump, json_key, load_config, load_process, load_resources
from pycontainer.spec.models import (
    CPU,
    BlockIO,
    Capabilities,
    ConsoleSize,
    Device,
    DeviceRule,
    ExecCPUAffinity,
    Hook,
    Hooks,
    HugepageLimit,
    IDMapping,
    IntelRdt,
    InterfacePriority,
    IOPriority,
    Linux,
    Memory,
    Mount,
    Namespace,
    NetDevice,
    Network,
    Personality,
    Pids,
    Process,
    Rdma,
    Resources,
    Rlimit,
    Root,
    Scheduler,
    Seccomp,
    SeccompArg,
    Spec,
    Syscall,
    ThrottleDevice,
    TimeOffset,
    User,
    WeightDevice,
)
from pycontainer.spec.validate import check, validate, validate_process, validate_resources

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from pycontainer.spec.defaults import default_spec as default_spec

__all__ = [
    "CPU",
    "BlockIO",
    "Capabilities",
    "ConsoleSize",
    "Device",
    "DeviceRule",
    "ExecCPUAffinity",
    "HugepageLimit",
    "Hook",
    "Hooks",
    "IDMapping",
    "IOPriority",
    "IntelRdt",
    "InterfacePriority",
    "Linux",
    "Memory",
    "Mount",
    "Namespace",
    "NetDevice",
    "Network",
    "Personality",
    "Pids",
    "Process",
    "Rdma",
    "Resources",
    "Rlimit",
    "Root",
    "Scheduler",
    "Seccomp",
    "SeccompArg",
    "Spec",
    "Syscall",
    "ThrottleDevice",
    "TimeOffset",
    "User",
    "WeightDevice",
    "check",
    "dump",
    "json_key",
    "load_config",
    "load_process",
    "load_resources",
    "validate",
    "validate_process",
    "validate_resources",
]


def __getattr__(name: str) -> object:
    # default_spec is imported on first use: running a container never needs it.
    if name == "default_spec":
        from pycontainer.spec.defaults import default_spec

        return default_spec
    raise AttributeError(f"module 'pycontainer.spec' has no attribute {name!r}")
