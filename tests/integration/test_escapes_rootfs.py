"""Escapes through the container's /proc, /sys and /dev while the init sets up the rootfs
(issue 11), each with a hostile bundle: an image whose /proc or /dev/null is a symlink, a
config that mounts over /proc, sysctls and masks redirected by the image, ``--no-pivot``
leaving the host's procfs in the namespace, a writable /etc/hosts from the host's /run, and
the init touching paths after the switch of root.  Each test says what a naive runtime
(resolving /proc and /dev by their names in the container) would let through."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import NSINIT, REPO

pytestmark = pytest.mark.root


@pytest.fixture
def own_rootfs(rootfs):
    """A private copy of the busybox rootfs that a test may booby-trap (outside pytest's
    0700 temp dirs, like the shared one: a user-namespaced root must reach it)."""
    top = Path(tempfile.mkdtemp(prefix="pycontainer-rootfs-"))
    top.chmod(0o755)
    shutil.copytree(rootfs, top / "rootfs", symlinks=True)
    yield top / "rootfs"
    shutil.rmtree(top)


def mount_index(bundle, destination: str) -> int:
    return next(i for i, m in enumerate(bundle.config["mounts"]) if m["destination"] == destination)


# --- hole 1: /proc and /sys through symlinks, mounts on /proc -------------------------------------


@pytest.mark.parametrize("name", ["proc", "sys"])
def test_proc_or_sys_that_is_a_symlink_is_refused(bundle, own_rootfs, name):
    """The image makes /proc (or /sys) a symlink to a directory of its own.  A runtime that
    follows it mounts procfs there and leaves /proc to the image, which can later point it at a
    tree of fake files (a ``sys/kernel/cap_last_cap`` of -1) that the next ``exec`` reads.
    Refused, naming the mount, and nothing is mounted where the link points."""
    shutil.rmtree(own_rootfs / name)
    (own_rootfs / "elsewhere").mkdir()
    os.symlink("elsewhere", own_rootfs / name)
    bundle.config["root"]["path"] = str(own_rootfs)
    r = bundle.run("/bin/true")
    assert r.returncode != 0
    where = f"mounts[{mount_index(bundle, '/' + name)}].destination"
    assert f"{where}: /{name} is a symlink in the rootfs" in r.stderr, r.stderr
    assert "must be mounted on ordinary directory" in r.stderr
    assert os.listdir(own_rootfs / "elsewhere") == []


@pytest.mark.parametrize(
    "mount, words",
    [
        ({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}, '"/proc/sys" cannot be mounted'),
        ({"destination": "/proc/self/attr", "type": "tmpfs", "source": "tmpfs"}, "inside /proc"),
        ({"destination": "/etc/sneaky", "type": "tmpfs", "source": "tmpfs"}, '"/proc/sys/kernel" cannot'),
    ],
    ids=["proc-sys", "proc-self-attr", "symlink-into-proc"],
)
def test_mounts_inside_proc_are_refused(bundle, own_rootfs, mount, words):
    """runc's checkProcMount: a mount inside /proc (the config's, or one the image steers there
    with a symlink, /etc/sneaky -> /proc/sys/kernel) could cover what the runtime writes and
    what the masks hide.  Refused with the mount's JSON path, judged where it really lands."""
    os.symlink("/proc/sys/kernel", own_rootfs / "etc" / "sneaky")
    bundle.config["root"]["path"] = str(own_rootfs)
    bundle.config["mounts"].append(mount)
    r = bundle.run("/bin/true")
    assert r.returncode != 0
    assert f"mounts[{len(bundle.config['mounts']) - 1}].destination: " in r.stderr, r.stderr
    assert words in r.stderr


