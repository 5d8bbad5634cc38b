#!/usr/bin/env python3
"""Start-up benchmark: how long does running ``/bin/true`` in a container take?

One run builds a busybox bundle in a temporary directory (a rootfs made by
``specs/mkrootfs`` and one config.json derived from ``specs/busybox/config.json``
with ``process.args = ["/bin/true"]``, ``terminal: false``, an absolute
``root.path``) and times, on that same bundle:

``nsinit``            ``bin/nsinit`` of this checkout, exec'd directly so its own
                      shebang picks the interpreter (``env python3`` finds this
                      Python: its directory goes first on the children's PATH);
``nsinit-installed``  the installed script: ``/usr/local/bin/nsinit`` as
                      ``scripts/install-nsinit`` writes it (absolute interpreter,
                      ``-I -S``), else pip's ``<sys.prefix>/bin/nsinit`` (if any);
``runc``              ``runc run``;
``crun``              ``crun run`` inside ``unshare -m sh -c 'umount
                      /sys/fs/cgroup/unified && exec crun ...'`` on a hybrid
                      cgroup host (crun 1.8 refuses the cgroup2 mount there);
``crun-wrapper``      that wrapper alone (``... && exec true``), so that
                      ``crun (net)`` = crun minus the wrapper's median can be shown;
``library``           ``Container.create + start + wait + delete`` in this very
                      Python process, everything already imported (no subprocess).

Every runtime gets its own ``--root`` (state directory) in the temp dir and a
fresh container id per run; runs are foreground ``run`` (create, start, wait,
delete) and after each one the script checks the container is gone, deleting it
if not (untimed).  After 3 warm-up runs each, ``--runs`` (default 30) timed runs
of every runtime are interleaved round-robin, the order rotating each round, so
drift on the machine hits all of them alike.

Per run it records
  * wall time: ``time.perf_counter`` around spawn .. ``os.wait4``;
  * CPU time: ``ru_utime + ru_stime`` from ``os.wait4``'s rusage, i.e. the
    runtime process and every descendant it waited for (the container's init);
    for the library, the ``getrusage`` deltas of this process (SELF) plus its
    reaped children (CHILDREN, the container's init);
  * peak RSS: ``ru_maxrss`` of the runtime process (the largest of it and its
    waited-for descendants), from a second, untimed run of the same command
    under GNU ``time -f %M``: spawned from Python, a child's ``ru_maxrss`` can
    never be below Python's own RSS (see SpawnedRuntime); for the library,
    this process's VmHWM, reset before each run via ``/proc/self/clear_refs``.

It prints medians, p90s, pairwise ratios and the start-up bars (``nsinit run``
wall <= runc's; nsinit peak RSS <= 2x runc's; library wall <= crun's whole
run), writes the raw numbers with ``--json FILE``, and removes everything it
made (containers, state roots, temp dirs) even on errors or Ctrl-C, then checks
no container of its own is left.  Needs root.  Usage::

    python3 benchmarks/bench_start.py [--runs N] [--json FILE] [--skip RUNTIME]

See benchmarks/README.md for what the columns mean and the last results.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHECKOUT_NSINIT = REPO / "bin" / "nsinit"
# scripts/install-nsinit's copy keeps -I -S; pip's copy loses them (see there).
INSTALLED_NSINIT = next(
    (p for p in (Path("/usr/local/bin/nsinit"), Path(sys.prefix) / "bin" / "nsinit") if p.is_file()),
    Path(sys.prefix) / "bin" / "nsinit",
)
EXAMPLE_CONFIG = REPO / "specs" / "busybox" / "config.json"
MKROOTFS = REPO / "specs" / "mkrootfs"
HYBRID_CGROUP2 = "/sys/fs/cgroup/unified"
# The crun wrapper: $0 is the program to exec, "$@" its arguments.
WRAPPER_SCRIPT = f'umount {HYBRID_CGROUP2} && exec "$0" "$@"'
ID_PREFIX = f"bench-{os.getpid()}-"
WARMUP_RUNS = 3
CHILD_GRACE_S = 10.0
GNU_TIME = "/usr/bin/time"  # Debian package "time"; not the shell keyword

sys.path.insert(0, str(REPO / "src"))  # the checkout's library, as bin/nsinit does


def child_environment() -> dict[str, str]:
    """Our environment with this interpreter's directory first on PATH, so the
    ``env python3`` of bin/nsinit's shebang finds this Python (with pycontainer
    installed) and not, say, a pyenv shim, which adds ~50 ms of bash per start."""
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    if env.get("PATH", "").split(os.pathsep)[0] != bindir:
        env["PATH"] = os.pathsep.join([bindir, env.get("PATH", os.defpath)])
    return env


CHILD_ENV = child_environment()


# -- samples and statistics ------------------------------------------------------
@dataclass
class Sample:
    wall_s: float
    cpu_s: float
    maxrss_kib: int


@dataclass
class Summary:
    runs: int
    wall_median_ms: float
    wall_p90_ms: float
    wall_min_ms: float
    cpu_median_ms: float
    rss_median_mib: float
    rss_max_mib: float


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def summarize(samples: list[Sample]) -> Summary:
    wall = [s.wall_s * 1e3 for s in samples]
    rss = [s.maxrss_kib / 1024 for s in samples]
    return Summary(
        runs=len(samples),
        wall_median_ms=statistics.median(wall),
        wall_p90_ms=p90(wall),
        wall_min_ms=min(wall),
        cpu_median_ms=statistics.median(s.cpu_s * 1e3 for s in samples),
        rss_median_mib=statistics.median(rss),
        rss_max_mib=max(rss),
    )


# -- running a command and measuring it ------------------------------------------
@dataclass
class Spawned:
    wall_s: float
    cpu_s: float
    exit_code: int


def spawn_and_wait(argv: list[str], stderr_path: Path | None, env: dict[str, str] | None = None) -> Spawned:
    """Run ``argv`` (argv[0] an absolute path) with stdin/stdout on /dev/null and
    stderr to ``stderr_path`` (/dev/null if None), in ``env`` (CHILD_ENV if None):
    its wall time, CPU time (``os.wait4`` rusage: itself plus every descendant it
    waited for) and exit code.  The child gets its own process group so a Ctrl-C
    reaches only us; if we are interrupted we let it finish (it runs /bin/true)
    before re-raising."""
    err = (
        (os.devnull, os.O_WRONLY, 0)
        if stderr_path is None
        else (str(stderr_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    )
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, *err),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, CHILD_ENV if env is None else env, file_actions=actions, setpgroup=0)
    try:
        _, status, usage = os.wait4(pid, 0)
    except BaseException:
        reap_gracefully(pid)
        raise
    wall = time.perf_counter() - start
    return Spawned(wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status))


def reap_gracefully(pid: int) -> None:
    """Wait up to CHILD_GRACE_S for ``pid``, then kill it; never raises."""
    deadline = time.monotonic() + CHILD_GRACE_S
    with contextlib.suppress(ChildProcessError):
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def quiet(argv: list[str]) -> subprocess.CompletedProcess:
    """An untimed helper command (delete, list, versions), output captured."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60, env=CHILD_ENV)


