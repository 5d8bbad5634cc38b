"""The documents behind ``nsinit features`` and ``nsinit spec``: derived from
the code's own tables, valid for our loader, shaped like runc's."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess

import pytest

import pycontainer
from pycontainer import jsonio
from pycontainer.cli import features as features_mod
from pycontainer.cli.features import features, mount_options, supported_seccomp_flags
from pycontainer.mountopts import parse_mount_options
from pycontainer.security.capabilities import CAPABILITIES
from pycontainer.spec import defaults as default_spec_mod
from pycontainer.spec import load_config, validate
from pycontainer.spec.validate import (
    NAMESPACE_TYPES,
    SECCOMP_ACTIONS,
    SECCOMP_ARCHITECTURES,
    SECCOMP_FLAGS,
    SECCOMP_OPERATORS,
)

RUNC = shutil.which("runc")


def default_spec(rootless: bool = False) -> dict:
    """The document ``nsinit spec [--rootless]`` writes."""
    spec = default_spec_mod.default_spec(terminal=True, rootless=rootless, host_network=rootless)
    return default_spec_mod.runc_json(spec)


needs_runc = pytest.mark.skipif(RUNC is None, reason="runc is not installed")

# What we list deliberately differently from runc (see the modules' docstrings).
OUR_EXTRA_MOUNT_OPTIONS = {"copy-symlink", "src-nofollow", "dest-nofollow"}  # crun's, parsed by mountopts
OUR_EXTRA_MOUNT_OPTIONS |= {"idmap", "ridmap"}  # runc >= 1.2 lists them too; an older one does not
RUNC_ONLY_MOUNT_OPTIONS: set[str] = set()
# runc >= 1.2 masks tpm, 1.1 does not; Docker masks powercap (CVE-2020-8694), runc does not.
OUR_EXTRA_MASKED_PATHS = {"/sys/devices/virtual/tpm", "/sys/devices/virtual/powercap"}


def _runc_json(*args: str, cwd=None):
    out = subprocess.run([RUNC, *args], check=True, capture_output=True, text=True, cwd=cwd).stdout
    return jsonio.loads(out)


# --- features -----------------------------------------------------------------------------------------


def test_features_keys_and_types():
    doc = features()
    assert list(doc) == ["ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux", "annotations"]
    assert doc["ociVersionMin"] == "1.0.0"
    assert doc["ociVersionMax"] == pycontainer.OCI_VERSION
    assert doc["hooks"] == [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ]
    linux = doc["linux"]
    assert set(linux) == {
        "namespaces",
        "capabilities",
        "cgroup",
        "seccomp",
        "apparmor",
        "selinux",
        "intelRdt",
        "mountExtensions",
        "netDevices",
    }
    assert linux["cgroup"] == {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False}
    for name in ("apparmor", "selinux"):
        assert linux[name] == {"enabled": True}  # applied where the host runs them
    assert linux["intelRdt"] == {"enabled": False}
    assert linux["netDevices"] == {"enabled": True}
    assert linux["mountExtensions"] == {"idmap": {"enabled": True}}
    seccomp = linux["seccomp"]
    assert list(seccomp) == ["enabled", "actions", "operators", "archs", "knownFlags", "supportedFlags"]
    assert seccomp["enabled"] is True
    for key in ("actions", "operators", "archs", "knownFlags", "supportedFlags"):
        assert all(isinstance(item, str) for item in seccomp[key]), key
    for items in (doc["hooks"], doc["mountOptions"], linux["namespaces"], linux["capabilities"]):
        assert items and all(isinstance(item, str) for item in items)
        assert len(set(items)) == len(items)
    assert doc["annotations"] == {"io.github.pycontainer.version": pycontainer.__version__}
    assert all(isinstance(v, str) for v in doc["annotations"].values())


def test_features_is_json_and_fresh():
    doc = features()
    assert jsonio.loads(jsonio.dumps(doc, indent=4)) == doc
    doc["linux"]["capabilities"].clear()
    doc["mountOptions"].clear()
    assert features()["linux"]["capabilities"] == list(CAPABILITIES)
    assert features()["mountOptions"]


def test_features_lists_follow_the_code_tables():
    linux = features()["linux"]
    assert linux["capabilities"] == list(CAPABILITIES)
    assert linux["namespaces"] == sorted(NAMESPACE_TYPES)
    assert len(linux["namespaces"]) == 8
    seccomp = linux["seccomp"]
    assert seccomp["actions"] == sorted(SECCOMP_ACTIONS)
    assert seccomp["operators"] == sorted(SECCOMP_OPERATORS)
    assert seccomp["archs"] == sorted(SECCOMP_ARCHITECTURES)
    assert seccomp["knownFlags"] == [
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ]
    assert set(seccomp["knownFlags"]) <= set(SECCOMP_FLAGS)
    assert set(seccomp["supportedFlags"]) <= set(seccomp["knownFlags"])


def test_every_listed_mount_option_is_recognized():
    options = features()["mountOptions"]
    assert options == sorted(options) == mount_options()
    for opt in options:
        for mount_type in (None, "tmpfs", "bind"):
            assert parse_mount_options([opt], mount_type).data == "", (opt, mount_type)
    assert parse_mount_options(options).data == ""
    # the ones the brief singles out
    for opt in ("bind", "rbind", "rro", "rprivate", "shared", "runbindable", "tmpcopyup", "defaults"):
        assert opt in options
    # filesystem data is not listed; idmap requests are
    assert "mode=755" not in options
    assert {"idmap", "ridmap"} <= set(options)
    assert parse_mount_options(["mode=755"]).data == "mode=755"


def test_supported_seccomp_flags_probe_and_fallback(monkeypatch):
    known = features_mod.seccomp_known_flags()
    # the probe decides when it can
    monkeypatch.setattr(features_mod, "_seccomp_probe", lambda: lambda bits: bits == 1 << 1)
    assert supported_seccomp_flags(known) == ["SECCOMP_FILTER_FLAG_LOG"]
    # an inconclusive probe, or none at all: the kernel release
    monkeypatch.setattr(features_mod, "_kernel_release", lambda: (4, 17))
    monkeypatch.setattr(features_mod, "_seccomp_probe", lambda: lambda bits: None)
    assert supported_seccomp_flags(known) == ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    monkeypatch.setattr(features_mod, "_seccomp_probe", lambda: None)
    monkeypatch.setattr(features_mod, "_kernel_release", lambda: (6, 1))
    assert supported_seccomp_flags(known) == known
    monkeypatch.setattr(features_mod, "_kernel_release", lambda: (4, 4))
    assert supported_seccomp_flags(known) == []


def test_supported_seccomp_flags_on_this_kernel():
    supported = supported_seccomp_flags()
    known = features_mod.seccomp_known_flags()
    assert supported == [flag for flag in known if flag in supported]
    if features_mod._kernel_release() >= (5, 19):
        assert supported == known


def test_kernel_release(monkeypatch):
    class Uname:
        def __init__(self, release: str) -> None:
            self.release, self.machine = release, "x86_64"

    for release, expected in (("6.18.44-fc-v657", (6, 18)), ("5.4.0-rc1", (5, 4)), ("4.19", (4, 19))):
        monkeypatch.setattr(os, "uname", lambda r=release: Uname(r))
        assert features_mod._kernel_release() == expected
    monkeypatch.setattr(os, "uname", lambda: Uname("weird"))
    assert features_mod._kernel_release() == (0, 0)


@needs_runc
def test_features_cover_runc():
    theirs = _runc_json("features")
    ours = features()
    assert set(theirs) - {"potentiallyUnsafeConfigAnnotations"} <= set(ours)
    assert set(theirs["mountOptions"]) - RUNC_ONLY_MOUNT_OPTIONS <= set(ours["mountOptions"])
    assert set(ours["mountOptions"]) - set(theirs["mountOptions"]) <= OUR_EXTRA_MOUNT_OPTIONS
    assert set(theirs["hooks"]) == set(ours["hooks"])
    assert set(theirs["linux"]["namespaces"]) <= set(ours["linux"]["namespaces"])
    assert set(theirs["linux"]["capabilities"]) <= set(ours["linux"]["capabilities"])
    if "seccomp" in theirs["linux"]:
        for key in ("actions", "operators", "archs"):
            assert set(theirs["linux"]["seccomp"][key]) <= set(ours["linux"]["seccomp"][key]), key


# --- default spec -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rootless", [False, True])
@pytest.mark.parametrize("cgroup2", [False, True])
def test_default_spec_loads_and_validates(monkeypatch, rootless, cgroup2):
    monkeypatch.setattr(default_spec_mod, "cgroup2_only", lambda: cgroup2)
    doc = default_spec(rootless)
    assert jsonio.loads(jsonio.dumps(doc, indent=2)) == doc
    spec = load_config(doc, bundle="/tmp/bundle")
    assert validate(spec) == []
    assert spec.oci_version == pycontainer.OCI_VERSION
    assert spec.hostname == "nsinit"
    assert spec.process.args == ["sh"] and spec.process.terminal is True
    assert spec.root.path == "rootfs" and spec.root.readonly is True
    types = [ns.type for ns in spec.linux.namespaces]
    assert ("cgroup" in types) is cgroup2


def test_default_spec_shape():
    doc = default_spec()
    assert list(doc) == ["ociVersion", "process", "root", "hostname", "mounts", "linux"]
    caps = doc["process"]["capabilities"]
    assert caps == {s: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"] for s in caps}
    assert list(caps) == ["bounding", "effective", "permitted"]
    assert doc["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    assert doc["process"]["noNewPrivileges"] is True
    assert [m["destination"] for m in doc["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ]
    assert doc["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert "gid=5" in doc["mounts"][2]["options"]
    assert "uidMappings" not in doc["linux"]


def test_default_spec_rootless(monkeypatch):
    monkeypatch.setattr(default_spec_mod, "cgroup2_only", lambda: True)
    doc = default_spec(rootless=True)
    linux = doc["linux"]
    assert list(linux) == ["uidMappings", "gidMappings", "namespaces", "maskedPaths", "readonlyPaths"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert [ns["type"] for ns in linux["namespaces"]] == ["pid", "ipc", "uts", "mount", "cgroup", "user"]
    mounts = {m["destination"]: m for m in doc["mounts"]}
    assert mounts["/sys"] == {
        "destination": "/sys",
        "type": "none",
        "source": "/sys",
        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
    }
    assert mounts["/dev/pts"]["options"] == ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    assert mounts["/sys/fs/cgroup"]["type"] == "cgroup"  # runc keeps it
    assert "resources" not in linux


def test_default_spec_is_fresh_every_call():
    first = default_spec()
    pristine = copy.deepcopy(first)
    first["mounts"][2]["options"].append("uid=1")
    first["linux"]["maskedPaths"].clear()
    first["process"]["capabilities"]["bounding"].clear()
    default_spec(rootless=True)
    assert default_spec() == pristine


@needs_runc
@pytest.mark.parametrize("rootless", [False, True])
def test_default_spec_matches_runc(tmp_path, rootless):
    args = ["spec", "--bundle", str(tmp_path)] + (["--rootless"] if rootless else [])
    subprocess.run([RUNC, *args], check=True, capture_output=True)
    with open(tmp_path / "config.json") as f:
        theirs = jsonio.loads(f.read())
    ours = default_spec(rootless)

    assert list(ours) == list(theirs)
    assert list(ours["linux"]) == list(theirs["linux"])
    assert [m["destination"] for m in ours["mounts"]] == [m["destination"] for m in theirs["mounts"]]
    assert ours["mounts"] == theirs["mounts"]
    assert [ns["type"] for ns in ours["linux"]["namespaces"]] == [
        ns["type"] for ns in theirs["linux"]["namespaces"]
    ]
    assert set(ours["linux"]["maskedPaths"]) - set(theirs["linux"]["maskedPaths"]) <= OUR_EXTRA_MASKED_PATHS
    assert set(theirs["linux"]["maskedPaths"]) <= set(ours["linux"]["maskedPaths"])
    assert ours["linux"]["readonlyPaths"] == theirs["linux"]["readonlyPaths"]
    assert ours["linux"].get("resources") == theirs["linux"].get("resources")
    for key in ("uidMappings", "gidMappings"):
        assert ours["linux"].get(key) == theirs["linux"].get(key)
    process, their_process = ours["process"], theirs["process"]
    for key in ("terminal", "user", "args", "env", "cwd", "rlimits", "noNewPrivileges"):
        assert process[key] == their_process[key], key
    for key in ("bounding", "effective", "permitted"):
        assert process["capabilities"][key] == their_process["capabilities"][key]
    assert ours["root"] == theirs["root"]
