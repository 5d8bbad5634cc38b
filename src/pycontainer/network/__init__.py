"""Container networking built from the config: ``linux.netDevices`` (OCI)
and our own ``pycontainer.network`` section (veth, bridge, NAT, published
ports, links, a shared network namespace; see network/config.py).

Imported only for a config that asks for one of them.  The API, in the
order ``Container.create`` uses it::

    net = network.plan(spec, root, container_id)   # checks; makes nothing
    net.prepare(state_dir)        # writes the record (what will be made), /etc/hosts
    net.setup(init_pid)           # makes it; the init waits on its exec fifo
    network.teardown(state_dir, pid)   # on delete, or any failure before

The record (``network.json`` in the state dir) is written before anything is
made, so ``delete --force`` after a crashed create knows what to look for;
teardown removes what it finds and skips what is not there.

Host-wide pieces (a bridge shared by containers, our nftables table) change
only under one lock, so a container leaving never removes what one arriving
has just started to use.  Sysctls: ``route_localnet`` is set on our own bridge
or host veth end (published ports reachable from 127.0.0.1; it goes with the
interface), and ``net.ipv4.ip_forward`` is turned on when NAT or ports need
it (logged; left on, as other engines do: other containers may rely on it).
"""

from __future__ import annotations

import errno
import fcntl
import os

from pycontainer import failpoints, jsonio
from pycontainer.errors import ConfigError, ContainerError
from pycontainer.log import get_logger
from pycontainer.network.config import SECTION, NetworkConfig, parse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from pycontainer.network.config import Veth

RECORD = "network.json"
HOSTS = "hosts"
# The container's network namespace, bind-mounted in the state dir while it
# holds moved devices: a veth is destroyed with its namespace, so the
# namespace must outlive the container's processes until delete gives the
# devices back (``ip netns`` pins namespaces the same way, under /run/netns).
NETNS_PIN = "netns"
LOCK = "/run/lock/pycontainer-network.lock"
BRIDGE_ALIAS = "pycontainer"  # marks a bridge we made: the last container to leave removes it
MS_BIND = 4096
log = get_logger(__name__)


def wanted(spec) -> bool:
    """Whether the config asks for anything of this module."""
    section = spec.pycontainer if isinstance(spec.pycontainer, dict) else {}
    return "network" in section or bool(spec.linux and spec.linux.net_devices)


def lock() -> _Lock:
    return _Lock()


class _Lock:
    def __enter__(self) -> None:
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        self.fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def host_veth_name(container_id: str, root: str = "") -> str:
    """A unique host-side name within 15 characters: a hash of the state root
    and the id (ids may be up to 1024 characters, and repeat across roots)."""
    try:
        from _sha256 import sha256  # the builtin one: hashlib loads OpenSSL (~2.5 ms)
    except ImportError:
        from hashlib import sha256

    return "pc" + sha256(f"{os.path.abspath(root)}\0{container_id}".encode()).hexdigest()[:13]


def plan(spec, root: str, container_id: str) -> Network:
    """Check everything that can be checked before anything is made: the
    section, the devices to move, nft, the container to share or link to."""
    raw = spec.pycontainer.get("network") if isinstance(spec.pycontainer, dict) else None
    cfg = parse(raw) if raw is not None else NetworkConfig()
    net = Network(cfg, container_id, spec)
    if cfg.container is not None:
        net.peer_ns_fd = _share_namespace(spec, root, cfg.container)
    elif raw is not None:
        if spec.linux is None or spec.linux.namespace("network") is None:
            raise ConfigError("needs a network namespace of the container's own (linux.namespaces)", SECTION)
        if spec.linux.namespace("network").path and (cfg.veth or cfg.ports):
            raise ConfigError(
                "a joined network namespace (linux.namespaces path) is not ours to wire", SECTION
            )
    if cfg.links:
        if spec.linux is None or spec.linux.namespace("mount") is None:
            raise ConfigError("links write /etc/hosts: they need a mount namespace", f"{SECTION}.links")
        net.hosts = _hosts_lines(cfg, spec, root)
    if cfg.ports or cfg.masquerade:
        from pycontainer.network import nft

        nft.nft_binary()
        _check_ports_free(cfg)
    if cfg.veth is not None and cfg.veth.host_name is None:
        cfg.veth.host_name = host_veth_name(container_id, root)
    if spec.linux and spec.linux.net_devices:
        _check_devices(spec.linux.net_devices)
    if cfg.veth is not None:
        _check_free(cfg, cfg.veth)
    return net


