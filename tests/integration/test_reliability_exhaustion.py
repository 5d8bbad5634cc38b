"""Resource exhaustion: a full state filesystem, a low fd limit, a pids limit
on the caller.  Each create either works or fails with one clear line,
exit code 1, and nothing half-made left."""

from __future__ import annotations

import os
import resource
import uuid

import pytest

from pycontainer import syscalls
from tests.reliability import nsinit, wait_no_leftovers

pytestmark = pytest.mark.root


def _sleeping(bundle) -> None:
    bundle.config["process"]["args"] = ["/bin/sleep", "600"]
    bundle.write()


def _outcome(bundle, root, r) -> str:
    """'made' (then deleted) or 'refused'; asserts the refusal was clean."""
    if r.returncode == 0:
        assert nsinit(root, "delete", "--force", bundle.id).returncode == 0
        assert not wait_no_leftovers(bundle.id, root)
        return "made"
    err = r.stderr
    assert r.returncode == 1, (r.returncode, err)
    assert err.startswith("nsinit: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    found = wait_no_leftovers(bundle.id, root)
    assert not found, f"{err!r} left {found}"
    return "refused"


@pytest.fixture
def small_tmpfs(tmp_path):
    mounted = []

    def mount(options: str):
        target = tmp_path / f"tmpfs-{len(mounted)}"
        target.mkdir()
        # mode: a tmpfs is 1777 by default, and a state root others can write is refused.
        syscalls.mount("tmpfs", target, "tmpfs", 0, options + ",mode=0711")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        syscalls.umount2(str(target))


@pytest.mark.parametrize("inodes", [2, 3, 4, 5, 6])
def test_state_root_out_of_inodes(bundle, small_tmpfs, inodes):
    """A tmpfs --root with room for this many files and directories (the
    root itself is one)."""
    _sleeping(bundle)
    root = small_tmpfs(f"nr_inodes={inodes},size=1m")
    r = nsinit(root, "create", "--bundle", str(bundle.path), bundle.id)
    _outcome(bundle, root, r)
    assert os.listdir(root) in ([], ["~seccomp"])


def test_state_root_out_of_space(bundle, small_tmpfs):
    """A tmpfs --root filled up to 0, 1, 2 ... free pages: at some point
    create fits; below that it is refused cleanly."""
    _sleeping(bundle)
    outcomes = []
    for free_pages in range(0, 6):
        root = small_tmpfs("size=64k")
        filler = root / "filler"
        with open(filler, "wb") as f:
            try:
                f.write(b"x" * (64 * 1024))
            except OSError:
                pass
        # Give back exactly free_pages pages.
        os.truncate(filler, max(0, os.path.getsize(filler) - free_pages * 4096))
        bundle.id = f"t-full{free_pages}-{uuid.uuid4().hex[:6]}"
        r = nsinit(root, "create", "--bundle", str(bundle.path), bundle.id)
        outcomes.append(_outcome(bundle, root, r))
        assert sorted(os.listdir(root)) in (["filler"], ["filler", "~seccomp"])
    print("free pages outcomes:", outcomes)
    assert outcomes[0] == "refused" and "made" in outcomes, outcomes


def _limit_fds(n: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return apply


def test_low_fd_limit(bundle, tmp_path):
    """nsinit under RLIMIT_NOFILE from 8 up: refused cleanly until it fits."""
    bundle.config["process"]["rlimits"] = []  # raising it back may need CAP_SYS_RESOURCE, which root may lack
    _sleeping(bundle)
    root = tmp_path / "state"
    outcomes = {}
    for n in (8, 9, 10, 11, 12, 14, 16, 20, 32, 64):
        bundle.id = f"t-fds{n}-{uuid.uuid4().hex[:6]}"
        r = nsinit(root, "create", "--bundle", str(bundle.path), bundle.id, preexec_fn=_limit_fds(n))
        if r.returncode != 0 and "Fatal Python error" in r.stderr:
            outcomes[n] = "python itself cannot start"
            continue
        outcomes[n] = _outcome(bundle, root, r)
    print("fd limit outcomes:", outcomes)
    assert outcomes[64] == "made", outcomes
    assert "refused" in outcomes.values() or all(v != "made" for k, v in outcomes.items() if k < 12), outcomes


@pytest.fixture
def caller_cgroup():
    """A pids cgroup for nsinit itself (v1 pids hierarchy or the unified one)."""
    base = "/sys/fs/cgroup/pids" if os.path.isdir("/sys/fs/cgroup/pids") else "/sys/fs/cgroup"
    path = os.path.join(base, f"t-caller-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    yield path
    os.rmdir(path)


def test_pids_limit_on_the_caller(bundle, tmp_path, caller_cgroup):
    """nsinit in a cgroup with pids.max 1, 2, 3, ...: clone fails cleanly
    until there is room (the container's own cgroup nests below the caller's
    and counts against it too)."""
    _sleeping(bundle)
    root = tmp_path / "state"
    outcomes = {}

    def join() -> None:
        with open(os.path.join(caller_cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

    for limit in (1, 2, 3, 4, 8):
        with open(os.path.join(caller_cgroup, "pids.max"), "w") as f:
            f.write(str(limit))
        bundle.id = f"t-pids{limit}-{uuid.uuid4().hex[:6]}"
        r = nsinit(root, "create", "--bundle", str(bundle.path), bundle.id, preexec_fn=join)
        outcomes[limit] = _outcome(bundle, root, r)
    print("pids.max outcomes:", outcomes)
    assert outcomes[1] == "refused" and outcomes[8] == "made", outcomes
