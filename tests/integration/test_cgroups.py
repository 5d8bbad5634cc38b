"""Tests of the cgroup layer: layout parsing on sample hosts (pure), and
placement of real processes on this host (root).

The root tests create cgroups only under names carrying a fresh uuid and
remove them in ``finally`` blocks (plus a fixture that sweeps up anything
with that uuid left behind by a failing test), so they never leave a cgroup
behind nor touch one they did not create.  They adapt to the host's layout;
the ones specific to a pure v2 host run in a pure cgroup v2 VM
(scripts/test-cgroup2.sh runs this module's tests there).
"""

from __future__ import annotations

import os
import posixpath
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycontainer.cgroups import (
    UNIFIED,
    CgroupLayout,
    Manager,
    V1Manager,
    V2Manager,
    build_layout,
    cgroup_of,
    detect,
    manager_for,
    normalize_cgroups_path,
    parse_mountinfo,
    parse_proc_cgroup,
)
from pycontainer.errors import ConfigError, ContainerError

pytestmark = pytest.mark.cgroup2


def needs_root(test):
    """Mark *test* as needing root, and skip it for anyone else."""
    test = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")(test)
    return pytest.mark.root(test)


# --------------------------------------------------------------- samples

V1_MOUNTINFO = """\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup \
rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
27 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup \
rw,cpu,cpuacct
28 25 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup \
rw,net_cls,net_prio
29 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
30 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup \
rw,cpuset,clone_children
31 25 0:29 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,devices
32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,pids
"""

V1_PROC_CGROUP = """\
11:pids:/user.slice/user-1000.slice
10:devices:/user.slice
9:cpuset:/
8:memory:/user.slice
4:net_cls,net_prio:/
3:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
"""

V2_MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
"""

V2_PROC_CGROUP = "0::/user.slice/user-1000.slice/session-3.scope\n"

# This host's layout on a fresh machine.
HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

HYBRID_PROC_CGROUP = """\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/sup/xyz
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""

# A container without its own cgroup namespace that got its slice of the
# host's hierarchies bind-mounted: every mount's root is /docker/<id>.
NESTED_MOUNTINFO = """\
600 580 0:45 /docker/c0ffee /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
601 580 0:46 /docker/c0ffee /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct
602 580 0:47 /docker/c0ffee /sys/fs/cgroup/systemd ro,nosuid - cgroup cgroup rw,xattr,name=systemd
"""

NESTED_PROC_CGROUP = """\
5:memory:/docker/c0ffee/inner
3:cpu,cpuacct:/docker/c0ffee
1:name=systemd:/elsewhere
"""


def _controllers(text: str):
    return lambda mountpoint: text


# --------------------------------------------------------------- parsing


def test_parse_proc_cgroup_keys() -> None:
    own = parse_proc_cgroup(V1_PROC_CGROUP + "0::/init.scope\n\n")
    assert own["cpu"] == own["cpuacct"] == "/user.slice"
    assert own["net_cls"] == own["net_prio"] == "/"
    assert own["name=systemd"] == "/user.slice/user-1000.slice/session-2.scope"
    assert own[UNIFIED] == "/init.scope"
    # A path may itself contain colons.
    assert parse_proc_cgroup("0::/a:b\n") == {UNIFIED: "/a:b"}


def test_parse_mountinfo_v1_only_and_comounted() -> None:
    mounts = parse_mountinfo(V1_MOUNTINFO)
    assert [m.fstype for m in mounts] == ["cgroup"] * 7  # sysfs and tmpfs skipped
    systemd = mounts[0]
    assert systemd.keys == ("name=systemd",)  # xattr and release_agent= are not controllers
    assert mounts[4].keys == ("cpuset",)  # clone_children is not a controller

    layout = build_layout(V1_MOUNTINFO, V1_PROC_CGROUP)
    assert layout.mode == "v1"
    assert layout.unified is None
    assert layout.unified_controllers == set()
    cg = "/sys/fs/cgroup"
    assert layout.v1["cpu"] == layout.v1["cpuacct"] == f"{cg}/cpu,cpuacct"
    assert layout.v1["net_cls"] == layout.v1["net_prio"] == f"{cg}/net_cls,net_prio"
    assert layout.v1["name=systemd"] == f"{cg}/systemd"
    assert layout.hierarchies()[f"{cg}/cpu,cpuacct"] == ("cpu", "cpuacct")
    assert len(layout.hierarchies()) == 7
    assert layout.own_dir("cpuacct") == f"{cg}/cpu,cpuacct/user.slice"


