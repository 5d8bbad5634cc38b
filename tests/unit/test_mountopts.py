"""Tests for pycontainer.mountopts: OCI mount options -> mount(2) arguments."""

from __future__ import annotations

import copy
import os
import pickle
import re
from pathlib import Path

import pytest

from pycontainer import mountopts as m
from pycontainer.mountopts import (
    MOUNT_ATTR__ATIME,
    MOUNT_ATTR_NOATIME,
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_STRICTATIME,
    MS_BIND,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_STRICTATIME,
    MS_SYNCHRONOUS,
    MS_UNBINDABLE,
    PROPAGATION_FLAGS,
    MountOptions,
    bind_remount_flags,
    needs_bind_remount,
    parse_mount_options,
    statvfs_to_mount_flags,
)

# ------------------------------------------------------------------ constants


def _header_defines(path: str, prefix: str) -> dict[str, int]:
    """NAME -> value for simple numeric #defines / enum entries in a header."""
    text = Path(path).read_text()
    found: dict[str, int] = {}
    pattern = rf"^\s*(?:#define\s+)?({prefix}\w+)\s*=?\s*\(?\s*(0x[0-9a-fA-F]+|\d+)\s*(<<\s*(\d+))?"
    for match in re.finditer(pattern, text, re.M):
        name, value, _, shift = match.groups()
        found.setdefault(name, int(value, 0) << int(shift or 0))
    return found


@pytest.mark.skipif(not os.path.exists("/usr/include/linux/mount.h"), reason="no kernel headers")
def test_constants_match_linux_mount_h() -> None:
    defines = _header_defines("/usr/include/linux/mount.h", "(?:MS|MOUNT_ATTR)_")
    checked = 0
    for name in m.__all__:
        if name in defines:
            assert getattr(m, name) == defines[name], name
            checked += 1
    assert checked >= 30


def test_statvfs_constants_match_os_module() -> None:
    names = ("ST_RDONLY", "ST_NOSUID", "ST_NODEV", "ST_NOEXEC", "ST_NOATIME", "ST_NODIRATIME", "ST_RELATIME")
    for name in names:
        if hasattr(os, name):
            assert getattr(m, name) == getattr(os, name), name


# -------------------------------------------------------------------- parsing


def test_podman_dev_tmpfs() -> None:
    opts = parse_mount_options(["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"], "tmpfs")
    assert opts.flags == MS_NOSUID | MS_NOEXEC | MS_STRICTATIME
    assert opts.clear_flags == 0
    assert opts.data == "mode=755,size=65536k"
    assert opts.propagation == []
    assert not opts.bind and not opts.recursive
    assert not opts.has_recursive_attrs


def test_devpts() -> None:
    opts = parse_mount_options(
        ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"], "devpts"
    )
    assert opts.flags == MS_NOSUID | MS_NOEXEC
    assert opts.data == "newinstance,ptmxmode=0666,mode=0620,gid=5"


def test_bind_with_propagation_and_flags() -> None:
    opts = parse_mount_options(["bind", "rprivate", "nosuid", "noexec", "nodev"], "none")
    assert opts.bind and not opts.recursive
    assert opts.flags == MS_BIND | MS_NOSUID | MS_NOEXEC | MS_NODEV
    assert opts.propagation == [MS_PRIVATE | MS_REC]
    assert opts.data == ""


def test_rbind_ro() -> None:
    opts = parse_mount_options(["rbind", "ro"], None)
    assert opts.bind and opts.recursive
    assert opts.flags == MS_BIND | MS_REC | MS_RDONLY
    assert opts.data == ""


def test_type_bind_implies_bind() -> None:
    opts = parse_mount_options([], "bind")
    assert opts.bind and not opts.recursive
    assert opts.flags == MS_BIND
    opts = parse_mount_options(["rbind"], "bind")
    assert opts.bind and opts.recursive


def test_no_options() -> None:
    assert parse_mount_options(None, "proc") == MountOptions()
    assert parse_mount_options([], None) == MountOptions()