# -- the runtimes ---------------------------------------------------------------
class Runtime:
    """Something that can run the bundle's /bin/true once, as container ``cid``."""

    key: str
    label: str

    def run(self, cid: str) -> Sample:
        raise NotImplementedError

    def delete(self, cid: str) -> None:
        """Remove ``cid`` if it still exists (untimed)."""

    def leftovers(self) -> list[str]:
        """Ids of this benchmark's containers still known to the runtime."""
        return []


class SpawnedRuntime(Runtime):
    """A command run once timed, spawned straight from this process (wall and
    CPU time), then once more under GNU time for its peak RSS.

    Why two runs: ``ru_maxrss`` from ``os.wait4`` of a child spawned by this
    process is never below *this* process's own peak RSS, because exec records
    the high-water mark of the memory it replaces, which for a child of Python
    is a copy of Python's (~20 MiB here, whatever the runtime really uses).
    GNU time forks the runtime from its own ~1 MiB process and reports the
    ``ru_maxrss`` of its ``wait4``, which is then the runtime's own (and its
    waited-for descendants')."""

    def __init__(self, key: str, label: str, work: Path) -> None:
        self.key, self.label = key, label
        self.stderr_path = work / f"{key}.stderr"
        self.rss_path = work / f"{key}.maxrss"

    def argv(self, cid: str) -> list[str]:
        raise NotImplementedError

    def run(self, cid: str) -> Sample:
        timed = self._checked(self.argv(cid), cid)
        self.delete(cid)
        rss_cid = cid + "-rss"
        self._checked([GNU_TIME, "-f", "%M", "-o", str(self.rss_path), *self.argv(rss_cid)], rss_cid)
        self.delete(rss_cid)
        return Sample(timed.wall_s, timed.cpu_s, int(self.rss_path.read_text().split()[-1]))

    def _checked(self, argv: list[str], cid: str) -> Spawned:
        done = spawn_and_wait(argv, self.stderr_path)
        if done.exit_code != 0:
            err = self.stderr_path.read_text(errors="replace").strip()
            raise RuntimeError(f"{self.label}: run {cid} exited {done.exit_code}: {err}")
        return done


