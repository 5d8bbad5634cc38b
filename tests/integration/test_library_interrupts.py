"""``Container.create`` cut short by a KeyboardInterrupt (a Ctrl-C) at any
step: the interrupt reaches the caller and nothing is left on the host (the
host_clean fixture checks cgroups, mounts, links, processes and state dirs).
The failpoint PYCONTAINER_INTERRUPT_AT raises the interrupt at a named step."""

from __future__ import annotations

import os

import pytest

from pycontainer import Container, ContainerNotFound, failpoints

pytestmark = pytest.mark.root

# Every step create reaches in the calling process ("init.*" ones are the
# init's, "network.*" need a network).
CREATE_STEPS = [s for s in failpoints.STEPS if s.startswith("create.")]


def test_every_create_step_is_covered():
    assert "create.cgroup-dir-made" in CREATE_STEPS and len(CREATE_STEPS) >= 11


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_an_interrupt_at_any_create_step_leaves_nothing(bundle, tmp_path, monkeypatch, step):
    bundle.config["process"]["args"] = ["/bin/true"]
    # A createRuntime hook and a pid file: every step is reached.
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/true"}]}
    bundle.write()
    monkeypatch.setenv(failpoints.INTERRUPT_ENV, step)
    with pytest.raises(KeyboardInterrupt) as caught:
        Container.create(bundle.id, bundle.path, root=bundle.state_root, pid_file=tmp_path / "pid")
    assert str(caught.value) == f"failpoint {step}"  # reached, and not replaced by another error
    with pytest.raises(ContainerNotFound):
        Container.load(bundle.id, bundle.state_root)
    assert not os.path.exists(tmp_path / "pid.tmp")


def test_the_interrupt_between_two_cgroup_dirs_is_after_the_first(bundle, monkeypatch):
    """The step inside Manager.create is reached after the first hierarchy's
    directory is made, before the next: that one is undone too."""
    from pycontainer import cgroups

    bundle.write()
    made: list[str] = []
    real = cgroups.Manager._mkdirs

    def spy(self, target):
        found = real(self, target)
        made.extend(found)
        return found

    monkeypatch.setattr(cgroups.Manager, "_mkdirs", spy)
    monkeypatch.setenv(failpoints.INTERRUPT_ENV, "create.cgroup-dir-made")
    with pytest.raises(KeyboardInterrupt):
        Container.create(bundle.id, bundle.path, root=bundle.state_root)
    assert made and not any(os.path.exists(d) for d in made)
