"""The configs podman and containerd generated run here, with only the
engine-specific paths swapped for ours (their storage does not exist on this
machine): the rootfs, bind-mount sources, the network namespace to join and
the cgroup path."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NSINIT

pytestmark = pytest.mark.root
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine-configs"


def run_config(config: dict, bundle: Path, state_root: Path) -> subprocess.CompletedProcess:
    (bundle / "config.json").write_text(json.dumps(config))
    cid = "t-" + os.urandom(6).hex()
    return subprocess.run(
        [*NSINIT, "--root", str(state_root), "run", "--bundle", str(bundle), cid],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_containerd_config(tmp_path, rootfs, state_root, host_clean):
    config = json.loads((FIXTURES / "ctr-create-run-echo.json").read_text())
    (tmp_path / "rootfs").symlink_to(rootfs)  # root.path is the relative "rootfs"
    config["linux"]["cgroupsPath"] = "/default/t-" + os.urandom(4).hex()
    r = run_config(config, tmp_path, state_root)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"


def test_podman_config_joining_a_network_namespace(tmp_path, rootfs, state_root, host_clean):
    config = json.loads((FIXTURES / "podman-create-run-echo.json").read_text())
    config["root"]["path"] = str(rootfs)
    config["linux"]["cgroupsPath"] = "/libpod_parent/t-" + os.urandom(4).hex()
    userdata = tmp_path / "userdata"
    (userdata / "shm").mkdir(parents=True)
    for m in config["mounts"]:
        if m.get("type") == "bind":
            name = os.path.basename(m["source"])
            if name != "shm":
                (userdata / name).write_text(f"{name} from the engine\n")
            m["source"] = str(userdata / name)
    config["process"]["args"] = ["/bin/sh", "-c", "cat /etc/hostname; readlink /proc/self/ns/net; echo hi"]
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        netns = f"/proc/{holder.pid}/ns/net"
        for _ in range(200):
            if os.readlink(netns) != os.readlink("/proc/self/ns/net"):
                break
        for ns in config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = netns
        r = run_config(config, tmp_path, state_root)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["hostname from the engine", os.readlink(netns), "hi"]
        # Fields not applied yet are named (seccomp, resources), nothing else goes to stderr.
        assert all("is not applied" in line for line in r.stderr.splitlines()), r.stderr
    finally:
        holder.kill()
        holder.wait()
