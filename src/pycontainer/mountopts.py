"""Translate OCI mount options into what mount(2) and mount_setattr(2) take.

An OCI ``mounts[]`` entry carries its options as mount(8)-style strings
(``"nosuid"``, ``"rbind"``, ``"mode=755"``).  The kernel wants them split up:
per-mount and superblock flags (``MS_*``) in ``mountflags``, propagation
changes as separate ``mount(2)`` calls (the kernel refuses to combine them with
anything else), recursive attributes for ``mount_setattr(2)`` (``MOUNT_ATTR_*``)
and everything it does not know as the filesystem's ``data`` string.

The option table follows runc's ``libcontainer/specconv`` (``parseMountOptions``
and ``mountPropagationMapping``) and crun's option table so a config behaves
the same under all three runtimes; where they differ or are buggy the choice
is documented at the spot.  Nothing here performs a mount: this module is pure
so it can be tested without privileges and imported cheaply by the container
init.
"""

from __future__ import annotations

__all__ = [
    "EXTRA_OPTIONS",
    "MOUNT_ATTR_IDMAP",
    "MOUNT_ATTR_NOATIME",
    "MOUNT_ATTR_NODEV",
    "MOUNT_ATTR_NODIRATIME",
    "MOUNT_ATTR_NOEXEC",
    "MOUNT_ATTR_NOSUID",
    "MOUNT_ATTR_NOSYMFOLLOW",
    "MOUNT_ATTR_RDONLY",
    "MOUNT_ATTR_RELATIME",
    "MOUNT_ATTR_STRICTATIME",
    "MOUNT_ATTR__ATIME",
    "MS_ATIME_FLAGS",
    "MS_BIND",
    "MS_DIRSYNC",
    "MS_I_VERSION",
    "MS_LAZYTIME",
    "MS_LOCK_FLAGS",
    "MS_MANDLOCK",
    "MS_MOVE",
    "MS_NOATIME",
    "MS_NODEV",
    "MS_NODIRATIME",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_NOSYMFOLLOW",
    "MS_POSIXACL",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_RELATIME",
    "MS_REMOUNT",
    "MS_SHARED",
    "MS_SILENT",
    "MS_SLAVE",
    "MS_STRICTATIME",
    "MS_SYNCHRONOUS",
    "MS_UNBINDABLE",
    "PROPAGATION_FLAGS",
    "ST_NOATIME",
    "ST_NODEV",
    "ST_NODIRATIME",
    "ST_NOEXEC",
    "ST_NOSUID",
    "ST_RDONLY",
    "ST_RELATIME",
    "MountOptions",
    "bind_remount_flags",
    "needs_bind_remount",
    "parse_mount_options",
    "statvfs_to_mount_flags",
]

# mount(2) flags, <linux/mount.h> / <sys/mount.h>.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# mount_setattr(2) attributes, <linux/mount.h>.  The atime ones are an enum
# inside the MOUNT_ATTR__ATIME field, not independent bits (RELATIME is 0).
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# statvfs(3) f_flag bits, <bits/statvfs.h>.  Not the MS_* values: ST_RELATIME
# is 0x1000 where MS_RELATIME is 1 << 21.
ST_RDONLY = 0x1
ST_NOSUID = 0x2
ST_NODEV = 0x4
ST_NOEXEC = 0x8
ST_NOATIME = 0x400
ST_NODIRATIME = 0x800
ST_RELATIME = 0x1000

#: The atime modes; mount(2) treats them as one setting, so do we.
MS_ATIME_FLAGS = MS_NOATIME | MS_RELATIME | MS_STRICTATIME

#: Per-mount flags the kernel locks when a mount is handed to a less
#: privileged user namespace (MNT_LOCK_* in fs/namespace.c): a bind remount
#: there must repeat them or fail with EPERM.
MS_LOCK_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME

#: Flags a MS_BIND|MS_REMOUNT can change: the per-mount ones.  Superblock
#: flags (sync, mand, lazytime, ...) are ignored by the kernel on that path.
_PER_MOUNT_FLAGS = (
    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOSYMFOLLOW | MS_NODIRATIME | MS_ATIME_FLAGS
)

_ST_TO_MS = (
    (ST_RDONLY, MS_RDONLY),
    (ST_NOSUID, MS_NOSUID),
    (ST_NODEV, MS_NODEV),
    (ST_NOEXEC, MS_NOEXEC),
    (ST_NOATIME, MS_NOATIME),
    (ST_NODIRATIME, MS_NODIRATIME),
    (ST_RELATIME, MS_RELATIME),
)

