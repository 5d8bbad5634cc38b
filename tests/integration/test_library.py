"""The library API, used in-process as another tool would."""

from __future__ import annotations

import os
import signal

import pytest

from pycontainer import Container, ContainerExists, ContainerNotFound, InvalidState, cgroups, load_config

pytestmark = pytest.mark.root


def test_create_start_wait_delete(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "exit 3"]
    bundle.write()
    c = Container.create(bundle.id, bundle.path, root=bundle.state_root)
    try:
        assert c.status == "created"
        assert c.state().to_oci()["pid"] == c.pid > 0
        c.start()
        assert c.wait() == 3
        assert c.status == "stopped"
    finally:
        c.delete(force=True)
    with pytest.raises(ContainerNotFound):
        Container.load(bundle.id, bundle.state_root)


def test_context_manager_always_cleans_up(bundle):
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        assert c.status == "running"
        pid = c.pid
    assert not os.path.exists(f"/proc/{pid}/status") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]


def test_config_object_and_lifecycle_rules(bundle):
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    spec = load_config(bundle.config_path)
    with Container.create(bundle.id, spec=spec, root=bundle.state_root) as c:
        with pytest.raises(ContainerExists):
            Container.create(bundle.id, spec=spec, root=bundle.state_root)
        c.start()
        with pytest.raises(InvalidState):
            c.start()
        with pytest.raises(InvalidState):
            c.delete()  # running: only with force (a created one needs none)
        loaded = Container.load(bundle.id, bundle.state_root)
        assert loaded.status == "running" and loaded.pid == c.pid
        c.kill(signal.SIGKILL)
        assert c.wait() == 128 + signal.SIGKILL
        assert c.kill() is False  # stopped: nothing to signal, no error (as Popen.send_signal)


def test_run_returns_the_exit_code(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "exit 9"]
    bundle.write()
    assert Container.run(bundle.id, bundle.path, root=bundle.state_root) == 9


def test_run_cli_the_runc_way(bundle):
    import subprocess

    from tests.conftest import NSINIT

    bundle.config["process"]["args"] = ["/bin/sh", "-c", "hostname; exit 4"]
    bundle.write()
    r = subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), "run", "--bundle", str(bundle.path), bundle.id],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 4, r.stderr
    assert r.stdout.strip() == "pycontainer"


@pytest.mark.cgroup2
def test_the_init_is_in_the_containers_cgroup(bundle):
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.config["linux"]["cgroupsPath"] = f"/pycontainer-test/{bundle.id}"
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        with open(f"/proc/{c.pid}/cgroup") as f:
            lines = f.read().splitlines()
        for line in lines:
            assert line.split(":", 2)[2] == f"/pycontainer-test/{bundle.id}", line
        mountpoints = list(cgroups.detect().hierarchies())  # one per hierarchy: v1, v2 or hybrid
        for mountpoint in mountpoints:
            assert os.path.isdir(f"{mountpoint}/pycontainer-test/{bundle.id}"), mountpoint
    for mountpoint in mountpoints:
        assert not os.path.exists(f"{mountpoint}/pycontainer-test"), mountpoint
