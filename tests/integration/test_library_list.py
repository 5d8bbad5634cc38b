"""``Container.list(root)``: every container under a state root, by id, with
its status; what vanishes meanwhile or is not a container is left out.
``nsinit list`` prints from it (its output is covered by the CLI tests)."""

from __future__ import annotations

import os

import pytest

from pycontainer import Container

pytestmark = pytest.mark.root


def test_list_gives_every_container_with_its_status(make_bundle, tmp_path, monkeypatch):
    root = tmp_path / "state"
    first, second = make_bundle(), make_bundle()
    for b in (first, second):
        b.config["process"]["args"] = ["/bin/sleep", "60"]
        b.write()
    assert Container.list(root) == []  # no root yet: nothing
    with (
        Container.create(first.id, first.path, root=root) as a,
        Container.create(second.id, second.path, root=root) as b,
    ):
        b.start()
        os.mkdir(root / "not-a-container")  # no state file
        real_listdir = os.listdir
        # A container deleted between the listing and its load is left out.
        monkeypatch.setattr(os, "listdir", lambda path: [*real_listdir(path), "t-gone-meanwhile"])
        found = Container.list(root)
        monkeypatch.undo()
        assert [c.id for c in found] == sorted([a.id, b.id])
        status = {c.id: (c.status, c.pid) for c in found}
        assert status == {a.id: ("created", a.pid), b.id: ("running", b.pid)}
        os.rmdir(root / "not-a-container")
    assert Container.list(root) == []


def test_list_uses_the_default_root(monkeypatch, tmp_path):
    import pycontainer.container as container_module

    monkeypatch.setattr(container_module, "default_root", lambda: str(tmp_path / "none"))
    assert Container.list() == []
