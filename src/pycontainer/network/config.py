"""Our own network section of config.json (``pycontainer.network``), parsed
and checked before anything is made.  The schema is specs/network.schema.json;
other runtimes ignore the section (the runtime spec lets them ignore unknown
properties).  Every problem is reported with its JSON path, all at once::

    "pycontainer": {"network": {
        "bridge": {"name": "pcbr0", "addresses": ["10.200.0.1/24"]},
        "veth": {"name": "eth0", "addresses": ["10.200.0.2/24"], "gateway": "10.200.0.1"},
        "masquerade": true,
        "ports": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "links": [{"name": "db", "container": "db-1"}]
    }}

``container`` instead of all of that shares another container's network
namespace (the pod model).
"""

from __future__ import annotations

import ipaddress

from pycontainer.errors import ConfigError, Problem

SECTION = "pycontainer.network"
IFNAMSIZ = 16  # the kernel's limit, with the NUL: names are 1-15 characters
PROTOCOLS = ("tcp", "udp")
_KEYS = {"veth", "bridge", "masquerade", "ports", "links", "container"}
_VETH_KEYS = {"hostName", "name", "mtu", "mac", "addresses", "hostAddresses", "gateway", "gateway6"}


class Veth:
    __slots__ = ("host_name", "name", "mtu", "mac", "addresses", "host_addresses", "gateway", "gateway6")

    def __init__(self) -> None:
        self.host_name: str | None = None  # generated from the container id when not given
        self.name = "eth0"
        self.mtu: int | None = None
        self.mac: str | None = None
        self.addresses: list = []  # ipaddress.IPv4Interface / IPv6Interface
        self.host_addresses: list = []  # on the host end, for a veth without a bridge
        self.gateway = None
        self.gateway6 = None


class Bridge:
    __slots__ = ("name", "addresses")

    def __init__(self, name: str, addresses: list) -> None:
        self.name = name
        self.addresses = addresses


class Port:
    __slots__ = ("host_port", "container_port", "protocol")

    def __init__(self, host_port: int, container_port: int, protocol: str) -> None:
        self.host_port, self.container_port, self.protocol = host_port, container_port, protocol

    def __str__(self) -> str:
        return f"{self.host_port}/{self.protocol}"


class Link:
    """A name for a peer in /etc/hosts: another container's address (by id,
    read from its state when this one is made) or an address given."""

    __slots__ = ("name", "container", "address")

    def __init__(self, name: str, container: str | None, address: str | None) -> None:
        self.name, self.container, self.address = name, container, address


class NetworkConfig:
    __slots__ = ("veth", "bridge", "masquerade", "ports", "links", "container")

    def __init__(self) -> None:
        self.veth: Veth | None = None
        self.bridge: Bridge | None = None
        self.masquerade = False
        self.ports: list[Port] = []
        self.links: list[Link] = []
        self.container: str | None = None  # share this container's network namespace

    @property
    def ipv4(self):
        """The container's first IPv4 address (where published ports go)."""
        for a in self.veth.addresses if self.veth else ():
            if a.version == 4:
                return a.ip
        return None


def parse(raw) -> NetworkConfig:
    """The section as given (the value of ``pycontainer.network``); raises
    ConfigError with every problem found."""
    problems: list[Problem] = []
    cfg = NetworkConfig()
    at = SECTION
    if not isinstance(raw, dict):
        raise ConfigError("must be an object", at)
    for key in sorted(set(raw) - _KEYS):
        problems.append(
            Problem(f"{at}.{key}", f"unknown property (expected one of {', '.join(sorted(_KEYS))})")
        )
    if "container" in raw:
        cfg.container = _string(raw["container"], f"{at}.container", problems)
        if set(raw) & {"veth", "bridge", "ports", "masquerade"}:
            problems.append(
                Problem(
                    f"{at}.container",
                    "a container sharing another's network namespace cannot have veth, bridge, "
                    "masquerade or ports of its own",
                )
            )
    if "bridge" in raw:
        cfg.bridge = _bridge(raw["bridge"], f"{at}.bridge", problems)
    if "veth" in raw:
        cfg.veth = _veth(raw["veth"], f"{at}.veth", problems)
    elif cfg.bridge is not None:
        problems.append(Problem(f"{at}.bridge", "a bridge needs a veth to attach (network.veth)"))
    if "masquerade" in raw:
        if not isinstance(raw["masquerade"], bool):
            problems.append(Problem(f"{at}.masquerade", "must be a boolean"))
        else:
            cfg.masquerade = raw["masquerade"]
    if "ports" in raw:
        cfg.ports = _ports(raw["ports"], f"{at}.ports", problems)
    if "links" in raw:
        cfg.links = _links(raw["links"], f"{at}.links", problems)
    if not problems:
        _consistent(cfg, problems)
    if problems:
        raise ConfigError(problems)
    return cfg