class StateRootCLI:
    """What every runc-compatible CLI shares here: ``[prefix] PROG --root ROOT
    ...`` commands with a state root of its own, and cleaning up after them.
    Subclasses set ``prog``, ``prefix`` and ``root``."""

    prog: str
    prefix: list[str]
    root: Path

    def command(self, *args: str) -> list[str]:
        return [*self.prefix, self.prog, "--root", str(self.root), *args]

    def delete(self, cid: str) -> None:
        """Remove ``cid`` if it still exists (untimed), killing it if need be."""
        if (self.root / cid).exists():
            quiet(self.command("delete", "--force", cid))

    def leftovers(self) -> list[str]:
        listed = quiet(self.command("list", "-q")).stdout.split()
        on_disk = os.listdir(self.root) if self.root.is_dir() else []
        return sorted({i for i in [*listed, *on_disk] if i.startswith(ID_PREFIX)})


class CommandRuntime(StateRootCLI, SpawnedRuntime):
    """A runtime CLI run as ``PROG --root ROOT run -b BUNDLE ID``.  ``prefix`` is
    prepended to every command (the crun wrapper)."""

    def __init__(self, key: str, label: str, prog: str, bundle: Path, work: Path, prefix=()) -> None:
        super().__init__(key, label, work)
        self.prog, self.bundle, self.prefix = prog, bundle, list(prefix)
        self.root = work / "roots" / key
        self.root.mkdir(parents=True)

    def argv(self, cid: str) -> list[str]:
        return self.command("run", "-b", str(self.bundle), cid)


class WrapperRuntime(SpawnedRuntime):
    """The crun wrapper alone, exec'ing ``true``: no container."""

    def __init__(self, prefix: list[str], work: Path) -> None:
        super().__init__("crun-wrapper", "crun wrapper alone", work)
        self._argv = [*prefix, shutil.which("true") or "/bin/true"]

    def argv(self, cid: str) -> list[str]:
        return self._argv