def test_only_a_procfs_goes_on_proc(bundle):
    """/proc itself takes a procfs and nothing else (a tmpfs there would be a /proc of the
    image's making): runc's words."""
    bundle.config["mounts"][mount_index(bundle, "/proc")] = {
        "destination": "/proc",
        "type": "tmpfs",
        "source": "tmpfs",
    }
    r = bundle.run("/bin/true")
    assert r.returncode != 0
    assert '"/proc" cannot be mounted because it is not of type proc' in r.stderr, r.stderr


def test_lxcfs_style_binds_over_proc_files_still_work(bundle, tmp_path):
    """The files lxcfs emulates per container may still be bound over (runc's list)."""
    fake = tmp_path / "uptime"
    fake.write_text("4242.00 1.00\n")
    bundle.config["mounts"].append(
        {"destination": "/proc/uptime", "type": "bind", "source": str(fake), "options": ["bind", "ro"]}
    )
    r = bundle.run("/bin/cat", "/proc/uptime")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "4242.00 1.00\n"


def test_sysctl_is_written_to_the_kernel_not_to_the_images_proc(bundle, own_rootfs, tmp_path):
    """A config without a procfs on /proc (legal) leaves /proc to the image.  Its
    ``proc/sys/kernel/domainname`` is a symlink into a volume of the host: a runtime that
    writes the sysctl by path after pivot_root writes the host's file instead (CVE-2025-52881's
    redirected write).  Ours goes through its own procfs handle, to the kernel."""
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "out").write_text("untouched\n")
    kernel = own_rootfs / "proc" / "sys" / "kernel"
    kernel.mkdir(parents=True)
    os.symlink("/vol/out", kernel / "domainname")
    bundle.config["root"]["path"] = str(own_rootfs)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] != "proc"]
    bundle.config["mounts"].append(
        {"destination": "/vol", "type": "bind", "source": str(volume), "options": ["rbind"]}
    )
    bundle.config["linux"].update(maskedPaths=[], readonlyPaths=[], sysctl={"kernel.domainname": "pwned"})
    r = bundle.run("/bin/true")
    assert r.returncode == 0, r.stderr
    assert (volume / "out").read_text() == "untouched\n"


def test_lsm_label_is_written_through_the_runtimes_procfs(tmp_path):
    """CVE-2019-16884 / CVE-2023-27561: the LSM exec label written into a fake /proc set up by
    the container is never applied.  Here a process opens its procfs handle, then (as the
    init's view changes) a tmpfs with a fake ``thread-self/attr/exec`` covers /proc; the label
    must go to the kernel's file (which, with no LSM on this host, refuses it), not the fake."""
    script = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from pycontainer import procfs, syscalls
from pycontainer.errors import ContainerError
from pycontainer.security import lsm
procfs.root()
syscalls.unshare(syscalls.CLONE_NEWNS)
syscalls.mount(None, "/", None, (1 << 18) | 0x4000)  # MS_PRIVATE | MS_REC
syscalls.mount("tmpfs", "/proc", "tmpfs", 0)
os.makedirs("/proc/fake/attr")
open("/proc/fake/attr/exec", "w").close()
os.symlink("fake", "/proc/thread-self")
class P:
    apparmor_profile = None
    selinux_label = "system_u:system_r:pwned_t:s0"
try:
    lsm.apply_exec_labels(P())
    print("applied")
except ContainerError as e:
    print("refused:", e)
