"""Real engines run their containers on nsinit: podman (with conmon), the way
users run it.  Each engine gets private storage under a temp dir (the vfs
driver: no overlay mounts to leave behind) and no network (nothing of the
host's is touched); everything is removed afterwards.  Skipped, saying why,
where an engine or the installed nsinit is missing (.ci/run installs both)."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def podman(rootfs, installed_nsinit):
    """podman with its own storage, run root and containers.conf, and this
    checkout's nsinit (installed as scripts/install-nsinit does, in a
    directory of the session's own) as its runtime."""
    if shutil.which("podman") is None or shutil.which("conmon") is None:
        pytest.skip("podman and conmon are not installed (apt-get install podman conmon)")
    top = tempfile.mkdtemp(prefix="pycontainer-podman-")
    conf = os.path.join(top, "containers.conf")
    with open(conf, "w") as f:
        # root lacks CAP_SYS_RESOURCE here: podman's default 1048576 open files cannot be set.
        f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n')
    env = {**os.environ, "CONTAINERS_CONF": conf}
    base = [
        "podman",
        "--root",
        f"{top}/storage",
        "--runroot",
        f"{top}/run",
        "--storage-driver",
        "vfs",
        "--runtime",
        installed_nsinit,
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
    ]

    def run(*args, check=False, **kw):
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, env=env, timeout=120, check=check, **kw
        )

    tar = os.path.join(top, "rootfs.tar")
    subprocess.run(["tar", "-C", str(rootfs), "-cf", tar, "."], check=True)
    run("import", tar, "localhost/pyc-busybox:test", check=True)
    run.base, run.env = base, env
    try:
        yield run
    finally:
        run("rm", "--all", "--force", "--time", "0")
        run("rmi", "--all", "--force")
        shutil.rmtree(top, ignore_errors=True)


IMAGE = "localhost/pyc-busybox:test"


def name() -> str:
    return "pyc-" + uuid.uuid4().hex[:10]


def test_podman_run_echo(podman):
    r = podman("run", "--rm", "--network", "none", IMAGE, "/bin/echo", "hello from podman")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from podman\n"