def test_unknown_options_go_to_data_in_order() -> None:
    opts = parse_mount_options(
        ["lowerdir=/a:/b", "nodev", "upperdir=/u", "workdir=/w", "xino=off", "index=on"], "overlay"
    )
    assert opts.flags == MS_NODEV
    assert opts.data == "lowerdir=/a:/b,upperdir=/u,workdir=/w,xino=off,index=on"


def test_defaults_is_dropped() -> None:
    opts = parse_mount_options(["defaults", "size=1m"], "tmpfs")
    assert opts.flags == 0
    assert opts.data == "size=1m"


@pytest.mark.parametrize(
    ("options", "flags", "cleared"),
    [
        (["ro", "rw"], 0, MS_RDONLY),
        (["rw", "ro"], MS_RDONLY, 0),
        (["nosuid", "suid"], 0, MS_NOSUID),
        (["dev", "nodev"], MS_NODEV, 0),
        (["noexec", "exec", "noexec"], MS_NOEXEC, 0),
        (["sync", "async"], 0, MS_SYNCHRONOUS),
        (["nodiratime", "diratime"], 0, MS_NODIRATIME),
        (["noatime", "atime"], 0, MS_NOATIME),
        (["relatime", "norelatime"], 0, MS_RELATIME),
        (["strictatime", "nostrictatime"], 0, MS_STRICTATIME),
    ],
)
def test_conflicting_pairs_last_wins(options: list[str], flags: int, cleared: int) -> None:
    opts = parse_mount_options(options, "tmpfs")
    assert opts.flags == flags
    assert opts.clear_flags == cleared


@pytest.mark.parametrize(
    ("options", "flags"),
    [
        (["noatime", "strictatime"], MS_STRICTATIME),
        (["strictatime", "noatime"], MS_NOATIME),
        (["relatime", "noatime", "relatime"], MS_RELATIME),
        (["noatime", "nodiratime"], MS_NOATIME | MS_NODIRATIME),
    ],
)
def test_atime_modes_are_one_setting(options: list[str], flags: int) -> None:
    assert parse_mount_options(options, "tmpfs").flags == flags


def test_all_flag_options_known() -> None:
    names = [
        "ro",
        "rw",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "exec",
        "noexec",
        "sync",
        "async",
        "dirsync",
        "remount",
        "mand",
        "nomand",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
        "bind",
        "rbind",
        "silent",
        "loud",
        "iversion",
        "noiversion",
        "lazytime",
        "nolazytime",
        "nosymfollow",
        "symfollow",
        "acl",
        "noacl",
    ]
    for name in names:
        assert parse_mount_options([name], "tmpfs").data == "", name


def test_misc_flags() -> None:
    opts = parse_mount_options(["remount", "dirsync", "mand", "silent", "iversion", "lazytime"], None)
    assert opts.flags == (
        m.MS_REMOUNT | m.MS_DIRSYNC | m.MS_MANDLOCK | m.MS_SILENT | m.MS_I_VERSION | m.MS_LAZYTIME
    )
    opts = parse_mount_options(["silent", "loud", "lazytime", "nolazytime", "iversion", "noiversion"], None)
    assert opts.flags == 0


def test_propagation_lists() -> None:
    opts = parse_mount_options(["rbind", "rslave", "shared", "private", "runbindable", "unbindable"], None)
    assert opts.propagation == [
        MS_SLAVE | MS_REC,
        MS_SHARED,
        MS_PRIVATE,
        MS_UNBINDABLE | MS_REC,
        MS_UNBINDABLE,
    ]
    # Propagation never leaks into the mount flags or data.
    assert opts.flags == MS_BIND | MS_REC
    assert opts.data == ""


def test_propagation_flags_table() -> None:
    assert PROPAGATION_FLAGS == {
        "private": MS_PRIVATE,
        "rprivate": MS_PRIVATE | MS_REC,
        "slave": MS_SLAVE,
        "rslave": MS_SLAVE | MS_REC,
        "shared": MS_SHARED,
        "rshared": MS_SHARED | MS_REC,
        "unbindable": MS_UNBINDABLE,
        "runbindable": MS_UNBINDABLE | MS_REC,
    }


