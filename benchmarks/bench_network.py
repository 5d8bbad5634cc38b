#!/usr/bin/env python3
"""Network benchmark: what does a bridged, NATed container with a published
port cost over the same container with a bare network namespace?

Two busybox bundles (``process.args = ["true"]``), the same but for our
``pycontainer.network`` section:

``bare``  a new network namespace (lo up), nothing else;
``net``   a veth (10.234.0.2/24) on a bridge, masquerade, and one published
          port (tcp 28080 -> 80).

Two scenarios for ``net``: ``shared`` (the usual one: another container,
started first and kept running, already uses the bridge and our nftables
table, as podman's podman0 is there before a container starts) and ``alone``
(the worst case: each run makes the bridge and the table, and removes both).

Each round runs ``nsinit --root R run -b BUNDLE ID`` once per bundle (order
alternating), timed from spawn to exit (wall; and CPU, the wait4 rusage of
nsinit and what it waited for): create, start, wait, delete, teardown
included.  After 3 warm-up rounds, ``--runs`` (default 30) rounds.  It prints
median, p90 and minimum per bundle, the extra median cost (bar: 50 ms), and
checks with ``-X importtime`` that a run of the bare bundle imports nothing of
pyroute2 or pycontainer.network (bar: no cost without networking).  It checks
that no bridge, veth or nftables table of its own is left.  Needs root::

    python3 benchmarks/bench_network.py [--runs N] [--nsinit PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BRIDGE = "pcbench0"
BAR_MS = 50.0


def bundle(top: Path, name: str, rootfs: Path, network: dict | None) -> Path:
    config = json.loads((REPO / "specs" / "busybox" / "config.json").read_text())
    config["root"]["path"] = str(rootfs)
    config["process"]["args"] = ["true"]
    config["process"]["terminal"] = False
    if network is not None:
        config["pycontainer"] = {"network": network}
    path = top / name
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    return path


def run_once(nsinit: list[str], root: Path, path: Path, cid: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``nsinit run``; CPU is the wait4 rusage:
    nsinit and every process it waited for (nft, the container's init)."""
    argv = [*nsinit, "--root", str(root), "run", "-b", str(path), cid]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{cid}: nsinit failed: {err}")
    return took, usage.ru_utime + usage.ru_stime


def leftovers() -> list[str]:
    found = [n for n in os.listdir("/sys/class/net") if n == BRIDGE or n.startswith("pc")]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    if "table ip pycontainer" in tables:
        found.append("nft table ip pycontainer")
    return found


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--nsinit", default=str(REPO / "bin" / "nsinit"))
    args = ap.parse_args()
    nsinit = [sys.executable, args.nsinit]
    before = leftovers()
    if before:
        raise SystemExit(f"already present, not ours to measure with: {before}")
    top = Path(tempfile.mkdtemp(prefix="pycontainer-netbench-"))
    try:
        top.chmod(0o755)
        rootfs = top / "rootfs"
        subprocess.run([str(REPO / "specs" / "mkrootfs"), str(rootfs)], check=True, capture_output=True)
        bare = bundle(top, "bare", rootfs, None)
        net = bundle(
            top,
            "net",
            rootfs,
            {
                "bridge": {"name": BRIDGE, "addresses": ["10.234.0.1/24"]},
                "veth": {"addresses": ["10.234.0.2/24"]},
                "masquerade": True,
                "ports": [{"hostPort": 28080, "containerPort": 80}],
            },
        )
        root = top / "state"
        keeper = bundle(
            top,
            "keeper",
            rootfs,
            {
                "bridge": {"name": BRIDGE, "addresses": ["10.234.0.1/24"]},
                "veth": {"addresses": ["10.234.0.99/24"]},
                "ports": [{"hostPort": 28081, "containerPort": 80}],
            },
        )
        config = json.loads((keeper / "config.json").read_text())
        config["process"]["args"] = ["sleep", "1000"]
        (keeper / "config.json").write_text(json.dumps(config))
        times: dict[str, list[float]] = {"bare": [], "net alone": [], "net shared": []}
        cpu: dict[str, list[float]] = {"bare": [], "net alone": [], "net shared": []}
        for i in range(3 + args.runs):
            order = [("bare", bare), ("net alone", net)]
            if i % 2:
                order.reverse()
            for name, path in order:
                took, used = run_once(nsinit, root, path, f"bench-{i}")
                if i >= 3:
                    times[name].append(took)
                    cpu[name].append(used)
        base = [*nsinit, "--root", str(root)]
        subprocess.run(
            [*base, "create", "-b", str(keeper), "keeper"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for i in range(3 + args.runs):
                took, used = run_once(nsinit, root, net, f"bench-shared-{i}")
                if i >= 3:
                    times["net shared"].append(took)
                    cpu["net shared"].append(used)
        finally:
            subprocess.run([*base, "delete", "--force", "keeper"], check=True)
        # No cost without networking: nothing of it is imported.
        argv = [
            *nsinit[:1],
            "-X",
            "importtime",
            *nsinit[1:],
            "--root",
            str(root),
            "run",
            "-b",
            str(bare),
            "imp",
        ]
        r = subprocess.run(argv, capture_output=True, text=True)
        imported = [
            line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
        ]
        net_imports = [m for m in imported if m.startswith(("pyroute2", "pycontainer.network"))]
    finally:
        shutil.rmtree(top, ignore_errors=True)
    left = leftovers()

    print(f"{'bundle':<12} {'median':>9} {'p90':>9} {'min':>9} {'CPU':>9}   ({args.runs} runs of nsinit run)")
    medians = {}
    for name, values in times.items():
        values.sort()
        medians[name] = statistics.median(values) * 1000
        p90 = values[int(0.9 * (len(values) - 1))] * 1000
        used = statistics.median(cpu[name]) * 1000
        print(f"{name:<12} {medians[name]:8.1f}ms {p90:8.1f}ms {values[0] * 1000:8.1f}ms {used:8.1f}ms")
    for name in ("net shared", "net alone"):
        extra = medians[name] - medians["bare"]
        verdict = "ok" if extra <= BAR_MS else "OVER"
        print(f"extra for bridge + NAT + port, {name}: {extra:.1f} ms (bar: <= {BAR_MS:.0f} ms): {verdict}")
    extra = medians["net shared"] - medians["bare"]  # the bar is for the usual case
    verdict = "ok" if not net_imports else "OVER"
    print(f"imports of networking by a run without it: {net_imports or 'none'}: {verdict}")
    if left:
        print(f"LEFT BEHIND: {left}")
    return 0 if extra <= BAR_MS and not net_imports and not left else 1


if __name__ == "__main__":
    sys.exit(main())
