"""Rootless containers: nsinit run by an unprivileged user (made for this
session, with /etc/subuid and /etc/subgid ranges, and removed again), in a
user namespace; checked from inside and on the host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import NSINIT

pytestmark = pytest.mark.root

ID_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/subuid", "/etc/subgid")
SUB_COUNT = 65536


@dataclass
class User:
    name: str
    uid: int
    gid: int
    sub_first: int  # its range in /etc/subuid and /etc/subgid: sub_first .. sub_first+SUB_COUNT-1

    def run(self, argv: list[str], cwd: str | os.PathLike, xdg: str | None, timeout: float = 30):
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/"}
        if xdg is not None:
            env["XDG_RUNTIME_DIR"] = xdg
        as_user = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--"]
        # Files, not pipes: a detached container keeps its stdio open.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(as_user + argv, cwd=cwd, env=env, stdout=out, stderr=err, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())


def _free_id(low: int, high: int) -> int:
    import grp
    import pwd

    for candidate in range(low, high):
        try:
            pwd.getpwuid(candidate)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(candidate)
            continue
        except KeyError:
            return candidate
    raise RuntimeError("no free uid for the test user")


def _remove_lines(path: str, prefix: str) -> None:
    lines = Path(path).read_text().splitlines(keepends=True)
    Path(path).write_text("".join(line for line in lines if not line.startswith(prefix)))


@pytest.fixture(scope="session")
def user():
    """An unprivileged user with subordinate id ranges; /etc is as it was afterwards."""
    before = {f: Path(f).read_bytes() for f in ID_FILES if os.path.exists(f)}
    uid = _free_id(1900, 2900)
    name = f"pyct{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["useradd", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-M", "-U", "-u", str(uid)]
        + ["-s", "/usr/sbin/nologin", "-d", "/nonexistent", name],
        check=True,
    )
    sub_first = 1_000_000_000 + (uid - 1900) * SUB_COUNT  # far from any range an admin hands out
    try:
        for path in ("/etc/subuid", "/etc/subgid"):
            with open(path, "a") as f:
                f.write(f"{name}:{sub_first}:{SUB_COUNT}\n")
        yield User(name, uid, uid, sub_first)
    finally:
        subprocess.run(["userdel", name], check=False)
        for path in ("/etc/subuid", "/etc/subgid"):
            _remove_lines(path, f"{name}:")
        after = {f: Path(f).read_bytes() for f in ID_FILES if os.path.exists(f)}
        assert after == before, "the test user was not removed cleanly"


@pytest.fixture
def home(user, rootfs, host_clean):
    """A bundle directory of the user's, made by ``nsinit spec --rootless`` as
    the user, pointing at the shared rootfs; and the user's runtime dir
    ($XDG_RUNTIME_DIR).  Both are removed afterwards, and the state root must
    be empty by then."""
    top = Path(tempfile.mkdtemp(prefix="pycontainer-rootless-"))
    top.chmod(0o755)
    bundle, xdg = top / "bundle", top / "xdg"
    for d in (bundle, xdg):
        d.mkdir()
        os.chown(d, user.uid, user.gid)
    xdg.chmod(0o700)
    r = user.run([*NSINIT, "spec", "--rootless"], cwd=bundle, xdg=str(xdg))
    assert r.returncode == 0, r.stderr
    config = json.loads((bundle / "config.json").read_text())
    config["root"]["path"] = str(rootfs)
    config["process"]["terminal"] = False
    h = Home(user, bundle, xdg, config)
    yield h
    try:
        left = os.listdir(xdg / "pycontainer") if (xdg / "pycontainer").exists() else []
        assert not left, f"state left in the user's runtime dir: {left}"
    finally:
        shutil.rmtree(top)


class Home:
    def __init__(self, user: User, bundle: Path, xdg: Path, config: dict) -> None:
        self.user, self.bundle, self.xdg, self.config = user, bundle, xdg, config
        self.id = "t-" + uuid.uuid4().hex[:12]

    def write(self) -> None:
        (self.bundle / "config.json").write_text(json.dumps(self.config))

    def nsinit(self, *args: str, xdg: str | None = "", **kw):
        self.write()
        return self.user.run([*NSINIT, *args], cwd=self.bundle, xdg=str(self.xdg) if xdg == "" else xdg, **kw)

    def sh(self, script: str, **kw):
        self.config["process"]["args"] = ["/bin/sh", "-c", script]
        return self.nsinit("run", self.id, **kw)

    def map_subordinate_ids(self) -> None:
        """root -> the user, 1..65536 -> the user's subordinate range (newuidmap's job)."""
        for key in ("uidMappings", "gidMappings"):
            own = self.user.uid if key == "uidMappings" else self.user.gid
            self.config["linux"][key] = [
                {"containerID": 0, "hostID": own, "size": 1},
                {"containerID": 1, "hostID": self.user.sub_first, "size": SUB_COUNT},
            ]

    def shared_dir(self, mode: int = 0o777) -> Path:
        """A host directory of the user's, bound read-write at /tmp (the shared
        rootfs is root's: the container's root may not make a mount point in it)."""
        shared = self.bundle / "shared"
        shared.mkdir()
        os.chown(shared, self.user.uid, self.user.gid)
        shared.chmod(mode)
        self.config["mounts"].append(
            {"destination": "/tmp", "type": "bind", "source": str(shared), "options": ["rbind", "rw"]}
        )
        return shared


def test_spec_rootless_runs_as_is(home):
    """The config `spec --rootless` wrote, unchanged but for the rootfs path
    and the terminal: root inside, the user outside, one id mapped."""
    r = home.sh("cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; id -g")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["0", str(home.user.uid), "1"]
    assert lines[1].split() == ["0", str(home.user.gid), "1"]
    assert lines[2:] == ["deny", "0", "0"]


def test_state_goes_to_the_users_runtime_dir(home):
    home.config["process"]["args"] = ["sleep", "60"]
    r = home.nsinit("run", "-d", home.id)
    assert r.returncode == 0, r.stderr
    try:
        state = home.xdg / "pycontainer" / home.id / "state.json"
        assert state.exists()
        assert os.stat(state).st_uid == home.user.uid
        r = home.nsinit("state", home.id)
        assert r.returncode == 0, r.stderr
        pid = json.loads(r.stdout)["pid"]
        with open(f"/proc/{pid}/status") as f:
            uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
        assert set(uids) == {str(home.user.uid)}
    finally:
        r = home.nsinit("delete", "--force", home.id)
    assert r.returncode == 0, r.stderr
    assert not (home.xdg / "pycontainer" / home.id).exists()


def test_state_root_without_xdg_runtime_dir_is_under_run_user(home):
    run_user = Path(f"/run/user/{home.user.uid}")
    made = [p for p in (run_user.parent, run_user) if not p.exists()]
    run_user.mkdir(parents=True, exist_ok=True)  # what a login manager makes
    if run_user.parent in made:  # /run/user is 0755 whatever this session's umask (the VM's is 077)
        run_user.parent.chmod(0o755)
    os.chown(run_user, home.user.uid, home.user.gid)
    run_user.chmod(0o700)
    try:
        home.config["process"]["args"] = ["sleep", "60"]
        r = home.nsinit("run", "-d", home.id, xdg=None)
        assert r.returncode == 0, r.stderr
        try:
            assert (run_user / "pycontainer" / home.id / "state.json").exists()
        finally:
            r = home.nsinit("delete", "--force", home.id, xdg=None)
        assert r.returncode == 0, r.stderr
        assert os.listdir(run_user / "pycontainer") == []
    finally:
        if run_user in made:
            shutil.rmtree(run_user)
        if run_user.parent in made:
            run_user.parent.rmdir()


def test_cgroups_not_delegated_are_skipped_with_a_warning(home):
    r = home.sh("cat /proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    assert "cgroups not delegated to the user are not used" in r.stderr
    assert "Traceback" not in r.stderr


def test_subordinate_ids_through_newuidmap(home):
    home.map_subordinate_ids()
    r = home.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u")
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert lines[0] == ["0", str(home.user.uid), "1"]
    assert lines[1] == ["1", str(home.user.sub_first), str(SUB_COUNT)]
    assert lines[2] == ["0", str(home.user.gid), "1"]
    assert lines[3] == ["1", str(home.user.sub_first), str(SUB_COUNT)]
    assert lines[4] == ["0"]


def test_files_made_inside_are_owned_by_the_mapped_host_ids(home):
    home.map_subordinate_ids()
    shared = home.shared_dir()
    for kind in ("bounding", "effective", "permitted"):
        home.config["process"]["capabilities"][kind].append("CAP_CHOWN")
    r = home.sh("touch /tmp/by-root && chown 1000:1000 /tmp/by-root")
    assert r.returncode == 0, r.stderr
    home.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    r = home.sh("touch /tmp/by-1000; stat -c '%u %g' /tmp/by-1000 /tmp/by-root")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1000", "1000", "1000", "1000"]  # as the container sees them
    sub = home.user.sub_first
    for name in ("by-1000", "by-root"):
        st = os.stat(shared / name)
        assert (st.st_uid, st.st_gid) == (sub + 999, sub + 999)  # container 1000 = range's 1000th id


def test_files_made_by_root_inside_are_the_users(home):
    shared = home.shared_dir(0o755)
    r = home.sh("echo hi > /tmp/f && stat -c '%u %g' /tmp/f")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0"]
    st = os.stat(shared / "f")
    assert (st.st_uid, st.st_gid) == (home.user.uid, home.user.gid)


def test_root_inside_cannot_do_what_the_user_cannot(home, rootfs):
    """Root in the container, even with every capability, holds them over its
    own namespaces only: host files the user may not read or write stay so
    (CAP_DAC_OVERRIDE does not reach them), and no device nodes (CAP_MKNOD)."""
    every_cap = [f"CAP_{name.upper()}" for name in ("chown", "dac_override", "fowner", "mknod", "sys_admin")]
    for kind in ("bounding", "effective", "permitted"):
        home.config["process"]["capabilities"][kind] += every_cap
    home.config["root"]["readonly"] = False
    secrets = home.bundle / "secrets"
    secrets.mkdir()
    (secrets / "secret").write_text("host secret\n")
    (secrets / "secret").chmod(0o600)  # root's
    home.config["mounts"].append(
        {"destination": "/run", "type": "bind", "source": str(secrets), "options": ["bind", "rw"]}
    )
    try:
        r = home.sh(
            "id -u; grep CapEff /proc/self/status;"
            "cat /run/secret && echo READ-SECRET;"
            "chown 0 /run/secret && echo CHOWNED;"
            "touch /etc/pwned && echo WROTE-ROOTFS;"
            "mknod /dev/null2 c 1 3 && echo MADE-DEVICE;"
            "echo done"
        )
    finally:
        pwned = rootfs / "etc" / "pwned"
        written = pwned.exists()
        pwned.unlink(missing_ok=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "0"
    assert int(lines[1].split()[1], 16) & (1 << 1), "CAP_DAC_OVERRIDE should be effective"
    for forbidden in ("READ-SECRET", "host secret", "CHOWNED", "WROTE-ROOTFS", "MADE-DEVICE"):
        assert forbidden not in r.stdout
    assert not written
    assert "Permission denied" in r.stderr
    assert lines[-1] == "done"
    st = os.stat(secrets / "secret")
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)


def test_new_network_namespace_has_only_lo_up(home):
    home.config["linux"]["namespaces"].append({"type": "network"})
    # /sys is the host's (bound: sysfs needs a network namespace the user
    # owned before); /proc/net is the container's.
    r = home.sh("tail -n +3 /proc/net/dev | cut -d: -f1; readlink /proc/self/ns/net; ip link show lo")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [line.strip() for line in lines[:1]] == ["lo"]
    assert lines[1] != os.readlink("/proc/self/ns/net")
    assert ",UP" in lines[2]


def test_exec_into_a_rootless_container(home):
    home.map_subordinate_ids()
    home.config["process"]["args"] = ["sleep", "60"]
    r = home.nsinit("run", "-d", home.id)
    assert r.returncode == 0, r.stderr
    try:
        r = home.nsinit("exec", home.id, "sh", "-c", "id -u; cat /proc/self/uid_map")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == "0"
        assert lines[2].split() == ["1", str(home.user.sub_first), str(SUB_COUNT)]
    finally:
        r = home.nsinit("delete", "--force", home.id)
    assert r.returncode == 0, r.stderr


# -- bad input: a mapping the user may not use ---------------------------------------------


def _fails_cleanly(home, r, path: str) -> str:
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"nsinit: {path}: "), lines[0]
    left = os.listdir(home.xdg / "pycontainer") if (home.xdg / "pycontainer").exists() else []
    assert left == []
    return lines[0]


def test_range_outside_subuid_is_refused(home):
    home.map_subordinate_ids()
    home.config["linux"]["uidMappings"][1]["hostID"] = home.user.sub_first + 1  # one past the range's end
    line = _fails_cleanly(home, home.sh("true"), "linux.uidMappings[1]")
    assert "/etc/subuid" in line


def test_someone_elses_id_is_refused(home):
    home.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    line = _fails_cleanly(home, home.sh("true"), "linux.gidMappings[0]")
    assert "may not be mapped" in line


def test_no_user_namespace_is_refused(home):
    home.config["linux"]["namespaces"] = [
        ns for ns in home.config["linux"]["namespaces"] if ns["type"] != "user"
    ]
    del home.config["linux"]["uidMappings"], home.config["linux"]["gidMappings"]
    line = _fails_cleanly(home, home.sh("true"), "linux.namespaces")
    assert "user namespace" in line


def test_idmapped_mount_is_refused(home):
    home.config["mounts"].append(
        {
            "destination": "/tmp",
            "type": "bind",
            "source": str(home.bundle),
            "options": ["rbind"],
            "uidMappings": [{"containerID": 0, "hostID": home.user.uid, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": home.user.gid, "size": 1}],
        }
    )
    index = len(home.config["mounts"]) - 1
    line = _fails_cleanly(home, home.sh("true"), f"mounts[{index}]")
    assert "idmapped mounts need root" in line


@pytest.fixture
def delegated_pids_cgroup(user):
    """A v1 pids cgroup handed to the user, as a delegating supervisor would;
    removed afterwards."""
    from tests.conftest import OUR_CGROUP_PREFIXES

    name = f"{OUR_CGROUP_PREFIXES[0]}deleg-{uuid.uuid4().hex[:8]}"
    if not os.path.isdir("/sys/fs/cgroup/pids"):  # v2: the user would need the common ancestor too
        pytest.skip("delegation on a pure cgroup v2 host needs the session's cgroup to be the user's")
    top = Path("/sys/fs/cgroup/pids") / name
    top.mkdir()
    for path in (top, top / "cgroup.procs"):
        os.chown(path, user.uid, user.gid)
    yield f"/{name}"
    for sub in sorted(top.glob("**/"), key=lambda p: -len(p.parts)):
        sub.rmdir()


def test_delegated_cgroup_is_used_and_limits_apply(home, delegated_pids_cgroup):
    home.config["linux"]["cgroupsPath"] = f"{delegated_pids_cgroup}/ctr"
    home.config["linux"]["resources"] = {"pids": {"limit": 42}}
    r = home.sh("grep pids /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith(f"pids:{delegated_pids_cgroup}/ctr")
    assert lines[1] == "42"
    assert "pids" not in r.stderr.split("are not used:")[1].split("(")[0]  # only the others are skipped
    assert not Path(f"/sys/fs/cgroup/pids{delegated_pids_cgroup}/ctr").exists()  # removed by delete


def test_a_mapping_newuidmap_refuses_fails_cleanly(home):
    """Overlapping container ids pass the subuid check, and the kernel refuses
    them in newuidmap's write: its message, and the half-made container gone."""
    home.map_subordinate_ids()
    home.config["linux"]["uidMappings"][1]["containerID"] = 0
    r = home.sh("true")
    assert r.returncode != 0
    lines = [line for line in r.stderr.strip().splitlines() if not line.startswith("rootless: cgroups")]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("nsinit: ") and "newuidmap" in lines[0]
    assert "write to uid_map failed" in lines[0]
    left = os.listdir(home.xdg / "pycontainer") if (home.xdg / "pycontainer").exists() else []
    assert left == []


def test_spec_rootless_with_its_terminal(home):
    """The config as written, terminal included (run under script(1) for a tty)."""
    home.config["process"]["terminal"] = True
    home.config["process"]["args"] = ["sh", "-c", "tty; id -u"]
    home.write()
    as_user = ["setpriv", f"--reuid={home.user.uid}", f"--regid={home.user.gid}", "--init-groups", "--"]
    command = " ".join([*as_user, *NSINIT, "run", home.id])
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "XDG_RUNTIME_DIR": str(home.xdg), "TERM": "xterm"}
    r = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        cwd=home.bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.replace("\r", "").splitlines()
    assert any(line.endswith("/dev/pts/0") for line in out), out  # the container's own devpts
    assert out[-1] == "0"
