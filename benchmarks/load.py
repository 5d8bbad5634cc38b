#!/usr/bin/env python3
"""Load: many containers at once, by parallel nsinit processes or by threads
using the library, while observers keep asking ``list`` and ``state``.

Each container goes create -> start -> state (running) -> kill KILL -> state
until stopped -> delete; ``--workers`` of them are in flight at a time.
Meanwhile ``--observers`` threads run ``nsinit list --format json`` and
``nsinit state ID`` (an id that exists, existed or is about to) in a loop:
``list`` must never fail and must only show containers in a valid status;
``state`` must succeed or say the container does not exist.  At the end
nothing may be left: no state dir, cgroup or process of any container.

    python3 benchmarks/load.py                       # 200 containers, nsinit processes
    python3 benchmarks/load.py --mode library        # 200 containers, library threads
    python3 benchmarks/load.py --containers 1000 --workers 32 --json out.json

Needs root.  Uses the nsinit of this tree (bin/nsinit) unless ``--nsinit``.
The test suite runs a bounded form (tests/integration/test_reliability_load.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
STATUSES = {"creating", "created", "running", "stopped", "paused"}


def nsinit_argv(path: str | None = None) -> list[str]:
    return [sys.executable, "-I", "-S", path or str(REPO / "bin" / "nsinit")]  # as its shebang starts it


def make_bundle(work: Path) -> Path:
    """A busybox bundle whose process sleeps (killed by the load)."""
    bundle = work / "bundle"
    rootfs = bundle / "rootfs"
    subprocess.run([str(REPO / "specs" / "mkrootfs"), str(rootfs)], check=True, stdout=subprocess.DEVNULL)
    config = json.loads((REPO / "specs" / "busybox" / "config.json").read_text())
    config["process"]["args"] = ["/bin/sleep", "600"]
    config["root"]["path"] = str(rootfs)
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


class Observer:
    """Runs list/state in a loop until stopped; counts calls and failures."""

    def __init__(self, nsinit: list[str], root: str, ids: list[str]) -> None:
        self.nsinit, self.root, self.ids = nsinit, root, ids
        self.stop = threading.Event()
        self.calls = {"list": 0, "state": 0}
        self.failures: list[str] = []
        self.seen_statuses: set[str] = set()

    def run(self) -> None:
        rng = random.Random()
        while not self.stop.is_set():
            r = subprocess.run(
                [*self.nsinit, "--root", self.root, "list", "--format", "json"],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            self.calls["list"] += 1
            try:
                assert r.returncode == 0, r.stderr
                for entry in json.loads(r.stdout or "[]"):
                    assert entry["status"] in STATUSES, entry
                    self.seen_statuses.add(entry["status"])
            except (AssertionError, ValueError, KeyError) as e:
                self.failures.append(f"list: {e}")
            container_id = rng.choice(self.ids)
            r = subprocess.run(
                [*self.nsinit, "--root", self.root, "state", container_id],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            self.calls["state"] += 1
            if r.returncode == 0:
                try:
                    status = json.loads(r.stdout)["status"]
                    assert status in STATUSES, status
                except (AssertionError, ValueError, KeyError) as e:
                    self.failures.append(f"state: {e}")
            elif "does not exist" not in r.stderr:
                self.failures.append(f"state {container_id}: {r.stderr.strip()}")


def _cli_lifecycle(nsinit: list[str], root: str, bundle: Path, container_id: str) -> dict[str, float]:
    """One container through nsinit processes; seconds per step."""
    times: dict[str, float] = {}

    def step(name: str, *args: str, ok=lambda r: r.returncode == 0) -> subprocess.CompletedProcess:
        t0 = time.perf_counter()
        # The container keeps create's stdio: no pipe of ours may be held open by it.
        with tempfile.TemporaryFile("w+") as out:
            r = subprocess.run(
                [*nsinit, "--root", root, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=out, text=True
            )
            out.seek(0)
            r.stdout = out.read()
        times[name] = times.get(name, 0.0) + time.perf_counter() - t0
        if not ok(r):
            raise RuntimeError(
                f"{container_id}: {' '.join(args[:1])}: exit {r.returncode}: {r.stdout.strip()}"
            )
        return r

    step("create", "create", "--bundle", str(bundle), container_id)
    step("start", "start", container_id)
    running = json.loads(step("state", "state", container_id).stdout)["status"]
    if running != "running":
        raise RuntimeError(f"{container_id}: {running} after start")
    step("kill", "kill", container_id, "KILL")
    deadline = time.monotonic() + 10
    while json.loads(step("state", "state", container_id).stdout)["status"] != "stopped":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{container_id}: not stopped 10 s after kill")
        time.sleep(0.01)
    step("delete", "delete", container_id)
    return times


def _library_lifecycle(root: str, bundle: Path, container_id: str) -> dict[str, float]:
    from pycontainer import Container

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    c = Container.create(container_id, bundle, root=root, terminal_here=False)
    times["create"] = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        c.start()
        times["start"] = time.perf_counter() - t0
        if c.status != "running":
            raise RuntimeError(f"{container_id}: {c.status} after start")
        t0 = time.perf_counter()
        c.kill(9)
        c.wait()
        times["kill"] = time.perf_counter() - t0
    finally:
        t0 = time.perf_counter()
        c.delete(force=True)
        times["delete"] = time.perf_counter() - t0
    return times


def leftovers(root: str, prefix: str) -> dict[str, list[str]]:
    """State dirs, cgroups and processes of any container named ``prefix*``."""
    found: dict[str, list[str]] = {}
    if os.path.isdir(root):
        states = [n for n in os.listdir(root) if n.startswith(prefix)]
        if states:
            found["state dirs"] = states
    cgroups = []
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        for dirpath, dirnames, _ in os.walk(os.path.join("/sys/fs/cgroup", hierarchy)):
            if dirpath.count("/") > 8:
                dirnames[:] = []
            if os.path.basename(dirpath).startswith(prefix):
                cgroups.append(dirpath)
    if cgroups:
        found["cgroups"] = cgroups
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                named = "/" + prefix in f.read()
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"  # ended, not yet reaped by pid 1
        except OSError:
            continue
        if named and not zombie:
            procs.append(pid)
    if procs:
        found["processes"] = procs
    return found


def run_load(
    containers: int,
    workers: int,
    mode: str,
    root: str,
    bundle: Path,
    prefix: str,
    observers: int = 2,
    nsinit: list[str] | None = None,
) -> dict:
    """Run the load; its figures (errors and leftovers included)."""
    nsinit = nsinit or nsinit_argv()
    ids = [f"{prefix}{i}" for i in range(containers)]
    watchers = [Observer(nsinit, root, ids) for _ in range(observers)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in watchers]
    for t in threads:
        t.start()
    errors: list[str] = []
    per_step: dict[str, list[float]] = {}

    def one(container_id: str) -> None:
        try:
            if mode == "library":
                times = _library_lifecycle(root, bundle, container_id)
            else:
                times = _cli_lifecycle(nsinit, root, bundle, container_id)
        except Exception as e:  # noqa: BLE001 - every failure is a figure
            errors.append(str(e))
            subprocess.run([*nsinit, "--root", root, "delete", "--force", container_id], capture_output=True)
            return
        for name, seconds in times.items():
            per_step.setdefault(name, []).append(seconds)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, ids))
    wall = time.perf_counter() - t0
    for w in watchers:
        w.stop.set()
    for t in threads:
        t.join()
    return {
        "mode": mode,
        "containers": containers,
        "workers": workers,
        "wall_s": round(wall, 2),
        "containers_per_s": round(containers / wall, 1),
        "errors": errors,
        "step_median_ms": {k: round(statistics.median(v) * 1000, 1) for k, v in per_step.items()},
        "step_p95_ms": {
            k: round(sorted(v)[int(len(v) * 0.95) - 1] * 1000, 1) for k, v in per_step.items() if v
        },
        "list_calls": sum(w.calls["list"] for w in watchers),
        "state_calls": sum(w.calls["state"] for w in watchers),
        "observer_failures": [f for w in watchers for f in w.failures],
        "statuses_seen_by_list": sorted(set().union(*(w.seen_statuses for w in watchers))),
        "leftovers": _settled_leftovers(root, prefix),
    }


def _settled_leftovers(root: str, prefix: str, patience: float = 3.0) -> dict[str, list[str]]:
    """leftovers(), giving killed processes a moment to finish exiting."""
    deadline = time.monotonic() + patience
    while (found := leftovers(root, prefix)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=16, help="containers in flight at a time")
    parser.add_argument("--mode", choices=["cli", "library"], default="cli")
    parser.add_argument("--observers", type=int, default=2, help="threads running list/state meanwhile")
    parser.add_argument("--nsinit", help="nsinit to run (default: this tree's bin/nsinit)")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("load.py needs root", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="pycontainer-load-"))
    work.chmod(0o755)
    try:
        bundle = make_bundle(work)
        figures = run_load(
            args.containers,
            args.workers,
            args.mode,
            str(work / "state"),
            bundle,
            prefix=f"load-{os.getpid()}-",
            observers=args.observers,
            nsinit=nsinit_argv(args.nsinit),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    ok = not figures["errors"] and not figures["observer_failures"] and not figures["leftovers"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