print("fake:", repr(open("/proc/fake/attr/exec").read()))
"""
    r = subprocess.run([sys.executable, "-c", script, str(REPO / "src")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "fake: ''" in r.stdout, r.stdout


# --- hole 2: masked paths bound from the image's /dev/null -----------------------------------------


def test_masks_come_from_a_verified_dev_null(bundle, own_rootfs):
    """CVE-2025-31133: with no tmpfs on /dev, the image's /dev/null is a symlink to
    /proc/sys/kernel/core_pattern.  A runtime that keeps it and masks by binding "/dev/null"
    binds the host's core_pattern, writable, over /proc/timer_list: ``echo x >
    /proc/timer_list`` rewrites it.  Here /dev/null is replaced by the real node and masks are
    the host's /dev/null, opened and checked (1:3); the host's core_pattern is unchanged."""
    os.symlink("/proc/sys/kernel/core_pattern", own_rootfs / "dev" / "null")
    bundle.config["root"]["path"] = str(own_rootfs)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]
    bundle.config["linux"]["maskedPaths"] = ["/proc/timer_list", "/proc/keys"]
    with open("/proc/sys/kernel/core_pattern") as f:
        core_pattern = f.read()
    try:
        r = bundle.sh(
            "stat -c '%n %F %t:%T' /proc/timer_list /proc/keys /dev/null;"
            " echo '|/bin/pwned' > /proc/timer_list; echo written=$?"
        )
    finally:
        with open("/proc/sys/kernel/core_pattern") as f:
            now = f.read()
        if now != core_pattern:
            with open("/proc/sys/kernel/core_pattern", "w") as f:
                f.write(core_pattern)
    assert now == core_pattern, "the container rewrote the host's kernel.core_pattern"
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for path in ("/proc/timer_list", "/proc/keys", "/dev/null"):
        assert f"{path} character special file 1:3" in lines, r.stdout
    mode = os.lstat(own_rootfs / "dev" / "null")
    assert stat.S_ISCHR(mode.st_mode) and mode.st_rdev == os.makedev(1, 3)


@pytest.mark.parametrize("kind", ["symlink", "file", "wrong-device"])
def test_an_existing_device_node_is_kept_only_if_it_is_that_device(bundle, own_rootfs, kind):
    """What the image has at a device's path is checked by fstat on its own fd: a symlink, a
    plain file or another device at /dev/null is replaced by the null device."""
    null = own_rootfs / "dev" / "null"
    if kind == "symlink":
        os.symlink("/etc/passwd", null)
    elif kind == "file":
        null.write_text("not a device\n")
    else:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's numbers
    bundle.config["root"]["path"] = str(own_rootfs)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]
    r = bundle.sh("stat -c '%F %t:%T' /dev/null; head -c 4 /dev/null | wc -c")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["character special file 1:3", "0"], r.stdout
    assert (own_rootfs / "etc" / "passwd").read_text().startswith("root:")


# --- --no-pivot ----------------------------------------------------------------------------------

# Leaves a --no-pivot container's root: the rootfs is only moved over the host's "/", so with
# CAP_SYS_ADMIN a process detaches it, and re-entering its own mount namespace puts it at the
# namespace's root, the host's tree, then runs argv[1:] there.
ESCAPE = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    int ns = open("/proc/self/ns/mnt", O_RDONLY);
    if (ns < 0 || umount2("/", MNT_DETACH) != 0 || setns(ns, CLONE_NEWNS) != 0)
        return 111;
    execv(argv[1], argv + 1);
    return 112;
}
"""


@pytest.fixture
def escape(own_rootfs, tmp_path) -> str:
    """ESCAPE, built static into the rootfs; its path inside."""
    if not shutil.which("gcc"):
        pytest.skip("needs gcc (with a static libc) to build the escape")
    source = tmp_path / "escape.c"
    source.write_text(ESCAPE)
    r = subprocess.run(["gcc", "-static", "-O", "-o", own_rootfs / "escape", source], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"gcc -static failed: {r.stderr.decode()[-200:]}")
    (own_rootfs / "escape").chmod(0o755)  # whatever the session's umask: a userns root runs it too
    return "/escape"


