#!/usr/bin/env python3
"""Sustained load: run/delete cycles one after the other, and whether
anything grows: the host's memory and open files, and (library mode) the
calling process's own memory and fds.

``--mode cli``: each cycle is ``nsinit run --bundle B ID`` of /bin/true (a
new nsinit process: create, start, wait, delete).  ``--mode library``: each
cycle is ``Container.run`` in this process, so a leak of the library (an fd,
a reference kept) accumulates where we can see it.

Every ``--sample`` cycles it records the host's MemAvailable and Slab
(/proc/meminfo), allocated file handles (/proc/sys/fs/file-nr), the number
of processes and mounts, and for library mode this process's VmRSS and open
fds.  Growth is last sample minus the first taken after ``--warmup`` cycles.

    python3 benchmarks/soak.py                       # 2000 cycles, nsinit processes
    python3 benchmarks/soak.py --mode library        # 2000 cycles in this process
    python3 benchmarks/soak.py --cycles 200 --json out.json

Needs root.  The test suite runs a bounded form
(tests/integration/test_reliability_load.py).  Other activity on the host
moves the host figures; the process figures (library mode) are this
process's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))


def make_bundle(work: Path) -> Path:
    bundle = work / "bundle"
    rootfs = bundle / "rootfs"
    subprocess.run([str(REPO / "specs" / "mkrootfs"), str(rootfs)], check=True, stdout=subprocess.DEVNULL)
    config = json.loads((REPO / "specs" / "busybox" / "config.json").read_text())
    config["process"]["args"] = ["/bin/true"]
    config["root"]["path"] = str(rootfs)
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def _meminfo(name: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def _self_status(name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def sample() -> dict[str, int]:
    with open("/proc/sys/fs/file-nr") as f:
        files = int(f.read().split()[0])
    with open("/proc/self/mountinfo") as f:
        mounts = sum(1 for _ in f)
    return {
        "host_mem_available_kb": _meminfo("MemAvailable"),
        "host_slab_kb": _meminfo("Slab"),
        "host_open_files": files,
        "host_processes": sum(1 for p in os.listdir("/proc") if p.isdigit()),
        "host_mounts": mounts,
        "self_rss_kb": _self_status("VmRSS"),
        "self_fds": len(os.listdir("/proc/self/fd")),
    }


def run_soak(cycles: int, mode: str, bundle: Path, root: str, prefix: str, warmup: int, every: int) -> dict:
    from pycontainer import Container

    nsinit = [sys.executable, str(REPO / "bin" / "nsinit"), "--root", root]
    samples: list[dict] = []
    errors: list[str] = []
    t0 = time.perf_counter()
    for i in range(cycles):
        container_id = f"{prefix}{i}"
        if mode == "library":
            try:
                code = Container.run(container_id, bundle, root=root)
            except Exception as e:  # noqa: BLE001 - every failure is a figure
                errors.append(f"{container_id}: {e}")
                continue
        else:
            r = subprocess.run(
                [*nsinit, "run", "--bundle", str(bundle), container_id],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
            )
            code = r.returncode
            if code != 0:
                errors.append(f"{container_id}: exit {code}: {r.stderr.strip()}")
                continue
        if code != 0:
            errors.append(f"{container_id}: the container exited {code}")
        if i + 1 >= warmup and (i + 1 - warmup) % every == 0 or i + 1 == cycles:
            samples.append({"cycle": i + 1, **sample()})
    wall = time.perf_counter() - t0
    first, last = samples[0], samples[-1]
    growth = {k: last[k] - first[k] for k in first if k != "cycle"}
    left = sorted(n for n in os.listdir(root) if n.startswith(prefix)) if os.path.isdir(root) else []
    return {
        "mode": mode,
        "cycles": cycles,
        "wall_s": round(wall, 1),
        "cycle_ms": round(wall / cycles * 1000, 1),
        "errors": errors,
        "first_sample": first,
        "last_sample": last,
        "growth": growth,
        "state_dirs_left": left,
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--mode", choices=["cli", "library"], default="cli")
    parser.add_argument("--warmup", type=int, default=20, help="cycles before the first sample")
    parser.add_argument("--sample", type=int, default=100, help="cycles between samples")
    parser.add_argument("--json", help="write the figures (with every sample) here too")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("soak.py needs root", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="pycontainer-soak-"))
    work.chmod(0o755)
    try:
        figures = run_soak(
            args.cycles,
            args.mode,
            make_bundle(work),
            str(work / "state"),
            f"soak-{os.getpid()}-",
            min(args.warmup, args.cycles - 1),
            args.sample,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    figures.pop("samples")
    print(json.dumps(figures, indent=2))
    return 0 if not figures["errors"] and not figures["state_dirs_left"] else 1


if __name__ == "__main__":
    sys.exit(main())
