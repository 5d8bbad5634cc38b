"""Hostile command lines: unknown flags, missing operands, ids that are paths
or too long, bundles that are files, configs that are directories, symlink
loops.  Each gets one clear line on stderr, exit code 1, and nothing made."""

from __future__ import annotations

import os

import pytest

from pycontainer import Container
from pycontainer.errors import ContainerError
from tests.reliability import leftovers, nsinit

pytestmark = pytest.mark.root

ID = "t-hostile"


def _cases(b: str, tmp: str) -> dict[str, list[str]]:
    """name -> argv after --root; ``b`` is a good bundle, ``tmp`` a scratch dir."""
    good = ["--bundle", b]
    return {
        "unknown global flag": ["--frobnicate", "list"],
        "unknown command flag": ["create", "--frobnicate", *good, ID],
        "unknown command": ["frobnicate", ID],
        "no command": [],
        "flag without its value": ["create", "--bundle"],
        "int flag with a word": ["create", "--preserve-fds", "many", *good, ID],
        "negative preserve-fds": ["create", "--preserve-fds", "-3", *good, ID],
        "create without id": ["create", *good],
        "start without id": ["start"],
        "kill without id": ["kill"],
        "delete without id": ["delete"],
        "state without id": ["state"],
        "exec without target": ["exec"],
        "too many operands": ["start", ID, "extra"],
        "id with a slash": ["create", *good, "t-a/b"],
        "id climbing out": ["create", *good, "../t-escape"],
        "id dot-dot": ["create", *good, ".."],
        "id dot": ["create", *good, "."],
        "id empty": ["create", *good, ""],
        "id of 1000 characters": ["create", *good, "t-" + "x" * 998],
        "id with a newline": ["create", *good, "t-a\nb"],
        "id with a space": ["create", *good, "t-a b"],
        "id in unicode": ["create", *good, "t-ünïcødé"],
        "bundle is a file": ["create", "--bundle", os.path.join(b, "config.json"), ID],
        "bundle does not exist": ["create", "--bundle", os.path.join(tmp, "nowhere"), ID],
        "config is a directory": ["create", "--bundle", os.path.join(tmp, "dir-config"), ID],
        "bundle is a symlink loop": ["create", "--bundle", os.path.join(tmp, "loop-a"), ID],
        "config is a symlink loop": ["create", "--bundle", os.path.join(tmp, "loop-config"), ID],
        "rootfs is a symlink loop": ["create", "--bundle", os.path.join(tmp, "loop-rootfs"), ID],
        "config is not JSON": ["create", "--bundle", os.path.join(tmp, "not-json"), ID],
        "exec of a config that is a directory": ["exec", os.path.join(tmp, "dir.json")],
        "pid file in a missing directory": ["create", *good, "--pid-file", os.path.join(tmp, "no/pid"), ID],
        "console socket that is not there": [
            "create",
            "--bundle",
            os.path.join(tmp, "terminal"),
            "--console-socket",
            os.path.join(tmp, "no.sock"),
            ID,
        ],
        "kill with an unknown signal": ["kill", ID, "SIGFROB"],
        "state of an unknown id": ["state", ID],
        "start of an unknown id": ["start", ID],
    }


def _prepare(bundle, tmp) -> None:
    bundle.config["process"]["args"] = ["/bin/sleep", "600"]
    bundle.write()
    good = bundle.config
    (tmp / "dir-config" / "config.json").mkdir(parents=True)
    (tmp / "dir.json").mkdir()
    os.symlink("loop-b", tmp / "loop-a")
    os.symlink("loop-a", tmp / "loop-b")
    (tmp / "loop-config").mkdir()
    os.symlink("config.json", tmp / "loop-config" / "config.json")
    import json

    (tmp / "loop-rootfs").mkdir()
    os.symlink("rootfs", tmp / "loop-rootfs" / "rootfs")
    (tmp / "loop-rootfs" / "config.json").write_text(json.dumps({**good, "root": {"path": "rootfs"}}))
    (tmp / "not-json").mkdir()
    (tmp / "not-json" / "config.json").write_text('{"ociVersion": "1.2.0", "process": ')
    (tmp / "terminal").mkdir()
    terminal = json.loads(json.dumps(good))
    terminal["process"]["terminal"] = True
    (tmp / "terminal" / "config.json").write_text(json.dumps(terminal))


def test_hostile_command_lines(bundle, tmp_path):
    tmp = tmp_path / "scratch"
    tmp.mkdir()
    _prepare(bundle, tmp)
    root = tmp_path / "state"
    failures = []
    for name, argv in _cases(str(bundle.path), str(tmp)).items():
        r = nsinit(root, *argv)
        err = r.stderr
        problems = []
        if r.returncode != 1:
            problems.append(f"exit code {r.returncode}")
        if not err.startswith("nsinit: ") or err.count("\n") != 1 or len(err) > 400:
            problems.append("not one short line")
        if "Traceback" in err or "internal error" in err or "Errno" in err:
            problems.append("not a clear message")
        made = os.listdir(root) if root.exists() else []
        if [m for m in made if m != "~seccomp"]:
            problems.append(f"made {made}")
        found = leftovers(ID, root)
        if found:
            problems.append(f"left {found}")
        if problems:
            failures.append(f"{name}: {problems}: {err!r}")
            nsinit(root, "delete", "--force", ID)  # so the next case starts clean
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("bad", ["t-a\0b", "\0", "t-" + "y" * 300, "t/../x", 42])
def test_library_refuses_bad_ids(bundle, bad):
    bundle.write()
    with pytest.raises(ContainerError, match="invalid container id"):
        Container.create(bad, bundle.path, root=bundle.state_root)
    with pytest.raises(ContainerError, match="invalid container id"):
        Container.load(bad, root=bundle.state_root)


def test_state_root_that_is_a_file(bundle, tmp_path):
    bundle.write()
    not_a_dir = tmp_path / "root-file"
    not_a_dir.write_text("")
    for argv in (["list"], ["create", "--bundle", str(bundle.path), ID]):
        r = nsinit(not_a_dir, *argv)
        assert r.returncode == 1 and r.stderr.startswith("nsinit: state root"), r.stderr
    assert not leftovers(ID, tmp_path)
