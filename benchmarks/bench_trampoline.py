#!/usr/bin/env python3
"""Trampoline benchmark: what does exec'ing through the sealed memfd trampoline cost?

Since the fix for CVE-2019-5736's class (docs/security.md), every container process is
exec'd through ``pyc-trampoline``: read from the package, copied into a sealed memfd, and
execveat'd, then it execs the user's program (one more execve of a 1.6 KB static program).
This times, on bench_start.py's busybox bundle running ``/bin/true``, foreground ``run``
spawned from here (bench_start.py's spawning, rounds and cleanup):

``nsinit``        bin/nsinit of this checkout (with the trampoline);
``nsinit-base``   bin/nsinit of ``--base`` (default: the merge-base with ``main``), exported
                  with ``git archive`` into the temp dir and its extension built there by
                  ``pip wheel`` (pip's isolated build: nothing is installed);
``runc``          runc run (it protects itself with a sealed copy or bind of its binary).

Interleaved round-robin in one run, so drift hits all alike.  It prints bench_start.py's
table and the trampoline's cost (median wall and CPU of ``nsinit`` minus ``nsinit-base``),
and the ratios to runc.  ``--json FILE`` writes the raw numbers.  Needs root.  Usage::

    python3 benchmarks/bench_trampoline.py [--runs N] [--base REV] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_start  # noqa: E402  (the bundle, spawning, rounds, cleanup helpers)
from bench_start import (  # noqa: E402
    CHECKOUT_NSINIT,
    REPO,
    CommandRuntime,
    Runtime,
    format_table,
    run_rounds,
    summarize,
)


def export_base(rev: str, work: Path) -> Path:
    """``rev``'s tree in ``work/base`` with its compiled extension in place; its bin/nsinit."""
    base = work / "base"
    base.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(base)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("*.whl")
    native = base / "src" / "pycontainer" / "_native"
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("pycontainer/_native/") and not name.endswith((".py", ".c", ".h")):
                (native / Path(name).name).write_bytes(z.read(name))
                (native / Path(name).name).chmod(0o755)
    return base / "bin" / "nsinit"


def merge_base() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "merge-base", "HEAD", "main"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def make_runtimes(bundle: Path, base_nsinit: Path, work: Path, skip: set[str]) -> list[Runtime]:
    runtimes: list[Runtime] = [
        CommandRuntime("nsinit", "nsinit (trampoline)", str(CHECKOUT_NSINIT), bundle, work),
        CommandRuntime("nsinit-base", "nsinit (base)", str(base_nsinit), bundle, work),
    ]
    if "runc" not in skip:
        runtimes.append(CommandRuntime("runc", "runc", shutil.which("runc") or "runc", bundle, work))
    return runtimes


def costs(summaries: dict) -> dict:
    now, base = summaries["nsinit"], summaries["nsinit-base"]
    out = {
        "wall_ms": now.wall_median_ms - base.wall_median_ms,
        "cpu_ms": now.cpu_median_ms - base.cpu_median_ms,
        "wall_ratio": now.wall_median_ms / base.wall_median_ms,
    }
    if "runc" in summaries:
        out["nsinit_over_runc"] = now.wall_median_ms / summaries["runc"].wall_median_ms
        out["base_over_runc"] = base.wall_median_ms / summaries["runc"].wall_median_ms
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="timed runs per runtime (default 30)")
    p.add_argument("--base", help="the revision without the trampoline (default: merge-base with main)")
    p.add_argument("--json", metavar="FILE", help="write raw samples, summaries and costs here")
    p.add_argument("--skip", action="append", default=[], choices=("runc",))
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_trampoline.py needs root (it runs containers)", file=sys.stderr)
        return 1
    bench_start.ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="bench_trampoline."))
    runtimes: list[Runtime] = []
    try:
        with bench_start.signals_as_interrupts():
            base_nsinit = export_base(args.base or merge_base(), work)
            bundle = bench_start.make_bundle(work / "bundle")
            runtimes = make_runtimes(bundle, base_nsinit, work, set(args.skip))
            info = bench_start.machine_info()
            samples = run_rounds(runtimes, args.runs, lambda msg: print(msg, end="\r", file=sys.stderr))
            summaries = {key: summarize(s) for key, s in samples.items()}
            print()
            print(format_table(summaries))
            print()
            c = costs(summaries)
            wall, ratio, cpu = c["wall_ms"], c["wall_ratio"], c["cpu_ms"]
            print(f"trampoline cost: wall {wall:+.1f} ms ({ratio:.3f}x), CPU {cpu:+.1f} ms")
            if "nsinit_over_runc" in c:
                print(f"nsinit / runc: {c['nsinit_over_runc']:.2f} (base: {c['base_over_runc']:.2f})")
            if args.json:
                result = {
                    "machine": info,
                    "samples": {k: [asdict(s) for s in v] for k, v in samples.items()},
                    "summaries": {k: asdict(s) for k, s in summaries.items()},
                    "costs": c,
                }
                Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        print(f"\nbench_trampoline.py: {e}", file=sys.stderr)
        return 1
    finally:
        with bench_start.uninterruptible():
            clean = bench_start.cleanup(runtimes, work)
        with contextlib.suppress(OSError):
            print("cleanup: nothing of ours left" if clean else "cleanup: SOME THINGS WERE LEFT (see above)")
    return 0 if clean else 2


if __name__ == "__main__":
    sys.exit(main())
