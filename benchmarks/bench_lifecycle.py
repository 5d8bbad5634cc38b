#!/usr/bin/env python3
"""Lifecycle benchmark: how long does each runc-style command take on its own?

On the busybox bundle of bench_start.py (built by its ``make_bundle``, with
``process.args = ["/bin/sleep", "1000"]`` so the container stays up), one cycle
times, each as its own process spawned from here:

``create``  ``RT --root R create -b BUNDLE ID`` with stdin, stdout and stderr on
            /dev/null (the container keeps them: no pipe of ours is held open);
``start``   ``RT --root R start ID``;
``state``   ``RT --root R state ID`` (the container is running);
``kill``    ``RT --root R kill ID KILL``; then, untimed, ``state`` is polled
            until it says ``stopped``;
``delete``  ``RT --root R delete ID``.

for these runtimes:

``nsinit``        the installed nsinit (``/usr/local/bin/nsinit``, written by
                  ``scripts/install-nsinit``; ``--nsinit PATH`` for another);
``runc``          runc;
``crun``          crun inside bench_start.py's wrapper on a hybrid cgroup host
                  (``unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec
                  crun ...'``: crun 1.8 refuses the cgroup2 mount there), every
                  step, so create and delete see the same cgroup layout;
``crun-wrapper``  that wrapper alone exec'ing ``true``, once per step, so that
                  ``crun (net)`` = crun minus the wrapper's median can be shown.

Every runtime has its own ``--root`` in a temp dir and a fresh id per cycle.
After 3 warm-up rounds, ``--runs`` (default 30) timed rounds run one cycle of
every runtime each, the order rotating each round.  Per step it records wall
time (``time.perf_counter`` around spawn .. ``os.wait4``) and CPU time (the
``wait4`` rusage: the command and every descendant it waited for).

It prints, per step, the median, p90 and minimum wall and the median CPU, the
ratios nsinit/runc, nsinit/crun and nsinit/crun (net), and one bar per step
(nsinit median wall <= runc's); ``--json FILE`` writes the raw numbers.  It
removes every container, state root and temp dir it made, even on errors or
Ctrl-C, and then checks that none is left.  Needs root.  Usage::

    python3 benchmarks/bench_lifecycle.py [--runs N] [--json FILE] [--nsinit PATH] [--skip crun]

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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_start  # noqa: E402  (the bundle, spawning, the crun wrapper, cleanup helpers)
from bench_start import (  # noqa: E402
    ID_PREFIX,
    INSTALLED_NSINIT,
    WARMUP_RUNS,
    Spawned,
    StateRootCLI,
    p90,
    quiet,
    spawn_and_wait,
)

STEPS = ("create", "start", "state", "kill", "delete")
TOTAL = "total"  # the five steps of one cycle added up (the wait for "stopped" is not in it)
CONTAINER_ARGS = ("/bin/sleep", "1000")
STOP_TIMEOUT_S = 10.0


# -- samples and statistics ------------------------------------------------------
@dataclass
class StepSample:
    wall_s: float
    cpu_s: float


@dataclass
class StepSummary:
    runs: int
    wall_median_ms: float
    wall_p90_ms: float
    wall_min_ms: float
    cpu_median_ms: float


def summarize(samples: list[StepSample]) -> StepSummary:
    wall = [s.wall_s * 1e3 for s in samples]
    return StepSummary(
        runs=len(samples),
        wall_median_ms=statistics.median(wall),
        wall_p90_ms=p90(wall),
        wall_min_ms=min(wall),
        cpu_median_ms=statistics.median(s.cpu_s * 1e3 for s in samples),
    )


Cycle = dict[str, StepSample]  # step -> its sample, for one container


# -- the runtimes ---------------------------------------------------------------
class LifecycleRuntime(StateRootCLI):
    """A runc-compatible CLI, run as ``[prefix] PROG --root ROOT <command> ...``."""

    def __init__(self, key: str, label: str, prog: str, bundle: Path, work: Path, prefix=()) -> None:
        self.key, self.label = key, label
        self.prog, self.bundle, self.prefix = prog, bundle, list(prefix)
        self.root = work / "roots" / key
        self.root.mkdir(parents=True)
        self.stderr_path = work / f"{key}.stderr"
        self.work = work

    def cycle(self, cid: str) -> Cycle:
        out: Cycle = {}
        out["create"] = self._create(cid)
        out["start"] = self._step("start", cid)
        out["state"] = self._step("state", cid)
        out["kill"] = self._step("kill", cid, "KILL")
        self.wait_stopped(cid)
        out["delete"] = self._step("delete", cid)
        if (self.root / cid).exists():
            raise RuntimeError(f"{self.label}: delete {cid} exited 0 but its state dir is still there")
        return out

    def _create(self, cid: str) -> StepSample:
        argv = self.command("create", "-b", str(self.bundle), cid)
        done = spawn_and_wait(argv, None)  # stdio all /dev/null: the container keeps it
        if done.exit_code != 0:
            why = self._why_create_fails()
            raise RuntimeError(f"{self.label}: create {cid} exited {done.exit_code}: {why}")
        return StepSample(done.wall_s, done.cpu_s)

    def _why_create_fails(self) -> str:
        """create's stderr went to /dev/null: create once more (untimed, another id)
        with stderr to a file, to say why."""
        cid = f"{ID_PREFIX}{self.key}-diagnose"
        spawn_and_wait(self.command("create", "-b", str(self.bundle), cid), self.stderr_path)
        self.delete(cid)
        return self.stderr_path.read_text(errors="replace").strip() or "(no message)"

    def _step(self, step: str, cid: str, *extra: str) -> StepSample:
        done: Spawned = spawn_and_wait(self.command(step, cid, *extra), self.stderr_path)
        if done.exit_code != 0:
            err = self.stderr_path.read_text(errors="replace").strip()
            raise RuntimeError(f"{self.label}: {step} {cid} exited {done.exit_code}: {err}")
        return StepSample(done.wall_s, done.cpu_s)

    def status(self, cid: str) -> str:
        r = quiet(self.command("state", cid))
        if r.returncode != 0:
            raise RuntimeError(f"{self.label}: state {cid} exited {r.returncode}: {r.stderr.strip()}")
        return json.loads(r.stdout)["status"]

    def wait_stopped(self, cid: str) -> None:
        """Poll ``state`` (untimed) until the container is stopped."""
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while (status := self.status(cid)) != "stopped":
            if time.monotonic() > deadline:
                after = f"{STOP_TIMEOUT_S:.0f} s after kill KILL"
                raise RuntimeError(f"{self.label}: {cid} still {status} {after}")
            time.sleep(0.002)


class WrapperLifecycle(LifecycleRuntime):
    """The crun wrapper alone, exec'ing ``true`` once per step: no container."""

    def __init__(self, prefix: list[str], work: Path) -> None:
        self.key, self.label = "crun-wrapper", "crun wrapper alone"
        self.argv = [*prefix, shutil.which("true") or "/bin/true"]
        self.stderr_path = work / f"{self.key}.stderr"

    def cycle(self, cid: str) -> Cycle:
        out: Cycle = {}
        for step in STEPS:
            done = spawn_and_wait(self.argv, self.stderr_path)
            if done.exit_code != 0:
                err = self.stderr_path.read_text(errors="replace").strip()
                raise RuntimeError(f"{self.label} exited {done.exit_code}: {err}")
            out[step] = StepSample(done.wall_s, done.cpu_s)
        return out

    def delete(self, cid: str) -> None:
        pass

    def leftovers(self) -> list[str]:
        return []


