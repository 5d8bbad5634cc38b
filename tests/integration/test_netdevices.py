"""``linux.netDevices`` (runtime-spec 1.2): a host interface moved into the
container keeps its configuration (addresses, MTU, MAC, up state) and comes
back to the host under its own name, with its addresses, on delete.

The interface is one end of a real veth pair (the dummy link type is not
built into every kernel; veth is what engines use).  Addresses are from the
documentation ranges (198.51.100.0/24, 2001:db8::/32); the only traffic is a
ping between the two ends of the pair, on this machine."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests import features
from tests.conftest import NSINIT

pytestmark = pytest.mark.root

MAC = "02:00:5e:10:00:07"


def ip(*argv: str) -> str:
    r = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"ip {argv}: {r.stderr}"
    return r.stdout


def nsinit(bundle, *args: str) -> subprocess.CompletedProcess:
    argv = [*NSINIT, "--root", str(bundle.state_root), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


@pytest.fixture
def veth():
    """A veth pair: ``name`` (to be moved) with 198.51.100.7/24 and
    2001:db8::7/64, MTU 1400 and its own MAC, up; its peer stays on the host
    with 198.51.100.8/24."""
    features.require(features.link_type("veth"))
    name = f"tnd{uuid.uuid4().hex[:8]}"
    peer = name + "p"
    ip("link", "add", name, "mtu", "1400", "address", MAC, "type", "veth", "peer", "name", peer)
    try:
        ip("addr", "add", "198.51.100.7/24", "dev", name)
        ip("addr", "add", "2001:db8::7/64", "dev", name, "nodad")
        ip("addr", "add", "198.51.100.8/24", "dev", peer)
        ip("link", "set", name, "up")
        ip("link", "set", peer, "up")
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", peer], capture_output=True)  # if the pair was split


def test_a_moved_device_keeps_its_configuration_and_gives_it_back(bundle, veth):
    bundle.config["linux"]["netDevices"] = {veth: {"name": "ctr0"}}
    bundle.config["process"]["args"] = ["sleep", "60"]
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = [*caps.get(kind, []), "CAP_NET_RAW", "CAP_NET_ADMIN"]  # ping; ip addr add
    bundle.write()
    with open(bundle.path / "create.out", "w") as out:
        r = subprocess.run(
            [*NSINIT, "--root", str(bundle.state_root), "create", "-b", str(bundle.path), bundle.id],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            timeout=30,
        )
    assert r.returncode == 0, (bundle.path / "create.out").read_text()
    try:
        inside = bundle.exec_sh("ip addr show ctr0")
        assert "inet 198.51.100.7/24" in inside, inside
        assert "inet6 2001:db8::7/64" in inside, inside
        assert "mtu 1400" in inside and MAC in inside, inside
        assert ",UP" in inside.splitlines()[0], inside
        assert subprocess.run(["ip", "link", "show", veth], capture_output=True).returncode != 0
        # The address works: the peer, still on the host, answers.
        assert "1 packets received" in bundle.exec_sh("ping -c1 -W2 198.51.100.8")
        # What the container adds is its own business, not the host's; and a
        # rename inside does not keep the device from coming back.
        bundle.exec_sh("ip addr add 198.51.100.99/24 dev ctr0")
        bundle.exec_sh("ip link set ctr0 down && ip link set ctr0 name renamed0")
    finally:
        r = nsinit(bundle, "delete", "--force", bundle.id)
    assert r.returncode == 0, r.stderr
    back = ip("addr", "show", veth)  # back under its own name
    assert "inet 198.51.100.7/24" in back and "inet6 2001:db8::7/64" in back, back
    assert "198.51.100.99" not in back, back
    assert "mtu 1400" in back and MAC in back and ",UP" in back.splitlines()[0], back


def test_a_device_that_was_down_comes_back_down(bundle, veth):
    ip("link", "set", veth, "down")
    bundle.config["linux"]["netDevices"] = {veth: {}}
    r = bundle.run("ip", "addr", "show", veth)
    assert r.returncode == 0, r.stderr
    assert "inet 198.51.100.7/24" in r.stdout and ",UP" in r.stdout.splitlines()[0], r.stdout
    back = ip("addr", "show", veth)
    assert "inet 198.51.100.7/24" in back and "UP" not in back.splitlines()[0].split(">")[0], back