def test_recursive_attrs() -> None:
    opts = parse_mount_options(["rbind", "rro", "rnosuid", "rnodev"], None)
    assert opts.recursive_attr_set == MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
    assert opts.recursive_attr_clear == 0
    assert opts.flags == MS_BIND | MS_REC  # rro is not MS_RDONLY
    assert opts.has_recursive_attrs
    assert opts.data == ""


def test_recursive_attrs_last_wins() -> None:
    opts = parse_mount_options(["rro", "rrw", "rnoexec", "rsuid"], None)
    assert opts.recursive_attr_set == m.MOUNT_ATTR_NOEXEC
    assert opts.recursive_attr_clear == MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID
    assert opts.recursive_attr_clr == opts.recursive_attr_clear
    opts = parse_mount_options(["rrw", "rro"], None)
    assert opts.recursive_attr_set == MOUNT_ATTR_RDONLY
    assert opts.recursive_attr_clear == 0


def test_recursive_atime_is_an_enum() -> None:
    opts = parse_mount_options(["rnoatime"], None)
    assert opts.recursive_attr_set == MOUNT_ATTR_NOATIME
    assert opts.recursive_attr_clear == MOUNT_ATTR__ATIME
    opts = parse_mount_options(["rnoatime", "rstrictatime", "rnodiratime"], None)
    assert opts.recursive_attr_set == MOUNT_ATTR_STRICTATIME | m.MOUNT_ATTR_NODIRATIME
    assert opts.recursive_attr_clear == MOUNT_ATTR__ATIME
    opts = parse_mount_options(["rrelatime"], None)
    assert opts.recursive_attr_set == m.MOUNT_ATTR_RELATIME == 0
    assert opts.recursive_attr_clear == MOUNT_ATTR__ATIME
    assert opts.has_recursive_attrs


def test_recursive_atime_clear_forms() -> None:
    # Withdraws the matching earlier request ...
    opts = parse_mount_options(["rnoatime", "ratime"], None)
    assert (opts.recursive_attr_set, opts.recursive_attr_clear) == (0, 0)
    # ... but never leaves a partial MOUNT_ATTR__ATIME in attr_clr (EINVAL).
    for options in (["ratime"], ["rnorelatime"], ["rstrictatime", "ratime"], ["rnostrictatime"]):
        opts = parse_mount_options(options, None)
        assert opts.recursive_attr_clear & MOUNT_ATTR__ATIME in (0, MOUNT_ATTR__ATIME), options
    opts = parse_mount_options(["rstrictatime", "ratime"], None)
    assert opts.recursive_attr_set == MOUNT_ATTR_STRICTATIME


def test_idmap() -> None:
    opts = parse_mount_options(["bind", "idmap"], None)
    assert opts.idmap and not opts.idmap_recursive
    opts = parse_mount_options(["rbind", "ridmap"], None)
    assert opts.idmap and opts.idmap_recursive
    assert opts.data == ""


def test_extra_options() -> None:
    opts = parse_mount_options(["tmpcopyup", "mode=1777", "copy-symlink"], "tmpfs")
    assert opts.extra == ("tmpcopyup", "copy-symlink")
    assert opts.data == "mode=1777"


def test_mount_options_is_frozen() -> None:
    opts = parse_mount_options(["ro"], None)
    with pytest.raises(AttributeError):
        opts.flags = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del opts.data  # type: ignore[misc]
    with pytest.raises(AttributeError):
        opts.unknown = 1  # type: ignore[attr-defined]
    assert opts.flags == MS_RDONLY


def test_mount_options_value_semantics() -> None:
    opts = parse_mount_options(["bind", "ro", "rprivate", "mode=755"], None)
    same = parse_mount_options(["bind", "ro", "rprivate", "mode=755"], None)
    assert opts == same
    assert opts != parse_mount_options(["bind"], None)
    assert MountOptions().propagation == [] and MountOptions().propagation is not MountOptions().propagation
    assert "flags=" in repr(opts) and "propagation=[" in repr(opts)
    assert copy.copy(opts) == opts
    assert pickle.loads(pickle.dumps(opts)) == opts


# ------------------------------------------------------- bind remount flags


