#!/usr/bin/env python3
"""Library benchmark: ``pycontainer.run(spec, capture_output=True)`` against
``runc run`` through ``subprocess.run(..., capture_output=True)``, both
running ``echo hi`` and returning its output to this Python process.

This is what a tool that embeds a sandbox does (a code runner, a CI job
runner): start a container, get exit code, stdout and stderr.  One busybox
bundle (bench_start.make_bundle), ``process.args = ["echo", "hi"]``:

``library``  ``pycontainer.run(spec, capture_output=True, root=R)``: create
             (with pipes for stdout and stderr), start, communicate, wait,
             delete, in this very process; the spec is loaded once;
``runc``     ``subprocess.run(["runc", "--root", R, "run", "--bundle", B,
             ID], capture_output=True)``.

Each timed from the call to its return (wall, ``time.perf_counter``); each
checks the output is ``hi``.  After 3 warm-up rounds, ``--runs`` (default
50) rounds, each running both, the order alternating.  It prints median, p90
and minimum of each, the ratio library / runc and the bar (issue 13: at most
half of runc's median), and checks that no container or cgroup of its own is
left.  Needs root; take the test lock so no test session runs meanwhile::

    flock /run/lock/pycontainer-tests.lock python3 benchmarks/bench_library_run.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_start  # noqa: E402  (the bundle, the ids, the cleanup checks, signal handling)
from bench_start import ID_PREFIX, WARMUP_RUNS, p90  # noqa: E402

import pycontainer  # noqa: E402  (the checkout's: bench_start put src/ first)

BAR = 0.5  # library median <= half of runc's


def run_library(spec: pycontainer.Spec, root: Path, cid: str) -> float:
    began = time.perf_counter()
    result = pycontainer.run(spec, id=cid, root=root, capture_output=True)
    took = time.perf_counter() - began
    if (result.returncode, result.stdout) != (0, b"hi\n"):
        raise RuntimeError(f"library run: {result!r}")
    return took


def run_runc(bundle: Path, root: Path, cid: str) -> float:
    argv = [shutil.which("runc") or "runc", "--root", str(root), "run", "--bundle", str(bundle), cid]
    began = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, check=False)
    took = time.perf_counter() - began
    if (result.returncode, result.stdout) != (0, b"hi\n"):
        raise RuntimeError(f"runc run: {result.returncode} {result.stdout!r} {result.stderr!r}")
    return took


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"median": statistics.median(ms), "p90": p90(ms), "min": min(ms)}


def leftovers(library_root: Path, runc_root: Path) -> list[str]:
    """Containers of ours under either root (deleted here), and cgroups."""
    left = []
    for path in library_root.iterdir() if library_root.exists() else []:
        if path.name.startswith(ID_PREFIX):
            left.append(f"library {path.name}")
            pycontainer.Container.load(path.name, library_root).delete(force=True)
    for path in runc_root.iterdir() if runc_root.exists() else []:
        if path.name.startswith(ID_PREFIX):
            left.append(f"runc {path.name}")
            subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", path.name], check=False)
    return left + bench_start.leftover_cgroups()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=50, help="timed rounds (default 50)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-library-run-"))
    library_root, runc_root = work / "library-root", work / "runc-root"
    times: dict[str, list[float]] = {"library": [], "runc": []}
    clean = False
    try:
        with bench_start.signals_as_interrupts():
            bundle = bench_start.make_bundle(work, ("echo", "hi"))
            spec = pycontainer.load_config(bundle / "config.json")
            runners = {
                "library": lambda cid: run_library(spec, library_root, cid),
                "runc": lambda cid: run_runc(bundle, runc_root, cid),
            }
            order = ["library", "runc"]
            for round_no in range(-WARMUP_RUNS, args.runs):
                for key in order if round_no % 2 == 0 else reversed(order):
                    took = runners[key](f"{ID_PREFIX}{key}-{round_no + WARMUP_RUNS}")
                    if round_no >= 0:
                        times[key].append(took)
    finally:
        with bench_start.uninterruptible():
            left = leftovers(library_root, runc_root)
            shutil.rmtree(work, ignore_errors=True)
            clean = not left
            if left:
                print(f"left behind (now removed): {left}")
    lib, runc = summary(times["library"]), summary(times["runc"])
    print(f"{args.runs} interleaved rounds of `echo hi` with captured output, wall ms")
    print(f"{'':<36} {'median':>8} {'p90':>8} {'min':>8}")
    print(f"{'pycontainer.run(capture_output)':<36} {lib['median']:8.1f} {lib['p90']:8.1f} {lib['min']:8.1f}")
    print(f"{'runc run via subprocess.run':<36} {runc['median']:8.1f} {runc['p90']:8.1f} {runc['min']:8.1f}")
    ratio = lib["median"] / runc["median"]
    ok = ratio <= BAR
    print(f"library / runc (medians): {ratio:.2f}  bar <= {BAR}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok and clean else 1


if __name__ == "__main__":
    sys.exit(main())
