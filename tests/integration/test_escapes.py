"""Regression tests modelled on the escapes that hit runc and crun.  Each would fail on a naive
runtime (one that chdirs and mounts by plain paths, keeps its fds, leaves the exec'd process
dumpable, fills the inheritable set, has no devices cgroup ...); each docstring names the CVE
or the property, and what a naive runtime would let through."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from pycontainer import Container
from pycontainer.errors import ContainerError
from pycontainer.security.capabilities import CAPABILITIES
from pycontainer.spec.defaults import default_spec, runc_json
from tests.conftest import ENGINE_FIXTURES, NSINIT, status_field
from tests.vmprobe import no_setuid

pytestmark = pytest.mark.root


def run_in_process(bundle, capfd) -> tuple[int, str]:
    """Create, start and wait in this process (the library), so fds this process holds are
    there when the init is cloned; (exit code, the container's stdout)."""
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        code = c.wait()
    return code, capfd.readouterr().out


# --- CVE-2024-21626: leaked fds, and a cwd outside the root --------------------------------------


def test_no_fd_of_the_library_caller_reaches_the_container(bundle, tmp_path, capfd):
    """CVE-2024-21626 was a directory fd of the host the runtime held: here the program using
    the library holds two (one inheritable), and the container's process sees only stdio."""
    held = [os.open("/etc", os.O_RDONLY | os.O_DIRECTORY), os.open(tmp_path, os.O_PATH | os.O_CLOEXEC)]
    os.set_inheritable(held[0], True)
    try:
        bundle.config["process"]["args"] = ["/bin/ls", "/proc/self/fd"]
        code, out = run_in_process(bundle, capfd)
    finally:
        for fd in held:
            os.close(fd)
    assert code == 0
    assert sorted(int(x) for x in out.split()) == [0, 1, 2, 3]  # 3: ls's own directory


def test_no_runtime_fd_reaches_an_exec_process(bundle, tmp_path):
    """The same for ``nsinit exec``: an inheritable fd it was started with stays out."""
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    leak = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
            c.start()
            argv = [*NSINIT, "--root", str(bundle.state_root), "exec", bundle.id, "/bin/ls", "/proc/self/fd"]
            r = subprocess.run(argv, capture_output=True, text=True, pass_fds=(leak,), timeout=30)
    finally:
        os.close(leak)
    assert r.returncode == 0, r.stderr
    assert sorted(int(x) for x in r.stdout.split()) == [0, 1, 2, 3]


def test_cwd_through_proc_self_fd_stays_inside_the_root(bundle, tmp_path, capfd):
    """CVE-2024-21626: ``process.cwd`` = /proc/self/fd/N, N a directory fd of the host the
    runtime holds.  A plain chdir lands in the host's directory (getcwd says "(unreachable)",
    and ``ls`` lists the host's files); resolved inside the root it is the container's own."""
    host_dir = tmp_path / "host-secrets"
    host_dir.mkdir()
    (host_dir / "HOST-ONLY").write_text("")
    fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        bundle.config["process"]["cwd"] = f"/proc/self/fd/{fd}"
        bundle.config["process"]["args"] = ["/bin/sh", "-c", "pwd; ls -a; cd .. && pwd"]
        code, out = run_in_process(bundle, capfd)
    finally:
        os.close(fd)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("/") and "unreachable" not in lines[0]
    assert "HOST-ONLY" not in out


def test_exec_cwd_through_proc_self_fd_stays_inside_the_root(bundle, tmp_path):
    """The same for a process ``exec``'d by the library (its helper is a clone of the caller):
    the magic link is read as a plain link inside the root, where the host's path does not
    exist, so the exec fails naming process.cwd instead of starting in the host's directory."""
    host_dir = tmp_path / "host-secrets"
    host_dir.mkdir()
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
            c.start()
            process = c.config().process
            process.cwd = f"/proc/self/fd/{fd}"
            process.args = ["/bin/true"]
            with pytest.raises(ContainerError, match="process.cwd /proc/self/fd/"):
                c.exec(process).wait()
            assert c.pids() == [c.pid]
    finally:
        os.close(fd)


def test_cwd_through_symlinks_stays_inside_the_root(bundle, tmp_path, capfd):
    """A symlink in the container pointing at a magic link or climbing with ``..`` is followed
    inside the root, as the kernel would in a chroot, never to the host."""
    host_dir = tmp_path / "host-secrets"
    host_dir.mkdir()
    (host_dir / "HOST-ONLY").write_text("")
    links = tmp_path / "links"
    links.mkdir()
    fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    os.symlink(f"/proc/self/fd/{fd}", links / "magic")
    os.symlink("../../../../../../../../" + str(host_dir).lstrip("/"), links / "up")
    bundle.config["mounts"].append(
        {"destination": "/links", "type": "bind", "source": str(links), "options": ["rbind"]}
    )
    try:
        for name in ("magic", "up"):
            bundle.config["process"]["cwd"] = f"/links/{name}"
            bundle.config["process"]["args"] = ["/bin/sh", "-c", "pwd; ls -a"]
            code, out = run_in_process(bundle, capfd)
            assert code == 0, name
            assert out.startswith("/") and "HOST-ONLY" not in out, (name, out)
    finally:
        os.close(fd)


# --- CVE-2019-5736: the host's runtime binary reached through /proc/PID/exe ------------------------


def _all_caps() -> list[str]:
    return list(CAPABILITIES)


def test_exec_process_cannot_be_reached_through_proc_exe(make_bundle, rootfs):
    """CVE-2019-5736: while an ``exec``'d process still runs the runtime (here the host's
    Python interpreter and nsinit) inside the container's namespaces, the container must not
    open its /proc/PID/exe: holding that open, it could write the host's binary once it stops
    running.  The container here is the strongest an attacker gets short of host root: a user
    namespace whose root has every capability, CAP_SYS_PTRACE included, so only the runtime
    making the process non-dumpable keeps it out (a naive runtime shows the interpreter's path).
    The container's loop tries every process it can see while nsinit exec runs 15 times."""
    b = make_bundle("userns")
    caps = _all_caps()
    b.config["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    b.config["process"]["noNewPrivileges"] = False
    b.config["process"]["args"] = [
        "/bin/sh",
        "-c",
        """: > /tmp/hits; echo started > /tmp/started
        while :; do
          for p in /proc/[0-9]*; do
            t=$(readlink $p/exe 2>/dev/null) || continue
            # The exec trampoline's sealed memfd (nothing can write it) may show for an instant.
            case "$t" in /memfd:pyc-trampoline*) continue;; esac
            case "$t" in /bin/busybox|"") ;; *) echo "readlink $p $t" >> /tmp/hits;; esac
            if ( : < $p/exe ) 2>/dev/null && [ -n "$t" ] && [ "$t" != /bin/busybox ]; then
              echo "opened $p $t" >> /tmp/hits
            fi
          done
        done""",
    ]
    b.write()
    nsinit = [*NSINIT, "--root", str(b.state_root), "exec", b.id]
    with Container.create(b.id, b.path, root=b.state_root) as c:
        c.start()
        for _ in range(200):
            if subprocess.run([*nsinit, "/bin/cat", "/tmp/started"], capture_output=True).returncode == 0:
                break
        for _ in range(15):
            assert subprocess.run([*nsinit, "/bin/true"], capture_output=True, timeout=30).returncode == 0
        r = subprocess.run([*nsinit, "/bin/cat", "/tmp/hits"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "", r.stdout


def test_the_host_runtime_is_not_writable_from_the_containers_filesystem(bundle, tmp_path):
    """The other half of CVE-2019-5736: no file of the host's runtime (the interpreter, nsinit,
    the C core) is reachable for writing anywhere in the container's filesystem.  Looked for by
    inode, not by path: every regular file the container sees (but /proc and /sys) is compared
    with the host's runtime files, and each one found must refuse ``>>``.  The control: a file of
    the host bound read-write into the container is found and is writable."""
    from pycontainer._native import _core

    control = tmp_path / "control"
    control.mkdir()
    (control / "file").write_text("")
    bundle.config["mounts"].append(
        {"destination": "/control", "type": "bind", "source": str(control), "options": ["rbind"]}
    )
    runtime = [os.path.realpath(p) for p in (sys.executable, NSINIT[-1], _core.__file__)]
    wanted = {f"{st.st_dev}:{st.st_ino}": p for p in [*runtime, str(control / "file")] for st in [os.stat(p)]}
    r = bundle.sh(
        "find / -path /proc -prune -o -path /sys -prune -o -type f -print0 | xargs -0 stat -c '%d:%i %n'"
    )
    assert r.returncode == 0, r.stderr
    found = {}
    for line in r.stdout.splitlines():
        key, path = line.split(" ", 1)
        if key in wanted:
            found[wanted[key]] = path
    assert found[str(control / "file")] == "/control/file"  # the search sees bound host files
    checks = "; ".join(f"( : >> {p} ) 2>/dev/null && echo {p}" for p in found.values())
    writable = bundle.sh(checks + "; true").stdout.split()
    assert writable == ["/control/file"], found  # of the host's files, only the control


# --- CVE-2021-30465, CVE-2023-27561: mount targets through symlinks -------------------------------


@pytest.fixture
def own_rootfs(rootfs, tmp_path):
    """A private copy of the busybox rootfs that a test may booby-trap."""
    copy = tmp_path / "rootfs"
    shutil.copytree(rootfs, copy, symlinks=True)
    return copy


def test_symlinked_mount_targets_never_leave_the_root(bundle, own_rootfs, tmp_path):
    """CVE-2021-30465 (the static half): the image makes mount destinations symlinks, absolute
    (to a host path) and climbing out with ``..``.  A runtime that joins and follows would
    create directories and mount on the host's paths; here each mount lands inside the root,
    and the host's directory stays empty.  (A symlinked /proc or /sys is refused outright, as
    runc's checkProcMount does: CVE-2019-16884, tested in test_escapes_rootfs.py.)"""
    hosts = {name: tmp_path / f"host-{name}" for name in ("abs", "up")}
    for d in hosts.values():
        d.mkdir()
    os.symlink(str(hosts["abs"]), own_rootfs / "abs")
    os.symlink("../../../../../../../.." + str(hosts["up"]), own_rootfs / "up")
    bundle.config["root"]["path"] = str(own_rootfs)
    # No tmpfs on /tmp: it would cover where the links lead inside the root (/tmp/...).
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/tmp"]
    bundle.config["mounts"] += [
        {"destination": "/abs/new/dir", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/up/other", "type": "tmpfs", "source": "tmpfs"},
    ]
    r = bundle.sh("cat /proc/self/mountinfo")
    assert r.returncode == 0, r.stderr
    points = {line.split()[4]: line.split(" - ")[1].split()[0] for line in r.stdout.splitlines()}
    # Each link resolves inside the root: to the host's path, taken as a path in the root.
    assert points[f"{hosts['abs']}/new/dir"] == "tmpfs"
    assert points[f"{hosts['up']}/other"] == "tmpfs"
    for d in hosts.values():
        assert os.listdir(d) == []  # nothing made on the host
    assert (own_rootfs / str(hosts["abs"]).lstrip("/") / "new" / "dir").is_dir()  # made inside instead


# renameat2(RENAME_EXCHANGE) in a loop, in its own process (no GIL shared with the test).
SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
d = os.open(sys.argv[1], os.O_DIRECTORY)
print("swapping", flush=True)
while True:
    libc.renameat2(d, b"target", d, b"swap", 2)
"""


def test_a_mount_target_swapped_for_a_symlink_during_create_stays_inside(bundle, own_rootfs, tmp_path):
    """CVE-2021-30465 (the race): another process that shares the rootfs (a second container on
    a shared volume, a local user owning the image's directory) swaps a mount destination for a
    symlink to a host directory and back, as fast as it can, while containers are created.  A
    runtime that checks the path and then mounts by path mounts, some of the time, on the host's
    directory, where the container never sees its mount.  Here the destination is opened once,
    inside the root, and mounted on by fd: in every container the tmpfs is there, and nothing is
    made or mounted on the host's directory."""
    host_dir = tmp_path / "host-race"
    host_dir.mkdir()
    race = own_rootfs / "race"
    race.mkdir()
    (race / "target").mkdir()
    os.symlink(str(host_dir), race / "swap")
    bundle.config["root"]["path"] = str(own_rootfs)
    bundle.config["mounts"].append(
        {"destination": "/race/target", "type": "tmpfs", "source": "tmpfs", "options": ["size=1236k"]}
    )
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(race)], stdout=subprocess.PIPE, text=True)
    try:
        assert swapper.stdout.readline() == "swapping\n"
        seen = []
        for _ in range(25):
            r = bundle.sh("grep -c size=1236k /proc/self/mountinfo")
            seen.append(r.stdout.strip() or r.stderr.strip())
    finally:
        swapper.kill()
        swapper.wait()
    assert seen == ["1"] * len(seen), seen
    assert os.listdir(host_dir) == []


# --- CVE-2022-29162: inheritable capabilities ------------------------------------------------------


@pytest.mark.parametrize("uid, inheritable", [(0, None), (1000, None), (1000, ["CAP_KILL"])])
def test_inheritable_set_is_empty_unless_asked_for(bundle, uid, inheritable):
    """CVE-2022-29162: runc filled the inheritable set, so a program with inheritable file
    capabilities gained them across execve.  With no ``inheritable`` in the config it is
    empty (and the ambient set with it), for the init and for an ``exec``'d process; asked
    for, it is exactly what was asked (the control: the test reads the real set)."""
    caps = bundle.config["process"]["capabilities"]
    caps.pop("inheritable", None)
    if inheritable:
        caps["inheritable"] = inheritable
    caps["bounding"] = caps["effective"] = caps["permitted"] = ["CAP_KILL", "CAP_CHOWN", "CAP_SETPCAP"]
    bundle.config["process"]["user"] = {"uid": uid, "gid": uid}
    bundle.config["process"]["args"] = ["/bin/sleep", "60"]
    bundle.write()
    with Container.create(bundle.id, bundle.path, root=bundle.state_root) as c:
        c.start()
        init_status = ""
        for _ in range(1000):
            with open(f"/proc/{c.pid}/status") as f:
                init_status = f.read()
            if status_field(init_status, "Name") == "sleep":  # past execve
                break
            time.sleep(0.005)
        argv = [*NSINIT, "--root", str(bundle.state_root), "exec", bundle.id, "/bin/cat", "/proc/self/status"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    for text in (init_status, r.stdout):
        assert int(status_field(text, "CapInh"), 16) == (1 << 5 if inheritable else 0)
        assert int(status_field(text, "CapAmb"), 16) == 0
        assert int(status_field(text, "CapBnd"), 16) == (1 << 5) | (1 << 0) | (1 << 8)


# --- masked and read-only paths ------------------------------------------------------------------


def test_default_masked_and_readonly_paths_cover_dockers():
    """``nsinit spec`` masks at least what Docker masks and makes read-only what Docker does."""
    docker = json.loads((ENGINE_FIXTURES / "docker-create-memory64m-pids50.json").read_text())["linux"]
    ours = runc_json(default_spec())["linux"]
    docker_masked = set(docker["maskedPaths"]) | {"/sys/devices/virtual/powercap"}  # moby >= 20.10
    assert docker_masked <= set(ours["maskedPaths"])
    assert set(docker["readonlyPaths"]) <= set(ours["readonlyPaths"])


def test_masked_and_readonly_paths_cannot_be_undone_without_cap_sys_admin(bundle):
    """Masks and read-only binds are mounts: without CAP_SYS_ADMIN the container can neither
    unmount nor remount them (a runtime that hid them by other means could be undone)."""
    spec = runc_json(default_spec())["linux"]
    bundle.config["linux"]["maskedPaths"] = spec["maskedPaths"]
    bundle.config["linux"]["readonlyPaths"] = spec["readonlyPaths"]
    masked_files = [p for p in spec["maskedPaths"] if os.path.isfile(p)]  # what this kernel has
    masked_dirs = [p for p in spec["maskedPaths"] if os.path.isdir(p)]
    assert masked_files and masked_dirs
    script = []
    for path in masked_files:
        script.append(f"echo $(wc -c < {path}) {path}")
    for path in masked_dirs:
        script.append(f"echo $(ls {path} | wc -l) {path}")
    for path in masked_files + masked_dirs + ["/proc/sys"]:
        script.append(f"umount {path} 2>/dev/null && echo unmounted {path}")
        script.append(f"umount -l {path} 2>/dev/null && echo unmounted {path}")
    script += [
        "mount -o remount,rw /proc/sys 2>/dev/null && echo remounted",
        "mount -o remount,rw,bind /proc/sys 2>/dev/null && echo remounted-bind",
        "( echo x > /proc/sys/kernel/domainname ) 2>/dev/null && echo wrote-sys",
    ]
    for path in masked_files:
        script.append(f"echo $(wc -c < {path}) {path}")
    r = bundle.sh("; ".join(script) + "; true")
    assert r.returncode == 0, r.stderr
    expected = [f"0 {p}" for p in masked_files + masked_dirs + masked_files]
    assert r.stdout.splitlines() == expected, r.stdout


# --- the devices cgroup --------------------------------------------------------------------------


def _a_host_block_device() -> tuple[int, int]:
    names = sorted(os.listdir("/sys/dev/block"))
    for name in names:
        major, minor = (int(x) for x in name.split(":"))
        if major not in (7,):  # a disk rather than a loop device, if there is one
            return major, minor
    if not names:
        # A host without block devices (the test VM's root is 9p): the devices cgroup refuses
        # the open before the kernel looks for the device, so a SCSI disk's number serves.
        return 8, 0
    major, minor = (int(x) for x in names[0].split(":"))
    return major, minor


def test_devices_cgroup_denies_block_devices(bundle):
    """A default container cannot mknod a block device (no CAP_MKNOD), and even one granted
    CAP_MKNOD (Docker grants it; runc's default rules allow mknod) cannot read the host's disk
    through it: the devices cgroup allows no block device for reading or writing.  A runtime
    without the devices cgroup would let the container read the disk."""
    major, minor = _a_host_block_device()
    r = bundle.sh(f"mknod /dev/disk b {major} {minor} 2>&1 && echo made")
    assert "made" not in r.stdout and "Operation not permitted" in r.stdout
    caps = bundle.config["process"]["capabilities"]
    for key in ("bounding", "effective", "permitted"):
        caps[key] = caps[key] + ["CAP_MKNOD", "CAP_DAC_OVERRIDE"]
    r = bundle.sh(
        f"mknod /dev/disk b {major} {minor} && echo made;"  # /dev: a tmpfs without nodev
        " head -c 512 /dev/disk > /dev/null 2>/tmp/err && echo read; cat /tmp/err"
    )
    assert r.stdout.splitlines()[0] == "made", r.stdout + r.stderr
    assert "read" not in r.stdout.splitlines()
    assert "Operation not permitted" in r.stdout


# --- noNewPrivileges -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def setuid_euid(tmp_path_factory):
    """A static program, setuid root, that prints its effective uid."""
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("suid")
    d.chmod(0o755)
    if reason := no_setuid(str(d)):
        pytest.skip(reason)
    src = d / "euid.c"
    src.write_text(
        '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("%d\\n", geteuid());return 0;}\n'
    )
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "euid"), str(src)], check=True)
    os.chown(d / "euid", 0, 0)
    os.chmod(d / "euid", 0o4755)
    assert os.stat(d / "euid").st_mode & stat.S_ISUID
    return d


@pytest.mark.parametrize("no_new_privileges, euid", [(True, "1000"), (False, "0")])
def test_no_new_privileges_stops_setuid(bundle, setuid_euid, no_new_privileges, euid):
    """With ``noNewPrivileges`` a setuid-root program runs with the caller's uid; without it
    (the control: the test can fail) it would run as root."""
    bundle.config["mounts"].append(
        {"destination": "/suid", "type": "bind", "source": str(setuid_euid), "options": ["rbind", "ro"]}
    )
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["noNewPrivileges"] = no_new_privileges
    r = bundle.run("/suid/euid")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == euid


def test_a_non_dumpable_exec_process_still_gets_its_oom_score_adj(make_bundle):
    """Made non-dumpable, an exec'd process's /proc files belong to the host's root, which a
    rootless runtime's process could not write: oom_score_adj is written before, by the helper
    (as runc does), and the process has it in a user-namespaced container."""
    b = make_bundle("userns")
    b.config["process"]["args"] = ["/bin/sleep", "60"]
    b.write()
    with Container.create(b.id, b.path, root=b.state_root) as c:
        c.start()
        process = c.config().process
        process.args = ["/bin/sleep", "60"]
        process.oom_score_adj = 321
        p = c.exec(process)
        try:
            with open(f"/proc/{p.pid}/oom_score_adj") as f:
                assert f.read().strip() == "321"
        finally:
            p.kill(9)
            p.wait()
