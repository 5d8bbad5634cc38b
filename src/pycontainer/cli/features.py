"""The document ``nsinit features`` prints: what this runtime recognizes.

The runtime-spec's features document (features.md, features-linux.md), as
``runc features`` prints it.  Every list comes from the table the code itself
checks against -- mount options from :mod:`pycontainer.mountopts`, namespaces
and seccomp names from :mod:`pycontainer.spec.validate`, capabilities from
:mod:`pycontainer.security.capabilities`, hook names from the ``Hooks``
model -- so the document cannot claim what the runtime would reject.

Only ``seccomp.supportedFlags`` looks at the host (see :func:`supported_seccomp_flags`).
"""

from __future__ import annotations

import os

import pycontainer
from pycontainer import mountopts
from pycontainer.security.capabilities import CAPABILITIES
from pycontainer.spec._model import fields
from pycontainer.spec.load import json_key
from pycontainer.spec.models import Hooks
from pycontainer.spec.validate import (
    NAMESPACE_TYPES,
    SECCOMP_ACTIONS,
    SECCOMP_ARCHITECTURES,
    SECCOMP_FLAGS,
    SECCOMP_OPERATORS,
)

__all__ = ["features", "mount_options", "seccomp_known_flags", "supported_seccomp_flags"]

OCI_VERSION_MIN = "1.0.0"

#: Our own annotation keys (runc uses ``org.opencontainers.runc.*``).
ANNOTATION_VERSION = "io.github.pycontainer.version"

# The filter flags' values (<linux/seccomp.h>) and the kernel release that
# brought each, for the probe below.  TSYNC is accepted in a config and
# ignored (the filter is loaded by a single-threaded process right before
# execve), so -- like runc -- it is not listed as a known flag.
_SECCOMP_FLAG_BITS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1 << 0,
    "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 1 << 5,
}
_SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
_SECCOMP_FLAG_SINCE = {
    "SECCOMP_FILTER_FLAG_TSYNC": (3, 17),
    "SECCOMP_FILTER_FLAG_LOG": (4, 14),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (4, 17),
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (5, 19),
}
_UNLISTED_SECCOMP_FLAGS = frozenset({"SECCOMP_FILTER_FLAG_TSYNC"})

# seccomp(2)'s number by ``uname -m``, for 64-bit processes; 32-bit ones by
# a separate table.  Architectures missing here (mips: three ABIs under one
# machine name) fall back to the kernel release.
_SECCOMP_NR_64 = {
    "x86_64": 317,
    "aarch64": 277,
    "riscv64": 277,
    "loongarch64": 277,
    "ppc64": 358,
    "ppc64le": 358,
    "s390x": 348,
}
_SECCOMP_NR_32 = {
    "i386": 354,
    "i486": 354,
    "i586": 354,
    "i686": 354,
    "armv6l": 383,
    "armv7l": 383,
    "armv8l": 383,
    "ppc": 358,
    "s390": 348,
}
_SECCOMP_SET_MODE_FILTER = 1
_EFAULT = 14
_EINVAL = 22


def mount_options() -> list[str]:
    """Every option name :func:`pycontainer.mountopts.parse_mount_options`
    recognizes (none of them reaches the filesystem's ``data``), sorted.

    ``idmap``/``ridmap`` ask for an idmapped mount (idmapped.py), as in runc.
    """
    names = {
        *mountopts._FLAG_OPTIONS,
        *mountopts.PROPAGATION_FLAGS,
        *mountopts._REC_ATTR_OPTIONS,
        *mountopts._REC_ATIME_OPTIONS,
        *mountopts.EXTRA_OPTIONS,
        "idmap",
        "ridmap",
    }
    return sorted(names)


def seccomp_known_flags() -> list[str]:
    """The filter flags a config may name, in validate.py's order, without TSYNC."""
    return [flag for flag in SECCOMP_FLAGS if flag not in _UNLISTED_SECCOMP_FLAGS]


def supported_seccomp_flags(known: list[str] | None = None) -> list[str]:
    """The known flags this kernel accepts.

    Probed as libseccomp does: ``seccomp(SECCOMP_SET_MODE_FILTER, flag, NULL)``
    checks the flags before it reads the (NULL) program, so it fails with
    EFAULT for a flag the kernel knows and EINVAL for one it does not, and
    never installs anything.  (WAIT_KILLABLE_RECV is only valid together with
    NEW_LISTENER, so it is probed with both.)  The call goes through ctypes,
    about a millisecond; where the syscall number is unknown or the probe is
    inconclusive (seccomp itself filtered: EPERM, ENOSYS) the kernel release
    decides instead, which can be wrong only for distribution kernels with
    backports.
    """
    if known is None:
        known = seccomp_known_flags()
    probe = _seccomp_probe()
    release = _kernel_release()
    supported = []
    for flag in known:
        bits = _SECCOMP_FLAG_BITS.get(flag)
        if bits is None:
            continue
        if flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
            bits |= _SECCOMP_FILTER_FLAG_NEW_LISTENER
        answer = probe(bits) if probe is not None else None
        if answer is None:
            answer = release >= _SECCOMP_FLAG_SINCE[flag]
        if answer:
            supported.append(flag)
    return supported


def _seccomp_probe():
    """A function flags -> True (kernel knows them), False, or None (cannot
    tell); None if seccomp(2) cannot be called from here."""
    try:
        import ctypes
    except ImportError:  # pragma: no cover - CPython always has it on Linux
        return None
    machine = os.uname().machine
    table = _SECCOMP_NR_64 if ctypes.sizeof(ctypes.c_void_p) == 8 else _SECCOMP_NR_32
    nr = table.get(machine)
    if nr is None:
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):  # pragma: no cover
        return None
    syscall.restype = ctypes.c_long

    def probe(flags: int) -> bool | None:
        ctypes.set_errno(0)
        rc = syscall(ctypes.c_long(nr), ctypes.c_long(_SECCOMP_SET_MODE_FILTER), ctypes.c_ulong(flags), None)
        err = ctypes.get_errno()
        if rc == -1 and err == _EFAULT:
            return True
        if rc == -1 and err == _EINVAL:
            return False
        return None

    return probe


def _kernel_release() -> tuple[int, int]:
    """(major, minor) of the running kernel; (0, 0) if unreadable."""
    parts = os.uname().release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1].split("-")[0] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return 0, 0


def features() -> dict:
    """The runtime-spec features document, keys and order as the spec's JSON."""
    known_flags = seccomp_known_flags()
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": pycontainer.OCI_VERSION,
        "hooks": [json_key(Hooks, field.name) for field in fields(Hooks)],
        "mountOptions": mount_options(),
        "linux": {
            "namespaces": sorted(NAMESPACE_TYPES),
            "capabilities": list(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(SECCOMP_ACTIONS),
                "operators": sorted(SECCOMP_OPERATORS),
                "archs": sorted(SECCOMP_ARCHITECTURES),
                "knownFlags": known_flags,
                "supportedFlags": supported_seccomp_flags(known_flags),
            },
            # Supported by the runtime (the host may still not run them: features-linux.md).
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": True},
        },
        # No libseccomp version: pycontainer does not use libseccomp.
        "annotations": {ANNOTATION_VERSION: pycontainer.__version__},
    }