@pytest.mark.parametrize("config", ["busybox", "userns"])
def test_no_pivot_leaves_the_host_no_procfs_or_sysfs(make_bundle, own_rootfs, escape, config):
    """--no-pivot moves the rootfs over the host's "/" and chroots: the host's mounts stay in
    the container's mount namespace, below.  A container with CAP_SYS_ADMIN gets there (ESCAPE)
    and would find the host's /proc (every host process's command line and environment) and
    /sys.  Here they were detached first; in a user namespace, which locks them, covered with
    an empty read-only tmpfs (runc's msMoveRoot; such a container could still unmount the
    cover, as with runc)."""
    b = make_bundle(config)
    b.config["root"]["path"] = str(own_rootfs)
    caps = b.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = [*caps[kind], "CAP_SYS_ADMIN", "CAP_SYS_CHROOT"]
    # /bin/sh and stat there are the host's own.  What is left at /proc and /sys is whatever the
    # host's root file system has in those directories (empty directories on a disk; in the test
    # VM, whose root is the outer machine's tree shared over 9p, that machine's files): never a
    # procfs or a sysfs of this kernel.
    r = b.run(escape, "/bin/sh", "-c", "stat -f -c %t /proc /sys; ls -A /", extra=["--no-pivot"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert set(lines[2:]) == set(os.listdir("/")), r.stdout  # out on the host's tree indeed
    assert not {"9fa0", "62656572"} & set(lines[:2]), r.stdout  # PROC_SUPER_MAGIC, SYSFS_MAGIC


# --- /etc/hosts for links --------------------------------------------------------------------------


def test_links_hosts_file_is_read_only(bundle, state_root):
    """/etc/hosts for ``links`` is bound from the state dir under /run: writable, the container
    could fill the host's /run.  It is read-only."""
    bundle.config["pycontainer"] = {"network": {"links": [{"name": "db", "address": "10.232.9.9"}]}}
    r = bundle.sh("echo 6.6.6.6 evil >> /etc/hosts; echo rc=$?; cat /etc/hosts")
    assert r.returncode == 0, r.stderr
    assert "rc=1" in r.stdout and "evil" not in r.stdout
    assert "10.232.9.9\tdb" in r.stdout


# --- nothing by path after the switch -------------------------------------------------------------


def test_the_init_opens_and_imports_nothing_by_path_after_pivot_root(make_bundle, tmp_path):
    """After pivot_root every name the init resolves is the container's: the init must work
    from the fds it holds.  An audit hook installed right after the switch
    (PYCONTAINER_NO_PATHS_FROM, failpoints.py) fails the init on any import or open by path;
    containers with mounts of every kind, masked and read-only paths, sysctls, a read-only
    root and a user namespace still start."""
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "file").write_text("data\n")
    plain = make_bundle()
    plain.config["mounts"] += [
        {"destination": "/vol", "type": "bind", "source": str(volume), "options": ["rbind", "ro"]},
        {"destination": "/etc/file", "type": "bind", "source": str(volume / "file"), "options": ["bind"]},
    ]
    plain.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"}
    plain.config["root"]["readonly"] = True
    userns = make_bundle("userns")
    userns.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    env = {**os.environ, "PYCONTAINER_NO_PATHS_FROM": "init.root-changed"}
    for b in (plain, userns):
        for extra in ([], ["--no-pivot"]):
            b.write()
            argv = [*NSINIT, "--root", str(b.state_root), "exec", *extra, str(b.config_path)]
            argv += ["--", "/bin/cat", "/vol/file" if b is plain else "/proc/sys/net/ipv4/ip_forward"]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
            assert r.returncode == 0, (b.config_path, extra, r.stderr)
            assert r.stdout in ("data\n", "1\n")


def test_the_path_audit_switch_catches_an_open(tmp_path):
    """The switch itself: once set, an open by path raises (and an open of an fd does not)."""
    script = (
        "import os, sys; sys.path.insert(0, sys.argv[1]); from pycontainer import failpoints;"
        "os.environ[failpoints.NO_PATHS_ENV] = 'x'; failpoints.reached('x'); open(0).close();"
        "open('/etc/hostname')"
    )
    r = subprocess.run([sys.executable, "-c", script, str(REPO / "src")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "RuntimeError: open of '/etc/hostname' by path after x" in r.stderr
