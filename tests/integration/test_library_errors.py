"""Errors raised in a container's init, or in a process ``exec`` starts, reach
the library's caller with their class and attributes (errors.to_wire), and
the CLI still prints the same one line."""

from __future__ import annotations

import pytest

from pycontainer import Container
from pycontainer.errors import HookError, ResourceError

pytestmark = pytest.mark.root

FAILING_HOOK = {"path": "/bin/sh", "args": ["sh", "-c", "echo to-out; echo to-err >&2; exit 3"]}


def test_a_failing_create_container_hook_is_a_hook_error(bundle):
    bundle.config["hooks"] = {"createContainer": [{"path": "/bin/true"}, FAILING_HOOK]}
    bundle.write()
    with pytest.raises(HookError) as caught:
        Container.create(bundle.id, bundle.path, root=bundle.state_root)
    e = caught.value
    assert (e.phase, e.index, e.path, e.exit_status, e.signal, e.timed_out) == (
        "createContainer",
        1,
        "/bin/sh",
        3,
        None,
        False,
    )
    assert (e.stdout, e.stderr) == (b"to-out\n", b"to-err\n")
    assert str(e) == "createContainer hook #1 (/bin/sh) failed: exit status 3, stdout: to-out, stderr: to-err"


def test_the_cli_prints_the_same_line_for_it(bundle):
    bundle.config["hooks"] = {"createContainer": [FAILING_HOOK]}
    r = bundle.run("/bin/true")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "nsinit: createContainer hook #0 (/bin/sh) failed: exit status 3, stdout: to-out, stderr: to-err"
    ]


def test_a_hook_killed_by_its_timeout_in_the_init(bundle):
    bundle.config["hooks"] = {
        "createContainer": [{"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}]
    }
    bundle.write()
    with pytest.raises(HookError) as caught:
        Container.create(bundle.id, bundle.path, root=bundle.state_root)
    assert caught.value.timed_out is True and caught.value.exit_status is None


def test_an_rlimit_the_init_cannot_set_is_a_resource_error(bundle):
    hard = 1 << 40  # above the kernel's nr_open: setrlimit fails with EPERM
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard},
    ]
    bundle.write()
    with pytest.raises(ResourceError) as caught:
        Container.create(bundle.id, bundle.path, root=bundle.state_root)
    e = caught.value
    assert e.path == "process.rlimits[1]" and e.value == f"{hard} {hard}"
    assert e.errno in (None, 1)  # Python's resource module turns EPERM into a ValueError
    assert str(e).startswith("process.rlimits[1]: setrlimit RLIMIT_NOFILE")


def test_an_exec_whose_rlimit_fails_is_a_resource_error(bundle):
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        process = c.config().process
        process.args = ["/bin/true"]
        from pycontainer.spec.models import Rlimit

        process.rlimits = [Rlimit(type="RLIMIT_NOFILE", soft=1 << 40, hard=1 << 40)]
        with pytest.raises(ResourceError) as caught:
            c.exec(process)
        assert caught.value.path == "process.rlimits[0]"
