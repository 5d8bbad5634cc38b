"""Faults: nsinit (or the container's init) killed by SIGKILL at every step
that makes something on the host, and at random moments; after each,
``nsinit delete --force`` must leave nothing of the container behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from pycontainer import failpoints

try:  # modules add their steps to STEPS when imported; nsinit imports them only when a config needs them
    import pycontainer.network  # noqa: F401
except ImportError:
    pass
from tests import features
from tests.conftest import NSINIT
from tests.reliability import leftovers, nsinit, wait_no_leftovers

pytestmark = pytest.mark.root

# How many random-delay kills of `nsinit create`; PYCONTAINER_RANDOM_KILLS raises it.
RANDOM_KILLS = int(os.environ.get("PYCONTAINER_RANDOM_KILLS", "20"))


def _plain(bundle) -> None:
    bundle.config["process"]["args"] = ["/bin/sleep", "600"]
    # Hooks at every phase, so the hook steps are reached too (host binaries: hooks run on the host).
    hook = {"path": "/bin/true"}
    bundle.config["hooks"] = {
        phase: [hook] for phase in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
    }
    bundle.write()


def _with_resources(bundle) -> None:
    _plain(bundle)
    bundle.config["linux"]["resources"] = {
        "memory": {"limit": 64 * 1024 * 1024},
        "pids": {"limit": 32},
        "cpu": {"shares": 512},
    }
    bundle.write()


def _lifecycle(bundle, env: dict, tmp_path) -> list[int]:
    """create, start, exec, delete --force, each with ``env``; their exit
    codes (stops at the first that fails, as an engine would)."""
    root = bundle.state_root
    codes = []
    steps = [
        ("create", "--bundle", str(bundle.path), "--pid-file", str(tmp_path / "pid"), bundle.id),
        ("start", bundle.id),
        ("exec", bundle.id, "/bin/true"),
        ("delete", "--force", bundle.id),
    ]
    for argv in steps:
        r = nsinit(root, *argv, env=env)
        codes.append(r.returncode)
        if r.returncode != 0:
            break
    return codes


def _clean_up_and_check(bundle) -> None:
    root = bundle.state_root
    r = nsinit(root, "delete", "--force", bundle.id)
    assert r.returncode == 0, r.stderr
    listed = nsinit(root, "list", "-q", stdout=subprocess.PIPE)
    assert listed.returncode == 0, listed.stderr
    assert bundle.id not in listed.stdout.split()
    found = wait_no_leftovers(bundle.id, root)
    assert not found, f"left behind: {found}"


# A port and a subnet of the walk's own (the network tests use 10.232-10.234).
WALK_SUBNET = "10.236.0"
WALK_PORT = 18236


def _walk_device(bundle) -> str:
    return "tw" + bundle.id[-8:]


def _with_network_and_resources(bundle) -> None:
    """Resources, and everything the network makes on the host: a device
    moved in (one end of a veth pair made here), a veth on a bridge of ours,
    masquerade and a published port in our nftables table."""
    _with_resources(bundle)
    device = _walk_device(bundle)
    subprocess.run(["ip", "link", "add", device, "type", "veth", "peer", "name", device + "p"], check=True)
    bundle.config["linux"]["netDevices"] = {device: {"name": "net1"}}
    bundle.config["pycontainer"] = {
        "network": {
            "bridge": {"name": "twb" + bundle.id[-8:], "addresses": [f"{WALK_SUBNET}.1/24"]},
            "veth": {"addresses": [f"{WALK_SUBNET}.2/24"]},
            "masquerade": True,
            "ports": [{"hostPort": WALK_PORT, "containerPort": 80, "protocol": "tcp"}],
        }
    }
    bundle.write()


def _remove_walk_device(bundle) -> None:
    """The veth pair made for netDevices, if it is still there (back on the
    host; a device inside a dead namespace went with it)."""
    device = _walk_device(bundle)
    if os.path.exists(f"/sys/class/net/{device}"):
        subprocess.run(["ip", "link", "del", device], check=True)


def _nft_tables() -> set[str]:
    if features.command("nft", "nftables"):
        return set()
    r = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    return set(r.stdout.splitlines())


# The configs the walk uses, and which steps each reaches: a plain container
# (hooks at every phase), and one with networking and resources, which
# reaches every step.
WALK_CONFIGS = {
    "plain": (_plain, lambda step: not step.startswith("network.")),
    "network-resources": (_with_network_and_resources, lambda step: True),
}


def _walk():
    for step in failpoints.STEPS:
        names = [name for name, (_, reaches) in WALK_CONFIGS.items() if reaches(step)]
        for name in names:
            yield pytest.param(step, name, id=f"{step}-{name}")
        if not names:
            reason = f"no config of the walk reaches {step}: add one to WALK_CONFIGS"
            yield pytest.param(step, None, id=step, marks=pytest.mark.skip(reason=reason))


@pytest.mark.parametrize("step, config", list(_walk()))
def test_failpoint_then_delete_force_leaves_nothing(make_bundle, tmp_path, step, config):
    if config == "network-resources":  # a veth, a bridge, NAT
        for missing in (
            features.link_type("veth"),
            features.link_type("bridge"),
            features.command("nft", "nftables"),
        ):
            features.require(missing)
    bundle = make_bundle()
    tables_before = _nft_tables()
    try:
        WALK_CONFIGS[config][0](bundle)
        codes = _lifecycle(bundle, {failpoints.ENV: step}, tmp_path)
        # The failpoint was reached: some command died by SIGKILL, or (a step in
        # the container's init or exec'd process) failed because of it.
        assert any(code != 0 for code in codes), f"{step} was never reached: {codes}"
        _clean_up_and_check(bundle)
        # Links (veths, the bridge) are checked by host_clean after the test.
        assert _nft_tables() == tables_before, "nftables tables left behind"
    finally:
        _remove_walk_device(bundle)


def test_every_step_is_reached_in_the_code():
    """Each name in STEPS has its reached() call (a renamed step would
    otherwise make the walk above test nothing for it)."""
    src = os.path.join(os.path.dirname(failpoints.__file__))
    text = ""
    for dirpath, _dirs, files in os.walk(src):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name)) as f:
                    text += f.read()
    missing = [s for s in failpoints.STEPS if f'reached("{s}")' not in text]
    assert not missing
    assert len(set(failpoints.STEPS)) == len(failpoints.STEPS)


def test_lifecycle_without_failpoint_succeeds(make_bundle, tmp_path):
    """The walk's sequence is sound: with no failpoint every command succeeds."""
    bundle = make_bundle()
    _plain(bundle)
    assert _lifecycle(bundle, {}, tmp_path) == [0, 0, 0, 0]
    assert not wait_no_leftovers(bundle.id, bundle.state_root)