def _share_namespace(spec, root: str, other: str) -> int:
    """The pod model: join the other container's network namespace: its
    init's, opened now through a pidfd of that init (a pid reused since
    cannot give us a host process's namespace).  The init joins it by this
    fd (it inherits it); the caller closes it once the init is made."""
    from pycontainer.container import Container
    from pycontainer.errors import ContainerNotFound
    from pycontainer.spec.models import Linux, Namespace
    from pycontainer.state import open_namespace_of, open_process

    at = f"{SECTION}.container"
    try:
        peer = Container.load(other, root)
    except ContainerNotFound:
        raise ConfigError(f"no container {other!r} to share a network namespace with", at) from None
    if peer.status not in ("created", "running"):
        raise ConfigError(f"container {other!r} is {peer.status}: its network namespace is gone", at)
    state = peer.state()
    pidfd = open_process(state.pid, state.init_start_time)
    if pidfd is None:
        raise ConfigError(f"container {other!r} is stopped: its network namespace is gone", at)
    try:
        ns_fd = open_namespace_of(pidfd, state.pid, "net")
    except (OSError, ContainerError):
        raise ConfigError(f"container {other!r} is stopped: its network namespace is gone", at) from None
    finally:
        os.close(pidfd)
    if spec.linux is None:
        spec.linux = Linux()
    path = f"/proc/self/fd/{ns_fd}"
    ns = spec.linux.namespace("network")
    if ns is None:
        spec.linux.namespaces.append(Namespace(type="network", path=path))
    else:
        ns.path = path
    return ns_fd


