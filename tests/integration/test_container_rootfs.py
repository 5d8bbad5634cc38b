"""The root filesystem, observed from inside: pivot_root, read-only root,
propagation, mounts in order with their options, devices, masked and
read-only paths, sysctl."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root


def mountinfo(bundle_result_stdout: str) -> dict[str, list[str]]:
    """mount point -> the line's fields, from /proc/self/mountinfo text."""
    out = {}
    for line in bundle_result_stdout.splitlines():
        fields = line.split()
        if len(fields) > 5:
            out[fields[4]] = fields
    return out


def mount_options(fields: list[str]) -> set[str]:
    sep = fields.index("-")
    return set(fields[5].split(",")) | set(fields[sep + 3].split(","))


def test_root_is_the_rootfs_and_the_host_is_not_visible(bundle, rootfs):
    r = bundle.sh("ls /; cat /proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    assert "bin" in r.stdout.split()
    points = mountinfo(r.stdout)
    assert "/" in points and "/proc" in points
    assert not any(p.startswith(str(rootfs)) for p in points)  # the host's tree is gone


def test_no_pivot_moves_and_chroots(bundle):
    r = bundle.run("/bin/sh", "-c", "ls /bin/busybox && echo $$", extra=["--no-pivot"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/bin/busybox", "1"]


def test_readonly_root(make_bundle):
    b = make_bundle("readonly")
    r = b.sh("touch /x 2>&1; echo rc=$?; touch /tmp/ok && echo tmp-ok; cat /proc/self/mountinfo")
    assert "rc=1" in r.stdout
    assert "Read-only file system" in r.stdout
    assert "tmp-ok" in r.stdout
    assert "ro" in mount_options(mountinfo(r.stdout)["/"])


@pytest.mark.parametrize(
    "propagation, marker",
    [("private", None), ("rprivate", None), ("shared", "shared:"), ("rshared", "shared:")],
)
def test_rootfs_propagation(bundle, propagation, marker):
    bundle.config["linux"]["rootfsPropagation"] = propagation
    r = bundle.sh("cat /proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    root = mountinfo(r.stdout)["/"]
    optional = root[6 : root.index("-")]
    if marker is None:
        assert optional == []
    else:
        assert any(o.startswith(marker) for o in optional), optional


def test_tmpfs_mount_with_size_and_mode(bundle):
    bundle.config["mounts"].append(
        {
            "destination": "/scratch",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"],
        }
    )
    r = bundle.sh("stat -c %a /scratch; cat /proc/self/mountinfo")
    assert r.stdout.split()[0] == "700"
    opts = mount_options(mountinfo(r.stdout)["/scratch"])
    assert {"nosuid", "nodev", "noexec", "size=1024k"} <= opts


def test_bind_mounts_ro_and_rw_in_order(bundle, tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    (src / "hello").write_text("from the host\n")
    file_src = tmp_path / "single"
    file_src.write_text("one file\n")
    bundle.config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro", "nosuid"]},
        {"destination": "/rw/inner", "type": "none", "source": str(src), "options": ["bind"]},
        {"destination": "/etc/single", "type": "bind", "source": str(file_src), "options": ["bind", "ro"]},
    ]
    r = bundle.sh(
        "cat /data/hello /etc/single; touch /data/x 2>/dev/null || echo ro-ok;"
        " touch /rw/inner/made && echo rw-ok; cat /proc/self/mountinfo"
    )
    assert r.returncode == 0, r.stderr
    assert "from the host" in r.stdout and "one file" in r.stdout
    assert "ro-ok" in r.stdout and "rw-ok" in r.stdout
    info = mountinfo(r.stdout)
    assert {"ro", "nosuid"} <= mount_options(info["/data"])
    assert "ro" in mount_options(info["/etc/single"])
    assert (src / "made").exists()


def test_later_mounts_stack_on_earlier_ones(bundle):
    bundle.config["mounts"] += [
        {"destination": "/stack", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/stack/inner", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]},
    ]
    r = bundle.sh("cat /proc/self/mountinfo")
    info = mountinfo(r.stdout)
    assert "size=1024k" in mount_options(info["/stack"])
    assert "size=2048k" in mount_options(info["/stack/inner"])


def test_mount_target_symlink_cannot_escape_the_rootfs(bundle, rootfs, tmp_path):
    """A symlink in the rootfs pointing outside it is resolved inside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    link = rootfs / "escape"
    link.symlink_to(outside)
    try:
        bundle.config["mounts"].append({"destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs"})
        r = bundle.sh("cat /proc/self/mountinfo")
        assert r.returncode == 0, r.stderr
        assert not (outside / "sub").exists()
        assert str(outside) + "/sub" in mountinfo(r.stdout)  # inside the container's root
    finally:
        link.unlink()


def test_default_devices(bundle):
    r = bundle.sh(
        "for d in null zero full random urandom tty; do stat -c '%n %F %t,%T %a' /dev/$d; done;"
        " for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; stat -c %a /dev/shm"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:6] == [
        "/dev/null character special file 1,3 666",
        "/dev/zero character special file 1,5 666",
        "/dev/full character special file 1,7 666",
        "/dev/random character special file 1,8 666",
        "/dev/urandom character special file 1,9 666",
        "/dev/tty character special file 5,0 666",
    ]
    assert lines[6:11] == [
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "pts/ptmx",
    ]
    assert lines[11] == "1777"


def test_config_devices(bundle):
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o620, "uid": 7, "gid": 8}
    ]
    r = bundle.sh("stat -c '%F %t,%T %a %u %g' /dev/mynull")
    assert r.stdout.splitlines() == ["character special file 1,3 620 7 8"], r.stderr


def test_masked_paths(bundle):
    bundle.config["linux"]["maskedPaths"] = ["/proc/timer_list", "/sys/firmware", "/does/not/exist"]
    r = bundle.sh(
        "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; touch /sys/firmware/x 2>/dev/null || echo ro"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0", "ro"]


def test_readonly_paths(bundle):
    bundle.config["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs"})
    bundle.config["linux"]["readonlyPaths"] = ["/proc/sys", "/data"]
    r = bundle.sh(
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo sys-ro;"
        " touch /data/x 2>/dev/null || echo data-ro"
    )
    assert r.stdout.split() == ["sys-ro", "data-ro"]


def test_sysctl(bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"}
    bundle.config["linux"]["readonlyPaths"] = []
    r = bundle.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax")
    assert r.stdout.split() == ["1", "12345678"], r.stderr
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read().strip() != "12345678"


def cgroup_mount_points() -> list[str]:
    """Where a ``cgroup`` mount puts hierarchies in the container on this host:
    /sys/fs/cgroup itself (pure v2), or one directory per hierarchy below it."""
    from pycontainer import cgroups

    layout = cgroups.detect()
    if layout.mode == "v2":
        return ["/sys/fs/cgroup"]
    return ["/sys/fs/cgroup"] + sorted(
        {"/sys/fs/cgroup/" + os.path.basename(m) for m in layout.hierarchies()}
    )


@pytest.mark.cgroup2
def test_cgroup_mount_shows_the_containers_own_cgroup(bundle):
    leaf = cgroup_mount_points()[-1]  # a hierarchy's directory (or the v2 root)
    r = bundle.sh(
        f"cat /proc/self/cgroup; ls {leaf} | grep -c cgroup.procs; touch {leaf}/x 2>/dev/null || echo ro"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # With a cgroup namespace the container's own cgroup is its root, in every hierarchy.
    paths = [line.split(":", 2)[2] for line in lines if line.count(":") >= 2]
    assert paths and set(paths) == {"/"}, lines
    assert "1" in lines  # the hierarchy is there
    assert "ro" in lines


@pytest.mark.cgroup2
def test_cgroup_mount_without_mount_setattr(bundle, monkeypatch, capfd):
    """Kernels before 5.12 lack mount_setattr: each bind is remounted instead.
    (The init is a fork of this process, so the patched module is its.)"""
    import errno

    from pycontainer import Container, syscalls

    def no_mount_setattr(*args, **kwargs):
        raise OSError(errno.ENOSYS, "mount_setattr: Function not implemented")

    monkeypatch.setattr(syscalls, "mount_setattr", no_mount_setattr)
    bundle.config["process"]["args"] = ["/bin/cat", "/proc/self/mountinfo"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        assert c.wait() == 0
    info = mountinfo(capfd.readouterr().out)
    for point in cgroup_mount_points():
        assert {"ro", "nosuid", "nodev", "noexec"} <= mount_options(info[point]), point


def test_mount_propagation_options(bundle, tmp_path):
    src = tmp_path / "shared-src"
    src.mkdir()
    bundle.config["mounts"] += [
        {"destination": "/shared", "type": "bind", "source": str(src), "options": ["rbind", "rshared"]},
        {"destination": "/private", "type": "tmpfs", "source": "tmpfs", "options": ["private"]},
        {"destination": "/unbindable", "type": "tmpfs", "source": "tmpfs", "options": ["unbindable"]},
    ]
    r = bundle.sh("cat /proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    info = mountinfo(r.stdout)

    def optional(point):
        fields = info[point]
        return fields[6 : fields.index("-")]

    assert any(o.startswith("shared:") for o in optional("/shared"))
    assert optional("/private") == []
    assert optional("/unbindable") == ["unbindable"]
