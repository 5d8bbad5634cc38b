"""`nsinit update` of an unprivileged user's container that got no cgroup
(none delegated): a clear error naming what cannot be set, not a crash."""

from __future__ import annotations

import pytest

from tests.integration.test_rootless import home, user  # noqa: F401 - the fixtures

pytestmark = pytest.mark.root


def test_update_without_a_delegated_cgroup_fails_cleanly(home):  # noqa: F811
    home.map_subordinate_ids()
    home.config["process"]["args"] = ["sleep", "60"]
    r = home.nsinit("run", "-d", home.id)
    assert r.returncode == 0, r.stderr
    assert "cgroups not delegated to the user are not used" in r.stderr
    try:
        r = home.nsinit("update", "--pids-limit", "10", home.id)
        assert r.returncode == 1, r.stderr
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert "linux.resources" in r.stderr and "delegated" in r.stderr, r.stderr
    finally:
        r = home.nsinit("delete", "--force", home.id)
    assert r.returncode == 0, r.stderr