def _hosts_lines(cfg: NetworkConfig, spec, root: str) -> str:
    """/etc/hosts: loopback, our own name, and each link's address."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if spec.hostname and cfg.veth is not None:
        lines += [f"{a.ip}\t{spec.hostname}" for a in cfg.veth.addresses]
    for i, link in enumerate(cfg.links):
        address = link.address
        if address is None:
            assert link.container is not None  # a link names an address or a container (config.py)
            address = peer_address(root, link.container, f"{SECTION}.links[{i}].container")
        lines.append(f"{address}\t{link.name}")
    return "\n".join(lines) + "\n"


def peer_address(root: str, container_id: str, at: str) -> str:
    from pycontainer.state import StateDir

    try:
        with open(os.path.join(StateDir(root, container_id).path, RECORD)) as f:
            record = jsonio.loads(f.read())
    except (FileNotFoundError, ValueError):
        raise ConfigError(f"no container {container_id!r} with a network of ours to link to", at) from None
    addresses = record.get("addresses") or []
    if not addresses:
        raise ConfigError(f"container {container_id!r} has no address to link to", at)
    return addresses[0].split("/")[0]


def _check_ports_free(cfg: NetworkConfig) -> None:
    """A port a host process listens on would be shadowed by the DNAT: refused.
    (One another container publishes is refused by nft.add, atomically.)"""
    import socket

    for i, port in enumerate(cfg.ports):
        kind = socket.SOCK_STREAM if port.protocol == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", port.host_port))
            except OSError as e:
                raise ConfigError(
                    f"{port} is in use on the host ({e.strerror})", f"{SECTION}.ports[{i}].hostPort"
                ) from None


def _check_devices(devices: dict) -> None:
    for host_name in devices:
        if not os.path.exists(f"/sys/class/net/{host_name}"):
            raise ConfigError(
                f"there is no interface {host_name!r} on the host", f'linux.netDevices["{host_name}"]'
            )


def _check_free(cfg: NetworkConfig, veth: Veth) -> None:
    """Names must be free (the host veth) or fit (an existing bridge); read
    from /sys, so the netlink code is loaded only once there is work for it."""
    if os.path.exists(f"/sys/class/net/{veth.host_name}"):
        raise ConfigError(f"interface {veth.host_name!r} already exists", f"{SECTION}.veth.hostName")
    if cfg.bridge is not None:
        path = f"/sys/class/net/{cfg.bridge.name}"
        if os.path.exists(path) and not os.path.exists(f"{path}/bridge"):
            raise ConfigError(f"{cfg.bridge.name!r} exists and is not a bridge", f"{SECTION}.bridge.name")


class Network:
    """What one container asks for; ``setup`` makes it."""

    def __init__(self, cfg: NetworkConfig, container_id: str, spec) -> None:
        self.cfg = cfg
        self.id = container_id
        self.devices = dict(spec.linux.net_devices) if spec.linux else {}
        self.spec = spec
        self.hosts: str | None = None
        self.state_dir = ""
        self.peer_ns_fd: int | None = None  # the shared network namespace (cfg.container), by fd
        # Each moved device's configuration on the host, read before the move:
        # it is given back to the device inside, and again on the way out.
        self.device_config: dict[str, dict] = {}

    def close(self) -> None:
        """Close the shared namespace's fd once the init has joined it."""
        if self.peer_ns_fd is not None:
            os.close(self.peer_ns_fd)
            self.peer_ns_fd = None

    def record(self) -> dict:
        cfg, veth = self.cfg, self.cfg.veth
        ipv4 = str(cfg.ipv4) if cfg.ipv4 is not None else None
        return {
            "interface": veth.name if veth else None,
            "hostInterface": veth.host_name if veth else None,
            "bridge": cfg.bridge.name if cfg.bridge else None,
            "addresses": [str(a) for a in veth.addresses] if veth else [],
            "ports": [
                {
                    "protocol": p.protocol,
                    "hostPort": p.host_port,
                    "address": ipv4,
                    "containerPort": p.container_port,
                }
                for p in cfg.ports
            ],
            "masquerade": [ipv4] if cfg.masquerade else [],
            "devices": {host: (d.name or host) for host, d in self.devices.items()},
            "deviceConfig": self.device_config,
            "sharedWith": cfg.container,
        }

    def prepare(self, state_dir: str) -> None:
        """Write the record, and /etc/hosts (bind-mounted from the state dir)."""
        from pycontainer.spec.models import Mount

        self.state_dir = state_dir
        self._write_record()
        if self.hosts is not None:
            path = os.path.join(state_dir, HOSTS)
            with open(path, "w") as f:
                f.write(self.hosts)
            os.chmod(path, 0o644)
            # Read-only: a writable bind would let the container fill the host's /run.
            ro = ["bind", "ro", "nosuid", "nodev", "noexec"]
            self.spec.mounts.append(Mount(destination="/etc/hosts", type="bind", source=path, options=ro))

    def load(self) -> None:
        """Import what ``setup`` needs (pyroute2's messages: ~15 ms), while the
        init is busy setting up its rootfs."""
        if self.cfg.veth is not None or self.devices:
            from pycontainer.network.netlink import _messages

            _messages()
        if self.cfg.ports or self.cfg.masquerade:
            import subprocess  # noqa: F401 - for nft

    def _write_record(self, **extra) -> None:
        path = os.path.join(self.state_dir, RECORD)
        with open(path + ".tmp", "w") as f:
            f.write(jsonio.dumps({**self.record(), **extra}))
        os.replace(path + ".tmp", path)

    def setup(self, pid: int) -> None:
        """Wire the container whose init is ``pid`` (its namespace exists)."""
        from pycontainer.state import process_start_time

        cfg = self.cfg
        # Whoever cleans up after a crash from here on needs the init: moved
        # devices come back out of its namespace, and it must go.
        self.init = {"pid": pid, "startTime": process_start_time(pid)}
        if self.devices:
            self.device_config = _read_device_config(self.devices)
        self._write_record(init=self.init)
        ns_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if self.devices:
                _pin_netns(ns_fd, self.state_dir)
            with lock():
                adding = None
                if cfg.ports or cfg.masquerade:
                    from pycontainer.network import nft

                    _enable_forwarding()
                    record = self.record()
                    # nft works in the background while netlink does the rest.
                    adding = nft.start_add(record["ports"], record["masquerade"])
                try:
                    self._links(ns_fd)
                except BaseException:
                    if adding is not None:
                        adding.pending.result()  # done either way: teardown undoes it
                    raise
                if adding is not None:
                    adding.finish()
                    failpoints.reached("network.nft-added")
                    # From now on the elements are known to be ours (see nft.Removing).
                    self._write_record(init=self.init, natAdded=True)
        finally:
            os.close(ns_fd)

    def _links(self, ns_fd: int) -> None:
        from pycontainer.network.netlink import Netlink, NetlinkError

        try:
            with Netlink() as host, Netlink(ns_fd) as inside:
                if self.devices:
                    self._move_devices(host, inside, ns_fd)
                if self.cfg.veth is not None:
                    self._veth(self.cfg.veth, host, inside, ns_fd)
        except NetlinkError as e:
            raise ContainerError(f"network setup: {e.strerror}") from None

    def _move_devices(self, host, inside, ns_fd: int) -> None:
        """runtime-spec 1.2: a moved device keeps its configuration.  The
        kernel keeps its MTU and MAC, but a move takes it down and drops its
        addresses: they are added again inside, and it is brought up."""
        for host_name, device in self.devices.items():
            name = device.name or host_name
            host.set_link(host.index(host_name), netns_fd=ns_fd, name=name)
            failpoints.reached("network.devices-moved")
            _configure(inside, name, self.device_config[host_name]["addresses"], up=True)
            # Its index inside, for the way out: the container may rename the
            # device, and give another of its own the name.
            self.device_config[host_name]["index"] = inside.index(name)
        self._write_record(init=self.init)

    def _veth(self, veth: Veth, host, inside, ns_fd: int) -> None:
        """Called with the lock held (the bridge is shared)."""
        bridge = self.cfg.bridge
        host.add_veth(veth.host_name, veth.name, ns_fd, mtu=veth.mtu, peer_mac=veth.mac)
        failpoints.reached("network.veth-created")
        host_index = host.index(veth.host_name)
        outer = veth.host_name
        if bridge is not None:
            outer = bridge.name
            found = host.link(bridge.name)
            if found is None:
                host.add_bridge(bridge.name, BRIDGE_ALIAS)
                failpoints.reached("network.bridge-created")
                found = host.link(bridge.name)
            for a in bridge.addresses:
                host.add_address(found["index"], a)
            if not found["up"]:
                host.set_link(found["index"], up=True)
            host.set_link(host_index, master=found["index"], up=True)
        else:
            for a in veth.host_addresses:
                host.add_address(host_index, a)
            host.set_link(host_index, up=True)
        index = inside.index(veth.name)
        for a in veth.addresses:
            inside.add_address(index, a)
        inside.set_link(index, up=True)
        for gw in (veth.gateway, veth.gateway6):
            if gw is not None:
                inside.add_default_route(gw, index)
        if self.cfg.ports:
            # The DNAT of a connection from 127.0.0.1 routes it out here.
            _sysctl(f"net/ipv4/conf/{outer}/route_localnet", "1")