class LibraryRuntime(Runtime):
    """pycontainer's Container API, in this process."""

    def __init__(self, bundle: Path, work: Path) -> None:
        from pycontainer import Container

        self.Container = Container
        self.key, self.label = "library", "library in-process"
        self.bundle = bundle
        self.root = work / "roots" / "library"
        self.root.mkdir(parents=True)

    def run(self, cid: str) -> Sample:
        reset_peak_rss()
        self_0 = resource.getrusage(resource.RUSAGE_SELF)
        children_0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        try:
            code = self._create_start_wait_delete(cid)
        except Exception as e:  # pycontainer's own errors: one line, like the CLIs'
            raise RuntimeError(f"{self.label}: run {cid}: {type(e).__name__}: {e}") from e
        wall = time.perf_counter() - start
        self_1 = resource.getrusage(resource.RUSAGE_SELF)
        children_1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if code != 0:
            raise RuntimeError(f"library run {cid}: /bin/true exited {code}")
        cpu = cpu_seconds(self_1) - cpu_seconds(self_0) + cpu_seconds(children_1) - cpu_seconds(children_0)
        return Sample(wall, cpu, peak_rss_kib())

    def _create_start_wait_delete(self, cid: str) -> int:
        container = self.Container.create(cid, self.bundle, root=self.root)
        try:
            container.start()
            code = container.wait()
            container.delete()
        except BaseException:
            with contextlib.suppress(Exception):
                container.delete(force=True)
            raise
        return code

    def delete(self, cid: str) -> None:
        if (self.root / cid).exists():
            with contextlib.suppress(Exception):
                self.Container.load(cid, self.root).delete(force=True)

    def leftovers(self) -> list[str]:
        on_disk = os.listdir(self.root) if self.root.is_dir() else []
        return sorted(i for i in on_disk if i.startswith(ID_PREFIX))


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def reset_peak_rss() -> None:
    """Reset this process's VmHWM (Linux >= 4.0: '5' to clear_refs)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_kib() -> int:
    """VmHWM of this process, falling back to ru_maxrss."""
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- setting up -----------------------------------------------------------------
def ensure_tools() -> None:
    """runc, crun, GNU time (peak RSS) and busybox (for mkrootfs), installed
    with apt-get if absent."""
    missing = [pkg for tool, pkg in (("runc", "runc"), ("crun", "crun")) if not shutil.which(tool)]
    if not os.access(GNU_TIME, os.X_OK):
        missing.append("time")
    if not (shutil.which("busybox") or os.path.exists("/bin/busybox")):
        missing.append("busybox-static")
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get ...", file=sys.stderr)
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(install, check=True)


def make_bundle(work: Path, args: tuple[str, ...] = ("/bin/true",)) -> Path:
    """A busybox rootfs and a config.json running ``args`` (/bin/true)."""
    bundle = work / "bundle"
    rootfs = bundle / "rootfs"
    subprocess.run([str(MKROOTFS), str(rootfs)], check=True)
    config = json.loads(EXAMPLE_CONFIG.read_text())
    # crun 1.8 only knows OCI 1.0.x ("unknown version specified"); what the
    # config uses is 1.0-compatible, so every runtime gets the same 1.0.2 file.
    config["ociVersion"] = "1.0.2"
    config["process"]["args"] = list(args)
    config["process"]["terminal"] = False
    config["root"]["path"] = str(rootfs)
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    return bundle


def is_hybrid_cgroup_host() -> bool:
    """Is a cgroup2 hierarchy mounted at /sys/fs/cgroup/unified (hybrid layout)?"""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[4] == HYBRID_CGROUP2 and fields[sep + 1] == "cgroup2":
                return True
    return False


RUNTIME_KEYS = ("nsinit", "nsinit-installed", "runc", "crun", "library")


def make_runtimes(bundle: Path, work: Path, skip: set[str]) -> list[Runtime]:
    """The runtimes to measure, in round-robin order (``skip``: keys to leave out)."""
    runtimes: list[Runtime] = []
    if "nsinit" not in skip:
        label = "nsinit (checkout bin/nsinit)"
        runtimes.append(CommandRuntime("nsinit", label, str(CHECKOUT_NSINIT), bundle, work))
    if "nsinit-installed" not in skip and INSTALLED_NSINIT.is_file():
        label = f"nsinit (installed {INSTALLED_NSINIT})"
        runtimes.append(CommandRuntime("nsinit-installed", label, str(INSTALLED_NSINIT), bundle, work))
    if "runc" not in skip:
        runtimes.append(CommandRuntime("runc", "runc", shutil.which("runc") or "runc", bundle, work))
    if "crun" not in skip:
        runtimes += crun_runtimes(bundle, work)
    if "library" not in skip:
        runtimes.append(LibraryRuntime(bundle, work))
    return runtimes


def crun_wrapper() -> list[str]:
    """The command crun must run in on this host: ``unshare -m sh -c 'umount
    /sys/fs/cgroup/unified && exec "$0" "$@"'`` on a hybrid cgroup host, else none."""
    if not is_hybrid_cgroup_host():
        return []
    return [shutil.which("unshare") or "/usr/bin/unshare", "-m", "/bin/sh", "-c", WRAPPER_SCRIPT]


