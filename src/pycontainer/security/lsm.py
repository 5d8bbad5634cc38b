"""LSM labels: ``process.apparmorProfile``, ``process.selinuxLabel`` and ``linux.mountLabel``.

The process labels are written to the calling thread's *exec* attribute right before execve
(the kernel applies them at the next execve, so nothing the runtime does before is confined);
the mount label goes into the data of the filesystems the runtime mounts as a ``context=``
option, as runc and crun do (go-selinux's FormatMountLabel).  A config asking for a label of
an LSM this host does not run gets a ConfigError naming the LSM and the JSON path before
anything is made (runc fails the same way for AppArmor; a label silently not applied would be
a container less confined than asked for).

The functions that decide what is written are pure (paths and contents as values), so tests
can check them on any host; :func:`apply_exec_labels` is the one that writes, through the
runtime's own procfs handle (procfs.py), never through the container's /proc: a fake one
would take the label and leave the program unconfined (CVE-2019-16884, CVE-2023-27561).
"""

from __future__ import annotations

import os

from pycontainer import procfs
from pycontainer.errors import ConfigError, ContainerError

APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
SELINUX_FS = "/sys/fs/selinux"

# Filesystems that get no context= option: bind mounts keep the label of their source, and
# proc, sysfs and cgroup take none (runc mounts them without the label).
_NO_MOUNT_LABEL = frozenset({"bind", "proc", "sysfs", "cgroup", "cgroup2", "mqueue"})


def apparmor_enabled(enabled_file: str = APPARMOR_ENABLED) -> bool:
    """runc's apparmor.IsEnabled: the module is loaded and says Y."""
    try:
        with open(enabled_file) as f:
            return f.read(1) == "Y"
    except OSError:
        return False


def selinux_enabled(selinuxfs: str = SELINUX_FS) -> bool:
    """SELinux runs when its filesystem is mounted (go-selinux looks for it the same way)."""
    return os.path.exists(os.path.join(selinuxfs, "enforce"))


def check(process, linux=None, *, where: str = "process", apparmor=None, selinux=None) -> None:
    """Refuse labels of an LSM the host does not run.  ``apparmor``/``selinux``: whether each
    is enabled (None: look at this host)."""
    if process is not None and process.apparmor_profile:
        if not (apparmor_enabled() if apparmor is None else apparmor):
            raise ConfigError(
                f"AppArmor is not enabled on this host: "
                f"profile {process.apparmor_profile!r} cannot be applied",
                f"{where}.apparmorProfile",
            )
    if process is not None and process.selinux_label:
        if not (selinux_enabled() if selinux is None else selinux):
            raise ConfigError(
                f"SELinux is not enabled on this host: label {process.selinux_label!r} cannot be applied",
                f"{where}.selinuxLabel",
            )
    if linux is not None and linux.mount_label:
        if not (selinux_enabled() if selinux is None else selinux):
            raise ConfigError(
                f"SELinux is not enabled on this host: mount label {linux.mount_label!r} cannot be applied",
                "linux.mountLabel",
            )


def exec_attr_writes(
    process, proc_self: str = "/proc/thread-self", own_apparmor_attr: bool | None = None
) -> list[tuple[str, str]]:
    """(path, content) of each write that labels the program the next execve runs.

    AppArmor: ``exec PROFILE`` to its own ``attr/apparmor/exec`` where the kernel has it (5.8:
    LSM stacking moved it there), else to ``attr/exec`` (runc's apparmor.ApplyProfile).
    SELinux: the label to ``attr/exec`` (go-selinux's SetExecLabel).  ``own_apparmor_attr``:
    whether the kernel has AppArmor's own file, as the runtime saw on the host's /proc (None:
    look under ``proc_self``)."""
    writes = []
    if process.apparmor_profile:
        own = f"{proc_self}/attr/apparmor/exec"
        if own_apparmor_attr is None:
            own_apparmor_attr = os.path.exists(own)
        path = own if own_apparmor_attr else f"{proc_self}/attr/exec"
        writes.append((path, f"exec {process.apparmor_profile}"))
    if process.selinux_label:
        writes.append((f"{proc_self}/attr/exec", process.selinux_label))
    return writes


def apply_exec_labels(process, opener=None, own_apparmor_attr: bool | None = None) -> None:
    """Write the exec attributes (just before the final step); a failure names the field."""
    opener = opener or _open_in_procfs
    for path, content in exec_attr_writes(process, own_apparmor_attr=own_apparmor_attr):
        field = "process.selinuxLabel" if content == process.selinux_label else "process.apparmorProfile"
        try:
            fd = opener(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, content.encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise ContainerError(f"{field}: writing {content!r} to {path}: {e.strerror}") from None


def _open_in_procfs(path: str, flags: int) -> int:
    """Open ``/proc/thread-self/...`` through the runtime's procfs handle."""
    return procfs.open_self(path.removeprefix("/proc/thread-self/"), flags)


def mount_data(data: str | None, fstype: str | None, mount_label: str | None) -> str | None:
    """A mount's data with the ``context="LABEL"`` option added (tmpfs, devpts, ...)."""
    if not mount_label or (fstype or "bind") in _NO_MOUNT_LABEL:
        return data
    context = f'context="{mount_label}"'
    return f"{data},{context}" if data else context