def test_podman_exit_codes(podman):
    assert podman("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "exit 7").returncode == 7
    r = podman("run", "--rm", "--network", "none", IMAGE, "no-such-command")
    assert r.returncode == 127, r.stderr
    assert "executable file not found in $PATH" in r.stderr


def test_podman_detached_exec_stop_kill_rm(podman):
    n = name()
    r = podman("run", "-d", "--name", n, "--network", "none", IMAGE, "sleep", "100")
    assert r.returncode == 0, r.stderr
    try:
        r = podman("exec", n, "sh", "-c", "echo in-exec; cat /proc/1/cmdline")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("in-exec\nsleep")
        assert podman("exec", n, "sh", "-c", "exit 3").returncode == 3
        r = podman("stop", "--time", "1", n)  # sleep ignores SIGTERM as pid 1: SIGKILL after 1 s
        assert r.returncode == 0, r.stderr
        r = podman("inspect", "--format", "{{.State.ExitCode}}", n)
        assert r.stdout.strip() == "137"
        n2 = name()
        assert podman("run", "-d", "--name", n2, "--network", "none", IMAGE, "sleep", "100").returncode == 0
        assert podman("kill", n2).returncode == 0
        assert podman("wait", n2).stdout.strip() == "137"
        assert podman("rm", n2).returncode == 0
    finally:
        assert podman("rm", "--force", n).returncode == 0


def test_podman_run_with_a_tty(podman):
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(
            [*podman.base, "run", "--rm", "-it", "--network", "none", IMAGE, "sh", "-c", "tty; exit 5"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=podman.env,
            start_new_session=True,
        )
        os.close(slave)
        out = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 0.2)[0]:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's last user is gone
                break
            if not chunk:
                break
            out += chunk
        assert p.wait(timeout=60) == 5
        assert b"/dev/pts/0" in out
    finally:
        os.close(master)


@pytest.fixture(scope="module")
def ctr(podman):
    """containerd started privately (its own socket, root and state dirs),
    driven with `ctr run --runc-binary nsinit`; the image is podman's, saved."""
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (apt-get install containerd)")
    top = tempfile.mkdtemp(prefix="pycontainer-containerd-")
    sock = f"{top}/containerd.sock"
    with open(f"{top}/config.toml", "w") as f:
        f.write(
            f'version = 2\nroot = "{top}/root"\nstate = "{top}/state"\n[grpc]\n  address = "{sock}"\n'
            '[plugins."io.containerd.grpc.v1.cri"]\n  disable = true\n'
        )
    log = open(f"{top}/containerd.log", "w")
    daemon = subprocess.Popen(["containerd", "--config", f"{top}/config.toml"], stdout=log, stderr=log)

    def run(*args, check=False):
        return subprocess.run(
            ["ctr", "--address", sock, *args], capture_output=True, text=True, timeout=120, check=check
        )

    try:
        deadline = time.monotonic() + 30
        while run("version").returncode != 0:
            assert time.monotonic() < deadline, "containerd did not start"
            time.sleep(0.1)
        podman("save", "--format", "oci-archive", "-o", f"{top}/image.tar", IMAGE, check=True)
        run("images", "import", "--base-name", "localhost/pyc-busybox", f"{top}/image.tar", check=True)
        yield run
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()
        with open("/proc/self/mountinfo") as f:
            leftovers = sorted(
                (line.split()[4] for line in f if line.split()[4].startswith(top)), reverse=True
            )
        for mountpoint in leftovers:  # the snapshotter's, should the daemon have left any
            subprocess.run(["umount", "-l", mountpoint])
        shutil.rmtree(top, ignore_errors=True)


def test_containerd_run(ctr, installed_nsinit):
    r = ctr(
        "run", "--rm", "--runc-binary", installed_nsinit, IMAGE, name(), "/bin/echo", "hello from containerd"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from containerd\n"
    r = ctr("run", "--rm", "--runc-binary", installed_nsinit, IMAGE, name(), "sh", "-c", "exit 6")
    assert r.returncode == 6, r.stderr


@pytest.fixture(scope="module")
def docker(rootfs, installed_nsinit):
    """dockerd started privately (own socket, data and exec roots, no bridge,
    no iptables, vfs storage) with nsinit added as a runtime."""
    client = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
    if shutil.which("dockerd") is None or client is None:
        pytest.skip("Docker is not installed (apt-get install docker.io)")
    top = tempfile.mkdtemp(prefix="pycontainer-docker-")
    sock = f"unix://{top}/docker.sock"
    log = open(f"{top}/dockerd.log", "w")
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--data-root",
            f"{top}/data",
            "--exec-root",
            f"{top}/exec",
            "-H",
            sock,
            "--pidfile",
            f"{top}/docker.pid",
            "--bridge",
            "none",
            "--iptables=false",
            "--ip6tables=false",
            "--storage-driver",
            "vfs",
            "--add-runtime",
            f"nsinit={installed_nsinit}",
        ],
        stdout=log,
        stderr=log,
    )

    def run(*args, check=False):
        return subprocess.run(
            [client, "-H", sock, *args], capture_output=True, text=True, timeout=120, check=check
        )

    try:
        deadline = time.monotonic() + 60
        while run("version").returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"dockerd does not start here: {open(f'{top}/dockerd.log').read()[-500:]}")
            time.sleep(0.2)
        tar = os.path.join(top, "rootfs.tar")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", tar, "."], check=True)
        run("import", tar, DOCKER_IMAGE, check=True)
        yield run
    finally:
        leftover = run("ps", "-aq").stdout.split()
        if leftover:
            run("rm", "--force", *leftover)
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        shutil.rmtree(top, ignore_errors=True)


DOCKER_IMAGE = "pyc-busybox:test"


def test_docker_run(docker):
    base = ["run", "--rm", "--runtime", "nsinit", "--network", "none", DOCKER_IMAGE]
    r = docker(*base, "/bin/echo", "hello from docker")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from docker\n"
    assert docker(*base, "sh", "-c", "exit 9").returncode == 9
    r = docker(*base, "no-such-command")
    assert r.returncode == 127 and "executable file not found in $PATH" in r.stderr


def test_docker_detached_exec_stop(docker):
    r = docker("run", "-d", "--runtime", "nsinit", "--network", "none", DOCKER_IMAGE, "sleep", "100")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        r = docker("exec", cid, "sh", "-c", "echo in-exec")
        assert r.stdout == "in-exec\n", r.stderr
        assert docker("stop", "-t", "1", cid).returncode == 0
        assert docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "137"
    finally:
        docker("rm", "--force", cid)


def test_podman_memory_and_pids_limits_are_visible_inside(podman):
    from pycontainer import cgroups

    layout = cgroups.detect()
    if layout.mode == "v2":
        script = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    else:
        script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    r = podman(
        "run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "50", IMAGE, "sh", "-c", script
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(64 * 1024 * 1024), "50"]