#: ``linux.rootfsPropagation`` values and propagation mount options.
PROPAGATION_FLAGS: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# option -> (clear?, MS_* bits).  "defaults" means nothing and is dropped
# (crun does the same; runc would pass it on as data, which filesystems such
# as tmpfs reject).
_FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "nosuid": (False, MS_NOSUID),
    "suid": (True, MS_NOSUID),
    "nodev": (False, MS_NODEV),
    "dev": (True, MS_NODEV),
    "noexec": (False, MS_NOEXEC),
    "exec": (True, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS),
    "async": (True, MS_SYNCHRONOUS),
    "dirsync": (False, MS_DIRSYNC),
    "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK),
    "nomand": (True, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "atime": (True, MS_NOATIME),
    "nodiratime": (False, MS_NODIRATIME),
    "diratime": (True, MS_NODIRATIME),
    "relatime": (False, MS_RELATIME),
    "norelatime": (True, MS_RELATIME),
    "strictatime": (False, MS_STRICTATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "bind": (False, MS_BIND),
    "rbind": (False, MS_BIND | MS_REC),
    "silent": (False, MS_SILENT),
    "loud": (True, MS_SILENT),
    "iversion": (False, MS_I_VERSION),
    "noiversion": (True, MS_I_VERSION),
    "lazytime": (False, MS_LAZYTIME),
    "nolazytime": (True, MS_LAZYTIME),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "symfollow": (True, MS_NOSYMFOLLOW),
    "acl": (False, MS_POSIXACL),
    "noacl": (True, MS_POSIXACL),
}

# Recursive attributes, applied with mount_setattr(AT_RECURSIVE):
# option -> (clear?, MOUNT_ATTR_* bit).  Same set as runc.
_REC_ATTR_OPTIONS: dict[str, tuple[bool, int]] = {
    "rro": (False, MOUNT_ATTR_RDONLY),
    "rrw": (True, MOUNT_ATTR_RDONLY),
    "rnosuid": (False, MOUNT_ATTR_NOSUID),
    "rsuid": (True, MOUNT_ATTR_NOSUID),
    "rnodev": (False, MOUNT_ATTR_NODEV),
    "rdev": (True, MOUNT_ATTR_NODEV),
    "rnoexec": (False, MOUNT_ATTR_NOEXEC),
    "rexec": (True, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
}

# Recursive atime options: option -> (clear?, MOUNT_ATTR_* atime value).
_REC_ATIME_OPTIONS: dict[str, tuple[bool, int]] = {
    "rnoatime": (False, MOUNT_ATTR_NOATIME),
    "ratime": (True, MOUNT_ATTR_NOATIME),
    "rrelatime": (False, MOUNT_ATTR_RELATIME),
    "rnorelatime": (True, MOUNT_ATTR_RELATIME),
    "rstrictatime": (False, MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (True, MOUNT_ATTR_STRICTATIME),
}

#: Options that steer the runtime rather than the kernel; they are collected
#: in :attr:`MountOptions.extra` and never reach ``data``.  ``tmpcopyup``
#: (runc, crun): copy the directory's old content into a fresh tmpfs;
#: ``copy-symlink`` (crun): a symlink source is recreated, not mounted;
#: ``src-nofollow``/``dest-nofollow`` (crun): do not follow a symlink in the
#: last component of source/destination.
EXTRA_OPTIONS = frozenset({"tmpcopyup", "copy-symlink", "src-nofollow", "dest-nofollow"})


_FIELDS = (
    "flags",
    "clear_flags",
    "propagation",
    "data",
    "recursive",
    "bind",
    "recursive_attr_set",
    "recursive_attr_clear",
    "idmap",
    "idmap_recursive",
    "extra",
)


class MountOptions:
    """One mount's options, parsed.

    ``flags`` goes to mount(2) as ``mountflags`` (including ``MS_BIND`` and,
    for ``rbind``, ``MS_REC``); ``clear_flags`` are the ``MS_*`` bits the
    options explicitly turned off (``rw``, ``suid``, ``exec``, ...), which
    matters for bind mounts: see :func:`bind_remount_flags`.  ``propagation``
    holds one ``MS_*`` value per propagation option, in order; each needs its
    own mount(2) call.  ``data`` is the comma-joined filesystem options.
    ``recursive_attr_set``/``recursive_attr_clear`` are ``MOUNT_ATTR_*``
    values for ``mount_setattr(AT_RECURSIVE)`` from the ``r``-prefixed
    options.  ``idmap``/``idmap_recursive`` record ``idmap``/``ridmap``
    (the mappings themselves live elsewhere in the config); ``extra`` the
    runtime-only options of :data:`EXTRA_OPTIONS`, in order.

    Read-only; compares by value.
    """

    __slots__ = _FIELDS

    flags: int
    clear_flags: int
    propagation: list[int]
    data: str
    recursive: bool
    bind: bool
    recursive_attr_set: int
    recursive_attr_clear: int
    idmap: bool
    idmap_recursive: bool
    extra: tuple[str, ...]

    def __init__(
        self,
        flags: int = 0,
        clear_flags: int = 0,
        propagation: list[int] | None = None,
        data: str = "",
        recursive: bool = False,
        bind: bool = False,
        recursive_attr_set: int = 0,
        recursive_attr_clear: int = 0,
        idmap: bool = False,
        idmap_recursive: bool = False,
        extra: tuple[str, ...] = (),
    ) -> None:
        _set = object.__setattr__
        _set(self, "flags", flags)
        _set(self, "clear_flags", clear_flags)
        _set(self, "propagation", [] if propagation is None else propagation)
        _set(self, "data", data)
        _set(self, "recursive", recursive)
        _set(self, "bind", bind)
        _set(self, "recursive_attr_set", recursive_attr_set)
        _set(self, "recursive_attr_clear", recursive_attr_clear)
        _set(self, "idmap", idmap)
        _set(self, "idmap_recursive", idmap_recursive)
        _set(self, "extra", extra)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"MountOptions is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"MountOptions is read-only (cannot delete {name!r})")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MountOptions):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # propagation is a list

    def __reduce__(self) -> tuple:  # copy and pickle: rebuild through __init__
        return (MountOptions, self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in zip(_FIELDS, self._values(), strict=True))
        return f"MountOptions({inner})"

    @property
    def recursive_attr_clr(self) -> int:
        """Alias of :attr:`recursive_attr_clear`, named like ``mount_attr.attr_clr``."""
        return self.recursive_attr_clear

    @property
    def has_recursive_attrs(self) -> bool:
        """Whether a ``mount_setattr(AT_RECURSIVE)`` pass is needed."""
        return bool(self.recursive_attr_set or self.recursive_attr_clear)


def parse_mount_options(options: list[str] | None, mount_type: str | None = None) -> MountOptions:
    """Parse an OCI mount's ``options`` (``mount_type`` is its ``type``).

    Options are applied in order, so of two conflicting ones (``ro``/``rw``,
    ``nodev``/``dev``, ``rro``/``rrw``, ...) the last wins, as in runc.  The
    atime modes ``noatime``, ``relatime`` and ``strictatime`` are one setting
    to the kernel: setting one drops the others (runc keeps all bits and the
    kernel then picks strictatime over noatime over relatime regardless of
    order).  Anything unknown goes to ``data`` unchanged and in order, e.g.
    ``mode=755,size=65536k`` or ``newinstance,ptmxmode=0666,mode=0620,gid=5``.

    ``bind``/``rbind`` or a ``type`` of ``"bind"`` make it a bind mount
    (``bind=True``, ``MS_BIND`` in ``flags``); ``rbind`` also sets
    ``recursive`` and ``MS_REC``.  ``bind`` after ``rbind`` keeps the mount
    recursive: either asks for a bind mount and the recursive request is not
    withdrawn by a plain one.
    """
    flags = 0
    clear_flags = 0
    propagation: list[int] = []
    data: list[str] = []
    attr_set = 0
    attr_clr = 0
    idmap = False
    idmap_recursive = False
    extra: list[str] = []

    for opt in options or ():
        if opt in _FLAG_OPTIONS:
            clear, bits = _FLAG_OPTIONS[opt]
            if clear:
                flags &= ~bits
                clear_flags |= bits
            else:
                if bits & MS_ATIME_FLAGS:
                    flags &= ~MS_ATIME_FLAGS
                flags |= bits
                clear_flags &= ~bits
        elif opt in PROPAGATION_FLAGS:
            propagation.append(PROPAGATION_FLAGS[opt])
        elif opt in _REC_ATTR_OPTIONS:
            clear, bit = _REC_ATTR_OPTIONS[opt]
            if clear:
                attr_clr |= bit
                attr_set &= ~bit
            else:
                attr_set |= bit
                attr_clr &= ~bit
        elif opt in _REC_ATIME_OPTIONS:
            attr_set, attr_clr = _apply_rec_atime(opt, attr_set, attr_clr)
        elif opt == "idmap":
            idmap = True
        elif opt == "ridmap":
            idmap = True
            idmap_recursive = True
        elif opt in EXTRA_OPTIONS:
            extra.append(opt)
        else:
            data.append(opt)

    if mount_type == "bind":
        flags |= MS_BIND
    bind = bool(flags & MS_BIND)
    return MountOptions(
        flags=flags,
        clear_flags=clear_flags,
        propagation=propagation,
        data=",".join(data),
        recursive=bind and bool(flags & MS_REC),
        bind=bind,
        recursive_attr_set=attr_set,
        recursive_attr_clear=attr_clr,
        idmap=idmap,
        idmap_recursive=idmap_recursive,
        extra=tuple(extra),
    )


def _apply_rec_atime(opt: str, attr_set: int, attr_clr: int) -> tuple[int, int]:
    """Apply one recursive atime option to (attr_set, attr_clr).

    mount_setattr(2) takes the atime mode as an enum: choosing one means
    putting it in ``attr_set`` *and* the whole ``MOUNT_ATTR__ATIME`` field in
    ``attr_clr``; a partial field in ``attr_clr`` is EINVAL.  So a setting
    option (``rnoatime``, ``rrelatime``, ``rstrictatime``) replaces the mode,
    and a clearing option (``ratime``, ``rnorelatime``, ``rnostrictatime``)
    withdraws an earlier request for that very mode -- like ``atime`` only
    turns ``MS_NOATIME`` off -- and otherwise leaves the mount's atime alone.
    (runc puts e.g. ``MOUNT_ATTR_NOATIME`` alone in ``attr_clr`` for ``ratime``,
    which the kernel rejects.)
    """
    clear, value = _REC_ATIME_OPTIONS[opt]
    if not clear:
        return (attr_set & ~MOUNT_ATTR__ATIME) | value, attr_clr | MOUNT_ATTR__ATIME
    requested = bool(attr_clr & MOUNT_ATTR__ATIME) and (attr_set & MOUNT_ATTR__ATIME) == value
    if requested:
        return attr_set & ~MOUNT_ATTR__ATIME, attr_clr & ~MOUNT_ATTR__ATIME
    return attr_set, attr_clr


def statvfs_to_mount_flags(f_flag: int) -> int:
    """Convert ``os.statvfs(...).f_flag`` (``ST_*``) into the ``MS_*`` bits
    that the kernel may lock on a mount."""
    ms = 0
    for st_bit, ms_bit in _ST_TO_MS:
        if f_flag & st_bit:
            ms |= ms_bit
    return ms


def needs_bind_remount(opts: MountOptions) -> bool:
    """Whether a bind mount needs the ``MS_BIND|MS_REMOUNT`` pass at all.

    The first ``MS_BIND`` mount(2) ignores every other flag, so any per-mount
    flag asked for -- or explicitly turned off (``rw`` on a read-only source) --
    needs a second pass.  A bind mount with no such option keeps the source's
    flags as they are, as in runc.
    """
    return opts.bind and bool((opts.flags | opts.clear_flags) & _PER_MOUNT_FLAGS)


def bind_remount_flags(opts: MountOptions, source_statvfs_flags: int | None = None) -> int:
    """``mountflags`` for the ``MS_BIND|MS_REMOUNT`` pass of a bind mount.

    A bind mount ignores ``ro``, ``nosuid``, ``nodev``, ``noexec`` and the
    atime flags on its first mount(2); they only stick when the new mount is
    remounted with ``MS_BIND|MS_REMOUNT`` and the per-mount flags.  Such a
    remount *sets* the flags, so whatever is not passed is turned off.

    Without ``source_statvfs_flags`` the result is just the requested
    per-mount flags: what ``mount --bind -o ...`` means, and what to try first.

    In a user namespace the kernel locks the flags a mount had when it came
    from a more privileged namespace; a remount that would drop any of them
    fails with EPERM.  For the retry, pass ``os.statvfs(source).f_flag``: the
    source's ``ro``/``nosuid``/``nodev``/``noexec``/``nodiratime`` and its
    atime mode are then kept unless the options explicitly cleared them, and
    an atime mode asked for replaces the source's.  A request that contradicts
    a locked flag (``rw`` on a locked read-only mount) is kept as asked, so
    the kernel refuses it rather than us silently making a different mount --
    the same outcome as runc's fix for locked flags.

    Superblock flags (``sync``, ``mand``, ``lazytime``, ...), ``MS_REC`` and
    propagation are left out: this mount(2) call cannot change them.
    """
    flags = MS_BIND | MS_REMOUNT | (opts.flags & _PER_MOUNT_FLAGS)
    if source_statvfs_flags is None:
        return flags
    source = statvfs_to_mount_flags(source_statvfs_flags)
    flags |= source & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NODIRATIME) & ~opts.clear_flags
    if not opts.flags & MS_ATIME_FLAGS:
        if source & MS_NOATIME:
            source_atime = MS_NOATIME
        elif source & MS_RELATIME:
            source_atime = MS_RELATIME
        else:
            # statvfs has no bit for strictatime: neither noatime nor
            # relatime means it.  Passing it explicitly matters because the
            # kernel only preserves the atime mode on remount when no atime
            # flag at all is given, and MS_NODIRATIME counts as one.
            source_atime = MS_STRICTATIME
        if not source_atime & opts.clear_flags:
            flags |= source_atime
    return flags