def crun_runtimes(bundle: Path, work: Path) -> list[Runtime]:
    """crun, plus the wrapper alone when crun must run in one (hybrid cgroups)."""
    crun = shutil.which("crun") or "crun"
    wrapper = crun_wrapper()
    if not wrapper:
        return [CommandRuntime("crun", "crun", crun, bundle, work)]
    return [
        CommandRuntime("crun", "crun (in unshare wrapper)", crun, bundle, work, wrapper),
        WrapperRuntime(wrapper, work),
    ]


# -- the measuring loop ---------------------------------------------------------
def run_rounds(
    runtimes: list[Runtime], runs: int, progress: Callable[[str], None]
) -> dict[str, list[Sample]]:
    """WARMUP_RUNS untimed then ``runs`` timed rounds; each round runs every
    runtime once, starting one further along the list than the last round."""
    samples: dict[str, list[Sample]] = {rt.key: [] for rt in runtimes}
    counter = 0
    for round_no in range(-WARMUP_RUNS, runs):
        shift = round_no % len(runtimes)
        for rt in runtimes[shift:] + runtimes[:shift]:
            counter += 1
            sample = rt.run(f"{ID_PREFIX}{rt.key}-{counter}")
            if round_no >= 0:
                samples[rt.key].append(sample)
        progress(f"round {round_no + 1}/{runs}" if round_no >= 0 else f"warm-up {round_no + WARMUP_RUNS + 1}")
    return samples


# -- reporting ------------------------------------------------------------------
def net_crun(summaries: dict[str, Summary]) -> Summary | None:
    """crun with the wrapper's median wall and CPU subtracted."""
    if "crun-wrapper" not in summaries:
        return None
    crun, wrap = summaries["crun"], summaries["crun-wrapper"]
    return Summary(
        runs=crun.runs,
        wall_median_ms=crun.wall_median_ms - wrap.wall_median_ms,
        wall_p90_ms=crun.wall_p90_ms - wrap.wall_median_ms,
        wall_min_ms=crun.wall_min_ms - wrap.wall_median_ms,
        cpu_median_ms=crun.cpu_median_ms - wrap.cpu_median_ms,
        rss_median_mib=crun.rss_median_mib,
        rss_max_mib=crun.rss_max_mib,
    )


def format_table(summaries: dict[str, Summary]) -> str:
    head = f"{'runtime':<18}{'runs':>5}{'wall med':>10}{'wall p90':>10}{'wall min':>10}"
    head += f"{'CPU med':>10}{'RSS med':>9}{'RSS max':>9}"
    units = f"{'':<23}{'ms':>10}{'ms':>10}{'ms':>10}{'ms':>10}{'MiB':>9}{'MiB':>9}"
    lines = [head, units]
    for key, s in summaries.items():
        lines.append(
            f"{key:<18}{s.runs:>5}{s.wall_median_ms:>10.1f}{s.wall_p90_ms:>10.1f}{s.wall_min_ms:>10.1f}"
            f"{s.cpu_median_ms:>10.1f}{s.rss_median_mib:>9.1f}{s.rss_max_mib:>9.1f}"
        )
    return "\n".join(lines)


OURS = ("nsinit", "nsinit-installed", "library")
BASELINES = ("runc", "crun", "crun (net)")
OTHER_PAIRS = (
    ("runc", "crun"),
    ("runc", "crun (net)"),
    ("nsinit", "nsinit-installed"),
    ("library", "nsinit"),
    ("library", "nsinit-installed"),
)


def ratio_pairs(keys: list[str]) -> list[tuple[str, str]]:
    """nsinit variants and the library against runc and crun, then the rest."""
    pairs = [(a, b) for a in OURS for b in BASELINES] + list(OTHER_PAIRS)
    return [(a, b) for a, b in pairs if a in keys and b in keys]


