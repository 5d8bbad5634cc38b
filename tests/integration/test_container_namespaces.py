"""Namespaces, observed from inside the container: new ones differ from the
host's, omitted ones are shared, joined ones are the given ones."""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.root

TYPES = {
    "pid": "pid",
    "network": "net",
    "ipc": "ipc",
    "uts": "uts",
    "mount": "mnt",
    "cgroup": "cgroup",
    "user": "user",
}


def inner_namespaces(bundle) -> dict[str, str]:
    r = bundle.sh(
        "for n in pid net ipc uts mnt cgroup user time; do echo $n $(readlink /proc/self/ns/$n); done"
    )
    assert r.returncode == 0, r.stderr
    return dict(line.split(" ", 1) for line in r.stdout.splitlines())


def host_ns(name: str) -> str:
    return os.readlink(f"/proc/self/ns/{name}")


def test_new_namespaces_differ_from_the_hosts(bundle):
    inner = inner_namespaces(bundle)
    for oci_type in ("pid", "network", "ipc", "uts", "mount", "cgroup"):
        name = TYPES[oci_type]
        assert inner[name] != host_ns(name), oci_type
    assert inner["user"] == host_ns("user")  # not asked for


def test_omitted_namespaces_are_shared(bundle):
    bundle.config["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid"}]
    bundle.config.pop("hostname")
    inner = inner_namespaces(bundle)
    for name in ("net", "ipc", "uts", "cgroup"):
        assert inner[name] == host_ns(name), name
    assert inner["mnt"] != host_ns("mnt")


def test_hostname_and_domainname(bundle):
    bundle.config["hostname"] = "box-one"
    bundle.config["domainname"] = "example.test"
    r = bundle.sh("hostname; cat /proc/sys/kernel/domainname")
    assert r.stdout.split() == ["box-one", "example.test"]
    assert os.uname().nodename != "box-one"


def test_new_network_namespace_has_only_lo_and_it_is_up(bundle):
    r = bundle.sh("ls /sys/class/net; cat /sys/class/net/lo/flags")
    names, flags = r.stdout.split()[:-1], r.stdout.split()[-1]
    assert names == ["lo"]
    assert int(flags, 16) & 0x1  # IFF_UP


def test_joining_a_network_namespace_by_path(bundle):
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        for _ in range(100):
            path = f"/proc/{holder.pid}/ns/net"
            if os.readlink(path) != host_ns("net"):
                break
            subprocess.run(["sleep", "0.01"])
        netns = os.readlink(path)
        bundle.config["linux"]["namespaces"] = [
            {"type": "pid"},
            {"type": "mount"},
            {"type": "uts"},
            {"type": "network", "path": path},
        ]
        r = bundle.sh("readlink /proc/self/ns/net; echo $$")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [netns, "1"]
    finally:
        holder.kill()
        holder.wait()


def test_a_path_that_is_not_a_namespace_is_a_clear_error(bundle, tmp_path):
    bogus = tmp_path / "not-a-namespace"
    bogus.write_text("")
    bundle.config["linux"]["namespaces"].remove({"type": "network"})
    bundle.config["linux"]["namespaces"].append({"type": "network", "path": str(bogus)})
    r = bundle.sh("true")
    assert r.returncode == 1
    assert "is not a namespace" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_user_namespace_maps_ids(make_bundle):
    b = make_bundle("userns")
    r = b.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2] == "0"
    assert lines[3] != host_ns("user")


def test_user_namespace_process_runs_as_mapped_host_uid(make_bundle):
    b = make_bundle("userns")
    b.config["process"]["args"] = ["/bin/sleep", "2"]
    b.write()
    from tests.conftest import NSINIT

    p = subprocess.Popen([*NSINIT, "--root", str(b.state_root), "exec", str(b.config_path)])
    try:
        uid = None
        for _ in range(200):
            out = subprocess.run(
                ["pgrep", "-x", "-P", str(p.pid), "sleep"], capture_output=True, text=True
            ).stdout
            if out.strip():
                with open(f"/proc/{out.split()[0]}/status") as f:
                    uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
                break
            subprocess.run(["sleep", "0.02"])
        assert uid == "100000"
    finally:
        p.wait(timeout=30)


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/time"), reason="no time namespaces")
def test_time_namespace_with_offsets(bundle):
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    r = bundle.sh("readlink /proc/self/ns/time; cut -d' ' -f1 /proc/uptime; cat /proc/self/timens_offsets")
    assert r.returncode == 0, r.stderr
    ns, uptime = r.stdout.split()[:2]
    assert ns != host_ns("time")
    assert float(uptime) > 86400 * 365


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/time"), reason="no time namespaces")
def test_user_and_time_namespaces_take_the_two_step_path(make_bundle):
    """A time namespace needs unshare + a second clone; the id maps are then
    requested by the first child over the channel."""
    b = make_bundle("userns")
    b.config["linux"]["namespaces"].append({"type": "time"})
    r = b.sh("cat /proc/self/uid_map; id -u; echo $$; readlink /proc/self/ns/time")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1:3] == ["0", "1"]
    assert lines[3] != host_ns("time")
