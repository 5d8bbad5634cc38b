"""linux.resources, observed from inside the container: its own cgroup files
(through the cgroup mount) and the effect of the limits."""

from __future__ import annotations

import pytest

from pycontainer import cgroups
from tests.conftest import all_capabilities

pytestmark = [pytest.mark.root, pytest.mark.cgroup2]


def controller_dir(controller: str) -> str:
    """Where a controller's files are inside the container's cgroup mount."""
    layout = cgroups.detect()
    if layout.mode == "v2" or controller not in layout.v1:
        return "/sys/fs/cgroup" if layout.mode == "v2" else "/sys/fs/cgroup/unified"
    return "/sys/fs/cgroup/" + layout.v1[controller].rstrip("/").rsplit("/", 1)[-1]


def test_memory_and_pids_limits_are_the_containers(bundle):
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 * 1024 * 1024}, "pids": {"limit": 50}}
    mem, pids = controller_dir("memory"), controller_dir("pids")
    mem_file = "memory.max" if mem.endswith(("cgroup", "unified")) else "memory.limit_in_bytes"
    r = bundle.sh(f"cat {mem}/{mem_file} {pids}/pids.max")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(64 * 1024 * 1024), "50"]


def test_the_pids_limit_holds_inside(bundle):
    bundle.config["linux"]["resources"] = {"pids": {"limit": 10}}
    pids = controller_dir("pids")
    # The subshell forks until it cannot (and then dies of it); only builtins after it.
    r = bundle.sh(
        f"(i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done) 2>/dev/null; "
        f"read n < {pids}/pids.current; echo current=$n"
    )
    # sh, and the sleeps the subshell managed before the limit stopped it (the subshell is gone).
    assert r.stdout.strip() == "current=9", r.stdout + r.stderr


@pytest.mark.cgroup2
def test_devices_outside_the_rules_are_refused(bundle):
    bundle.config["process"]["capabilities"] = (
        None  # all capabilities: only the device cgroup stands in the way
    )
    bundle.config["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
    bundle.config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    r = bundle.sh("cat /dev/kmsg 2>&1 | head -1; echo x > /dev/null && echo null-ok")
    assert "Operation not permitted" in r.stdout
    assert "null-ok" in r.stdout


def test_cgroup_namespace_and_mount_show_only_the_containers_subtree(bundle):
    """In its cgroup namespace the container's cgroup is ``/``; the cgroup
    mount holds only the container's processes (pids of its own pid
    namespace); ``rw`` in the mount's options makes it writable: a
    sub-cgroup made inside is the host's <container cgroup>/sub, and it goes
    with the container.  (Read-only by default: test_container_rootfs.py.)"""
    import os

    from pycontainer import Container

    for mount in bundle.config["mounts"]:
        if mount["type"] == "cgroup":
            mount["options"] = [o for o in mount["options"] if o != "ro"] + ["rw"]
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.config["process"]["capabilities"] = all_capabilities()  # CAP_SYS_ADMIN: mkdir in a cgroup
    bundle.write()
    pids = controller_dir("pids")
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        script = (
            f"cat /proc/self/cgroup; echo procs $(cat {pids}/cgroup.procs); mkdir {pids}/sub && echo made"
        )
        lines = bundle.exec_sh(script).splitlines()
        assert {line.split(":", 2)[2] for line in lines if line.count(":") >= 2} == {"/"}
        procs = next(line for line in lines if line.startswith("procs")).split()[1:]
        assert "1" in procs and len(procs) <= 3, procs  # sleep, the exec'd shell, cat: nothing of the host's
        assert lines[-1] == "made"
        paths = c.state().cgroup_paths
        host_dir = paths["pids"] if "pids" in paths else paths[""]
        assert os.path.isdir(host_dir + "/sub")
    assert not os.path.exists(host_dir)