RUNTIME_KEYS = ("nsinit", "runc", "crun")


def make_runtimes(bundle: Path, work: Path, nsinit: Path, skip: set[str]) -> list[LifecycleRuntime]:
    runtimes: list[LifecycleRuntime] = []
    if "nsinit" not in skip:
        runtimes.append(LifecycleRuntime("nsinit", f"nsinit ({nsinit})", str(nsinit), bundle, work))
    if "runc" not in skip:
        runtimes.append(LifecycleRuntime("runc", "runc", shutil.which("runc") or "runc", bundle, work))
    if "crun" not in skip:
        crun = shutil.which("crun") or "crun"
        wrapper = bench_start.crun_wrapper()
        if wrapper:
            label = "crun (in unshare wrapper)"
            runtimes.append(LifecycleRuntime("crun", label, crun, bundle, work, wrapper))
            runtimes.append(WrapperLifecycle(wrapper, work))
        else:
            runtimes.append(LifecycleRuntime("crun", "crun", crun, bundle, work))
    return runtimes


# -- the measuring loop ---------------------------------------------------------
def run_rounds(
    runtimes: list[LifecycleRuntime], runs: int, progress: Callable[[str], None]
) -> dict[str, list[Cycle]]:
    """WARMUP_RUNS untimed then ``runs`` timed rounds; each round runs one cycle
    of every runtime, starting one further along the list than the last round."""
    cycles: dict[str, list[Cycle]] = {rt.key: [] for rt in runtimes}
    counter = 0
    for round_no in range(-WARMUP_RUNS, runs):
        shift = round_no % len(runtimes)
        for rt in runtimes[shift:] + runtimes[:shift]:
            counter += 1
            cid = f"{ID_PREFIX}{rt.key}-{counter}"
            try:
                cycle = rt.cycle(cid)
            finally:
                rt.delete(cid)  # after a failed step: untimed, --force
            if round_no >= 0:
                cycles[rt.key].append(cycle)
        progress(f"round {round_no + 1}/{runs}" if round_no >= 0 else f"warm-up {round_no + WARMUP_RUNS + 1}")
    return cycles