def ratios(summaries: dict[str, Summary]) -> list[dict]:
    return [
        {
            "pair": f"{a}/{b}",
            "wall": summaries[a].wall_median_ms / summaries[b].wall_median_ms,
            "cpu": summaries[a].cpu_median_ms / summaries[b].cpu_median_ms,
        }
        for a, b in ratio_pairs(list(summaries))
    ]


def bars(summaries: dict[str, Summary]) -> list[dict]:
    """The start-up bars: nsinit wall <= runc's, nsinit RSS <= 2x runc's,
    library wall <= crun's whole run (net of the wrapper when there is one).
    A bar whose runtimes were not measured is left out."""
    out = []
    for key in ("nsinit", "nsinit-installed"):
        if key in summaries and "runc" in summaries:
            s, runc = summaries[key], summaries["runc"]
            out.append(_bar(f"{key} run wall / runc <= 1.0", s.wall_median_ms / runc.wall_median_ms, 1.0))
            out.append(_bar(f"{key} peak RSS / runc <= 2.0", s.rss_median_mib / runc.rss_median_mib, 2.0))
    if "library" not in summaries or "crun" not in summaries:
        return out
    lib = summaries["library"].wall_median_ms
    crun_key = "crun (net)" if "crun (net)" in summaries else "crun"
    out.append(_bar(f"library wall / {crun_key} wall <= 1.0", lib / summaries[crun_key].wall_median_ms, 1.0))
    if crun_key != "crun":
        raw = summaries["crun"].wall_median_ms
        out.append(_bar("library wall / crun (raw, with wrapper) <= 1.0 [info]", lib / raw, 1.0))
    return out


def _bar(name: str, value: float, limit: float) -> dict:
    return {"bar": name, "value": value, "limit": limit, "pass": value <= limit}


def noisy(summaries: dict[str, Summary], factor: float = 1.5) -> list[str]:
    return [k for k, s in summaries.items() if s.wall_p90_ms > factor * s.wall_median_ms]


def machine_info() -> dict:
    def first_line(argv: list[str]) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return quiet(argv).stdout.splitlines()[0]
        return "?"

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python": f"{sys.executable} {platform.python_version()}",
        "checkout_nsinit_shebang": shebang(CHECKOUT_NSINIT),
        "installed_nsinit_shebang": shebang(INSTALLED_NSINIT),
        "python3_on_child_path": shutil.which("python3", path=CHILD_ENV.get("PATH")) or "?",
        "runc": first_line(["runc", "--version"]),
        "crun": first_line(["crun", "--version"]),
        "hybrid_cgroups": is_hybrid_cgroup_host(),
        "code": code_version(),
    }


def shebang(script: Path) -> str:
    with contextlib.suppress(OSError), open(script) as f:
        return f.readline().strip()
    return "-"


