"""Which id mappings an unprivileged user may use, and the per-user state root."""

from __future__ import annotations

import pytest

from pycontainer import rootless, state
from pycontainer.errors import ConfigError
from pycontainer.spec.models import IDMapping, Linux


@pytest.fixture
def as_user(monkeypatch, tmp_path):
    """uid/gid 1500, named "alice", with /etc/subuid and /etc/subgid ranges 200000+65536."""
    monkeypatch.setattr(rootless.os, "geteuid", lambda: 1500)
    monkeypatch.setattr(rootless.os, "getegid", lambda: 1500)
    monkeypatch.setattr(rootless, "_user_name", lambda uid: "alice")
    files = {}
    for kind, text in (("uid", "bob:100000:65536\nalice:200000:65536\n"), ("gid", "1500:200000:65536\n")):
        files[kind] = tmp_path / f"sub{kind}"
        files[kind].write_text(text)
    monkeypatch.setattr(rootless, "SUBID_FILES", {k: str(v) for k, v in files.items()})
    monkeypatch.setattr(rootless, "find_helper", lambda kind: f"/usr/bin/new{kind}map")


def linux(uids, gids=((0, 1500, 1),)) -> Linux:
    return Linux(
        uid_mappings=[IDMapping(container_id=c, host_id=h, size=s) for c, h, s in uids],
        gid_mappings=[IDMapping(container_id=c, host_id=h, size=s) for c, h, s in gids],
    )


def test_own_id_alone_needs_no_helper(as_user, monkeypatch):
    monkeypatch.setattr(rootless, "find_helper", lambda kind: None)
    rootless.check_mappings(linux([(0, 1500, 1)]))


def test_subordinate_ranges_by_name_and_by_uid(as_user):
    rootless.check_mappings(linux([(0, 1500, 1), (1, 200000, 65536)], [(0, 1500, 1), (1, 200000, 65536)]))


@pytest.mark.parametrize(
    ("uids", "path"),
    [
        ([(0, 1500, 1), (1, 200001, 65536)], "linux.uidMappings[1]"),  # one past the end
        ([(0, 100000, 10)], "linux.uidMappings[0]"),  # someone else's range
        ([(0, 0, 1)], "linux.uidMappings[0]"),  # root's id
        ([(0, 1500, 2)], "linux.uidMappings[0]"),  # more than its own id
    ],
)
def test_mappings_the_user_does_not_hold(as_user, uids, path):
    with pytest.raises(ConfigError) as e:
        rootless.check_mappings(linux(uids))
    assert e.value.path == path
    assert "/etc/subuid" in e.value.message or "subuid" in e.value.message


def test_gid_mapping_outside_subgid(as_user):
    with pytest.raises(ConfigError) as e:
        rootless.check_mappings(linux([(0, 1500, 1)], [(0, 1500, 1), (1, 300000, 10)]))
    assert e.value.path == "linux.gidMappings[1]"


def test_a_range_needs_newuidmap(as_user, monkeypatch):
    monkeypatch.setattr(rootless, "find_helper", lambda kind: None)
    with pytest.raises(ConfigError) as e:
        rootless.check_mappings(linux([(0, 1500, 1), (1, 200000, 10)]))
    assert e.value.path == "linux.uidMappings"
    assert "newuidmap" in e.value.message and "uidmap" in e.value.message


def test_default_root(monkeypatch):
    monkeypatch.setattr(state.os, "geteuid", lambda: 0)
    assert state.default_root() == "/run/pycontainer"
    monkeypatch.setattr(state.os, "geteuid", lambda: 1500)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1500")
    assert state.default_root() == "/run/user/1500/pycontainer"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/tmp/xdg")
    assert state.default_root() == "/tmp/xdg/pycontainer"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert state.default_root() == "/run/user/1500/pycontainer"