# -- reporting ------------------------------------------------------------------
Summaries = dict[str, dict[str, StepSummary]]  # runtime -> step (or "total") -> summary


def summarize_all(cycles: dict[str, list[Cycle]]) -> Summaries:
    out: Summaries = {}
    for key, runs in cycles.items():
        out[key] = {step: summarize([c[step] for c in runs]) for step in STEPS}
        totals = [StepSample(sum(c[s].wall_s for s in STEPS), sum(c[s].cpu_s for s in STEPS)) for c in runs]
        out[key][TOTAL] = summarize(totals)
    if "crun" in out and "crun-wrapper" in out:
        out["crun (net)"] = {
            step: net(out["crun"][step], out["crun-wrapper"][step]) for step in (*STEPS, TOTAL)
        }
    return out


def net(crun: StepSummary, wrapper: StepSummary) -> StepSummary:
    """crun with the wrapper's median wall and CPU subtracted."""
    return StepSummary(
        runs=crun.runs,
        wall_median_ms=crun.wall_median_ms - wrapper.wall_median_ms,
        wall_p90_ms=crun.wall_p90_ms - wrapper.wall_median_ms,
        wall_min_ms=crun.wall_min_ms - wrapper.wall_median_ms,
        cpu_median_ms=crun.cpu_median_ms - wrapper.cpu_median_ms,
    )


def format_table(summaries: Summaries) -> str:
    head = f"{'step':<8}{'runtime':<14}{'runs':>5}"
    head += f"{'wall med':>10}{'wall p90':>10}{'wall min':>10}{'CPU med':>10}"
    units = f"{'':<27}{'ms':>10}{'ms':>10}{'ms':>10}{'ms':>10}"
    lines = [head, units]
    for step in (*STEPS, TOTAL):
        for i, (key, per_step) in enumerate(summaries.items()):
            s = per_step[step]
            lines.append(
                f"{step if i == 0 else '':<8}{key:<14}{s.runs:>5}{s.wall_median_ms:>10.1f}"
                f"{s.wall_p90_ms:>10.1f}{s.wall_min_ms:>10.1f}{s.cpu_median_ms:>10.1f}"
            )
    return "\n".join(lines)


RATIO_PAIRS = (
    ("nsinit", "runc"),
    ("nsinit", "crun"),
    ("nsinit", "crun (net)"),
    ("runc", "crun"),
    ("runc", "crun (net)"),
)


def ratios(summaries: Summaries) -> list[dict]:
    out = []
    for a, b in RATIO_PAIRS:
        if a not in summaries or b not in summaries:
            continue
        out.append(
            {
                "pair": f"{a}/{b}",
                "wall": {
                    step: summaries[a][step].wall_median_ms / summaries[b][step].wall_median_ms
                    for step in (*STEPS, TOTAL)
                },
                "cpu": {
                    step: summaries[a][step].cpu_median_ms / summaries[b][step].cpu_median_ms
                    for step in (*STEPS, TOTAL)
                },
            }
        )
    return out


def format_ratios(rows: list[dict], kind: str) -> str:
    lines = [f"{'ratios of ' + kind + ' medians':<26}" + "".join(f"{s:>8}" for s in (*STEPS, TOTAL))]
    for r in rows:
        lines.append(f"  {r['pair']:<24}" + "".join(f"{r[kind][s]:>7.2f}x" for s in (*STEPS, TOTAL)))
    return "\n".join(lines)


def bars(summaries: Summaries) -> list[dict]:
    """One bar per step: nsinit's median wall <= runc's; the whole cycle as [info]."""
    if "nsinit" not in summaries or "runc" not in summaries:
        return []
    out = []
    for step in (*STEPS, TOTAL):
        value = summaries["nsinit"][step].wall_median_ms / summaries["runc"][step].wall_median_ms
        name = f"nsinit {step} wall / runc <= 1.0" + (" [info]" if step == TOTAL else "")
        out.append({"bar": name, "step": step, "value": value, "limit": 1.0, "pass": value <= 1.0})
    return out


def noisy(summaries: Summaries, factor: float = 1.5) -> list[str]:
    return [
        f"{key} {step}"
        for key, per_step in summaries.items()
        if key != "crun (net)"
        for step, s in per_step.items()
        if step != TOTAL and s.wall_p90_ms > factor * s.wall_median_ms
    ]