def test_statvfs_to_mount_flags() -> None:
    assert statvfs_to_mount_flags(0) == 0
    assert statvfs_to_mount_flags(m.ST_RDONLY | m.ST_NOSUID) == MS_RDONLY | MS_NOSUID
    assert statvfs_to_mount_flags(m.ST_RELATIME) == MS_RELATIME
    assert statvfs_to_mount_flags(m.ST_NODEV | m.ST_NOEXEC | m.ST_NOATIME | m.ST_NODIRATIME) == (
        MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME
    )
    # Bits with no lockable counterpart are ignored (ST_SYNCHRONOUS, ST_MANDLOCK).
    assert statvfs_to_mount_flags(0x10 | 0x40) == 0


def test_statvfs_of_real_path() -> None:
    flags = statvfs_to_mount_flags(os.statvfs("/").f_flag)
    assert flags & ~m.MS_LOCK_FLAGS == 0


def test_needs_bind_remount() -> None:
    assert not needs_bind_remount(parse_mount_options(["rbind"], None))
    assert not needs_bind_remount(parse_mount_options(["rbind", "rprivate"], None))
    assert needs_bind_remount(parse_mount_options(["rbind", "ro"], None))
    assert needs_bind_remount(parse_mount_options(["bind", "rw"], None))
    assert needs_bind_remount(parse_mount_options(["bind", "nosuid"], None))
    assert not needs_bind_remount(parse_mount_options(["nosuid"], "tmpfs"))


def test_bind_remount_flags_first_attempt() -> None:
    opts = parse_mount_options(["rbind", "ro", "nosuid", "sync", "rprivate"], None)
    assert bind_remount_flags(opts) == MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID


def test_bind_remount_flags_keeps_locked_source_flags() -> None:
    opts = parse_mount_options(["bind", "ro"], None)
    src = m.ST_NOSUID | m.ST_NODEV | m.ST_NOEXEC | m.ST_RELATIME
    assert bind_remount_flags(opts, src) == (
        MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME
    )


def test_bind_remount_flags_source_atime() -> None:
    opts = parse_mount_options(["bind", "nodev"], None)
    base = MS_BIND | MS_REMOUNT | MS_NODEV
    assert bind_remount_flags(opts, m.ST_NOATIME | m.ST_NODIRATIME) == base | MS_NOATIME | MS_NODIRATIME
    # Neither noatime nor relatime in statvfs means strictatime.
    assert bind_remount_flags(opts, 0) == base | MS_STRICTATIME
    # A requested atime mode replaces the source's (the kernel decides if it may).
    opts = parse_mount_options(["bind", "noatime"], None)
    assert bind_remount_flags(opts, m.ST_RELATIME) == MS_BIND | MS_REMOUNT | MS_NOATIME


def test_bind_remount_flags_explicit_clear_is_not_overridden() -> None:
    # "rw" on a read-only source: ask for rw; if the source is locked the
    # kernel refuses rather than us silently producing a read-only mount.
    opts = parse_mount_options(["bind", "rw", "suid"], None)
    flags = bind_remount_flags(opts, m.ST_RDONLY | m.ST_NOSUID | m.ST_NODEV | m.ST_RELATIME)
    assert flags == MS_BIND | MS_REMOUNT | MS_NODEV | MS_RELATIME
    opts = parse_mount_options(["bind", "norelatime", "nodev"], None)
    assert bind_remount_flags(opts, m.ST_RELATIME) == MS_BIND | MS_REMOUNT | MS_NODEV


def test_bind_remount_flags_never_has_propagation_or_sb_flags() -> None:
    opts = parse_mount_options(["rbind", "ro", "sync", "dirsync", "lazytime", "mand", "rshared"], None)
    flags = bind_remount_flags(opts, m.ST_RDONLY)
    assert flags & (MS_REC | MS_SHARED | MS_SYNCHRONOUS | m.MS_DIRSYNC | m.MS_LAZYTIME | m.MS_MANDLOCK) == 0
    assert flags & (MS_BIND | MS_REMOUNT | MS_RDONLY) == MS_BIND | MS_REMOUNT | MS_RDONLY