def _consistent(cfg: NetworkConfig, problems: list[Problem]) -> None:
    veth = cfg.veth
    if (cfg.masquerade or cfg.ports) and cfg.ipv4 is None:
        what = "masquerade" if cfg.masquerade else "ports"
        problems.append(Problem(f"{SECTION}.{what}", "needs an IPv4 address on the veth (veth.addresses)"))
    if veth is None:
        return
    for name, gw in (("gateway", veth.gateway), ("gateway6", veth.gateway6)):
        if gw is not None and not any(gw in a.network for a in veth.addresses if a.version == gw.version):
            problems.append(
                Problem(f"{SECTION}.veth.{name}", f"{gw} is not in the subnet of any of veth.addresses")
            )
    if veth.gateway is None and cfg.bridge is not None:
        # The bridge's address in the container's subnet is the way out.
        for b in cfg.bridge.addresses:
            if b.version == 4 and any(b.ip in a.network for a in veth.addresses if a.version == 4):
                veth.gateway = b.ip
                break
    if cfg.bridge is not None and veth.host_addresses:
        problems.append(
            Problem(
                f"{SECTION}.veth.hostAddresses", "the host end is attached to a bridge: give bridge.addresses"
            )
        )


def _string(value, at: str, problems: list[Problem]) -> str | None:
    if not isinstance(value, str) or not value:
        problems.append(Problem(at, "must be a non-empty string"))
        return None
    return value


def check_ifname(value, at: str, problems: list[Problem]) -> str | None:
    name = _string(value, at, problems)
    if name is None:
        return None
    if len(name.encode()) >= IFNAMSIZ or name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        problems.append(
            Problem(at, f'"{name}" is not a valid interface name (1-15 characters, no "/", ":" or spaces)')
        )
        return None
    return name


def _interfaces(value, at: str, problems: list[Problem]) -> list:
    """A list of addresses with their prefix ("10.200.0.2/24")."""
    if not isinstance(value, list):
        problems.append(Problem(at, "must be a list of addresses with a prefix length"))
        return []
    out = []
    for i, item in enumerate(value):
        where = f"{at}[{i}]"
        if not isinstance(item, str) or "/" not in item:
            problems.append(Problem(where, f"{item!r} is not an address with a prefix length (10.0.0.2/24)"))
            continue
        try:
            iface = ipaddress.ip_interface(item)
        except ValueError as e:
            problems.append(Problem(where, f"{item!r}: {e}"))
            continue
        if iface.network.prefixlen == iface.max_prefixlen and iface.version == 4:
            problems.append(Problem(where, f"{item!r}: a /32 leaves no subnet to reach a gateway"))
            continue
        if iface.ip == iface.network.network_address and iface.version == 4:
            problems.append(Problem(where, f"{item!r} is the network address of its subnet"))
            continue
        if iface.version == 4 and iface.ip == iface.network.broadcast_address:
            problems.append(Problem(where, f"{item!r} is the broadcast address of its subnet"))
            continue
        out.append(iface)
    return out


def _address(value, at: str, problems: list[Problem], version: int):
    try:
        ip = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        ip = None
    if ip is None or ip.version != version:
        problems.append(Problem(at, f"{value!r} is not an IPv{version} address"))
        return None
    return ip


def _bridge(raw, at: str, problems: list[Problem]) -> Bridge | None:
    if not isinstance(raw, dict):
        problems.append(Problem(at, "must be an object"))
        return None
    name = check_ifname(raw.get("name"), f"{at}.name", problems)
    addresses = _interfaces(raw.get("addresses", []), f"{at}.addresses", problems)
    return Bridge(name, addresses) if name else None


