"""create / start / state / kill / delete / list as separate nsinit calls, as
an engine drives them."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.conftest import NSINIT

pytestmark = pytest.mark.root


def nsinit(bundle, *args, check=True):
    r = subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), *args], capture_output=True, text=True, timeout=30
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def create(bundle, *args) -> None:
    """`nsinit create`: the container's stdio is nsinit's, so it gets files
    (a pipe would stay open as long as the container lives, as with runc)."""
    out = bundle.path / "create.out"
    argv = [
        *NSINIT,
        "--root",
        str(bundle.state_root),
        "create",
        "--bundle",
        str(bundle.path),
        *args,
        bundle.id,
    ]
    with open(out, "w") as f:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=30)
    assert r.returncode == 0, out.read_text()


def state(bundle) -> dict:
    return json.loads(nsinit(bundle, "state", bundle.id).stdout)


def test_create_start_kill_delete(bundle, tmp_path):
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    pid_file = tmp_path / "pid"
    create(bundle, "--pid-file", str(pid_file))
    try:
        s = state(bundle)
        assert s["status"] == "created"
        assert pid_file.read_text() == str(s["pid"])  # no trailing newline
        assert s["bundle"] == str(bundle.path) and s["ociVersion"] == "1.2.0"
        # The init outlived `nsinit create` and waits on the exec fifo.
        assert os.path.exists(f"/proc/{s['pid']}")
        assert bundle.id in nsinit(bundle, "list", "-q").stdout.split()
        nsinit(bundle, "start", bundle.id)
        assert state(bundle)["status"] == "running"
        r = nsinit(bundle, "start", bundle.id, check=False)
        assert r.returncode == 1 and "running" in r.stderr
        r = nsinit(bundle, "delete", bundle.id, check=False)
        assert r.returncode == 1 and "--force" in r.stderr
        nsinit(bundle, "kill", bundle.id, "KILL")
        for _ in range(200):
            if state(bundle)["status"] == "stopped":
                break
            time.sleep(0.01)
        assert state(bundle)["status"] == "stopped"
        listed = json.loads(nsinit(bundle, "list", "--format", "json").stdout)
        assert [c["status"] for c in listed if c["id"] == bundle.id] == ["stopped"]
    finally:
        nsinit(bundle, "delete", "--force", bundle.id)
    r = nsinit(bundle, "state", bundle.id, check=False)
    assert r.returncode == 1 and "does not exist" in r.stderr
    assert nsinit(bundle, "delete", "--force", bundle.id).returncode == 0  # unknown id: runc exits 0


def test_two_creates_of_one_id_one_wins(bundle):
    bundle.config["process"]["args"] = ["/bin/true"]
    bundle.write()
    argv = [*NSINIT, "--root", str(bundle.state_root), "create", "-b", str(bundle.path), bundle.id]
    logs = [open(bundle.path / f"create{i}.err", "w+") for i in range(2)]
    procs = [subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log) for log in logs]
    codes = sorted(p.wait(timeout=30) for p in procs)
    errors = ""
    for log in logs:
        log.seek(0)
        errors += log.read()
        log.close()
    nsinit(bundle, "delete", "--force", bundle.id)
    assert codes == [0, 1]
    assert "already exists" in errors


def test_ps_lists_the_containers_processes(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "sleep 60 & sleep 61"]
    bundle.write()
    create(bundle)
    try:
        nsinit(bundle, "start", bundle.id)
        pid = state(bundle)["pid"]
        for _ in range(200):
            pids = json.loads(nsinit(bundle, "ps", "--format", "json", bundle.id).stdout)
            if len(pids) == 2:
                break
            time.sleep(0.01)
        assert pid in pids and len(pids) == 2  # sh exec'd sleep 61, and the background sleep 60
        table = nsinit(bundle, "ps", bundle.id).stdout.splitlines()
        assert table[0].split() == ["PID", "CMD"]
        assert any(line.split()[1:] == ["sleep", "60"] for line in table[1:])
    finally:
        nsinit(bundle, "delete", "--force", bundle.id)


def test_features_and_spec(bundle, tmp_path):
    features = json.loads(nsinit(bundle, "features").stdout)
    assert features["ociVersionMax"] == "1.2.0"
    assert "pid" in features["linux"]["namespaces"]
    nsinit(bundle, "spec", "--bundle", str(tmp_path))
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    r = nsinit(bundle, "spec", "--bundle", str(tmp_path), check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    (tmp_path / "rootless").mkdir()
    nsinit(bundle, "spec", "--rootless", "-b", str(tmp_path / "rootless"))
    rootless = json.loads((tmp_path / "rootless" / "config.json").read_text())
    assert {"type": "user"} in rootless["linux"]["namespaces"]


def test_kill_all_signals_every_process(bundle):
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "trap '' TERM; sleep 60 & sleep 61 & wait"]
    bundle.write()
    create(bundle)
    try:
        nsinit(bundle, "start", bundle.id)
        for _ in range(200):
            pids = json.loads(nsinit(bundle, "ps", "--format", "json", bundle.id).stdout)
            if len(pids) == 3:
                break
            time.sleep(0.01)
        assert len(pids) == 3
        nsinit(bundle, "kill", "--all", bundle.id, "KILL")
        for _ in range(200):
            if state(bundle)["status"] == "stopped":
                break
            time.sleep(0.01)
        assert state(bundle)["status"] == "stopped"
        assert all(
            not os.path.exists(f"/proc/{p}/cmdline") or open(f"/proc/{p}/cmdline").read() == "" for p in pids
        )
    finally:
        nsinit(bundle, "delete", "--force", bundle.id)


def test_concurrent_deletes_one_does_the_work(bundle):
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    create(bundle)
    argv = [*NSINIT, "--root", str(bundle.state_root), "delete", "--force", bundle.id]
    procs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    codes = [p.wait(timeout=30) for p in procs]
    assert codes == [0, 0, 0]  # delete --force of a container that is gone succeeds, as runc
    assert nsinit(bundle, "state", bundle.id, check=False).returncode == 1


def test_systemd_cgroup_is_a_clear_error(bundle):
    r = nsinit(bundle, "--systemd-cgroup", "list", check=False)
    assert r.returncode == 1 and "systemd cgroup driver is not supported" in r.stderr


@pytest.mark.cgroup2
def test_update_from_a_file_stdin_and_flags(bundle, tmp_path):
    from pycontainer import cgroups

    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    create(bundle)
    try:
        pid = state(bundle)["pid"]
        layout = cgroups.detect()
        mine = cgroups.cgroup_of(pid)

        def read(controller: str, v1: str, v2: str) -> str:
            key = controller if layout.mode != "v2" and controller in layout.v1 else ""
            base = layout.mountpoint(key).rstrip("/") + mine[key]
            with open(f"{base}/{v1 if key else v2}") as f:
                return f.read().split()[0]

        fixtures = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "engine-configs")
        nsinit(
            bundle, "update", "--resources", os.path.join(fixtures, "podman-update-resources.json"), bundle.id
        )
        assert read("memory", "memory.limit_in_bytes", "memory.max") == "50331648"
        with open(os.path.join(fixtures, "docker-update-resources-stdin.json")) as f:
            r = subprocess.run(
                [*NSINIT, "--root", str(bundle.state_root), "update", "--resources", "-", bundle.id],
                stdin=f,
                capture_output=True,
                text=True,
                timeout=30,
            )
        assert r.returncode == 0, r.stderr
        assert read("memory", "memory.limit_in_bytes", "memory.max") == "67108864"
        assert read("pids", "pids.max", "pids.max") == "30"
        nsinit(bundle, "update", "--pids-limit", "12", bundle.id)
        assert read("pids", "pids.max", "pids.max") == "12"
    finally:
        nsinit(bundle, "delete", "--force", bundle.id)


@pytest.mark.parametrize("bad_id", ["a/b", "..", ".", "x" * 1025, "with space", ""])
def test_invalid_ids_are_refused(bundle, bad_id):
    bundle.write()
    r = nsinit(bundle, "create", "--bundle", str(bundle.path), bad_id, check=False)
    assert r.returncode == 1
    assert "invalid container id" in r.stderr or "missing operand" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_bundles_and_sockets(bundle, tmp_path):
    r = nsinit(bundle, "create", "--bundle", str(tmp_path / "missing"), bundle.id, check=False)
    assert r.returncode == 1 and "no such file" in r.stderr
    bundle.config["process"]["terminal"] = True
    bundle.write()
    not_a_socket = tmp_path / "plain-file"
    not_a_socket.write_text("")
    r = nsinit(
        bundle,
        "create",
        "--console-socket",
        str(not_a_socket),
        "--bundle",
        str(bundle.path),
        bundle.id,
        check=False,
    )
    assert r.returncode == 1 and "--console-socket" in r.stderr
    assert nsinit(bundle, "state", bundle.id, check=False).returncode == 1  # nothing was made


@pytest.mark.cgroup2
def test_pause_and_resume(bundle, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("")
    bundle.config["mounts"].append(
        {"destination": "/out", "type": "bind", "source": str(tmp_path), "options": ["bind"]}
    )
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "while true; do printf x >> /out/counter; done"]
    bundle.write()
    create(bundle)
    try:
        nsinit(bundle, "start", bundle.id)
        time.sleep(0.2)
        nsinit(bundle, "pause", bundle.id)
        assert state(bundle)["status"] == "paused"
        frozen_at = counter.stat().st_size
        time.sleep(0.3)
        assert counter.stat().st_size == frozen_at  # nothing runs
        r = nsinit(bundle, "pause", bundle.id, check=False)
        assert r.returncode == 1 and "paused" in r.stderr
        nsinit(bundle, "resume", bundle.id)
        assert state(bundle)["status"] == "running"
        time.sleep(0.3)
        assert counter.stat().st_size > frozen_at
        nsinit(bundle, "pause", bundle.id)
    finally:
        nsinit(bundle, "delete", "--force", bundle.id)  # a paused container is killed too
    assert nsinit(bundle, "state", bundle.id, check=False).returncode == 1


@pytest.mark.cgroup2
def test_events_stats_stream(bundle):
    """``events --stats`` once, ``events --interval`` until the container
    stops.  (OOM events: test_container_stats.py, whose listener is known to
    be up before the OOM comes.)"""
    bundle.config["linux"]["resources"] = {"memory": {"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024}}
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    create(bundle)
    try:
        stats = json.loads(nsinit(bundle, "events", "--stats", bundle.id).stdout)
        assert stats["type"] == "stats" and stats["id"] == bundle.id
        assert stats["data"]["pids"]["current"] >= 1
        assert stats["data"]["memory"]["usage"]["limit"] == 16 * 1024 * 1024
        nsinit(bundle, "start", bundle.id)
        argv = [*NSINIT, "--root", str(bundle.state_root), "events", "--interval", "200ms", bundle.id]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as events:
            # The first event, however slow the machine; then the container stops, and the command ends.
            lines = [events.stdout.readline()]
            nsinit(bundle, "kill", bundle.id, "KILL")
            lines += events.communicate(timeout=30)[0].splitlines()
        kinds = [json.loads(line)["type"] for line in lines]
        assert events.returncode == 0 and set(kinds) == {"stats"}, lines
    finally:
        nsinit(bundle, "delete", "--force", bundle.id)
