"""AppArmor/SELinux labels on a host that runs neither (as this one): a clear error naming the
LSM and the JSON path, before anything is made; ``exec`` with a label is refused the same way."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from pycontainer import Container
from pycontainer.security import lsm
from tests.conftest import NSINIT

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True)
def _no_lsm():
    if lsm.apparmor_enabled() or lsm.selinux_enabled():
        pytest.skip("this host runs AppArmor or SELinux")


@pytest.mark.parametrize(
    "where, key, value, name",
    [
        ("process", "apparmorProfile", "docker-default", "AppArmor"),
        ("process", "selinuxLabel", "system_u:system_r:container_t:s0:c1,c2", "SELinux"),
        ("linux", "mountLabel", "system_u:object_r:container_file_t:s0:c1,c2", "SELinux"),
    ],
)
def test_a_label_is_refused_naming_the_lsm_and_path(bundle, where, key, value, name):
    bundle.config[where][key] = value
    r = bundle.run("/bin/true")
    assert r.returncode == 1
    assert f"{where}.{key}" in r.stderr and f"{name} is not enabled on this host" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not [p for p in os.listdir(bundle.state_root) if p != "~seccomp"]


def test_exec_with_a_label_is_refused(bundle, tmp_path):
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    proc = dict(bundle.config["process"], args=["/bin/true"], apparmorProfile="docker-default")
    (tmp_path / "process.json").write_text(json.dumps(proc))
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        spec_file = str(tmp_path / "process.json")
        argv = [*NSINIT, "--root", str(bundle.state_root), "exec", "--process", spec_file]
        r = subprocess.run([*argv, bundle.id], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "process.apparmorProfile" in r.stderr and "AppArmor" in r.stderr, r.stderr
        assert c.pids() == [c.pid]  # nothing started
