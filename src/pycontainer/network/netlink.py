"""A small rtnetlink client: links, addresses and routes, in the caller's
network namespace or in another one (a socket opened inside it).

The messages are pyroute2's (the encoding of nested attributes is the work);
its IPRoute is not used: ``import pyroute2`` loads every module of the
library (~95 ms here) and IPRoute needs asyncio (~25 ms more), while these
message classes cost ~15 ms.  ``_messages`` loads just them.
"""

from __future__ import annotations

import errno
import os
import socket
import sys

from pycontainer import syscalls

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

NETLINK_ROUTE = 0
_m = None  # the pyroute2 pieces, once loaded


def _messages():
    """pyroute2's rtnetlink message classes without running pyroute2/__init__
    (which imports the whole library): a bare package object stands in for it
    while the submodules load, then goes, so a later ``import pyroute2`` by
    anyone gets the real package (reusing the submodules already loaded)."""
    global _m
    if _m is not None:
        return _m
    stub = None
    threading = sys.modules.get("threading")
    others = threading is not None and threading.active_count() > 1
    # With other threads running, one could import pyroute2 while the stand-in
    # is there and keep it: then the whole package, the slow way.
    if "pyroute2" not in sys.modules and not others:
        import importlib.util
        import types

        spec = importlib.util.find_spec("pyroute2")
        if spec is None:
            from pycontainer.errors import ContainerError

            raise ContainerError("container networking needs pyroute2 (pip install pyroute2)")
        stub = types.ModuleType("pyroute2")
        stub.__path__ = list(spec.submodule_search_locations)
        sys.modules["pyroute2"] = stub
    try:
        from pyroute2 import netlink
        from pyroute2.netlink import rtnl
        from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
        from pyroute2.netlink.rtnl.rtmsg import rtmsg
    finally:
        if stub is not None and sys.modules.get("pyroute2") is stub:
            del sys.modules["pyroute2"]

    class M:
        pass

    M.netlink, M.rtnl, M.ifinfmsg, M.ifaddrmsg, M.rtmsg = netlink, rtnl, ifinfmsg, ifaddrmsg, rtmsg
    _m = M
    return M


IFF_UP = 1
IFA_F_NODAD = 0x02
IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0


class NetlinkError(OSError):
    pass