def test_random_kills_of_create(make_bundle):
    """SIGKILL `nsinit create` after a random delay (from before it has
    loaded the config to after it is done), then delete --force."""
    rng = random.Random(os.environ.get("PYCONTAINER_SEED", "7"))
    bundle = make_bundle()
    _plain(bundle)
    # How long a create takes here, to spread the kills over it.
    durations = []
    for _ in range(3):
        t0 = time.monotonic()
        assert nsinit(bundle.state_root, "create", "--bundle", str(bundle.path), bundle.id).returncode == 0
        durations.append(time.monotonic() - t0)
        _clean_up_and_check(bundle)
    took = sorted(durations)[1]
    killed_midway = 0
    for i in range(RANDOM_KILLS):
        bundle.id = f"t-kill{i}-{os.getpid()}"
        p = subprocess.Popen(
            [*NSINIT, "--root", str(bundle.state_root), "create", "--bundle", str(bundle.path), bundle.id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0, took * 1.1))
        p.send_signal(signal.SIGKILL)
        code = p.wait()
        killed_midway += code == -signal.SIGKILL and os.path.exists(bundle.state_root / bundle.id)
        _clean_up_and_check(bundle)
    # Many kills should land while something was made (not before nsinit
    # started making anything, nor after it exited).
    print(f"{RANDOM_KILLS} kills, {killed_midway} with the container half-made")
    assert killed_midway >= RANDOM_KILLS // 8, killed_midway


def test_leftovers_finds_a_live_container(make_bundle, tmp_path):
    """The check above can fail: a container that is still there is seen."""
    bundle = make_bundle()
    _plain(bundle)
    assert nsinit(bundle.state_root, "create", "--bundle", str(bundle.path), bundle.id).returncode == 0
    try:
        found = leftovers(bundle.id, bundle.state_root)
        assert set(found) >= {"state dir", "cgroups", "processes"}
    finally:
        _clean_up_and_check(bundle)
