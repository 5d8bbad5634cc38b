"""Container networking, for real: veths, a bridge, nftables NAT and published
ports, links, a shared namespace, netDevices.  Traffic goes only to addresses
these tests give to namespaces they make, or to loopback; the subnets
(10.232.0.0/16, 10.233.0.0/16) clash neither with the host's 192.0.2.0/24 nor
podman's 10.88.0.0/16.  Every test checks the host is clean afterwards: links
(host_clean), nftables tables and network namespaces (net_clean)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests import features
from tests.conftest import NSINIT

pytestmark = pytest.mark.root


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, f"{argv}: {r.stderr}"
    return r


def nft_tables() -> set[str]:
    if features.command("nft", "nftables"):
        return set()  # no nft, no tables of ours
    return set(sh("nft", "list", "tables").stdout.splitlines())


def needs(*what: str) -> None:
    """Skip unless the host has each: a link type the kernel makes ("veth",
    "bridge"), or "nft" (for masquerade and published ports)."""
    for name in what:
        features.require(features.command("nft", "nftables") if name == "nft" else features.link_type(name))


def netns_list() -> set[str]:
    return set(sh("ip", "netns", "list").stdout.splitlines())


@pytest.fixture
def net_clean(host_clean):
    before = nft_tables(), netns_list()
    yield
    after = nft_tables(), netns_list()
    assert after == before, f"nftables tables or network namespaces left behind: {after} vs {before}"


def nsinit(bundle, *args, check=True, env=None):
    r = subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def network(bundle, **section) -> None:
    bundle.config["pycontainer"] = {"network": section}
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = [*caps.get(kind, []), "CAP_NET_RAW"]  # busybox ping


class Server:
    """A container serving "hello" on TCP port 80 (nsinit create + start)."""

    def __init__(self, bundle) -> None:
        self.bundle = bundle
        bundle.config["process"]["args"] = ["nc", "-ll", "-p", "80", "-e", "/bin/echo", "hello"]
        bundle.write()
        out = bundle.path / "create.out"
        argv = [*NSINIT, "--root", str(bundle.state_root), "create", "-b", str(bundle.path), bundle.id]
        with open(out, "w") as f:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=30)
        assert r.returncode == 0, out.read_text()
        nsinit(bundle, "start", bundle.id)

    def exec(self, *argv: str) -> str:
        return nsinit(self.bundle, "exec", self.bundle.id, *argv).stdout

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        nsinit(self.bundle, "delete", "--force", self.bundle.id)


def tcp_read(host: str, port: int) -> str:
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                return s.makefile().read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def tag() -> str:
    return uuid.uuid4().hex[:8]


def test_two_containers_on_a_bridge_ping_and_talk_tcp(make_bundle, net_clean):
    needs("veth", "bridge")
    bridge = f"tbr{tag()}"
    a, b = make_bundle(), make_bundle()
    network(
        a,
        bridge={"name": bridge, "addresses": ["10.232.1.1/24"]},
        veth={"addresses": ["10.232.1.2/24", "fd00:232:1::2/64"], "mtu": 1400, "mac": "02:42:0a:e8:01:02"},
    )
    network(b, bridge={"name": bridge, "addresses": ["10.232.1.1/24"]}, veth={"addresses": ["10.232.1.3/24"]})
    with Server(a) as server:
        inside = server.exec("ip", "addr", "show", "eth0")
        assert "inet 10.232.1.2/24" in inside and "inet6 fd00:232:1::2/64" in inside
        assert "mtu 1400" in inside and "02:42:0a:e8:01:02" in inside
        assert "default via 10.232.1.1 dev eth0" in server.exec("ip", "route")
        state = json.loads(nsinit(a, "state", a.id).stdout)
        assert state["network"]["addresses"] == ["10.232.1.2/24", "fd00:232:1::2/64"]
        host_end = state["network"]["hostInterface"]
        assert os.path.exists(f"/sys/class/net/{bridge}/brif/{host_end}")
        r = b.sh("ping -c1 -W2 10.232.1.2 && nc 10.232.1.2 80 </dev/null")
        assert r.returncode == 0, r.stderr
        assert "1 packets received" in r.stdout and "hello" in r.stdout
        # b is gone; the bridge stays while a uses it.
        assert os.path.isdir(f"/sys/class/net/{bridge}")
    assert not os.path.exists(f"/sys/class/net/{bridge}")  # the last one out removed it


@contextlib.contextmanager
def pinned_netns(path) -> Iterator[str]:
    """A new network namespace pinned by a bind mount on the file ``path``:
    what ``ip netns add`` does, but under the test's own directory.  (``ip
    netns`` first turns /run/netns into a mount point of its own, which a
    fresh machine does not have and the host-clean check would see.)"""
    path = str(path)
    open(path, "w").close()
    sh("unshare", f"--net={path}", "true")
    try:
        yield path
    finally:
        sh("umount", path)


def in_netns(path: str, *argv: str) -> list[str]:
    return ["nsenter", f"--net={path}", *argv]


@contextlib.contextmanager
def netns_with_veth(path, inside: str, host_end: str) -> Iterator[str]:
    """A pinned namespace (above) and a veth pair: ``inside`` in it,
    ``host_end`` in the test's own namespace (the host's)."""
    with pinned_netns(path) as ns:
        # Made inside, its peer sent out (no clash with a host interface named as ``inside``).
        link = in_netns(ns, "ip", "link", "add", inside, "type", "veth", "peer", "name", host_end)
        sh(*link, "netns", str(os.getpid()))
        try:
            yield ns
        finally:
            subprocess.run(["ip", "link", "del", host_end], capture_output=True)


@pytest.fixture
def outside(tmp_path):
    """An "outside" host: a network namespace of the test's own, reached
    through a veth (host 10.233.1.1, outside 10.233.1.2) and with no route to
    the containers' subnet: only masquerade gets their traffic answered."""
    host_end = f"tout{tag()}"
    with netns_with_veth(tmp_path / "outside.netns", "eth0", host_end) as ns:
        sh("ip", "addr", "add", "10.233.1.1/24", "dev", host_end)
        sh("ip", "link", "set", host_end, "up")
        sh(*in_netns(ns, "ip", "addr", "add", "10.233.1.2/24", "dev", "eth0"))
        sh(*in_netns(ns, "ip", "link", "set", "eth0", "up"))
        sh(*in_netns(ns, "ip", "link", "set", "lo", "up"))
        yield ns


