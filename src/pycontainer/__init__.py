"""pycontainer: a low-level OCI container runtime for Linux.

The public API is re-exported here lazily, so ``import pycontainer`` costs
almost nothing and a tool pays only for what it uses::

    from pycontainer import load_config, Container
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers know better

__version__ = "0.1.0"
OCI_VERSION = "1.2.0"

_EXPORTS = {
    "load_config": "pycontainer.spec",
    "validate": "pycontainer.spec",
    "default_spec": "pycontainer.spec.defaults",
    "Spec": "pycontainer.spec",
    "Container": "pycontainer.container",
    "State": "pycontainer.state",
    "PycontainerError": "pycontainer.errors",
    "ConfigError": "pycontainer.errors",
    "ContainerError": "pycontainer.errors",
    "ContainerNotFound": "pycontainer.errors",
    "ContainerExists": "pycontainer.errors",
    "InvalidState": "pycontainer.errors",
    "ExecutableNotFound": "pycontainer.errors",
    "HookError": "pycontainer.errors",
    "ResourceError": "pycontainer.errors",
    "TimeoutExpired": "pycontainer.errors",
    "CalledProcessError": "pycontainer.errors",
    "PIPE": "pycontainer.stdio",
    "STDOUT": "pycontainer.stdio",
    "DEVNULL": "pycontainer.stdio",
    "run": "pycontainer.runner",
    "run_async": "pycontainer.runner",
    "CompletedProcess": "pycontainer.runner",
}

__all__ = [
    "DEVNULL",
    "OCI_VERSION",
    "PIPE",
    "STDOUT",
    "CalledProcessError",
    "CompletedProcess",
    "ConfigError",
    "Container",
    "ContainerError",
    "ContainerExists",
    "ContainerNotFound",
    "ExecutableNotFound",
    "HookError",
    "InvalidState",
    "PycontainerError",
    "ResourceError",
    "Spec",
    "State",
    "TimeoutExpired",
    "__version__",
    "default_spec",
    "load_config",
    "run",
    "run_async",
    "validate",
]

if TYPE_CHECKING:  # pragma: no cover
    from pycontainer.container import Container
    from pycontainer.errors import (
        CalledProcessError,
        ConfigError,
        ContainerError,
        ContainerExists,
        ContainerNotFound,
        ExecutableNotFound,
        HookError,
        InvalidState,
        PycontainerError,
        ResourceError,
        TimeoutExpired,
    )
    from pycontainer.runner import CompletedProcess, run, run_async
    from pycontainer.spec.defaults import default_spec
    from pycontainer.spec.load import load_config
    from pycontainer.spec.models import Spec
    from pycontainer.spec.validate import validate
    from pycontainer.state import State
    from pycontainer.stdio import DEVNULL, PIPE, STDOUT


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pycontainer' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value