def report(runtimes: list[LifecycleRuntime], cycles: dict[str, list[Cycle]], info: dict) -> dict:
    summaries = summarize_all(cycles)
    result = {
        "machine": info,
        "runtimes": {rt.key: rt.label for rt in runtimes},
        "summary": {k: {step: asdict(s) for step, s in v.items()} for k, v in summaries.items()},
        "ratios": ratios(summaries),
        "bars": bars(summaries),
        "samples": {k: [{step: asdict(s) for step, s in c.items()} for c in v] for k, v in cycles.items()},
    }
    print()
    print(f"{info['date']}  nproc={info['nproc']}  kernel={info['kernel']}")
    print(f"{info['runc']}; {info['crun']}; pycontainer at {info['code']}")
    print(f"nsinit: {info['nsinit']}: {info['nsinit_shebang']}")
    print()
    print(format_table(summaries))
    print(f"{TOTAL} = the five steps of one cycle added up (not the untimed wait for 'stopped').")
    if "crun (net)" in summaries:
        print("crun (net) = crun minus the crun-wrapper's median (wall, CPU), step by step.")
    print()
    print(format_ratios(result["ratios"], "wall"))
    print()
    print(format_ratios(result["ratios"], "cpu"))
    print("\nbars")
    for b in result["bars"]:
        print(f"  {'PASS' if b['pass'] else 'FAIL'}  {b['bar']:<40} {b['value']:.2f}")
    for what in noisy(summaries):
        print(f"note: {what} is noisy (wall p90 > 1.5x median)")
    return result


# -- cleaning up ----------------------------------------------------------------
def cleanup(runtimes: list[LifecycleRuntime], work: Path) -> bool:
    """Delete (--force) every container we left, check none remains, remove
    ``work``; report only after all that.  True if all was clean."""
    lines = []
    for rt in runtimes:
        for cid in rt.leftovers():
            rt.delete(cid)
        if isinstance(rt, WrapperLifecycle):
            continue
        lines.append((rt.key, rt.root, rt.leftovers()))
    cgroups = bench_start.leftover_cgroups()
    shutil.rmtree(work, ignore_errors=True)
    with contextlib.suppress(OSError):
        print()
        for key, root, left in lines:
            print(f"{key:<14} root {root}: {len(left)} container(s) of ours left {left or ''}")
        if cgroups:
            print(f"cgroups of ours left: {cgroups}")
        if work.exists():
            print(f"could not remove {work}")
    return not cgroups and not work.exists() and not any(left for _, _, left in lines)


# -- main -----------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="timed cycles per runtime (default 30)")
    p.add_argument("--json", metavar="FILE", help="write raw samples, summaries, ratios and bars here")
    p.add_argument(
        "--nsinit", type=Path, default=INSTALLED_NSINIT, help=f"nsinit to time (default {INSTALLED_NSINIT})"
    )
    p.add_argument(
        "--skip", action="append", default=[], choices=("runc", "crun"), help="leave one out (repeatable)"
    )
    args = p.parse_args(argv)
    if args.runs < 2:
        p.error("--runs must be at least 2")
    if args.runs < 30:
        print(f"warning: --runs {args.runs} < 30: fine for a smoke test, too few to compare", file=sys.stderr)
    if not os.access(args.nsinit, os.X_OK):
        p.error(f"{args.nsinit} is not an executable (scripts/install-nsinit installs /usr/local/bin/nsinit)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench_lifecycle.py needs root (it runs containers)", file=sys.stderr)
        return 1
    bench_start.ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="bench_lifecycle."))
    runtimes: list[LifecycleRuntime] = []
    try:
        with bench_start.signals_as_interrupts():
            bundle = bench_start.make_bundle(work, CONTAINER_ARGS)
            runtimes = make_runtimes(bundle, work, args.nsinit.absolute(), set(args.skip))
            print(f"bundle {bundle}; runtimes: {', '.join(rt.key for rt in runtimes)}", file=sys.stderr)
            info = bench_start.machine_info()  # dated at the start
            info["nsinit"] = str(args.nsinit)
            info["nsinit_shebang"] = bench_start.shebang(args.nsinit)
            cycles = run_rounds(runtimes, args.runs, lambda msg: print(msg, end="\r", file=sys.stderr))
            result = report(runtimes, cycles, info)
            if args.json:
                Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
                print(f"\nraw numbers written to {args.json}")
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
        print(f"\nbench_lifecycle.py: {e}", file=sys.stderr)
        return 1
    finally:
        with bench_start.uninterruptible():
            clean = cleanup(runtimes, work)
        with contextlib.suppress(OSError):
            print("cleanup: nothing of ours left" if clean else "cleanup: SOME THINGS WERE LEFT (see above)")
    return 0 if clean else 2


if __name__ == "__main__":
    sys.exit(main())