def code_version() -> str:
    """The checkout's commit, and how many files under src/ and bin/ differ from it."""
    git = ["git", "-C", str(REPO)]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = quiet([*git, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = quiet([*git, "status", "--porcelain", "--", "src", "bin"]).stdout.splitlines()
        if commit:
            return f"{commit} + {len(dirty)} uncommitted file(s) in src/ bin/" if dirty else commit
    return "?"


def report(runtimes: list[Runtime], samples: dict[str, list[Sample]], info: dict) -> dict:
    summaries = {key: summarize(s) for key, s in samples.items()}
    net = net_crun(summaries)
    if net is not None:
        summaries["crun (net)"] = net
    result = {
        "machine": info,
        "runtimes": {rt.key: rt.label for rt in runtimes},
        "summary": {k: asdict(s) for k, s in summaries.items()},
        "ratios": ratios(summaries),
        "bars": bars(summaries),
        "samples": {k: [asdict(s) for s in v] for k, v in samples.items()},
    }
    print()
    print(f"{info['date']}  nproc={info['nproc']}  kernel={info['kernel']}")
    print(f"{info['runc']}; {info['crun']}; pycontainer at {info['code']}")
    print(f"bin/nsinit: {info['checkout_nsinit_shebang']}  (python3 = {info['python3_on_child_path']})")
    print(f"installed nsinit: {info['installed_nsinit_shebang']}")
    print()
    print(format_table(summaries))
    if net is not None:
        print("crun (net) = crun minus the crun-wrapper's median (wall, CPU); RSS is crun's.")
    print("\nratios of medians      wall      CPU")
    for r in result["ratios"]:
        print(f"  {r['pair']:<28}{r['wall']:>6.2f}x  {r['cpu']:>6.2f}x")
    print("\nbars")
    for b in result["bars"]:
        print(f"  {'PASS' if b['pass'] else 'FAIL'}  {b['bar']:<50} {b['value']:.2f}")
    for key in noisy({k: v for k, v in summaries.items() if k != "crun (net)"}):
        print(f"note: {key} is noisy (wall p90 > 1.5x median)")
    return result


# -- cleaning up ----------------------------------------------------------------
def leftover_cgroups() -> list[str]:
    """cgroup directories named after one of our ids (up to 3 levels deep)."""
    found = []
    base = Path("/sys/fs/cgroup")
    for pattern in ("*/*", "*/*/*", "*/*/*/*"):
        with contextlib.suppress(OSError):
            found += [str(p) for p in base.glob(pattern) if ID_PREFIX in p.name]
    return found


def cleanup(runtimes: list[Runtime], work: Path) -> bool:
    """Delete every container we left, check none remains, remove ``work``;
    report only after all that (stdout may be a closed pipe by now).  True if
    all was clean."""
    lines = []
    for rt in runtimes:
        for cid in rt.leftovers():
            rt.delete(cid)
        root = getattr(rt, "root", None)
        if root is not None:
            lines.append((rt.key, root, rt.leftovers()))
    cgroups = leftover_cgroups()
    shutil.rmtree(work, ignore_errors=True)
    with contextlib.suppress(OSError):
        print()
        for key, root, left in lines:
            print(f"{key:<18} root {root}: {len(left)} container(s) of ours left {left or ''}")
        if cgroups:
            print(f"cgroups of ours left: {cgroups}")
        if work.exists():
            print(f"could not remove {work}")
    return not cgroups and not work.exists() and not any(left for _, _, left in lines)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """SIGTERM/SIGHUP raise KeyboardInterrupt, so cleanup runs as on Ctrl-C."""

    def interrupt(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """Ignore Ctrl-C and friends while cleaning up."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


# -- main -----------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="timed runs per runtime (default 30)")
    p.add_argument("--json", metavar="FILE", help="write raw samples, summaries, ratios and bars here")
    p.add_argument(
        "--skip", action="append", default=[], choices=RUNTIME_KEYS, help="leave a runtime out (repeatable)"
    )
    args = p.parse_args(argv)
    if args.runs < 2:
        p.error("--runs must be at least 2")
    if args.runs < 30:
        print(f"warning: --runs {args.runs} < 30: fine for a smoke test, too few to compare", file=sys.stderr)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench_start.py needs root (it runs containers)", file=sys.stderr)
        return 1
    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="bench_start."))
    runtimes: list[Runtime] = []
    try:
        with signals_as_interrupts():
            bundle = make_bundle(work)
            runtimes = make_runtimes(bundle, work, set(args.skip))
            if not runtimes:
                raise RuntimeError("nothing to measure (every runtime skipped)")
            print(f"bundle {bundle}; runtimes: {', '.join(rt.key for rt in runtimes)}", file=sys.stderr)
            info = machine_info()  # dated at the start
            samples = run_rounds(runtimes, args.runs, lambda msg: print(msg, end="\r", file=sys.stderr))
            result = report(runtimes, samples, info)
            if args.json:
                Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
                print(f"\nraw numbers written to {args.json}")
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, ImportError, subprocess.SubprocessError) as e:
        print(f"\nbench_start.py: {e}", file=sys.stderr)
        return 1
    finally:
        with uninterruptible():
            clean = cleanup(runtimes, work)
        with contextlib.suppress(OSError):
            print("cleanup: nothing of ours left" if clean else "cleanup: SOME THINGS WERE LEFT (see above)")
    return 0 if clean else 2


if __name__ == "__main__":
    sys.exit(main())
