"""A memory limit below what the container's init needs to set itself up:
the kernel OOM-kills it (or refuses its allocations) during create, and the
error says what runc says, as a ResourceError naming the limit's JSON path,
instead of "container init exited unexpectedly during setup".  The same on
cgroup v1 (memory.failcnt, memory.oom_control) and v2 (memory.events)."""

from __future__ import annotations

import re

import pytest

from pycontainer import Container, ContainerNotFound
from pycontainer.errors import ResourceError

pytestmark = pytest.mark.root

# One page: far below what the init touches between joining its cgroup and its exec
# (every page of the parent's heap it writes to is copied, and charged).
TOO_LOW = 4096  # one page
RUNC_WORDING = re.compile(
    rf"^unable to set memory limit to {TOO_LOW} \(current usage: \d+, peak usage: \d+\)"
    r"(: container init was OOM-killed \(memory limit too low\?\))?$"
)


def test_the_library_gets_a_resource_error_in_runcs_words(bundle):
    bundle.config["linux"]["resources"] = {"memory": {"limit": TOO_LOW}}
    bundle.write()
    with pytest.raises(ResourceError) as caught:
        Container.create(bundle.id, bundle.path, root=bundle.state_root)
    e = caught.value
    assert RUNC_WORDING.match(str(e)), str(e)
    assert e.path == "linux.resources.memory.limit" and e.value == str(TOO_LOW)
    assert e.file.endswith(("/memory.limit_in_bytes", "/memory.max"))
    with pytest.raises(ContainerNotFound):
        Container.load(bundle.id, bundle.state_root)  # and nothing left (host_clean)


def test_the_cli_prints_it_on_one_line(bundle):
    bundle.config["linux"]["resources"] = {"memory": {"limit": TOO_LOW}}
    r = bundle.run("/bin/true")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nsinit: "), r.stderr
    assert RUNC_WORDING.match(lines[0].removeprefix("nsinit: ")), lines[0]