def test_parse_v2_only() -> None:
    layout = build_layout(V2_MOUNTINFO, V2_PROC_CGROUP, _controllers("cpuset cpu io memory pids\n"))
    assert layout.mode == "v2"
    assert layout.v1 == {}
    assert layout.unified == "/sys/fs/cgroup"
    assert layout.unified_controllers == {"cpuset", "cpu", "io", "memory", "pids"}
    assert layout.own_dir(UNIFIED) == "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope"


def test_parse_hybrid() -> None:
    layout = build_layout(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, _controllers("hugetlb\n"))
    assert layout.mode == "hybrid"
    assert layout.unified == "/sys/fs/cgroup/unified"
    assert layout.unified_controllers == {"hugetlb"}
    expected = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "name=systemd"}
    assert set(layout.v1) == expected
    assert all(layout.v1[k] == f"/sys/fs/cgroup/{k}" for k in expected - {"name=systemd"})
    assert layout.own_dir("memory") == "/sys/fs/cgroup/memory/sup/xyz"
    assert layout.own_dir(UNIFIED) == "/sys/fs/cgroup/unified"


def test_v2_with_only_a_named_v1_hierarchy_is_v2() -> None:
    mountinfo = V2_MOUNTINFO + (
        "40 35 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    )
    layout = build_layout(mountinfo, V2_PROC_CGROUP + "1:name=systemd:/\n")
    assert layout.mode == "v2"
    assert layout.v1 == {"name=systemd": "/sys/fs/cgroup/systemd"}
    manager = manager_for("/x", "id", layout)
    assert isinstance(manager, V2Manager)
    assert manager.paths() == {UNIFIED: "/sys/fs/cgroup/x"}


def test_mount_root_not_slash() -> None:
    layout = build_layout(NESTED_MOUNTINFO, NESTED_PROC_CGROUP)
    assert layout.mode == "v1"
    assert layout.roots["memory"] == "/docker/c0ffee"
    # Our cgroup, as a position in the hierarchy, seen through the mount.
    assert layout.own_dir("memory") == "/sys/fs/cgroup/memory/inner"
    assert layout.own_dir("cpu") == "/sys/fs/cgroup/cpu,cpuacct"
    # name=systemd says we live outside what the mount shows: no directory.
    with pytest.raises(ContainerError, match="outside"):
        layout.own_dir("name=systemd")

    # Absolute paths are below what the mount shows, like runc.
    absolute = manager_for("/ctr", "id", layout)
    assert absolute.paths()["memory"] == "/sys/fs/cgroup/memory/ctr"
    assert absolute.paths()["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/ctr"
    # Relative ones need our own cgroup in every hierarchy.
    with pytest.raises(ContainerError, match="absolute linux.cgroupsPath"):
        manager_for("ctr", "id", layout)
    fixed = NESTED_PROC_CGROUP.replace("/elsewhere", "/docker/c0ffee/init")
    relative = manager_for("ctr", "id", build_layout(NESTED_MOUNTINFO, fixed))
    assert relative.paths()["memory"] == "/sys/fs/cgroup/memory/inner/ctr"
    assert relative.paths()["name=systemd"] == "/sys/fs/cgroup/systemd/init/ctr"


def test_escapes_and_duplicate_mounts() -> None:
    mountinfo = (
        # A container rootfs being set up, mounted before the host's own.
        "90 80 0:38 / /run/ctr/rootfs/sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
        "91 80 0:33 / /run/ctr/rootfs/sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n"
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        "36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "42 31 0:39 /a\\040b /mnt/my\\040cg rw - cgroup cgroup rw,name=test\n"
    )
    layout = build_layout(mountinfo, "2:devices:/\n1:name=test:/a b/c\n0::/\n")
    assert layout.mode == "hybrid"
    assert layout.unified == "/sys/fs/cgroup/unified"
    assert layout.v1["devices"] == "/sys/fs/cgroup/devices"
    assert layout.v1["name=test"] == "/mnt/my cg"
    assert layout.roots["name=test"] == "/a b"
    assert layout.own_dir("name=test") == "/mnt/my cg/c"


def test_no_cgroup_mounted() -> None:
    with pytest.raises(ContainerError, match="no cgroup"):
        build_layout("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", "")


def test_layout_and_mount_are_read_only_values() -> None:
    layout = build_layout(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, _controllers("hugetlb\n"))
    assert layout == build_layout(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, _controllers("hugetlb\n"))
    assert layout != build_layout(V1_MOUNTINFO, V1_PROC_CGROUP)
    with pytest.raises(AttributeError):
        layout.mode = "v2"  # type: ignore[misc]
    assert "mode='hybrid'" in repr(layout)
    mount = parse_mountinfo(V2_MOUNTINFO)[0]
    assert mount == parse_mountinfo(V2_MOUNTINFO)[0]
    assert len({mount, parse_mountinfo(V2_MOUNTINFO)[0]}) == 1
    with pytest.raises(AttributeError):
        mount.root = "/x"  # type: ignore[misc]
    assert isinstance(mount.mountpoint, str)


def test_detect_reads_proc_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package re-exports the function detect() under the submodule's name.
    detect_module = sys.modules["pycontainer.cgroups.detect"]
    reads: list[str] = []
    real = detect_module.read_text

    def counting(path: str) -> str:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(detect_module, "read_text", counting)
    detect.cache_clear()
    try:
        first = detect()
        assert detect() is first
        assert manager_for("/x", "x").layout is first
        assert reads.count("/proc/self/mountinfo") == 1
        assert reads.count("/proc/self/cgroup") == 1
    finally:
        detect.cache_clear()


# --------------------------------------------------------------- path rules


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/pycontainer/abc", "/pycontainer/abc"),
        ("//pycontainer//./abc/", "/pycontainer/abc"),
        ("/a/../b", "/b"),
        ("pycontainer/abc", "pycontainer/abc"),
        ("./a/b/..", "a"),
        ("/a:b", "/a:b"),  # colons are fine in an absolute cgroupfs path
    ],
)
def test_normalize_cgroups_path(given: str, expected: str) -> None:
    assert normalize_cgroups_path(given) == expected