PEER_SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.233.1.2", 9000)); s.listen(1); print("ready", flush=True)
c, peer = s.accept(); c.sendall(peer[0].encode() + b"\\n"); c.close()
"""


def test_published_port_and_masquerade(make_bundle, net_clean, outside):
    needs("veth", "bridge", "nft")
    a, b = make_bundle(), make_bundle()
    port = 20000 + int(tag(), 16) % 20000
    bridge = {"name": f"tbr{tag()}", "addresses": ["10.232.2.1/24"]}
    network(
        a,
        bridge=bridge,
        veth={"addresses": ["10.232.2.2/24"]},
        ports=[{"hostPort": port, "containerPort": 80}],
    )
    network(b, bridge=bridge, veth={"addresses": ["10.232.2.3/24"]}, masquerade=True)
    with Server(a):
        assert "table ip pycontainer" in nft_tables()
        assert tcp_read("127.0.0.1", port).strip() == "hello"  # from the host's loopback
        # From another namespace, to the host's address on its link.
        code = f"import socket; print(socket.create_connection(('10.233.1.1', {port}), 3).makefile().read())"
        r = sh(*in_netns(outside, sys.executable, "-c", code))
        assert r.stdout.strip() == "hello"
        # A second container asking for the same port is refused, leaving nothing behind.
        c = make_bundle()
        network(c, veth={"addresses": ["10.232.3.2/24"]}, ports=[{"hostPort": port, "containerPort": 80}])
        r = c.run("true")
        assert r.returncode == 1 and "pycontainer.network.ports[0].hostPort" in r.stderr, r.stderr
        assert "already published" in r.stderr
        # Masquerade: the outside host sees the host's address, and answers.
        server = subprocess.Popen(
            in_netns(outside, sys.executable, "-c", PEER_SERVER),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout.readline().strip() == "ready"
            r = b.sh("nc -w3 10.233.1.2 9000 </dev/null")
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == "10.233.1.1"
        finally:
            server.kill()
            server.wait()
    assert "table ip pycontainer" not in nft_tables()


def test_shared_namespace_and_links(make_bundle, net_clean):
    needs("veth")
    a, b, c = make_bundle(), make_bundle(), make_bundle()
    network(a, veth={"addresses": ["10.232.4.2/24"], "hostAddresses": ["10.232.4.1/24"]})
    with Server(a):
        network(b, container=a.id)
        r = b.run("ip", "addr", "show", "eth0")
        assert r.returncode == 0 and "10.232.4.2/24" in r.stdout, r.stderr
        network(c, links=[{"name": "web", "container": a.id}, {"name": "db", "address": "10.232.9.9"}])
        r = c.run("cat", "/etc/hosts")
        assert r.returncode == 0, r.stderr
        assert "10.232.4.2\tweb" in r.stdout and "10.232.9.9\tdb" in r.stdout
        r = c.sh("nc -w2 web 80 </dev/null")  # its own namespace: no route to a
        assert r.returncode != 0


def test_net_devices_move_in_renamed_and_back(bundle, net_clean):
    needs("veth")
    dummy = f"tdev{tag()}"  # a veth: this kernel has no dummy driver; a veth's end moves the same
    sh("ip", "link", "add", dummy, "type", "veth", "peer", "name", f"{dummy}p")
    try:
        bundle.config["linux"]["netDevices"] = {dummy: {"name": "net1"}}
        bundle.config["process"]["args"] = ["sleep", "60"]
        bundle.write()
        with open(bundle.path / "out", "w") as f:
            r = subprocess.run(
                [*NSINIT, "--root", str(bundle.state_root), "create", "-b", str(bundle.path), bundle.id],
                stdout=f,
                stderr=f,
                timeout=30,
            )
        assert r.returncode == 0, (bundle.path / "out").read_text()
        try:
            assert not os.path.exists(f"/sys/class/net/{dummy}")
            assert "net1" in nsinit(bundle, "exec", bundle.id, "ip", "link", "show", "net1").stdout
        finally:
            nsinit(bundle, "delete", "--force", bundle.id)
        assert os.path.exists(f"/sys/class/net/{dummy}")  # back, under its own name
    finally:
        sh("ip", "link", "del", dummy)


@pytest.mark.parametrize(
    "section, path, words",
    [
        ({"veth": {"addresses": ["10.232.5.300/24"]}}, "veth.addresses[0]", "does not appear to be"),
        ({"veth": {"addresses": ["10.232.5.2/33"]}}, "veth.addresses[0]", "10.232.5.2/33"),
        ({"veth": {"addresses": ["10.232.5.2"]}}, "veth.addresses[0]", "prefix length"),
        (
            {"bridge": {"name": "a-bridge-name-too-long"}, "veth": {"addresses": ["10.232.5.2/24"]}},
            "bridge.name",
            "not a valid interface name",
        ),
        (
            {"veth": {"addresses": ["10.232.5.2/24"], "gateway": "10.232.6.1"}},
            "veth.gateway",
            "not in the subnet",
        ),
        ({"ports": [{"hostPort": 0, "containerPort": 80}]}, "ports[0].hostPort", "not a port"),
        (
            {
                "veth": {"addresses": ["10.232.5.2/24"]},
                "ports": [{"hostPort": 1, "containerPort": 1, "protocol": "sctp"}],
            },
            "ports[0].protocol",
            "sctp",
        ),
    ],
)
def test_bad_network_config(bundle, net_clean, section, path, words):
    bundle.config["pycontainer"] = {"network": section}
    r = bundle.run("true")
    assert r.returncode == 1
    assert f"pycontainer.network.{path}" in r.stderr and words in r.stderr, r.stderr


def test_missing_net_device(bundle, net_clean):
    bundle.config["linux"]["netDevices"] = {"tnosuch0": {}}
    r = bundle.run("true")
    assert r.returncode == 1 and 'linux.netDevices["tnosuch0"]' in r.stderr, r.stderr


def test_nft_missing(bundle, net_clean):
    network(bundle, veth={"addresses": ["10.232.7.2/24"]}, masquerade=True)
    bundle.write()
    r = nsinit(
        bundle, "exec", str(bundle.config_path), "--", "true", check=False, env={"PATH": "/nonexistent"}
    )
    assert r.returncode == 1 and "pycontainer.network" in r.stderr and "nft" in r.stderr, r.stderr


def test_a_failed_setup_leaves_nothing(bundle, net_clean):
    """The veth is made, then its IPv6 address fails (an MTU below IPv6's
    1280 leaves the interface without IPv6): the veth, the bridge and the
    state go."""
    needs("veth", "bridge")
    bridge = f"tbr{tag()}"
    network(
        bundle,
        bridge={"name": bridge, "addresses": ["10.232.8.1/24"]},
        veth={"addresses": ["10.232.8.2/24", "fd00:232:8::2/64"], "mtu": 1000},
    )
    r = bundle.run("true")
    assert r.returncode == 1 and "network setup" in r.stderr, r.stderr


def test_no_networking_imports_nothing_of_it(bundle):
    bundle.write()
    argv = [sys.executable, "-X", "importtime", NSINIT[-1], "--root", str(bundle.state_root), "exec"]
    r = subprocess.run(
        [*argv, str(bundle.config_path), "--", "true"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    imported = [
        line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
    ]
    assert imported and not [m for m in imported if m.startswith(("pyroute2", "pycontainer.network"))]


def _remove_cgroups_named(name: str) -> None:
    """What a crashed create leaves besides the network (not this module's to
    clean): its cgroup directories."""
    found = []
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", hierarchy)
        for dirpath, dirnames, _ in os.walk(top):
            if dirpath[len(top) :].count("/") >= 3:
                dirnames[:] = []
            if os.path.basename(dirpath) == name:
                found.append(dirpath)
    for path in found:
        os.rmdir(path)


@pytest.mark.parametrize("step", ["network.veth-created", "network.bridge-created", "network.nft-added"])
def test_delete_force_cleans_the_network_after_a_crashed_create(bundle, net_clean, step):
    """nsinit dies at each step that made something on the host; the record
    written before anything was made lets delete --force remove it."""
    needs("veth", "bridge", "nft")
    import shutil

    bridge = f"tbr{tag()}"
    port = 20000 + int(tag(), 16) % 20000
    network(
        bundle,
        bridge={"name": bridge, "addresses": ["10.232.10.1/24"]},
        veth={"addresses": ["10.232.10.2/24"]},
        masquerade=True,
        ports=[{"hostPort": port, "containerPort": 80}],
    )
    bundle.config["process"]["args"] = ["true"]
    bundle.write()
    env = {**os.environ, "PYCONTAINER_FAILPOINT": step}
    argv = [*NSINIT, "--root", str(bundle.state_root), "create", "-b", str(bundle.path), bundle.id]
    out = bundle.path / "create.out"
    with open(out, "w") as f:  # the init outlives a crash after it got ready: no pipe of ours
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=30, env=env)
    try:
        assert r.returncode == -9, out.read_text()
        assert os.path.isdir(f"/sys/class/net/{bridge}") or step == "network.veth-created"
        if step == "network.nft-added":
            assert "table ip pycontainer" in nft_tables()
        nsinit(bundle, "delete", "--force", bundle.id)
        assert not os.path.exists(f"/sys/class/net/{bridge}")
        assert not os.path.exists(bundle.state_root / bundle.id / "network.json")
    finally:
        _remove_cgroups_named(bundle.id)
        shutil.rmtree(bundle.state_root / bundle.id, ignore_errors=True)


UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 53)); print("ready", flush=True)
data, peer = s.recvfrom(100); s.sendto(data.upper(), peer)
"""


