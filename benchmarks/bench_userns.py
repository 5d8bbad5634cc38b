#!/usr/bin/env python3
"""User-namespace benchmark: the cost of `run /bin/true` in a user namespace,
as root (with and without an idmapped bind mount) and rootless (one id mapped
directly; a subordinate range through newuidmap/newgidmap), for nsinit, runc
and crun on the same busybox rootfs.

Rootless runs need a user with /etc/subuid and /etc/subgid ranges: the script
makes one for the run (useradd) and removes it again, restoring /etc/subuid
and /etc/subgid.  A runtime that cannot run a case (runc 1.1 ignores idmapped
mounts, crun refuses rootless containers on a hybrid cgroup host and its
wrapper needs root) is shown as "n/a".  nsinit runs as ``python3 -I -S
bin/nsinit`` as root, as the installed script does; as the user without
``-S``: the interpreter here lives in /root, which the user cannot read, so
it falls back to the system's prefix, whose packages (cffi) only ``site``
finds (Debian's dist-packages).  Needs root.  Usage::

    python3 benchmarks/bench_userns.py [--runs N] [--json FILE]

Per run: wall time of the whole `run` (spawn .. exit), after 3 warm-up runs,
the runtimes interleaved round-robin.  Everything made is removed at the end.
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
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_start import CHECKOUT_NSINIT, crun_wrapper, make_bundle  # noqa: E402

SUB_FIRST, SUB_COUNT = 1_500_000_000, 65536
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def timed(argv: list[str], env: dict[str, str]) -> float | None:
    start = time.perf_counter()
    p = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    took = time.perf_counter() - start
    if p.returncode != 0:
        print(f"  {argv[-3:]}: exit {p.returncode}: {p.stderr.decode().strip()[:300]}", file=sys.stderr)
        return None
    return took


class Case:
    def __init__(self, name: str, config: dict, bundle: Path, user: tuple[int, int] | None) -> None:
        self.name, self.user = name, user
        # runc 1.1 ignores mounts[].uidMappings (the files show as nobody): not comparable
        self.skip = {"runc"} if "idmapped" in name else set()
        self.dir = bundle.parent / name.replace(" ", "-")
        self.dir.mkdir()
        (self.dir / "config.json").write_text(json.dumps(config))
        self.xdg = self.dir / "xdg"
        self.xdg.mkdir(mode=0o700)
        if user:
            for d in (self.dir, self.xdg):
                os.chown(d, *user)

    def argv(self, runtime: str, n: int) -> tuple[list[str], dict[str, str]]:
        env = {"PATH": f"{Path(sys.executable).parent}:{PATH}", "HOME": "/", "XDG_RUNTIME_DIR": str(self.xdg)}
        cid = f"bench-userns-{os.getpid()}-{n}"
        root = str(self.xdg / runtime)
        if runtime == "nsinit":
            flags = ["-I"] if self.user else ["-I", "-S"]
            cmd = [
                sys.executable,
                *flags,
                str(CHECKOUT_NSINIT),
                "--root",
                root,
                "run",
                "-b",
                str(self.dir),
                cid,
            ]
        else:
            cmd = [shutil.which(runtime) or runtime, "--root", root, "run", "-b", str(self.dir), cid]
            if runtime == "crun" and not self.user:
                cmd = crun_wrapper() + cmd
        if self.user:
            cmd = [
                "setpriv",
                f"--reuid={self.user[0]}",
                f"--regid={self.user[1]}",
                "--init-groups",
                "--",
                *cmd,
            ]
        return cmd, env


def make_user() -> tuple[str, int]:
    import pwd

    uid = next(u for u in range(2900, 3900) if not _taken(pwd.getpwuid, u))
    name = f"pycb{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["useradd", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-M", "-U", "-u", str(uid), name],
        check=True,
    )
    for path in ("/etc/subuid", "/etc/subgid"):
        with open(path, "a") as f:
            f.write(f"{name}:{SUB_FIRST}:{SUB_COUNT}\n")
    return name, uid


def remove_user(name: str) -> None:
    subprocess.run(["userdel", name], check=False)
    for path in ("/etc/subuid", "/etc/subgid"):
        lines = Path(path).read_text().splitlines(keepends=True)
        Path(path).write_text("".join(line for line in lines if not line.startswith(f"{name}:")))


def _taken(lookup, value) -> bool:
    try:
        lookup(value)
        return True
    except KeyError:
        return False


def configs(bundle: Path, uid: int) -> dict[str, tuple[dict, bool]]:
    base = json.loads((bundle / "config.json").read_text())
    rootfs = base["root"]["path"]
    userns = json.loads(
        (Path(CHECKOUT_NSINIT).parent.parent / "specs" / "userns" / "config.json").read_text()
    )
    userns.update(ociVersion="1.0.2", root={"path": rootfs, "readonly": True})
    userns["process"].update(args=["/bin/true"], terminal=False)
    idmap = json.loads(json.dumps(userns))
    shared = bundle.parent / "shared"
    shared.mkdir()
    idmap["mounts"].append(
        {
            "destination": "/tmp",
            "type": "bind",
            "source": str(shared),
            "options": ["rbind", "rw"],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        }
    )
    env = {"PATH": PATH}
    spec = subprocess.run(
        [sys.executable, str(CHECKOUT_NSINIT), "spec", "--rootless", "-b", str(bundle.parent)],
        env=env,
        check=True,
    )
    del spec
    rootless = json.loads((bundle.parent / "config.json").read_text())
    rootless.update(ociVersion="1.0.2", root={"path": rootfs, "readonly": True})
    rootless["process"].update(args=["/bin/true"], terminal=False)
    for key in ("uidMappings", "gidMappings"):
        rootless["linux"][key] = [{"containerID": 0, "hostID": uid, "size": 1}]
    ranged = json.loads(json.dumps(rootless))
    for key in ("uidMappings", "gidMappings"):
        ranged["linux"][key].append({"containerID": 1, "hostID": SUB_FIRST, "size": SUB_COUNT})
    base.update(ociVersion="1.0.2")
    return {
        "root, no userns (baseline)": (base, False),
        "root, userns": (userns, False),
        "root, userns + idmapped mount": (idmap, False),
        "rootless, own id": (rootless, True),
        "rootless, newuidmap range": (ranged, True),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root")
    work = Path(tempfile.mkdtemp(prefix="bench_userns."))
    work.chmod(0o755)
    name, uid = make_user()
    results: dict[str, dict[str, dict]] = {}
    try:
        bundle = make_bundle(work)
        os.chmod(bundle, 0o755)
        for case_name, (config, as_user) in configs(bundle, uid).items():
            case = Case(case_name, config, bundle, (uid, uid) if as_user else None)
            times: dict[str, list[float]] = {}
            dead: set[str] = set(case.skip)
            runtimes = ["nsinit", "runc", "crun"]
            for n in range(3 + args.runs):
                order = runtimes[n % 3 :] + runtimes[: n % 3]
                for runtime in order:
                    if runtime in dead:
                        continue
                    took = timed(*case.argv(runtime, n))
                    if took is None:
                        dead.add(runtime)
                        times.pop(runtime, None)
                    elif n >= 3:
                        times.setdefault(runtime, []).append(took)
            results[case_name] = {
                rt: {
                    "median_ms": statistics.median(t) * 1e3,
                    "p90_ms": sorted(t)[int(0.9 * (len(t) - 1))] * 1e3,
                }
                for rt, t in times.items()
            }
            row = "  ".join(
                f"{rt} {results[case_name][rt]['median_ms']:6.1f} ms"
                if rt in results[case_name]
                else f"{rt}    n/a"
                for rt in runtimes
            )
            print(f"{case_name:32} {row}")
    finally:
        remove_user(name)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
