#!/usr/bin/env python3
"""Engine benchmark: ``podman run --rm`` of ``/bin/true`` on nsinit against runc.

Times, as a user would type it,

    podman [private storage] --runtime RT --cgroup-manager cgroupfs \\
        run --rm --network none IMAGE /bin/true

with RT the installed nsinit (``/usr/local/bin/nsinit``, ``--nsinit PATH`` for
another) and runc (``command -v runc``), as tests/integration/test_engines.py
drives podman: private storage in a temp dir (``--root``, ``--runroot``,
``--tmpdir``, the vfs driver: no overlay mounts), ``CONTAINERS_CONF`` with
``default_ulimits`` (root lacks CAP_SYS_RESOURCE here, podman's default
1048576 open files cannot be set), ``--events-backend none``.  IMAGE is made by
``podman import`` of a tarball of bench_start.py's busybox rootfs
(``specs/mkrootfs``).  Both runtimes use their default state roots
(``/run/pycontainer``, ``/run/runc``): podman's cleanup process does not get
``--runtime-flag``, so a private runtime root would leave every container's
state behind.

After 2 warm-up runs each, ``--runs`` (default 20) timed runs of the two are
interleaved, the order alternating each round.  Wall time is
``time.perf_counter`` around spawn .. ``os.wait4`` of podman; CPU time is the
``wait4`` rusage of podman and what it waited for, which misses conmon (it
double-forks) and the runtime's ``create`` (conmon runs it), so it is shown but
not compared.

It prints medians, p90s, the ratio nsinit/runc and the bar (podman+nsinit
median wall <= 1.10x podman+runc's), writes raw numbers with ``--json FILE``,
and removes everything it made (containers, the image, the storage dirs)
even on errors or Ctrl-C, then checks that nothing is left.  Needs root;
exits 0 with a message if podman or conmon is not installed.  Usage::

    python3 benchmarks/bench_podman.py [--runs N] [--json FILE] [--nsinit PATH]

See benchmarks/README.md for the last results.
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_start  # noqa: E402  (the bundle, spawning, machine info, signal handling)
from bench_start import INSTALLED_NSINIT, p90, spawn_and_wait  # noqa: E402

WARMUP_RUNS = 2
MIN_RUNS = 20
BAR_LIMIT = 1.10
IMAGE = f"localhost/bench-busybox-{os.getpid()}:latest"
CONTAINERS_CONF = '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
DEFAULT_STATE_ROOTS = {"nsinit": Path("/run/pycontainer"), "runc": Path("/run/runc")}
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Sample:
    wall_s: float
    cpu_s: float


@dataclass
class Summary:
    runs: int
    wall_median_ms: float
    wall_p90_ms: float
    wall_min_ms: float
    wall_max_ms: float
    cpu_median_ms: float


def summarize(samples: list[Sample]) -> Summary:
    wall = [s.wall_s * 1e3 for s in samples]
    return Summary(
        runs=len(samples),
        wall_median_ms=statistics.median(wall),
        wall_p90_ms=p90(wall),
        wall_min_ms=min(wall),
        wall_max_ms=max(wall),
        cpu_median_ms=statistics.median(s.cpu_s * 1e3 for s in samples),
    )


class Podman:
    """podman with private storage under ``top``."""

    def __init__(self, top: Path) -> None:
        self.top = top
        conf = top / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**bench_start.CHILD_ENV, "CONTAINERS_CONF": str(conf)}
        self.base = [
            shutil.which("podman") or "podman",
            "--root",
            str(top / "storage"),
            "--runroot",
            str(top / "run"),
            "--tmpdir",
            str(top / "tmp"),
            "--storage-driver",
            "vfs",
            "--events-backend",
            "none",
        ]

    def command(self, runtime: str, *args: str) -> list[str]:
        return [*self.base, "--runtime", runtime, "--cgroup-manager", "cgroupfs", *args]

    def quiet(self, *args: str, runtime: str | None = None) -> subprocess.CompletedProcess:
        argv = self.command(runtime, *args) if runtime else [*self.base, *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, env=self.env)


class EngineRuntime:
    """``podman run --rm`` with one OCI runtime."""

    def __init__(self, key: str, runtime: str, podman: Podman) -> None:
        self.key, self.runtime, self.podman = key, runtime, podman
        self.stderr_path = podman.top / f"{key}.stderr"

    def argv(self) -> list[str]:
        return self.podman.command(self.runtime, "run", "--rm", "--network", "none", IMAGE, "/bin/true")

    def run(self) -> Sample:
        done = spawn_and_wait(self.argv(), self.stderr_path, self.podman.env)
        if done.exit_code != 0:
            err = self.stderr_path.read_text(errors="replace").strip()
            raise RuntimeError(f"podman+{self.key}: run exited {done.exit_code}: {err}")
        return Sample(done.wall_s, done.cpu_s)


def run_rounds(runtimes: list[EngineRuntime], runs: int, progress: Callable[[str], None]) -> dict:
    samples: dict[str, list[Sample]] = {rt.key: [] for rt in runtimes}
    for round_no in range(-WARMUP_RUNS, runs):
        shift = round_no % len(runtimes)
        for rt in runtimes[shift:] + runtimes[:shift]:
            sample = rt.run()
            if round_no >= 0:
                samples[rt.key].append(sample)
        progress(f"round {round_no + 1}/{runs}" if round_no >= 0 else f"warm-up {round_no + WARMUP_RUNS + 1}")
    return samples


# -- reporting ------------------------------------------------------------------
def report(runtimes: list[EngineRuntime], samples: dict[str, list[Sample]], info: dict) -> dict:
    summaries = {k: summarize(v) for k, v in samples.items()}
    ns, rc = summaries["nsinit"], summaries["runc"]
    ratio = {"wall": ns.wall_median_ms / rc.wall_median_ms, "cpu": ns.cpu_median_ms / rc.cpu_median_ms}
    # The machine drifts (whole rounds slow down together): nsinit's run over
    # runc's in the same round, whose median the drift hardly moves.
    paired = [a.wall_s / b.wall_s for a, b in zip(samples["nsinit"], samples["runc"], strict=True)]
    ratio["wall_paired_median"] = statistics.median(paired)
    bar = {
        "bar": f"podman+nsinit wall / podman+runc <= {BAR_LIMIT:.2f}",
        "value": ratio["wall"],
        "limit": BAR_LIMIT,
        "pass": ratio["wall"] <= BAR_LIMIT,
    }
    result = {
        "machine": info,
        "runtimes": {rt.key: rt.runtime for rt in runtimes},
        "command": runtimes[0].argv(),
        "summary": {k: asdict(s) for k, s in summaries.items()},
        "ratio_nsinit_runc": ratio,
        "bars": [bar],
        "samples": {k: [asdict(s) for s in v] for k, v in samples.items()},
    }
    print()
    print(f"{info['date']}  nproc={info['nproc']}  kernel={info['kernel']}")
    print(f"{info['podman']}; {info['conmon']}; {info['runc']}; pycontainer at {info['code']}")
    print(f"nsinit: {info['nsinit']}: {info['nsinit_shebang']}")
    print()
    head = f"{'podman run --rm':<16}{'runs':>5}{'wall med':>10}{'wall p90':>10}{'wall min':>10}"
    print(head + f"{'wall max':>10}{'CPU med':>10}")
    print(f"{'':<21}" + "".join(f"{'ms':>10}" for _ in range(5)))
    for key, s in summaries.items():
        print(
            f"{'+ ' + key:<16}{s.runs:>5}{s.wall_median_ms:>10.1f}{s.wall_p90_ms:>10.1f}"
            f"{s.wall_min_ms:>10.1f}{s.wall_max_ms:>10.1f}{s.cpu_median_ms:>10.1f}"
        )
    print("CPU = podman and what it waited for; not conmon nor the runtime's create (conmon runs it).")
    print(f"\nratio of medians nsinit/runc: wall {ratio['wall']:.3f}x  (CPU {ratio['cpu']:.2f}x)")
    print(f"difference of medians: {ns.wall_median_ms - rc.wall_median_ms:+.1f} ms")
    print(f"median of the per-round ratios (same round): {ratio['wall_paired_median']:.3f}x  [info]")
    print("\nbars")
    print(f"  {'PASS' if bar['pass'] else 'FAIL'}  {bar['bar']:<44} {bar['value']:.3f}")
    for key, s in summaries.items():
        if s.wall_p90_ms > 1.5 * s.wall_median_ms:
            print(f"note: podman+{key} is noisy (wall p90 > 1.5x median)")
    return result


def machine_info(nsinit: Path) -> dict:
    info = bench_start.machine_info()
    for tool in ("podman", "conmon"):
        with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
            info[tool] = bench_start.quiet([tool, "--version"]).stdout.splitlines()[0]
        info.setdefault(tool, "?")
    info["nsinit"] = str(nsinit)
    info["nsinit_shebang"] = bench_start.shebang(nsinit)
    return info


# -- cleaning up ----------------------------------------------------------------
def libpod_cgroups() -> set[Path]:
    """Every cgroup directory at or below a ``libpod_parent`` (podman's cgroupfs parent)."""
    found: set[Path] = set()
    for parent in CGROUP_ROOT.glob("*/libpod_parent"):
        with contextlib.suppress(OSError):
            found.add(parent)
            found.update(p for p in parent.rglob("*") if p.is_dir())
    return found


def mounts_below(top: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    prefix = str(top) + "/"
    return sorted((p for p in points if p.startswith(prefix)), reverse=True)


def our_state_dirs(top: Path) -> dict[str, list[str]]:
    """Containers in the runtimes' default state roots whose files name ``top``."""
    out: dict[str, list[str]] = {}
    for key, root in DEFAULT_STATE_ROOTS.items():
        with contextlib.suppress(OSError):
            for entry in root.iterdir():
                if entry.name.startswith("~") or not entry.is_dir():
                    continue
                for name in ("state.json", "config.json"):
                    with contextlib.suppress(OSError):
                        if str(top) in (entry / name).read_text(errors="replace"):
                            out.setdefault(key, []).append(entry.name)
                            break
    return out


def cleanup(
    podman: Podman | None, runtimes: list[EngineRuntime], top: Path, cgroups_before: set[Path]
) -> bool:
    """Remove every container (through its own runtime) and the image, unmount
    anything left under ``top``, delete ``top``, remove the empty podman cgroup
    parents this run made; then report what is left.  True if nothing is."""
    problems = []
    if podman is not None:
        for rt in runtimes:
            podman.quiet("rm", "--all", "--force", "--time", "0", runtime=rt.runtime)
        left = podman.quiet("ps", "--all", "--quiet").stdout.split()
        if left:
            problems.append(f"podman containers left: {left}")
        podman.quiet("rmi", "--all", "--force")
        images = podman.quiet("images", "--quiet").stdout.split()
        if images:
            problems.append(f"podman images left: {images}")
    runtime_paths = {rt.key: rt.runtime for rt in runtimes}
    for key, ids in our_state_dirs(top).items():
        for cid in ids:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                bench_start.quiet([runtime_paths.get(key, key), "delete", "--force", cid])
    still = our_state_dirs(top)
    if still:
        problems.append(f"runtime state of our containers left: {still}")
    for mountpoint in mounts_below(top):
        subprocess.run(["umount", "-l", mountpoint], check=False, capture_output=True)
    shutil.rmtree(top, ignore_errors=True)
    if top.exists():
        problems.append(f"could not remove {top}")
    new_cgroups = sorted(libpod_cgroups() - cgroups_before, key=lambda p: len(p.parts), reverse=True)
    for cg in new_cgroups:  # deepest first; rmdir only succeeds on an empty cgroup
        if cg.name == "libpod_parent":
            with contextlib.suppress(OSError):
                cg.rmdir()
    new_cgroups = [str(p) for p in new_cgroups if p.exists()]
    if new_cgroups:
        problems.append(
            f"podman cgroups made during the run and still there (ours or another podman's): {new_cgroups}"
        )
    with contextlib.suppress(OSError):
        print()
        for line in problems:
            print(line)
    return not problems


# -- main -----------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=MIN_RUNS, help=f"timed runs per runtime (default {MIN_RUNS})")
    p.add_argument("--json", metavar="FILE", help="write raw samples, summaries, ratio and bar here")
    p.add_argument("--nsinit", type=Path, default=INSTALLED_NSINIT, help=f"default {INSTALLED_NSINIT}")
    args = p.parse_args(argv)
    if args.runs < 2:
        p.error("--runs must be at least 2")
    if args.runs < MIN_RUNS:
        print(f"warning: --runs {args.runs} < {MIN_RUNS}: a smoke test, too few to compare", file=sys.stderr)
    return args


def missing_tools(nsinit: Path) -> str | None:
    for tool in ("podman", "conmon", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install podman conmon runc)"
    if not os.access(nsinit, os.X_OK):
        return f"{nsinit} is not installed (scripts/install-nsinit)"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = missing_tools(args.nsinit)
    if why:
        print(f"bench_podman.py: skipped: {why}")
        return 0
    if os.geteuid() != 0:
        print("bench_podman.py needs root (it runs containers)", file=sys.stderr)
        return 1
    top = Path(tempfile.mkdtemp(prefix="bench_podman."))
    cgroups_before = libpod_cgroups()
    podman: Podman | None = None
    runtimes: list[EngineRuntime] = []
    try:
        with bench_start.signals_as_interrupts():
            podman = Podman(top)
            runtimes = [
                EngineRuntime("nsinit", str(args.nsinit.absolute()), podman),
                EngineRuntime("runc", shutil.which("runc") or "runc", podman),
            ]
            bundle = bench_start.make_bundle(top)
            tar = top / "rootfs.tar"
            subprocess.run(["tar", "-C", str(bundle / "rootfs"), "-cf", str(tar), "."], check=True)
            r = podman.quiet("import", "--quiet", str(tar), IMAGE)
            if r.returncode != 0:
                raise RuntimeError(f"podman import exited {r.returncode}: {r.stderr.strip()}")
            info = machine_info(args.nsinit)  # dated at the start
            print(f"image {IMAGE}; storage {top}", file=sys.stderr)
            samples = run_rounds(runtimes, args.runs, lambda msg: print(msg, end="\r", file=sys.stderr))
            result = report(runtimes, samples, info)
            if args.json:
                Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
                print(f"\nraw numbers written to {args.json}")
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"\nbench_podman.py: {e}", file=sys.stderr)
        return 1
    finally:
        with bench_start.uninterruptible():
            clean = cleanup(podman, runtimes, top, cgroups_before)
        with contextlib.suppress(OSError):
            print("cleanup: nothing of ours left" if clean else "cleanup: SOME THINGS WERE LEFT (see above)")
    return 0 if clean else 2


if __name__ == "__main__":
    sys.exit(main())