def _sysctl(key: str, value: str) -> None:
    with open(f"/proc/sys/{key}", "w") as f:
        f.write(value)


def _enable_forwarding() -> None:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        if f.read().strip() == "1":
            return
    log.info("turning on net.ipv4.ip_forward for container NAT (left on)")
    _sysctl("net/ipv4/ip_forward", "1")


def load_record(state_dir: str) -> dict | None:
    try:
        with open(os.path.join(state_dir, RECORD)) as f:
            return jsonio.loads(f.read())
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # torn by a crash while it was written: nothing was made yet


def teardown(state_dir: str, pid: int | None = None, pidfd: int | None = None) -> None:
    """Remove what the record says this container made (whatever of it
    exists): devices go back to the host (while the init ``pid`` lives), the
    host veth end, our NAT elements, a bridge of ours nobody uses any more.
    ``pidfd``: the init's, checked when its namespace is opened (None only
    for our own child, whose pid cannot be reused before we reap it)."""
    record = load_record(state_dir)
    if record is None:
        return
    from pycontainer.network.netlink import Netlink, NetlinkError

    errors: list[str] = []
    with lock():
        removing = None
        if record.get("ports") or record.get("masquerade"):
            from pycontainer.network import nft

            try:
                # In the background, while netlink works.
                removing = nft.start_remove(
                    record["ports"], record["masquerade"], record.get("natAdded", False)
                )
            except ConfigError as e:
                errors.append(str(e))
        with Netlink() as host:
            if record.get("devices"):
                try:
                    config = record.get("deviceConfig") or {}
                    _devices_back(host, record["devices"], config, state_dir, pid, pidfd)
                except (OSError, NetlinkError) as e:
                    errors.append(f"moving network devices back: {e}")
            if record.get("hostInterface"):
                host.delete_link(record["hostInterface"])
            bridge = record.get("bridge")
            if bridge:
                _remove_bridge_if_unused(host, bridge)
        if removing is not None:
            try:
                removing.finish()
            except ContainerError as e:
                errors.append(str(e))
    if not errors:  # the devices are back (or gone): the namespace may go
        _unpin_netns(state_dir)
    for name in (RECORD, HOSTS, RECORD + ".tmp"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    if errors:
        raise ContainerError("; ".join(errors))


def clean_after_crash(state_dir: str) -> None:
    """``delete --force`` of a container whose create died before saving its
    state: the network's record names what was made, and the init (alive
    if the create died after the init got ready): teardown, then kill it."""
    from pycontainer import signals
    from pycontainer.state import open_process, signal_process, wait_exited

    record = load_record(state_dir) or {}
    init = record.get("init") or {}
    pid = init.get("pid")
    # Only through a pidfd of the process the record names (same start time):
    # its pid may belong to a host process by now.
    pidfd = open_process(pid, init.get("startTime")) if isinstance(pid, int) and pid > 0 else None
    try:
        teardown(state_dir, pid if pidfd is not None else None, pidfd)
    finally:
        if pidfd is not None:
            signal_process(pidfd, signals.SIGKILL)
            wait_exited(pidfd, 5.0)  # its parent reaps it; then its cgroups can go
            os.close(pidfd)


def _read_device_config(devices: dict) -> dict[str, dict]:
    """Each device's addresses (those a user configured: permanent, global
    scope) and whether it is up, read on the host before it moves."""
    from pycontainer.network.netlink import Netlink, NetlinkError

    out = {}
    try:
        with Netlink() as host:
            for host_name in devices:
                found = host.link(host_name)
                if found is None:
                    raise ContainerError(f'linux.netDevices["{host_name}"]: the interface is gone')
                out[host_name] = {
                    "addresses": host.addresses(found["index"], configured_only=True),
                    "up": found["up"],
                }
    except NetlinkError as e:
        raise ContainerError(f"network setup: {e.strerror}") from None
    return out


def _configure(nl, name: str, addresses: list[str], up: bool) -> None:
    """Give the interface ``name`` its addresses again (a move drops them) and
    its up state."""
    import ipaddress

    index = nl.index(name)
    for address in addresses:
        nl.add_address(index, ipaddress.ip_interface(address))
    if up:
        nl.set_link(index, up=True)


def _pin_netns(ns_fd: int, state_dir: str) -> None:
    """Bind-mount the namespace (by the fd already open on it: no pid to be
    reused) on a file of the state dir."""
    from pycontainer import syscalls

    path = os.path.join(state_dir, NETNS_PIN)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    syscalls.mount(f"/proc/self/fd/{ns_fd}", path, None, MS_BIND)


def _unpin_netns(state_dir: str) -> None:
    from pycontainer import syscalls

    path = os.path.join(state_dir, NETNS_PIN)
    if os.path.ismount(path):
        syscalls.umount2(path, syscalls.MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _container_netns(state_dir: str, pid: int | None, pidfd: int | None = None) -> int | None:
    """An fd on the container's network namespace: the pinned one, else the
    live init's (through its pidfd when we hold one: the pid may have been
    reused); None when neither is there (nothing left to give back)."""
    from pycontainer.state import open_namespace_of

    path = os.path.join(state_dir, NETNS_PIN)
    if os.path.ismount(path):
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    if pid and pidfd is not None:
        return open_namespace_of(pidfd, pid, "net")
    if pid:
        return os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    return None


def _devices_back(
    host, devices: dict, config: dict, state_dir: str, pid: int | None, pidfd: int | None = None
) -> None:
    """runtime-spec: moved devices return to the host, under their own names,
    with the configuration they came with: the addresses recorded before the
    move (not what the container has since put on them) and the up state.
    Done while the container's network namespace lives (pinned in the state
    dir): a virtual device (a veth) is destroyed with it."""
    from pycontainer.network.netlink import Netlink, NetlinkError

    ns_fd = _container_netns(state_dir, pid, pidfd)
    if ns_fd is None:
        return
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with Netlink(ns_fd) as inside:
            for host_name, name in devices.items():
                saved = config.get(host_name) or {}
                index = saved.get("index")
                if index is None:  # a crash before the index was recorded: by name
                    found = inside.link(name)
                    if found is None:
                        continue
                    index = found["index"]
                try:
                    inside.set_link(index, netns_fd=host_ns, name=host_name)
                except NetlinkError as e:
                    if e.errno == errno.ENODEV:
                        continue  # the container deleted it
                    raise
                _configure(host, host_name, saved.get("addresses", []), up=saved.get("up", False))
    finally:
        os.close(ns_fd)
        os.close(host_ns)


def _remove_bridge_if_unused(host, name: str) -> None:
    found = host.link(name)
    if found is None or found["alias"] != BRIDGE_ALIAS:
        return  # not ours: someone else made it and keeps it
    try:
        if os.listdir(f"/sys/class/net/{name}/brif"):
            return  # another container still uses it
    except FileNotFoundError:
        return
    host.delete_link(name)


def describe(state_dir: str) -> dict | None:
    """The container's network for ``nsinit state``: interface, addresses,
    published ports (from the record; None without networking)."""
    record = load_record(state_dir)
    if record is None:
        return None
    return {
        "interface": record.get("interface"),
        "hostInterface": record.get("hostInterface"),
        "bridge": record.get("bridge"),
        "addresses": record.get("addresses", []),
        "ports": [
            {"hostPort": p["hostPort"], "containerPort": p["containerPort"], "protocol": p["protocol"]}
            for p in record.get("ports", [])
        ],
        "devices": record.get("devices", {}),
        "sharedWith": record.get("sharedWith"),
    }


__all__ = ["Network", "describe", "plan", "teardown", "wanted"]
