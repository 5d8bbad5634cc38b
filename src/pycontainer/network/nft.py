"""NAT and published ports with nftables, in a table of our own (``ip
pycontainer``): nobody else's tables or rules are touched.

The rules are fixed; what changes per container are elements of a map and a
set, so a container adds and removes elements and never a rule:

* ``ports``: protocol . host port -> container address . port, the DNAT of
  published ports, on prerouting (from other namespaces) and output (from
  the host itself, 127.0.0.1 included);
* ``masq``: container addresses whose traffic leaving through the host is
  masqueraded; and traffic DNATed from the host's loopback is masqueraded too
  (its source 127.0.0.1 cannot leave the host otherwise).

``create element`` fails if the key exists, inside the one atomic ``nft -f``
transaction: a port published twice is refused with nothing changed.  The
table goes when its last element does.  Callers hold ``network.lock()``.
"""

from __future__ import annotations

import shutil
import subprocess

from pycontainer.errors import ConfigError, ContainerError

TABLE = "pycontainer"
_SKELETON = f"""table ip {TABLE} {{
  map ports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  set masq {{ type ipv4_addr; }}
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
  chain output {{ type nat hook output priority -100; policy accept; }}
  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
}}
flush chain ip {TABLE} prerouting
flush chain ip {TABLE} output
flush chain ip {TABLE} postrouting
add rule ip {TABLE} prerouting fib daddr type local dnat ip to meta l4proto . th dport map @ports
add rule ip {TABLE} output fib daddr type local dnat ip to meta l4proto . th dport map @ports
add rule ip {TABLE} postrouting ip saddr 127.0.0.0/8 ct status dnat masquerade
add rule ip {TABLE} postrouting ip saddr @masq masquerade
"""


def nft_binary() -> str:
    path = shutil.which("nft")  # on PATH, as runc finds its helpers
    if path is None:
        raise ConfigError(
            "NAT and published ports need nft (Debian's nftables package), which is not installed",
            "pycontainer.network",
        )
    return path


class Pending:
    """An ``nft`` run started in the background: the kernel's share of the
    work (a commit that removes something waits for an RCU grace period)
    overlaps the netlink work done meanwhile.  ``result()``: (exit code, output)."""

    def __init__(self, args: list[str], script: str | None = None) -> None:
        self.proc = subprocess.Popen(
            [nft_binary(), *args],
            stdin=subprocess.PIPE if script is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if script is not None:
            assert self.proc.stdin is not None  # stdin=PIPE
            self.proc.stdin.write(script)
            self.proc.stdin.close()

    def result(self) -> tuple[int, str]:
        assert self.proc.stdout is not None  # stdout=PIPE
        output = self.proc.stdout.read()
        self.proc.stdout.close()
        return self.proc.wait(), output


def _run(script: str) -> tuple[int, str]:
    return Pending(["-f", "-"], script).result()


def port_element(port: dict) -> str:
    return f"{port['protocol']} . {port['hostPort']}"


def _elements(ports: list[dict], masq: list[str]) -> str:
    lines = []
    for p in ports:
        target = f"{p['address']} . {p['containerPort']}"
        lines.append(f"create element ip {TABLE} ports {{ {port_element(p)} : {target} }}\n")
    for address in masq:
        lines.append(f"add element ip {TABLE} masq {{ {address} }}\n")
    return "".join(lines)


class Adding:
    """``add`` in two halves, ``start_add`` and ``finish``: publish ``ports``
    ({protocol, hostPort, address, containerPort}) and masquerade ``masq``
    (addresses), atomically.  The elements alone first (the usual case: the
    table is there); the table's skeleton with them if it is not (re-made
    each time it would cost a commit that replaces its rules)."""

    def __init__(self, ports: list[dict], masq: list[str]) -> None:
        self.ports, self.masq = ports, masq
        self.elements = _elements(ports, masq)
        self.pending = Pending(["-f", "-"], self.elements)

    def finish(self) -> None:
        code, output = self.pending.result()
        if code != 0 and "No such file or directory" in output:
            code, output = _run(_SKELETON + self.elements)
        if code == 0:
            return
        for i, p in enumerate(self.ports):
            if "File exists" in output and f"{port_element(p)} :" in output:
                raise ConfigError(
                    f"{p['hostPort']}/{p['protocol']} is already published",
                    f"pycontainer.network.ports[{i}].hostPort",
                )
        raise ContainerError(f"nft: {output.strip()}")


def start_add(ports: list[dict], masq: list[str]) -> Adding:
    return Adding(ports, masq)


def _deletions(ports: list[dict], masq: list[str]) -> str:
    lines = [f"delete element ip {TABLE} ports {{ {port_element(p)} }}\n" for p in ports]
    lines += [f"delete element ip {TABLE} masq {{ {address} }}\n" for address in masq]
    return "".join(lines)


class Removing:
    """``remove`` in two halves, ``start_remove`` and ``finish``: take out what
    ``add`` put in, and the table once it is empty.  ``added``: the record
    says our add went through, so the elements are ours (a published port
    cannot be taken over, ``create element`` refuses it) and are deleted at
    once, in the background.  Otherwise (a crash may have come before the
    add, and the port be another container's since) only the elements that
    are there and point at our address go, from a listing."""

    def __init__(self, ports: list[dict], masq: list[str], added: bool) -> None:
        self.ports, self.masq = ports, masq
        self.direct = added and bool(ports or masq)
        if self.direct:
            self.pending = Pending(["-f", "-"], _deletions(ports, masq))
        else:
            self.pending = Pending(["-j", "list", "table", "ip", TABLE])

    def finish(self) -> None:
        code, output = self.pending.result()
        if self.direct:
            if code != 0:  # something was not there after all: the careful way
                self._careful(Pending(["-j", "list", "table", "ip", TABLE]).result())
                return
            code, output = Pending(["list", "table", "ip", TABLE]).result()
            if code == 0 and "elements =" not in output:
                self._run_or_raise(f"delete table ip {TABLE}\n")
            return
        self._careful((code, output))

    def _careful(self, listed: tuple[int, str]) -> None:
        import json

        code, output = listed
        if code != 0:
            return  # no table: nothing of ours is left
        port_elems: dict[tuple[str, int], tuple[str, int]] = {}
        masq_elems: set[str] = set()
        for item in json.loads(output).get("nftables", []):
            if "map" in item and item["map"]["name"] == "ports":
                for key, value in item["map"].get("elem", []):
                    port_elems[tuple(key["concat"])] = tuple(value["concat"])
            elif "set" in item and item["set"]["name"] == "masq":
                masq_elems.update(e for e in item["set"].get("elem", []) if isinstance(e, str))
        ports = [
            p
            for p in self.ports
            if port_elems.pop((p["protocol"], p["hostPort"]), None) == (p["address"], p["containerPort"])
        ]
        masq = [a for a in self.masq if a in masq_elems]
        masq_elems.difference_update(masq)
        if not port_elems and not masq_elems:
            self._run_or_raise(f"delete table ip {TABLE}\n")
        elif ports or masq:
            self._run_or_raise(_deletions(ports, masq))

    @staticmethod
    def _run_or_raise(script: str) -> None:
        code, output = _run(script)
        if code != 0:
            raise ContainerError(f"nft: {output.strip()}")


def start_remove(ports: list[dict], masq: list[str], added: bool) -> Removing:
    return Removing(ports, masq, added)