def _veth(raw, at: str, problems: list[Problem]) -> Veth | None:
    if not isinstance(raw, dict):
        problems.append(Problem(at, "must be an object"))
        return None
    veth = Veth()
    for key in sorted(set(raw) - _VETH_KEYS):
        problems.append(
            Problem(f"{at}.{key}", f"unknown property (expected one of {', '.join(sorted(_VETH_KEYS))})")
        )
    if "hostName" in raw:
        veth.host_name = check_ifname(raw["hostName"], f"{at}.hostName", problems)
    if "name" in raw:
        veth.name = check_ifname(raw["name"], f"{at}.name", problems) or "eth0"
    if "mtu" in raw:
        mtu = raw["mtu"]
        if not isinstance(mtu, int) or isinstance(mtu, bool) or not 68 <= mtu <= 65535:
            problems.append(Problem(f"{at}.mtu", f"{mtu!r} is not an MTU (68-65535)"))
        else:
            veth.mtu = mtu
    if "mac" in raw:
        mac = raw["mac"]
        parts = mac.split(":") if isinstance(mac, str) else []
        if len(parts) != 6 or not all(
            len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts
        ):
            problems.append(Problem(f"{at}.mac", f"{mac!r} is not a MAC address (02:42:ac:11:00:02)"))
        elif int(parts[0], 16) & 1:
            problems.append(Problem(f"{at}.mac", f"{mac!r} is a multicast address"))
        else:
            veth.mac = mac.lower()
    veth.addresses = _interfaces(raw.get("addresses", []), f"{at}.addresses", problems)
    veth.host_addresses = _interfaces(raw.get("hostAddresses", []), f"{at}.hostAddresses", problems)
    if "gateway" in raw:
        veth.gateway = _address(raw["gateway"], f"{at}.gateway", problems, 4)
    if "gateway6" in raw:
        veth.gateway6 = _address(raw["gateway6"], f"{at}.gateway6", problems, 6)
    return veth


def _ports(raw, at: str, problems: list[Problem]) -> list[Port]:
    if not isinstance(raw, list):
        problems.append(Problem(at, "must be a list"))
        return []
    out: list[Port] = []
    seen: dict[tuple[int, str], int] = {}
    for i, item in enumerate(raw):
        where = f"{at}[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(where, "must be an object"))
            continue
        numbers: list[int] = []
        for key in ("hostPort", "containerPort"):
            value = item.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
                problems.append(Problem(f"{where}.{key}", f"{value!r} is not a port (1-65535)"))
            numbers.append(value)  # type: ignore[arg-type]  # not read unless every value is a port
        protocol = item.get("protocol", "tcp")
        if protocol not in PROTOCOLS:
            problems.append(
                Problem(f"{where}.protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
            )
            continue
        if len(problems) and any(p.path.startswith(where + ".") for p in problems):
            continue
        published = (numbers[0], protocol)
        if published in seen:
            problems.append(
                Problem(
                    f"{where}.hostPort",
                    f"{numbers[0]}/{protocol} is already published by {at}[{seen[published]}]",
                )
            )
            continue
        seen[published] = i
        out.append(Port(numbers[0], numbers[1], protocol))
    return out


def _links(raw, at: str, problems: list[Problem]) -> list[Link]:
    if not isinstance(raw, list):
        problems.append(Problem(at, "must be a list"))
        return []
    out = []
    for i, item in enumerate(raw):
        where = f"{at}[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem(where, "must be an object"))
            continue
        name = _string(item.get("name"), f"{where}.name", problems)
        if name is not None and (any(c.isspace() or c == "#" for c in name)):
            problems.append(Problem(f"{where}.name", f"{name!r} is not a host name"))
            continue
        container = item.get("container")
        address = item.get("address")
        if (container is None) == (address is None):
            problems.append(Problem(where, "give exactly one of container (an id) or address"))
            continue
        if address is not None:
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError:
                problems.append(Problem(f"{where}.address", f"{address!r} is not an IP address"))
                continue
        elif not isinstance(container, str) or not container:
            problems.append(Problem(f"{where}.container", "must be a container id"))
            continue
        if name is not None:
            out.append(Link(name, container, address))
    return out