class Netlink:
    """One rtnetlink socket; ``netns_fd`` opens it inside that network
    namespace (setns there and back on this thread only: a socket keeps the
    namespace it was made in)."""

    def __init__(self, netns_fd: int | None = None) -> None:
        self.m = _messages()
        if netns_fd is None:
            self.sock = self._open()
        else:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(netns_fd, syscalls.CLONE_NEWNET)
                try:
                    self.sock = self._open()
                finally:
                    syscalls.setns(own, syscalls.CLONE_NEWNET)
            finally:
                os.close(own)
        self.seq = 0

    @staticmethod
    def _open() -> socket.socket:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        sock.bind((0, 0))
        return sock

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the exchange ----------------------------------------------------------
    def request(self, msg, msg_type: int, flags: int = 0) -> list:
        """Send one request; returns the answers (for a GET), raises
        NetlinkError(errno) for an error."""
        nl = self.m.netlink
        self.seq += 1
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = nl.NLM_F_REQUEST | nl.NLM_F_ACK | flags
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.sock.send(msg.data)
        answers: list[Any] = []
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset < len(data):
                length = int.from_bytes(data[offset : offset + 4], sys.byteorder)
                kind = int.from_bytes(data[offset + 4 : offset + 6], sys.byteorder)
                seq = int.from_bytes(data[offset + 8 : offset + 12], sys.byteorder)
                chunk = data[offset : offset + length]
                offset += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if kind == nl.NLMSG_ERROR:
                    err = nl.nlmsgerr(chunk)
                    err.decode()
                    code = -err["error"]
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    return answers
                if kind == nl.NLMSG_DONE:
                    return answers
                answers.append(chunk)

    def _link(self, **fields):
        msg = self.m.ifinfmsg()
        msg["index"] = fields.pop("index", 0)
        msg["flags"] = fields.pop("flags", 0)
        msg["change"] = fields.pop("change", 0)
        msg["attrs"] = [(k, v) for k, v in fields.pop("attrs", []) if v is not None]
        return msg

    # -- links -----------------------------------------------------------------
    def link(self, name: str) -> dict | None:
        """{"index", "master", "alias", "kind", "up"} of the interface, None if none."""
        msg = self._link(attrs=[("IFLA_IFNAME", name)])
        try:
            (raw,) = self.request(msg, self.m.rtnl.RTM_GETLINK)
        except NetlinkError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT):
                return None
            raise
        answer = self.m.ifinfmsg(raw)
        answer.decode()
        info = answer.get_attr("IFLA_LINKINFO")
        return {
            "index": answer["index"],
            "master": answer.get_attr("IFLA_MASTER"),
            "alias": answer.get_attr("IFLA_IFALIAS"),
            "kind": info.get_attr("IFLA_INFO_KIND") if info is not None else None,
            "up": bool(answer["flags"] & IFF_UP),
            "mac": answer.get_attr("IFLA_ADDRESS"),
            "mtu": answer.get_attr("IFLA_MTU"),
        }

    def index(self, name: str) -> int:
        found = self.link(name)
        if found is None:
            raise NetlinkError(errno.ENODEV, f"no interface {name}")
        return found["index"]

    def add_veth(self, name: str, peer: str, peer_netns_fd: int, mtu=None, peer_mac=None) -> None:
        """A veth pair whose peer is made directly in another namespace, under
        its final name (no rename, no clash with a host interface)."""
        peer_attrs = [("IFLA_IFNAME", peer), ("IFLA_NET_NS_FD", peer_netns_fd)]
        if mtu:
            peer_attrs.append(("IFLA_MTU", mtu))
        if peer_mac:
            peer_attrs.append(("IFLA_ADDRESS", peer_mac))
        info = {
            "attrs": [
                ("IFLA_INFO_KIND", "veth"),
                ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": peer_attrs})]}),
            ]
        }
        msg = self._link(attrs=[("IFLA_IFNAME", name), ("IFLA_MTU", mtu), ("IFLA_LINKINFO", info)])
        nl = self.m.netlink
        self.request(msg, self.m.rtnl.RTM_NEWLINK, nl.NLM_F_CREATE | nl.NLM_F_EXCL)

    def add_bridge(self, name: str, alias: str) -> None:
        info = {"attrs": [("IFLA_INFO_KIND", "bridge")]}
        msg = self._link(attrs=[("IFLA_IFNAME", name), ("IFLA_LINKINFO", info)])
        nl = self.m.netlink
        self.request(msg, self.m.rtnl.RTM_NEWLINK, nl.NLM_F_CREATE | nl.NLM_F_EXCL)
        # A new link does not take its alias on creation: a second request.
        self.request(
            self._link(attrs=[("IFLA_IFNAME", name), ("IFLA_IFALIAS", alias)]), self.m.rtnl.RTM_NEWLINK
        )

    def set_link(self, index: int, *, up: bool | None = None, master=None, netns_fd=None, name=None) -> None:
        flags = change = 0
        if up is not None:
            flags, change = (IFF_UP if up else 0), IFF_UP
        msg = self._link(
            index=index,
            flags=flags,
            change=change,
            attrs=[("IFLA_MASTER", master), ("IFLA_NET_NS_FD", netns_fd), ("IFLA_IFNAME", name)],
        )
        self.request(msg, self.m.rtnl.RTM_NEWLINK)

    def delete_link(self, name: str) -> bool:
        """False if there was no such interface."""
        msg = self._link(attrs=[("IFLA_IFNAME", name)])
        try:
            self.request(msg, self.m.rtnl.RTM_DELLINK)
        except NetlinkError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT):
                return False
            raise
        return True

    # -- addresses and routes --------------------------------------------------
    def add_address(self, index: int, iface) -> None:
        """``iface``: an ipaddress interface (address and prefix)."""
        msg = self.m.ifaddrmsg()
        msg["family"] = socket.AF_INET if iface.version == 4 else socket.AF_INET6
        msg["prefixlen"] = iface.network.prefixlen
        msg["index"] = index
        attrs: list[tuple[str, str | int]] = [("IFA_LOCAL", str(iface.ip)), ("IFA_ADDRESS", str(iface.ip))]
        if iface.version == 4:
            attrs.append(("IFA_BROADCAST", str(iface.network.broadcast_address)))
        else:
            msg["flags"] = IFA_F_NODAD  # usable at once: no duplicate detection on our own link
            attrs.append(("IFA_FLAGS", IFA_F_NODAD))
        msg["attrs"] = attrs
        nl = self.m.netlink
        try:
            self.request(msg, self.m.rtnl.RTM_NEWADDR, nl.NLM_F_CREATE | nl.NLM_F_EXCL)
        except NetlinkError as e:
            if e.errno != errno.EEXIST:
                raise

    def add_default_route(self, gateway, index: int) -> None:
        msg = self.m.rtmsg()
        msg["family"] = socket.AF_INET if gateway.version == 4 else socket.AF_INET6
        msg["table"] = 254  # main
        msg["proto"] = 4  # static
        msg["scope"] = 0  # universe
        msg["type"] = 1  # unicast
        msg["dst_len"] = 0
        msg["attrs"] = [("RTA_GATEWAY", str(gateway)), ("RTA_OIF", index)]
        nl = self.m.netlink
        self.request(msg, self.m.rtnl.RTM_NEWROUTE, nl.NLM_F_CREATE | nl.NLM_F_EXCL)

    def addresses(self, index: int, configured_only: bool = False) -> list[str]:
        """The interface's addresses as "address/prefix".  ``configured_only``:
        just the permanent ones of global scope, those a user configured (not
        link-local, not from autoconfiguration or DHCP lifetimes): what
        runtime-spec 1.2 says a moved network device keeps."""
        msg = self.m.ifaddrmsg()
        msg["family"] = 0
        raw = self.request(msg, self.m.rtnl.RTM_GETADDR, self.m.netlink.NLM_F_DUMP)
        out = []
        for chunk in raw:
            answer = self.m.ifaddrmsg(chunk)
            answer.decode()
            if answer["index"] != index:
                continue
            flags = answer.get_attr("IFA_FLAGS") or answer["flags"]
            if configured_only and (answer["scope"] != RT_SCOPE_UNIVERSE or not flags & IFA_F_PERMANENT):
                continue
            # IFA_LOCAL is the address itself (IFA_ADDRESS is the peer's on a point-to-point link).
            address = answer.get_attr("IFA_LOCAL") or answer.get_attr("IFA_ADDRESS")
            out.append(f"{address}/{answer['prefixlen']}")
        return out