@pytest.mark.parametrize("bad", ["/../x", "/a/../../x", "..", "a/../../b", "/", ".", "a/..", "a\0b"])
def test_cgroups_path_rejected(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        manager_for(bad, "abc", build_layout(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP))
    assert info.value.path == "linux.cgroupsPath"


@pytest.mark.parametrize("systemd", ["system.slice:docker:abc", ":runc:abc", "machine.slice:libpod:x"])
def test_systemd_form_rejected(systemd: str) -> None:
    # Rejected before looking at the host at all.
    with pytest.raises(ConfigError, match="systemd") as info:
        manager_for(systemd, "abc")
    assert info.value.path == "linux.cgroupsPath"


def test_driver_choice_and_default_path() -> None:
    hybrid = build_layout(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP)
    manager = manager_for(None, "abc", hybrid)
    assert isinstance(manager, V1Manager) and manager.driver == "v1"
    paths = manager.paths()
    # No cgroupsPath: the id, relative to our own cgroup (runc's cgroupfs).
    assert paths["memory"] == "/sys/fs/cgroup/memory/sup/xyz/abc"
    assert paths["pids"] == "/sys/fs/cgroup/pids/abc"
    assert paths[UNIFIED] == "/sys/fs/cgroup/unified/abc"
    assert paths["name=systemd"] == "/sys/fs/cgroup/systemd/abc"
    assert manager_for("", "abc", hybrid).paths() == paths

    v1 = manager_for("/p/abc", "abc", build_layout(V1_MOUNTINFO, V1_PROC_CGROUP))
    assert UNIFIED not in v1.paths()
    assert v1.paths()["cpu"] == v1.paths()["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/p/abc"

    v2 = build_layout(V2_MOUNTINFO, V2_PROC_CGROUP)
    manager = manager_for(None, "abc", v2)
    assert isinstance(manager, V2Manager) and manager.driver == "v2"
    # Relative on v2: below the parent of our own cgroup, as runc's fs2.
    assert manager.paths() == {UNIFIED: "/sys/fs/cgroup/user.slice/user-1000.slice/abc"}
    assert manager_for("/p/abc", "abc", v2).paths() == {UNIFIED: "/sys/fs/cgroup/p/abc"}
    at_root = build_layout(V2_MOUNTINFO, "0::/\n")
    assert manager_for("abc", "abc", at_root).paths() == {UNIFIED: "/sys/fs/cgroup/abc"}

    with pytest.raises(ValueError):
        manager_for(None, "../evil", hybrid)


def test_adopt_refuses_foreign_directories() -> None:
    manager = manager_for("/p/abc", "abc", build_layout(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP))
    manager.adopt(["/sys/fs/cgroup/memory/p", Path("/sys/fs/cgroup/memory/p/abc/")])
    assert manager.created_dirs() == ["/sys/fs/cgroup/memory/p", "/sys/fs/cgroup/memory/p/abc"]
    for foreign in [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/memory/other",
        "/etc",
        "/sys/fs/cgroup/memory/p/x",
    ]:
        with pytest.raises(ContainerError, match="refusing"):
            manager.adopt([foreign])


# --------------------------------------------------------------- on this host


@pytest.fixture
def token() -> Iterator[str]:
    """A unique cgroup name; afterwards, sweep away any directory named with
    it that a failing test left behind (and fail loudly if there was one)."""
    name = f"pycontainer-test-{uuid.uuid4().hex[:12]}"
    yield name
    layout = detect()
    mountpoints = set(layout.v1.values()) | ({layout.unified} if layout.unified else set())
    leftovers: list[Path] = []
    for mountpoint in mountpoints:
        for top, dirnames, _files in os.walk(mountpoint):
            for d in dirnames:
                if d == name:
                    leftovers.append(Path(top) / d)
    for found in leftovers:
        for sub, _d, _f in os.walk(found, topdown=False):
            os.rmdir(sub)
    assert not leftovers, f"test left cgroups behind: {leftovers}"


def _spawn() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _position(layout: CgroupLayout, key: str, directory: str) -> str:
    """Where *directory* is within its hierarchy, as /proc/PID/cgroup shows."""
    rel = Path(directory).relative_to(layout.mountpoint(key))
    return posixpath.normpath(posixpath.join(layout.roots[key], str(rel)))


def _all_dirs(manager: Manager) -> set[Path]:
    return {Path(d) for d in manager.paths().values()}


def _created(manager: Manager) -> set[Path]:
    return {Path(d) for d in manager.created_dirs()}


def _relayout(layout: CgroupLayout, **changes) -> CgroupLayout:
    """A copy of *layout* with some fields changed."""
    fields = {
        "mode": layout.mode,
        "v1": layout.v1,
        "unified": layout.unified,
        "unified_controllers": layout.unified_controllers,
        "roots": layout.roots,
        "own": layout.own,
    }
    return CgroupLayout(**{**fields, **changes})


def test_detect_host() -> None:
    layout = detect()
    assert detect() is layout  # cached
    cg = Path("/sys/fs/cgroup")
    if (cg / "cgroup.controllers").exists():
        assert layout.mode == "v2"
        assert layout.unified == str(cg)
        assert layout.unified_controllers == set((cg / "cgroup.controllers").read_text().split())
        return
    if not (cg / "unified").is_dir() or not (cg / "memory").is_dir():
        pytest.skip("neither the hybrid layout of the test machines nor pure v2")
    assert layout.mode == "hybrid"
    for controller in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"):
        assert layout.v1[controller] == str(cg / controller)
    assert layout.v1["name=systemd"] == str(cg / "systemd")
    assert layout.unified == str(cg / "unified")
    assert layout.unified_controllers == set((cg / "unified/cgroup.controllers").read_text().split())
    assert layout.own == parse_proc_cgroup(Path("/proc/self/cgroup").read_text())


@needs_root
def test_lifecycle(token: str) -> None:
    layout = detect()
    path = f"/{token}/ctr"
    manager = manager_for(path, "ctr", layout)
    assert manager.path == path
    assert not manager.exists()
    proc = None
    try:
        manager.create()
        assert manager.exists()
        dirs = _all_dirs(manager)
        assert all(d.is_dir() for d in dirs)
        # Both levels were made here, in every hierarchy.
        assert _created(manager) == dirs | {d.parent for d in dirs}
        assert all(isinstance(d, str) for d in [*manager.paths().values(), *manager.created_dirs()])

        proc = _spawn()
        manager.add(proc.pid)
        where = cgroup_of(proc.pid)
        for key, directory in manager.paths().items():
            assert where[key] == _position(layout, key, directory), key
        if layout.mode == "hybrid":
            for key in ("memory", "cpu", "pids", "devices", "freezer", "name=systemd", UNIFIED):
                assert where[key] == path, key
            assert f"0::{path}" in Path(f"/proc/{proc.pid}/cgroup").read_text().splitlines()
        assert manager.pids() == [proc.pid]
        assert manager.pids(recursive=False) == [proc.pid]
        _stop(proc)
        assert manager.pids() == []

        manager.destroy()
        assert not any(d.exists() for d in dirs)
        assert not any(d.parent.exists() for d in dirs)
        assert not manager.exists()
        assert manager.created_dirs() == []
        manager.destroy()  # idempotent
    finally:
        if proc is not None:
            _stop(proc)
        manager.destroy()


@needs_root
def test_destroy_with_a_live_process_fails_then_succeeds(token: str) -> None:
    manager = manager_for(f"/{token}", "x")
    proc = None
    try:
        manager.create()
        proc = _spawn()
        manager.add(proc.pid)
        with pytest.raises(ContainerError, match=f"processes \\[{proc.pid}\\]"):
            manager.destroy()
        assert all(d.is_dir() for d in _all_dirs(manager))  # nothing half-removed that mattered
        assert manager.created_dirs()  # still on record for the retry
        _stop(proc)
        manager.destroy()
        assert not manager.exists()
    finally:
        if proc is not None:
            _stop(proc)
        manager.destroy()


@needs_root
def test_destroy_removes_subcgroups_of_the_container(token: str) -> None:
    manager = manager_for(f"/{token}", "x")
    try:
        manager.create()
        for directory in _all_dirs(manager):
            (directory / "inner" / "deeper").mkdir(parents=True)
        # As a container might: move a process into a sub-cgroup (of a
        # hierarchy where that needs no set-up, unlike a v1 cpuset).
        paths = manager.paths()
        deeper = Path(paths["pids"] if "pids" in paths else paths[UNIFIED]) / "inner" / "deeper"
        proc = _spawn()
        try:
            (deeper / "cgroup.procs").write_text(str(proc.pid))
            assert proc.pid in manager.pids()
            assert proc.pid not in manager.pids(recursive=False)
        finally:
            _stop(proc)
        manager.destroy()
        assert not manager.exists()
    finally:
        manager.destroy()


@needs_root
def test_relative_path_lands_under_our_own_cgroup(token: str) -> None:
    layout = detect()
    manager = manager_for(token, "x", layout)
    proc = None
    try:
        for key, directory in manager.paths().items():
            own = layout.own_dir(key)
            if isinstance(manager, V2Manager) and own != layout.mountpoint(key):
                own = posixpath.dirname(own)  # runc's fs2 rule, see cgroups/v2.py
            assert directory == posixpath.join(own, token), key
        manager.create()
        # Only the leaf was made: our own cgroup already existed.
        assert _created(manager) == _all_dirs(manager)
        proc = _spawn()
        manager.add(proc.pid)
        where = cgroup_of(proc.pid)
        mine = cgroup_of("self")
        for key in manager.paths():
            expected_parent = mine[key]
            if isinstance(manager, V2Manager):
                expected_parent = posixpath.dirname(mine[key])
            assert where[key] == posixpath.join(expected_parent, token), key
        _stop(proc)
        manager.destroy()
        assert not manager.exists()
        assert all(os.path.isdir(layout.own_dir(k)) for k in manager.paths())  # ours untouched
    finally:
        if proc is not None:
            _stop(proc)
        manager.destroy()


@needs_root
def test_shared_parent_and_preexisting_dirs_are_kept(token: str) -> None:
    first = manager_for(f"/{token}/a", "a")
    second = manager_for(f"/{token}/b", "b")
    try:
        first.create()
        second.create()
        # The parent is first's; second made only its leaf.
        assert _created(second) == _all_dirs(second)
        first.destroy()
        parents = {d.parent for d in _all_dirs(first)}
        assert all(p.is_dir() for p in parents)  # kept: second lives there
        assert not first.exists()
        second.destroy()
        assert not second.exists()
        assert all(p.is_dir() for p in parents)  # second never owned it
        first.destroy()  # first still has it on record: now it goes
        assert not any(p.exists() for p in parents)

        # A manager that found everything in place creates and removes nothing.
        first.create()
        again = manager_for(f"/{token}/a", "a")
        again.create()
        assert again.created_dirs() == []
        again.destroy()
        assert first.exists()
        # ... unless it adopts the record, as a later `delete` would.
        again.adopt(first.created_dirs())
        again.destroy()
        assert not first.exists()
        assert not any(p.exists() for p in parents)
    finally:
        second.destroy()
        first.destroy()


@needs_root
def test_create_and_destroy_do_one_syscall_per_directory(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the parent in place -- the usual case -- create() makes each
    directory with one mkdir and no stat, destroy() removes it with one rmdir."""
    first = manager_for(f"/{token}/a", "a")
    second = manager_for(f"/{token}/b", "b")
    calls: list[str] = []
    for name in ("mkdir", "rmdir", "stat", "lstat"):
        real = getattr(os, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, counting)
    try:
        first.create()
        calls.clear()
        second.create()
        dirs = set(second.paths().values())
        assert second.created_dirs() and set(second.created_dirs()) == dirs
        assert calls == ["mkdir"] * len(dirs)
        calls.clear()
        second.destroy()
        assert calls == ["rmdir"] * len(dirs)
        assert not second.exists()
    finally:
        monkeypatch.undo()
        second.destroy()
        first.destroy()


@needs_root
def test_v2_manager_places_processes(token: str) -> None:
    """The v2 driver, on the pure v2 host or the hybrid host's unified mount."""
    layout = detect()
    if layout.unified is None:
        pytest.skip("no cgroup2 mount")
    v2_layout = _relayout(layout, mode="v2")
    manager = manager_for(f"/{token}/leaf", "x", v2_layout)
    assert isinstance(manager, V2Manager)
    proc = None
    try:
        manager.create()
        # Nothing requested, or only what the root lacks: nothing is written.
        assert manager.enable_controllers(set()) == set()
        assert manager.enable_controllers({"no-such-controller"}) == set()
        proc = _spawn()
        manager.add(proc.pid)
        assert cgroup_of(proc.pid)[UNIFIED] == _position(v2_layout, UNIFIED, manager.directory)
        assert manager.pids() == [proc.pid]
        _stop(proc)
        manager.destroy()
        assert not Path(manager.directory).parent.exists()
    finally:
        if proc is not None:
            _stop(proc)
        manager.destroy()


@needs_root
def test_v2_enable_controllers(token: str) -> None:
    """Needs a pure v2 host whose root already enables controllers (the
    scripts/cgroup2-vm guest): only cgroups made here are written to."""
    layout = detect()
    root_enabled = set()
    if layout.mode == "v2":
        root_enabled = set(Path(layout.unified, "cgroup.subtree_control").read_text().split())
    if not {"pids", "memory"} <= root_enabled:
        pytest.skip("needs pure cgroup v2 with pids and memory enabled at the root")
    manager = manager_for(f"/{token}/mid/leaf", "x", layout)
    parent = manager_for(f"/{token}/mid", "x", layout)
    proc = None
    try:
        manager.create()
        got = manager.enable_controllers({"pids", "memory", "no-such-controller"})
        assert got == {"pids", "memory"}
        mid = Path(manager.directory).parent
        assert {"pids", "memory"} <= set((mid / "cgroup.subtree_control").read_text().split())
        assert {"pids", "memory"} <= set((mid.parent / "cgroup.subtree_control").read_text().split())
        assert Path(manager.directory, "pids.max").exists()
        assert Path(manager.directory, "cgroup.subtree_control").read_text().split() == []
        assert manager.enable_controllers({"pids"}) == {"pids"}  # idempotent
        proc = _spawn()
        # "No internal processes": mid hands controllers down, so no process.
        with pytest.raises(ContainerError, match="no processes"):
            parent.add(proc.pid)
        manager.add(proc.pid)
        assert manager.pids() == [proc.pid]
        _stop(proc)
        manager.destroy()
        assert not mid.parent.exists()
    finally:
        if proc is not None:
            _stop(proc)
        manager.destroy()


@needs_root
def test_failed_create_rolls_back(token: str) -> None:
    """A hierarchy that cannot be used makes create() undo what it made."""
    layout = detect()
    broken = _relayout(
        layout,
        v1={**layout.v1, "name=missing": f"/nonexistent-{token}"},
        roots={**layout.roots, "name=missing": "/"},
    )
    manager = V1Manager(f"/{token}/ctr", broken) if layout.mode != "v2" else None
    if manager is None:
        pytest.skip("the v1 driver is not used on a pure v2 host")
    try:
        with pytest.raises(ContainerError, match="does not exist"):
            manager.create()
        assert manager.created_dirs() == []
        assert not manager.exists()
        assert not any(
            os.path.exists(posixpath.dirname(d)) for k, d in manager.paths().items() if k != "name=missing"
        )
    finally:
        manager.destroy()