def test_published_udp_port(bundle, net_clean):
    """A UDP echo server of the test's own, in the container's network
    namespace (nsenter), answers a datagram sent to the host's 127.0.0.1."""
    needs("veth", "nft")
    port = 20000 + int(tag(), 16) % 20000
    network(
        bundle,
        veth={"addresses": ["10.232.11.2/24"], "hostAddresses": ["10.232.11.1/24"]},
        ports=[{"hostPort": port, "containerPort": 53, "protocol": "udp"}],
    )
    with Server(bundle):
        pid = json.loads(nsinit(bundle, "state", bundle.id).stdout)["pid"]
        assert json.loads(nsinit(bundle, "state", bundle.id).stdout)["network"]["ports"] == [
            {"hostPort": port, "containerPort": 53, "protocol": "udp"}
        ]
        echo = subprocess.Popen(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", UDP_ECHO],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert echo.stdout.readline().strip() == "ready"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.sendto(b"ping", ("127.0.0.1", port))
                assert s.recvfrom(100)[0] == b"PING"
        finally:
            echo.kill()
            echo.wait()


def test_join_a_named_network_namespace_by_path(bundle, net_clean, tmp_path):
    """podman's way: a namespace pinned at a path (podman's /run/netns/NAME),
    wired beforehand (here by the test: a veth with an address of its own)."""
    needs("veth")
    with netns_with_veth(tmp_path / "named.netns", "eth5", f"tns{tag()}") as ns:
        sh(*in_netns(ns, "ip", "addr", "add", "10.232.12.2/24", "dev", "eth5"))
        namespaces = bundle.config["linux"]["namespaces"]
        namespaces[:] = [n for n in namespaces if n["type"] != "network"]
        namespaces.append({"type": "network", "path": ns})
        r = bundle.run("ip", "addr", "show", "eth5")
        assert r.returncode == 0 and "10.232.12.2/24" in r.stdout, r.stderr
        # Our section cannot wire a namespace that is not the container's own.
        network(bundle, veth={"addresses": ["10.232.12.3/24"]})
        r = bundle.run("true")
        assert r.returncode == 1 and "pycontainer.network" in r.stderr and "joined" in r.stderr, r.stderr


def test_a_port_a_host_process_listens_on_is_refused(bundle, net_clean):
    needs("nft")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        network(
            bundle, veth={"addresses": ["10.232.13.2/24"]}, ports=[{"hostPort": port, "containerPort": 80}]
        )
        r = bundle.run("true")
    assert r.returncode == 1 and "pycontainer.network.ports[0].hostPort" in r.stderr, r.stderr
    assert "in use on the host" in r.stderr
