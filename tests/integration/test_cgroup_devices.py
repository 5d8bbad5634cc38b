"""Device rules enforced by a BPF_PROG_TYPE_CGROUP_DEVICE program (cgroup v2).

The kernel runs the device programs of a task's cgroup in the cgroup2
hierarchy whatever else the host mounts, so on a hybrid host a program
attached to the container's directory in the unified hierarchy is enforced
on top of the v1 devices controller: these tests attach one there (as
``create`` and ``update`` do on a pure v2 host) and open devices from inside
the container.  On a pure v2 host the container's own program is the one
under test (``create`` attached it from ``linux.resources.devices``).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from pycontainer import Container, cgroups
from pycontainer.cgroups import devicefilter
from pycontainer.cgroups.resources import DEFAULT_DEVICE_RULES
from pycontainer.spec.models import DeviceRule
from tests.conftest import NSINIT, all_capabilities

pytestmark = pytest.mark.root

# Open /dev/null and /dev/zero for reading, and a node for /dev/zero made
# inside the container (mknod is allowed by the default rules).
PROBE = (
    "mknod /dev/myzero c 1 5 && "
    "for f in /dev/null /dev/zero /dev/myzero; do "
    "if (: < $f) 2>/dev/shm/err; then echo $f ok; else echo $f $(cat /dev/shm/err); fi; done"
)


def _unified_fd(directory: str) -> int:
    return os.open(directory, os.O_RDONLY | os.O_DIRECTORY)


@pytest.mark.cgroup2
def test_denied_device_cannot_be_opened_and_update_replaces_the_program(bundle):
    """A program denying /dev/zero (c 1:5): the device and a node made for
    it inside are refused, /dev/null still opens; installing the defaults
    again (what ``update`` does) attaches the new program and detaches the
    old, and /dev/zero opens again."""
    layout = cgroups.detect()
    if layout.unified is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    # every capability: only the device rules stand in the way
    bundle.config["process"]["capabilities"] = all_capabilities()
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        directory = c.state().cgroup_paths[""]
        fd = _unified_fd(directory)
        try:
            before = devicefilter.attached(fd)
            deny_zero = DeviceRule(allow=False, type="c", major=1, minor=5, access="rw")
            devicefilter.install(directory, [*DEFAULT_DEVICE_RULES, deny_zero])
            assert len(devicefilter.attached(fd)) == 1
            out = bundle.exec_sh(PROBE).splitlines()
            assert out[0] == "/dev/null ok"
            assert out[1].startswith("/dev/zero ") and "Operation not permitted" in out[1], out
            assert out[2].startswith("/dev/myzero ") and "Operation not permitted" in out[2], out

            devicefilter.install(directory, DEFAULT_DEVICE_RULES)
            after = devicefilter.attached(fd)
            assert len(after) == 1 and after != before
            out = bundle.exec_sh("rm -f /dev/myzero; " + PROBE).splitlines()
            assert out == ["/dev/null ok", "/dev/zero ok", "/dev/myzero ok"]
        finally:
            os.close(fd)


def test_read_only_rule_refuses_writes(bundle):
    """``r`` only: reading /dev/null works, opening it for writing does not."""
    layout = cgroups.detect()
    if layout.unified is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        rules = [DeviceRule(allow=True, type="c", major=1, minor=3, access="r")]
        devicefilter.install(c.state().cgroup_paths[""], rules)
        out = bundle.exec_sh(
            "head -c1 /dev/null && echo read-ok; (echo x > /dev/null) 2>&1; (head -c1 /dev/zero) 2>&1; true"
        )
        lines = out.splitlines()
        assert lines[0] == "read-ok"
        assert "Operation not permitted" in lines[1]  # write to /dev/null
        assert "Operation not permitted" in lines[2]  # /dev/zero: no rule, default deny


def test_v2_create_and_update_attach_the_containers_program(bundle):
    """Pure v2: the config's rules are enforced from the start (/dev/kmsg
    allowed), and ``nsinit update`` with new rules (deny all) replaces the
    program: /dev/kmsg is refused, the default devices still open."""
    if cgroups.detect().mode != "v2":
        pytest.skip("the container's own device program is attached on pure cgroup v2 hosts")
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.config["process"]["capabilities"] = all_capabilities()
    bundle.config["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
    bundle.config["linux"]["resources"] = {
        "devices": [{"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rwm"}]
    }
    bundle.write()
    probe = "for f in /dev/kmsg /dev/null; do (: < $f) 2>/dev/null && echo $f ok || echo $f no; done"
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        fd = _unified_fd(c.state().cgroup_paths[""])
        try:
            first = devicefilter.attached(fd)
            assert len(first) == 1
            assert bundle.exec_sh(probe).split() == ["/dev/kmsg", "ok", "/dev/null", "ok"]
            r = subprocess.run(
                [*NSINIT, "--root", str(bundle.state_root), "update", "--resources", "-", bundle.id],
                input=json.dumps({"devices": [{"allow": False, "access": "rwm"}]}),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert r.returncode == 0, r.stderr
            second = devicefilter.attached(fd)
            assert len(second) == 1 and second != first
            assert bundle.exec_sh(probe).split() == ["/dev/kmsg", "no", "/dev/null", "ok"]
        finally:
            os.close(fd)
