"""``Container.create(..., strict=True)`` for an unprivileged user: a limit of
linux.resources that cannot be applied (its cgroup is not delegated to the
user) is a ResourceError naming its JSON path, and nothing is left; without
``strict`` it stays a warning.  Run as a user made for the session, as
test_rootless.py does (its fixtures)."""

# ruff: noqa: F811 - the tests take test_rootless's fixtures, imported by name

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import REPO
from tests.integration.test_rootless import home, user  # noqa: F401 - fixtures

pytestmark = pytest.mark.root

CREATE = """
import json, os, sys
sys.path.insert(0, {src!r})
from pycontainer import Container
from pycontainer.errors import PycontainerError
try:
    c = Container.create({id!r}, {bundle!r}, root={root!r}, strict={strict})
except PycontainerError as e:
    print(json.dumps({{"error": type(e).__name__, "path": getattr(e, "path", None), "message": str(e)}}))
else:
    c.delete(force=True)
    print(json.dumps({{"created": True}}))
"""


def create_as_user(home, strict: bool) -> tuple[dict, str]:
    home.write()
    script = CREATE.format(
        src=str(REPO / "src"),
        id=home.id,
        bundle=str(home.bundle),
        root=str(home.xdg / "pycontainer"),
        strict=strict,
    )
    r = home.user.run([sys.executable, "-I", "-c", script], cwd=home.bundle, xdg=str(home.xdg))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r.stderr


def test_strict_makes_an_unappliable_limit_an_error(home):
    home.config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    result, _ = create_as_user(home, strict=True)
    assert result["error"] == "ResourceError", result
    # No cgroup is delegated to the session's user here: the memory limit is named.
    assert result["path"] == "linux.resources.memory", result
    assert result["message"].startswith("linux.resources.memory: cannot be applied"), result


def test_without_strict_it_is_a_warning(home):
    home.config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    result, stderr = create_as_user(home, strict=False)
    assert result == {"created": True}
    assert "rootless" in stderr and "not" in stderr


def test_strict_without_limits_creates(home):
    result, _ = create_as_user(home, strict=True)
    assert result == {"created": True}
