"""User namespaces as root: files made inside are owned by the mapped host
ids, and idmapped bind mounts (mounts[].uidMappings/gidMappings) show files
with the mount's mapping, from inside."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_errors import one_line_error
from tests.vmprobe import no_idmapped_mounts

pytestmark = pytest.mark.root

USERNS_HOST = 100000  # specs/userns maps 0..65535 to 100000..165535


@pytest.fixture
def host_dir():
    """A host directory with a file of root's and one of uid/gid 1000, reachable
    by a user-namespaced root (pytest's temp dirs are 0700)."""
    top = Path(tempfile.mkdtemp(prefix="pycontainer-idmap-"))
    top.chmod(0o755)
    d = top / "data"
    d.mkdir()
    d.chmod(0o777)
    (d / "by-root").write_text("root's\n")
    (d / "by-1000").write_text("1000's\n")
    for name in ("by-root", "by-1000"):
        (d / name).chmod(0o644)  # whatever the session's umask: read by ids that do not own them
    os.chown(d / "by-1000", 1000, 1000)
    yield d
    shutil.rmtree(top)


@pytest.fixture
def idmappable_dir(host_dir):
    """host_dir, where its filesystem can be idmapped (tmpfs cannot before Linux 6.3)."""
    reason = no_idmapped_mounts(str(host_dir))
    if reason:
        pytest.skip(reason)
    return host_dir


def bind(source: Path, mapping: tuple[int, int, int] | None = None, options=("rbind", "rw")) -> dict:
    m = {"destination": "/tmp", "type": "bind", "source": str(source), "options": list(options)}
    if mapping is not None:
        c, h, s = mapping
        m["uidMappings"] = [{"containerID": c, "hostID": h, "size": s}]
        m["gidMappings"] = [{"containerID": c, "hostID": h, "size": s}]
    return m


STAT = "stat -c '%n %u %g' /tmp/by-root /tmp/by-1000"


def owners(stdout: str) -> dict[str, tuple[int, int]]:
    out = {}
    for line in stdout.splitlines():
        name, uid, gid = line.split()
        out[os.path.basename(name)] = (int(uid), int(gid))
    return out


def test_files_made_in_a_user_namespace_are_owned_by_the_mapped_host_ids(make_bundle, host_dir):
    b = make_bundle("userns")
    b.config["mounts"].append(bind(host_dir))
    for kind in ("effective", "bounding", "permitted"):
        b.config["process"]["capabilities"][kind].append("CAP_CHOWN")
    r = b.sh("touch /tmp/new-root && touch /tmp/new-7 && chown 7:8 /tmp/new-7 && stat -c '%u %g' /tmp/new-7")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["7", "8"]
    st = os.stat(host_dir / "new-root")
    assert (st.st_uid, st.st_gid) == (USERNS_HOST, USERNS_HOST)
    st = os.stat(host_dir / "new-7")
    assert (st.st_uid, st.st_gid) == (USERNS_HOST + 7, USERNS_HOST + 8)
    # without an idmapping, the host's root is no one inside
    r = b.sh(STAT)
    assert owners(r.stdout)["by-root"] == (65534, 65534)


def test_idmapped_mount_without_user_namespace(bundle, idmappable_dir):
    """Disk ids 0..1999 show as 5000..6999 through the mount."""
    bundle.config["mounts"].append(bind(idmappable_dir, (0, 5000, 2000)))
    r = bundle.sh(STAT + "; cat /tmp/by-root")
    assert r.returncode == 0, r.stderr
    assert owners("\n".join(r.stdout.splitlines()[:2])) == {
        "by-root": (5000, 5000),
        "by-1000": (6000, 6000),
    }
    assert "root's" in r.stdout
    assert "not applied" not in r.stderr
    # the host's view is unchanged
    assert os.stat(idmappable_dir / "by-root").st_uid == 0


def test_idmapped_mount_in_a_user_namespace_shows_disk_ids_to_the_container(make_bundle, idmappable_dir):
    """The container's own mapping on the mount: disk root is the container's
    root, and what it writes is root's on disk (not 100000)."""
    b = make_bundle("userns")
    b.config["mounts"].append(bind(idmappable_dir, (0, USERNS_HOST, 65536)))
    r = b.sh(STAT + "; touch /tmp/made-inside && stat -c '%u' /tmp/made-inside")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert owners("\n".join(lines[:2])) == {"by-root": (0, 0), "by-1000": (1000, 1000)}
    assert lines[2] == "0"
    st = os.stat(idmappable_dir / "made-inside")
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_idmap_option_takes_the_containers_mappings(make_bundle, idmappable_dir):
    b = make_bundle("userns")
    b.config["mounts"].append(bind(idmappable_dir, None, ("rbind", "rw", "idmap")))
    r = b.sh(STAT)
    assert r.returncode == 0, r.stderr
    assert owners(r.stdout) == {"by-root": (0, 0), "by-1000": (1000, 1000)}


def test_idmapped_read_only_mount_stays_read_only(bundle, idmappable_dir):
    bundle.config["mounts"].append(bind(idmappable_dir, (0, 5000, 2000), ("rbind", "ro")))
    r = bundle.sh(STAT + "; touch /tmp/x && echo WROTE")
    assert "WROTE" not in r.stdout
    assert "Read-only file system" in r.stderr
    assert not (idmappable_dir / "x").exists()


def test_filesystem_without_idmapped_mounts_is_a_clear_error(bundle):
    bundle.config["mounts"].append(bind(Path("/proc/sys"), (0, 5000, 2000)))
    index = len(bundle.config["mounts"]) - 1
    line = one_line_error(bundle.run("true"))
    assert f"mounts[{index}]: the kernel cannot make an idmapped mount of '/proc/sys'" in line
    assert "(proc) does not support idmapped mounts" in line


def test_idmapped_mount_needs_both_mappings(bundle, host_dir):
    m = bind(host_dir, (0, 5000, 2000))
    del m["gidMappings"]
    bundle.config["mounts"].append(m)
    index = len(bundle.config["mounts"]) - 1
    line = one_line_error(bundle.run("true"))
    assert f"mounts[{index}]: " in line and "gidMappings is missing" in line


def test_idmapped_mount_source_missing(bundle, host_dir):
    bundle.config["mounts"].append(bind(host_dir / "nowhere", (0, 5000, 2000)))
    line = one_line_error(bundle.run("true"))
    assert "nowhere" in line and "No such file or directory" in line
