#!/usr/bin/env python3
"""Resource-control benchmark: what does ``linux.resources`` cost, and how
fast are a container's stats?

Two parts, on bench_start.py's busybox bundle (``process.args`` ``sleep``):

**create cost**: two bundles differ only in ``linux.resources``: ``none``
(no resources at all) and ``all`` (every resource this host can take:
memory limit, reservation, swap, swappiness; cpu shares, quota, period,
burst, cpus, mems; pids; block I/O throttling (and weight where the I/O
scheduler has weights); a hugepage limit (not on a hybrid host whose hugetlb
is on cgroup2 only: runc 1.1 fails there); device rules; net_cls/net_prio
classes where those are mounted).  One cycle is ``create`` then ``delete`` of a fresh id (each its
own process, timed from spawn to ``wait4``), for nsinit and runc, on both
bundles; after 3 warm-up rounds ``--runs`` (default 30) rounds run every
(runtime, bundle) pair once, the order rotating.  Per runtime it reports
the medians and ``all - none`` per container (create + delete), of the
medians and of the minima.
Bar: nsinit's ``all - none`` <= 2 ms; runc's is printed beside it.  As
spawned commands are noisy on a shared machine, the same difference is also
measured in-process: a cgroup created, given the resources and destroyed by
the library, ``--runs`` x 10 times each (bar: <= 2 ms too).

**stats**: one running container of the ``all`` bundle per runtime.  Timed
``--runs`` times each: ``events --stats ID`` and, as the baseline of
starting the CLI and loading the container, ``state ID``; for nsinit also
the library in-process: ``Container.stats()`` on a loaded container and
``Container.load(...).stats()``, each the median of 200 calls.
Bars: ``events --stats`` minus ``state`` < 5 ms, and ``Container.stats()``
< 5 ms; the whole ``events --stats`` command is printed too (most of it is
the interpreter starting).

It removes every container, state root and temp dir it made, even on errors
or Ctrl-C, and checks that none is left.  Needs root.  Usage::

    python3 benchmarks/bench_resources.py [--runs N] [--json FILE] [--nsinit PATH] [--skip runc]

``--nsinit`` defaults to this checkout's bin/nsinit (the code measured is the
checkout's).  See benchmarks/README.md for the last results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_start  # noqa: E402  (the bundle, spawning, cleanup helpers)
from bench_start import (  # noqa: E402
    CHECKOUT_NSINIT,
    ID_PREFIX,
    WARMUP_RUNS,
    StateRootCLI,
    p90,
    quiet,
    spawn_and_wait,
)

CONTAINER_ARGS = ("/bin/sleep", "1000")
BUNDLES = ("none", "all")
LIBRARY_CALLS = 200
CREATE_BAR_MS = 2.0
STATS_BAR_MS = 5.0
MiB = 1 << 20


# -- the bundles ----------------------------------------------------------------
def _first_block_device() -> tuple[int, int] | None:
    """major:minor of a whole disk of this host (throttling needs a real one)."""
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir("/sys/block")):
            if name.startswith(("loop", "ram", "zram")):
                continue
            major, minor = open(f"/sys/block/{name}/dev").read().split(":")
            return int(major), int(minor)
    return None


def all_resources() -> dict:
    """Every resource this host takes (see the module docstring)."""
    res: dict = {
        "memory": {"limit": 256 * MiB, "reservation": 128 * MiB, "swap": 512 * MiB, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 100},
        "devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
        ],
    }
    # runc fails ("cannot set net_cls limit") where net_cls/net_prio are not mounted; nsinit warns.
    if os.path.isdir("/sys/fs/cgroup/net_cls") and os.path.isdir("/sys/fs/cgroup/net_prio"):
        res["network"] = {"classID": 0x100001, "priorities": [{"name": "lo", "priority": 5}]}
    disk = _first_block_device()
    if disk is not None:
        major, minor = disk
        res["blockIO"] = {
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 100 * MiB}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 1000}],
        }
        if any(os.path.exists(f"/sys/fs/cgroup/blkio/{f}") for f in ("blkio.weight", "blkio.bfq.weight")):
            res["blockIO"]["weight"] = 500
    # runc 1.1 cannot set hugetlb where it has no v1 hierarchy (a hybrid host with hugetlb on
    # cgroup2): "cannot set hugetlb limit".  Both runtimes get the same bundle, so it goes then.
    if os.path.isdir("/sys/kernel/mm/hugepages/hugepages-2048kB") and not _hugetlb_only_on_cgroup2():
        res["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4 * MiB}]
    return res


def _hugetlb_only_on_cgroup2() -> bool:
    return bench_start.is_hybrid_cgroup_host() and not os.path.isdir("/sys/fs/cgroup/hugetlb")


def make_bundles(work: Path) -> dict[str, Path]:
    base = bench_start.make_bundle(work, CONTAINER_ARGS)
    config = json.loads((base / "config.json").read_text())
    out = {}
    for name in BUNDLES:
        bundle = work / f"bundle-{name}"
        bundle.mkdir()
        config["linux"].pop("resources", None)
        if name == "all":
            config["linux"]["resources"] = all_resources()
        (bundle / "config.json").write_text(json.dumps(config, indent=2))
        out[name] = bundle
    return out


# -- the runtimes ---------------------------------------------------------------
class CLI(StateRootCLI):
    def __init__(self, key: str, prog: str, work: Path) -> None:
        self.key, self.prog, self.prefix = key, prog, []
        self.root = work / "roots" / key
        self.root.mkdir(parents=True)
        self.stderr_path = work / f"{key}.stderr"

    def timed(self, *args: str) -> float:
        """Wall seconds of one command; RuntimeError if it fails."""
        done = spawn_and_wait(self.command(*args), self.stderr_path)
        if done.exit_code != 0:
            err = self.stderr_path.read_text(errors="replace").strip()
            raise RuntimeError(f"{self.key} {' '.join(args)} exited {done.exit_code}: {err}")
        return done.wall_s

    def start(self, cid: str) -> None:
        r = quiet(self.command("start", cid))
        if r.returncode != 0:
            raise RuntimeError(f"{self.key} start {cid}: {r.stderr.strip()}")


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def summary(values: list[float]) -> dict:
    ms = [v * 1e3 for v in values]
    return {"runs": len(ms), "median_ms": statistics.median(ms), "p90_ms": p90(ms), "min_ms": min(ms)}


# -- part 1: create cost --------------------------------------------------------
def create_cost(clis: list[CLI], bundles: dict[str, Path], runs: int) -> dict:
    pairs = [(cli, name) for cli in clis for name in BUNDLES]
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        cli.key: {name: {"create": [], "delete": [], "container": []} for name in BUNDLES} for cli in clis
    }
    counter = 0
    for round_no in range(-WARMUP_RUNS, runs):
        shift = round_no % len(pairs)
        for cli, name in pairs[shift:] + pairs[:shift]:
            counter += 1
            cid = f"{ID_PREFIX}{cli.key}-{name}-{counter}"
            try:
                created = cli.timed("create", "-b", str(bundles[name]), cid)
                deleted = cli.timed("delete", "--force", cid)  # nsinit (unlike runc) wants it for "created"
            finally:
                cli.delete(cid)
            if round_no >= 0:
                s = samples[cli.key][name]
                s["create"].append(created)
                s["delete"].append(deleted)
                s["container"].append(created + deleted)
        print(f"create cost: round {round_no + 1}/{runs}", end="\r", file=sys.stderr)
    out: dict = {}
    for key, per_bundle in samples.items():
        out[key] = {
            name: {step: summary(v) for step, v in steps.items()} for name, steps in per_bundle.items()
        }
        out[key]["all - none"] = {
            step: out[key]["all"][step]["median_ms"] - out[key]["none"][step]["median_ms"]
            for step in ("create", "delete", "container")
        }
        # Minima too: on a busy machine the median moves with the load, the minimum much less.
        out[key]["all - none (min)"] = {
            step: out[key]["all"][step]["min_ms"] - out[key]["none"][step]["min_ms"]
            for step in ("create", "delete", "container")
        }
    return out


def library_cgroup_cost(runs: int) -> dict:
    """In-process, without the noise of spawning: a cgroup created, given
    the ``all`` resources (or none: the v1 device whitelist is still
    written) and destroyed, interleaved, ``runs * 10`` times each."""
    from pycontainer.cgroups import manager_for
    from pycontainer.cgroups.resources import apply_resources
    from pycontainer.spec import load_resources

    resources = {"none": None, "all": load_resources(all_resources())}
    times: dict[str, list[float]] = {name: [] for name in BUNDLES}
    for i in range(-WARMUP_RUNS, runs * 10):
        for name in BUNDLES:
            manager = manager_for(f"/{ID_PREFIX}lib-{name}", f"{ID_PREFIX}lib")
            start = time.perf_counter()
            manager.create()
            try:
                apply_resources(manager, resources[name])
            finally:
                manager.destroy()
            if i >= 0:
                times[name].append(time.perf_counter() - start)
    out: dict = {name: summary(values) for name, values in times.items()}
    out["all - none"] = out["all"]["median_ms"] - out["none"]["median_ms"]
    return out


# -- part 2: stats --------------------------------------------------------------
def stats_cost(clis: list[CLI], bundle: Path, runs: int) -> dict:
    out: dict = {}
    for cli in clis:
        cid = f"{ID_PREFIX}{cli.key}-stats"
        try:
            cli.timed("create", "-b", str(bundle), cid)
            cli.start(cid)
            events, state = [], []
            for round_no in range(-WARMUP_RUNS, runs):
                e = cli.timed("events", "--stats", cid)
                s = cli.timed("state", cid)
                if round_no >= 0:
                    events.append(e)
                    state.append(s)
            out[cli.key] = {
                "events --stats": summary(events),
                "state": summary(state),
                "events --stats - state": median_ms(events) - median_ms(state),
            }
            if cli.key == "nsinit":
                out["library"] = library_stats(cid, cli.root)
        finally:
            cli.delete(cid)
    return out


def library_stats(cid: str, root: Path) -> dict:
    """Container.stats() in this process (the checkout's library)."""
    from pycontainer import Container

    box = Container.load(cid, root)
    box.stats()  # imports
    calls, loads = [], []
    for _ in range(LIBRARY_CALLS):
        t = time.perf_counter()
        box.stats()
        calls.append(time.perf_counter() - t)
        t = time.perf_counter()
        Container.load(cid, root).stats()
        loads.append(time.perf_counter() - t)
    return {"Container.stats()": summary(calls), "Container.load().stats()": summary(loads)}


# -- reporting ------------------------------------------------------------------
def bars(create: dict, library: dict, stats: dict) -> list[dict]:
    out = []
    if "nsinit" in create:
        value = create["nsinit"]["all - none"]["container"]
        out.append(_bar(f"nsinit all - none per container <= {CREATE_BAR_MS:g} ms", value, CREATE_BAR_MS))
    value = library["all - none"]
    out.append(_bar(f"library cgroup all - none <= {CREATE_BAR_MS:g} ms", value, CREATE_BAR_MS))
    if "nsinit" in stats:
        value = stats["nsinit"]["events --stats - state"]
        out.append(_bar(f"nsinit events --stats - state < {STATS_BAR_MS:g} ms", value, STATS_BAR_MS))
        value = stats["library"]["Container.stats()"]["median_ms"]
        out.append(_bar(f"Container.stats() < {STATS_BAR_MS:g} ms", value, STATS_BAR_MS))
    return out


def _bar(name: str, value: float, limit: float) -> dict:
    return {"bar": name, "value": value, "limit": limit, "pass": value <= limit}


def report(create: dict, library: dict, stats: dict, info: dict) -> list[dict]:
    print()
    print(f"{info['date']}  nproc={info['nproc']}  kernel={info['kernel']}  hybrid={info['hybrid_cgroups']}")
    print(f"{info['runc']}; pycontainer at {info['code']}; nsinit {info['nsinit']}")
    print("\ncreate + delete, medians in ms (p90 in brackets)")
    print(f"{'runtime':<10}{'bundle':<8}{'create':>16}{'delete':>16}{'container':>16}")
    for key, per in create.items():
        for name in BUNDLES:
            cells = "".join(
                f"{per[name][s]['median_ms']:>9.2f} ({per[name][s]['p90_ms']:>5.1f})" for s in per[name]
            )
            print(f"{key:<10}{name:<8}{cells}")
        diff, low = per["all - none"], per["all - none (min)"]
        print(
            f"{key:<10}{'all-none':<8}"
            + "".join(f"{diff[s]:>16.2f}" for s in ("create", "delete", "container"))
        )
        print(
            f"{key:<10}{'  (min)':<8}"
            + "".join(f"{low[s]:>16.2f}" for s in ("create", "delete", "container"))
        )
    print("\nlibrary, in-process: cgroup create + apply_resources + destroy, ms")
    for name in BUNDLES:
        print(f"  {name:<8}{library[name]['median_ms']:>9.3f} ({library[name]['p90_ms']:.3f})")
    print(f"  {'all-none':<8}{library['all - none']:>9.3f}")
    print("\nstats, medians in ms (p90 in brackets)")
    for key, per in stats.items():
        for what, s in per.items():
            if isinstance(s, dict):
                print(f"  {key:<8} {what:<26}{s['median_ms']:>9.3f} ({s['p90_ms']:.3f})")
            else:
                print(f"  {key:<8} {what:<26}{s:>9.3f}")
    result = bars(create, library, stats)
    print("\nbars")
    for b in result:
        print(f"  {'PASS' if b['pass'] else 'FAIL'}  {b['bar']:<48} {b['value']:.2f}")
    return result


# -- main -----------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="timed rounds (default 30)")
    p.add_argument("--json", metavar="FILE", help="write the summaries and bars here")
    p.add_argument(
        "--nsinit", type=Path, default=CHECKOUT_NSINIT, help=f"nsinit to time (default {CHECKOUT_NSINIT})"
    )
    p.add_argument("--skip", action="append", default=[], choices=("runc",), help="leave runc out")
    args = p.parse_args(argv)
    if args.runs < 2:
        p.error("--runs must be at least 2")
    if not os.access(args.nsinit, os.X_OK):
        p.error(f"{args.nsinit} is not an executable")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench_resources.py needs root (it runs containers)", file=sys.stderr)
        return 1
    bench_start.ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="bench_resources."))
    clis: list[CLI] = []
    try:
        with bench_start.signals_as_interrupts():
            bundles = make_bundles(work)
            clis.append(CLI("nsinit", str(args.nsinit.absolute()), work))
            if "runc" not in args.skip:
                clis.append(CLI("runc", shutil.which("runc") or "runc", work))
            info = bench_start.machine_info()
            info["nsinit"] = str(args.nsinit)
            create = create_cost(clis, bundles, args.runs)
            library = library_cgroup_cost(args.runs)
            stats = stats_cost(clis, bundles["all"], args.runs)
            result = report(create, library, stats, info)
            if args.json:
                data = {"machine": info, "create": create, "library": library, "stats": stats, "bars": result}
                Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
                print(f"\nnumbers written to {args.json}")
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        print(f"\nbench_resources.py: {e}", file=sys.stderr)
        return 1
    finally:
        with bench_start.uninterruptible():
            clean = cleanup(clis, work)
        with contextlib.suppress(OSError):
            print("cleanup: nothing of ours left" if clean else "cleanup: SOME THINGS WERE LEFT (see above)")
    return 0 if clean else 2


def cleanup(clis: list[CLI], work: Path) -> bool:
    lines = []
    for cli in clis:
        for cid in cli.leftovers():
            cli.delete(cid)
        lines.append((cli.key, cli.leftovers()))
    cgroups = bench_start.leftover_cgroups()
    shutil.rmtree(work, ignore_errors=True)
    with contextlib.suppress(OSError):
        print()
        for key, left in lines:
            print(f"{key:<8}: {len(left)} container(s) of ours left {left or ''}")
        if cgroups:
            print(f"cgroups of ours left: {cgroups}")
    return not cgroups and not work.exists() and not any(left for _, left in lines)


if __name__ == "__main__":
    sys.exit(main())
