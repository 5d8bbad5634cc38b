"""``Container.events()`` reports OOM kills with their count, from the
cgroup's own oom_kill count (v1 memory.oom_control, v2 memory.events), and
never twice for one kill: the kernel may notify many times for one OOM."""

from __future__ import annotations

import pytest

from pycontainer import Container

pytestmark = pytest.mark.root

MiB = 1 << 20
HOGS = 3


@pytest.mark.cgroup2
def test_three_oom_kills_are_three_and_only_three(bundle):
    bundle.config["linux"]["resources"] = {"memory": {"limit": 16 * MiB, "swap": 16 * MiB}}
    # Each dd asks for a 64 MiB buffer in a 16 MiB cgroup without swap: killed.
    hogs = "; ".join(["dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; sleep 0.2"] * HOGS)
    bundle.config["process"]["args"] = ["/bin/sh", "-c", f"{hogs}; sleep 0.5"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        events = c.events(interval=3600, tick=0.05)
        assert next(events)[0] == "stats"  # listening before the first hog
        c.start()
        ooms = [data for kind, data in events if kind == "oom"]
        assert c.wait() == 0  # only the hogs died
        assert all(isinstance(n, int) and n > 0 for n in ooms), ooms
        assert sum(ooms) == HOGS == c.oom_kills(), ooms


def test_no_memory_limit_no_oom_event(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "sleep 0.3"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        events = c.events(interval=3600, tick=0.05)
        assert next(events)[0] == "stats"
        c.start()
        assert [kind for kind, _ in events] == []
        assert c.wait() == 0
