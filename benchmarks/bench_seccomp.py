#!/usr/bin/env python3
"""Seccomp benchmark: what does a Docker-sized profile add to a container start?

Two bundles of bench_start.py's busybox rootfs running ``/bin/true``: one without
``linux.seccomp``, one with Docker's default profile (``nsinit spec --seccomp``'s: 350
syscalls allowed, default EPERM, personality and clone argument rules, x86 and x32 too).
Timed, each a foreground ``run`` spawned from here (bench_start.py's spawning, wrapper and
cleanup):

``nsinit``               bin/nsinit of this checkout, no profile;
``nsinit-sc-cached``     with the profile; its compiled program is in the state root's cache
                         (``~seccomp``), as on every start after the first;
``nsinit-sc-fresh``      with the profile, the cache removed before each run (untimed): the
                         first start, libseccomp loaded and the profile compiled;
``runc``, ``runc-sc``    runc without and with the profile (it compiles on every start);
``crun``, ``crun-sc``    the same for crun (in bench_start.py's unshare wrapper on a hybrid
                         cgroup host).

It prints bench_start.py's table, then per runtime the cost of the profile (median with
minus median without) and the bar: nsinit with the profile no slower than runc with it (wall
median), cached and fresh.  ``--json FILE`` writes the raw numbers.  Needs root.  Usage::

    python3 benchmarks/bench_seccomp.py [--runs N] [--json FILE] [--skip crun]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_start  # noqa: E402  (the bundle, spawning, the crun wrapper, cleanup helpers)
from bench_start import (  # noqa: E402
    CHECKOUT_NSINIT,
    CommandRuntime,
    Runtime,
    Sample,
    format_table,
    run_rounds,
    summarize,
)

from pycontainer.security.default_profile import docker_default_profile  # noqa: E402


class FreshNsinit(CommandRuntime):
    """nsinit with the compiled-profile cache removed before every run (untimed)."""

    def run(self, cid: str) -> Sample:
        shutil.rmtree(self.root / "~seccomp", ignore_errors=True)
        return super().run(cid)


def make_bundles(work: Path) -> tuple[Path, Path]:
    plain = bench_start.make_bundle(work / "plain")
    with_profile = bench_start.make_bundle(work / "seccomp")
    config_path = with_profile / "config.json"
    config = json.loads(config_path.read_text())
    config["linux"]["seccomp"] = docker_default_profile()
    config_path.write_text(json.dumps(config, indent=2))
    return plain, with_profile


def make_runtimes(plain: Path, profiled: Path, work: Path, skip: set[str]) -> list[Runtime]:
    nsinit = str(CHECKOUT_NSINIT)
    runtimes: list[Runtime] = [
        CommandRuntime("nsinit", "nsinit", nsinit, plain, work),
        CommandRuntime("nsinit-sc-cached", "nsinit, profile cached", nsinit, profiled, work),
        FreshNsinit("nsinit-sc-fresh", "nsinit, profile compiled", nsinit, profiled, work),
    ]
    if "runc" not in skip:
        runc = shutil.which("runc") or "runc"
        runtimes += [
            CommandRuntime("runc", "runc", runc, plain, work),
            CommandRuntime("runc-sc", "runc, profile", runc, profiled, work),
        ]
    if "crun" not in skip:
        crun = shutil.which("crun") or "crun"
        wrapper = bench_start.crun_wrapper()
        runtimes += [
            CommandRuntime("crun", "crun", crun, plain, work, wrapper),
            CommandRuntime("crun-sc", "crun, profile", crun, profiled, work, wrapper),
        ]
    return runtimes


def costs(summaries: dict) -> list[dict]:
    """Median wall and CPU with the profile minus without, per runtime."""
    out = []
    for base, variants in (
        ("nsinit", ("nsinit-sc-cached", "nsinit-sc-fresh")),
        ("runc", ("runc-sc",)),
        ("crun", ("crun-sc",)),
    ):
        for v in variants:
            if base in summaries and v in summaries:
                out.append(
                    {
                        "runtime": v,
                        "wall_ms": summaries[v].wall_median_ms - summaries[base].wall_median_ms,
                        "cpu_ms": summaries[v].cpu_median_ms - summaries[base].cpu_median_ms,
                    }
                )
    return out


def bars(summaries: dict) -> list[dict]:
    out = []
    if "runc-sc" in summaries:
        limit = summaries["runc-sc"].wall_median_ms
        for key in ("nsinit-sc-cached", "nsinit-sc-fresh"):
            value = summaries[key].wall_median_ms
            out.append(
                {"bar": f"{key} wall <= runc-sc wall", "value": value, "limit": limit, "ok": value <= limit}
            )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="timed runs per runtime (default 30)")
    p.add_argument("--json", metavar="FILE", help="write raw samples, summaries, costs and bars here")
    p.add_argument("--skip", action="append", default=[], choices=("runc", "crun"))
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_seccomp.py needs root (it runs containers)", file=sys.stderr)
        return 1
    bench_start.ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="bench_seccomp."))
    runtimes: list[Runtime] = []
    try:
        with bench_start.signals_as_interrupts():
            plain, profiled = make_bundles(work)
            runtimes = make_runtimes(plain, profiled, work, set(args.skip))
            info = bench_start.machine_info()
            samples = run_rounds(runtimes, args.runs, lambda msg: print(msg, end="\r", file=sys.stderr))
            summaries = {key: summarize(s) for key, s in samples.items()}
            print()
            print(format_table(summaries))
            print()
            for c in costs(summaries):
                wall, cpu = c["wall_ms"], c["cpu_ms"]
                print(f"profile cost {c['runtime']:<18} wall {wall:+7.1f} ms   CPU {cpu:+7.1f} ms")
            for b in bars(summaries):
                print(
                    f"bar: {b['bar']}: {b['value']:.1f} <= {b['limit']:.1f}: {'ok' if b['ok'] else 'MISSED'}"
                )
            if args.json:
                result = {
                    "machine": info,
                    "samples": {k: [asdict(s) for s in v] for k, v in samples.items()},
                    "summaries": {k: asdict(s) for k, s in summaries.items()},
                    "costs": costs(summaries),
                    "bars": bars(summaries),
                }
                Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, ImportError) as e:
        print(f"\nbench_seccomp.py: {e}", file=sys.stderr)
        return 1
    finally:
        with bench_start.uninterruptible():
            clean = bench_start.cleanup(runtimes, work)
        with contextlib.suppress(OSError):
            print("cleanup: nothing of ours left" if clean else "cleanup: SOME THINGS WERE LEFT (see above)")
    return 0 if clean else 2


if __name__ == "__main__":
    sys.exit(main())
