"""Semantic validation: each rule, its JSON path and its message; engine configs pass clean."""

from __future__ import annotations

import importlib
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from pycontainer.errors import ConfigError
from pycontainer.spec import (
    Process,
    Resources,
    check,
    load_config,
    load_process,
    load_resources,
    validate,
    validate_process,
    validate_resources,
)
from pycontainer.spec.validate import CAPABILITIES
from tests.conftest import engine_fixtures as _fixtures


def base() -> dict[str, Any]:
    """A valid config touching most sections, to break one rule at a time."""
    return {
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "hostname": "box",
        "process": {
            "args": ["/bin/sh"],
            "cwd": "/",
            "env": ["PATH=/bin", "EMPTY="],
            "user": {"uid": 0, "gid": 0, "umask": 0o022},
            "capabilities": {"bounding": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "oomScoreAdj": 0,
        },
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "hooks": {"createRuntime": [{"path": "/usr/bin/hook", "timeout": 5}]},
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "devices": [
                {"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229},
                {"type": "p", "path": "/dev/fifo"},
            ],
            "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "10"},
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"],
            "rootfsPropagation": "rslave",
            "cgroupsPath": "system.slice:docker:abc",
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1}],
                "memory": {"limit": 100, "swap": 200, "swappiness": 60},
                "cpu": {"quota": 1000, "burst": 500, "idle": 0},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
                "unified": {"memory.high": "max"},
            },
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [
                    {
                        "names": ["personality"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
        },
    }


def problems(data: dict[str, Any]) -> list[str]:
    return [str(p) for p in validate(load_config(data, bundle="/bundle"))]


# --- the engines' configs and the baseline ------------------------------------------------------------


@pytest.mark.parametrize("path", _fixtures("config"), ids=lambda p: p.name)
def test_engine_config_validates_clean(path: Path) -> None:
    spec = load_config(path)
    assert validate(spec) == []
    check(spec)


@pytest.mark.parametrize("path", _fixtures("process"), ids=lambda p: p.name)
def test_engine_process_validates_clean(path: Path) -> None:
    assert validate_process(load_process(path)) == []


@pytest.mark.parametrize("path", _fixtures("resources"), ids=lambda p: p.name)
def test_engine_resources_validate_clean(path: Path) -> None:
    assert validate_resources(load_resources(path)) == []


def test_base_is_valid() -> None:
    assert problems(base()) == []


def test_check_raises_with_every_problem() -> None:
    data = base()
    data["process"]["cwd"] = "relative"
    data["linux"]["namespaces"].append({"type": "pidd"})
    with pytest.raises(ConfigError) as info:
        check(load_config(data))
    assert [p.path for p in info.value.problems] == ["process.cwd", "linux.namespaces[6].type"]


# --- version and root ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.2.0", "1.3.0+dirty", "1.0.0-rc.5"])
def test_good_versions(version: str) -> None:
    data = base()
    data["ociVersion"] = version
    assert problems(data) == []


@pytest.mark.parametrize("version", ["0.5.0", "2.0.0", "1.0", "v1.0.0", ""])
def test_bad_versions(version: str) -> None:
    data = base()
    data["ociVersion"] = version
    assert problems(data) == [
        f'ociVersion: unsupported version "{version}" (expected 1.x.y such as '
        f'"1.2.0": this runtime implements runtime-spec 1)'
    ]


def test_root_missing() -> None:
    data = base()
    del data["root"]
    assert [p.split(":")[0] for p in problems(data)] == ["root"]


def test_root_path_empty() -> None:
    data = base()
    data["root"]["path"] = ""
    assert problems(data) == [
        "root.path: empty (expected the root filesystem's path, absolute or relative to the bundle)"
    ]


# --- process ------------------------------------------------------------------------------------------


def test_process_missing() -> None:
    data = base()
    del data["process"]
    assert problems(data) == ["process: missing (expected the process to run: args, cwd and user)"]


def test_args_empty() -> None:
    data = base()
    data["process"]["args"] = []
    assert problems(data) == ["process.args: empty (expected at least the program to run)"]


def test_cwd_relative() -> None:
    data = base()
    data["process"]["cwd"] = "home"
    assert problems(data) == [
        'process.cwd: "home" is not an absolute path (expected a path starting with "/")'
    ]


def test_env_without_equals() -> None:
    data = base()
    data["process"]["env"] = ["A=1", "NOVALUE", "=x"]
    assert problems(data) == [
        'process.env[1]: "NOVALUE" is not of the form NAME=value',
        'process.env[2]: "=x" is not of the form NAME=value',
    ]


def test_umask_range() -> None:
    data = base()
    data["process"]["user"]["umask"] = 0o1000
    assert problems(data) == [
        "process.user.umask: 512 (0o1000) is out of range (expected 0..511, i.e. 0o0..0o777)"
    ]


@pytest.mark.parametrize("value", [-1001, 1001])
def test_oom_score_adj_range(value: int) -> None:
    data = base()
    data["process"]["oomScoreAdj"] = value
    assert problems(data) == [f"process.oomScoreAdj: {value} is out of range (expected -1000..1000)"]


@pytest.mark.parametrize("value", [-1000, 1000])
def test_oom_score_adj_limits_allowed(value: int) -> None:
    data = base()
    data["process"]["oomScoreAdj"] = value
    assert problems(data) == []


def test_capability_table_is_complete() -> None:
    assert len(CAPABILITIES) == 41 and CAPABILITIES[40] == "CAP_CHECKPOINT_RESTORE"
    assert CAPABILITIES.index("CAP_SYS_ADMIN") == 21 and CAPABILITIES.index("CAP_BPF") == 39


def test_unknown_capability_suggests_the_close_one() -> None:
    data = base()
    data["process"]["capabilities"]["ambient"] = ["CAP_SYSADMIN"]
    assert problems(data) == [
        'process.capabilities.ambient[0]: unknown capability "CAP_SYSADMIN" '
        "(did you mean CAP_SYS_ADMIN? expected one of the 41 known names "
        "CAP_CHOWN .. CAP_CHECKPOINT_RESTORE)"
    ]


def test_lowercase_capability_rejected() -> None:
    data = base()
    data["process"]["capabilities"]["effective"] = ["cap_chown"]
    assert [p.split(":")[0] for p in problems(data)] == ["process.capabilities.effective[0]"]


def test_unknown_rlimit() -> None:
    data = base()
    data["process"]["rlimits"][0]["type"] = "RLIMIT_FILES"
    (problem,) = problems(data)
    assert problem.startswith(
        'process.rlimits[0].type: unknown rlimit "RLIMIT_FILES" (expected one of RLIMIT_AS, RLIMIT_CORE,'
    )


def test_duplicate_rlimit() -> None:
    data = base()
    data["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1})
    assert problems(data) == [
        'process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE" (already given at '
        "process.rlimits[0]; expected each type at most once)"
    ]


def test_rlimit_soft_above_hard() -> None:
    data = base()
    data["process"]["rlimits"][0].update(soft=2048, hard=1024)
    assert problems(data) == [
        "process.rlimits[0].soft: soft limit 2048 is above the hard limit 1024 (expected soft <= hard)"
    ]


def test_scheduler_rules() -> None:
    data = base()
    data["process"]["scheduler"] = {
        "policy": "SCHED_OTHER",
        "nice": 20,
        "priority": 5,
        "runtime": 1,
        "flags": ["SCHED_FLAG_NOPE"],
    }
    assert [p.split(":")[0] for p in problems(data)] == [
        "process.scheduler.nice",
        "process.scheduler.priority",
        "process.scheduler.runtime",
        "process.scheduler.flags[0]",
    ]


def test_scheduler_deadline_ok() -> None:
    data = base()
    data["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20, "period": 30}
    assert problems(data) == []


def test_scheduler_unknown_policy() -> None:
    data = base()
    data["process"]["scheduler"] = {"policy": "SCHED_FAST"}
    assert [p.split(":")[0] for p in problems(data)] == ["process.scheduler.policy"]


def test_io_priority_rules() -> None:
    data = base()
    data["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_XX", "priority": 8}
    assert problems(data) == [
        'process.ioPriority.class: unknown I/O priority class "IOPRIO_CLASS_XX" '
        "(expected one of IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE)",
        "process.ioPriority.priority: 8 is out of range (expected 0..7)",
    ]


def test_exec_cpu_affinity_format() -> None:
    data = base()
    data["process"]["execCPUAffinity"] = {"initial": "0-3,7", "final": "all"}
    assert problems(data) == [
        'process.execCPUAffinity.final: "all" is not a cpu list (expected numbers and ranges such as "0-3,7")'
    ]


def test_validate_process_paths_are_rooted() -> None:
    process = Process(args=[], cwd="x")
    assert [p.path for p in validate_process(process)] == ["args", "cwd"]


# --- hostname, mounts, hooks --------------------------------------------------------------------------


def test_hostname_needs_uts() -> None:
    data = base()
    data["linux"]["namespaces"] = [ns for ns in data["linux"]["namespaces"] if ns["type"] != "uts"]
    assert problems(data) == [
        "hostname: unable to set hostname without a private UTS namespace "
        '(expected {"type": "uts"} in linux.namespaces)'
    ]


def test_domainname_needs_uts() -> None:
    data = base()
    del data["hostname"]
    data["domainname"] = "example.org"
    data["linux"]["sysctl"] = {}
    data["linux"]["namespaces"] = [{"type": "mount"}]
    assert [p.split(":")[0] for p in problems(data)] == ["domainname"]


def test_hostname_with_joined_uts_is_fine() -> None:
    data = base()
    data["linux"]["namespaces"] = [
        {"type": "mount"},
        {"type": "uts", "path": "/proc/1/ns/uts"},
        {"type": "network"},
        {"type": "ipc"},
    ]
    assert problems(data) == []


def test_empty_hostname_needs_nothing() -> None:
    data = base()
    data["hostname"] = ""
    data["linux"]["namespaces"] = [{"type": "mount"}, {"type": "network"}, {"type": "ipc"}]
    assert problems(data) == []


def test_mount_destination_relative() -> None:
    data = base()
    data["mounts"].append({"destination": "tmp", "type": "tmpfs"})
    assert problems(data) == [
        'mounts[1].destination: "tmp" is not an absolute path (expected a path starting with "/")'
    ]


def test_idmapped_mount_needs_bind() -> None:
    data = base()
    mapping = [{"containerID": 0, "hostID": 1000, "size": 0}]
    data["mounts"].append(
        {"destination": "/data", "source": "/srv", "options": ["ro"], "uidMappings": mapping}
    )
    assert problems(data) == [
        'mounts[1]: uidMappings/gidMappings need a bind mount (expected the "bind" or "rbind" option)',
        "mounts[1].uidMappings[0].size: 0 ids mapped (expected a size of at least 1)",
    ]


def test_idmapped_bind_mount_ok() -> None:
    data = base()
    mapping = [{"containerID": 0, "hostID": 1000, "size": 10}]
    data["mounts"].append(
        {
            "destination": "/data",
            "source": "/srv",
            "options": ["rbind"],
            "uidMappings": mapping,
            "gidMappings": mapping,
        }
    )
    assert problems(data) == []


def test_hook_path_relative_and_timeout() -> None:
    data = base()
    data["hooks"]["poststop"] = [{"path": "hook.sh", "timeout": 0}]
    assert problems(data) == [
        'hooks.poststop[0].path: "hook.sh" is not an absolute path (expected a path starting with "/")',
        "hooks.poststop[0].timeout: 0 (expected a timeout of at least 1 second)",
    ]


# --- namespaces and what depends on them --------------------------------------------------------------


def test_unknown_namespace_message_is_exact() -> None:
    data = base()
    data["linux"]["namespaces"][3] = {"type": "pidd"}
    data["hostname"] = ""
    assert problems(data) == [
        'linux.namespaces[3].type: unknown namespace "pidd" '
        "(expected one of cgroup, ipc, mount, network, pid, time, user, uts)"
    ]


def test_duplicate_namespace() -> None:
    data = base()
    data["linux"]["namespaces"].append({"type": "pid", "path": "/proc/1/ns/pid"})
    assert problems(data) == [
        'linux.namespaces[6].type: duplicate namespace "pid" (already given at '
        "linux.namespaces[0]; expected each type at most once)"
    ]


def test_namespace_path_relative() -> None:
    data = base()
    data["linux"]["namespaces"][1] = {"type": "network", "path": "run/netns/x"}
    assert problems(data) == [
        'linux.namespaces[1].path: "run/netns/x" is not an absolute path (expected a path starting with "/")'
    ]


def test_time_namespace_accepted() -> None:
    data = base()
    data["linux"]["namespaces"].append({"type": "time"})
    data["linux"]["timeOffsets"] = {"monotonic": {"secs": 10}, "boottime": {"nanosecs": 5}}
    assert problems(data) == []


def test_mappings_without_user_namespace() -> None:
    data = base()
    data["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert problems(data) == [
        "linux.uidMappings: user namespace mappings given, but no user namespace "
        '(expected {"type": "user"} in linux.namespaces)'
    ]


def test_new_user_namespace_needs_mappings() -> None:
    data = base()
    data["linux"]["namespaces"].append({"type": "user"})
    data["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert problems(data) == [
        "linux.uidMappings: a new user namespace needs uid mappings "
        "(expected at least one {containerID, hostID, size})"
    ]


def test_joined_user_namespace_needs_no_mappings() -> None:
    data = base()
    data["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})
    assert problems(data) == []


def test_user_namespace_with_mappings_ok_and_size_checked() -> None:
    data = base()
    data["linux"]["namespaces"].append({"type": "user"})
    data["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    data["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 0}]
    assert problems(data) == ["linux.gidMappings[0].size: 0 ids mapped (expected a size of at least 1)"]


def test_time_offsets_need_time_namespace() -> None:
    data = base()
    data["linux"]["timeOffsets"] = {"monotonic": {"secs": 1}}
    assert problems(data) == [
        "linux.timeOffsets: time offsets given, but no time namespace "
        '(expected {"type": "time"} in linux.namespaces)'
    ]


def test_time_offsets_need_a_new_time_namespace() -> None:
    data = base()
    data["linux"]["namespaces"].append({"type": "time", "path": "/proc/1/ns/time"})
    data["linux"]["timeOffsets"] = {"monotonic": {"secs": 1}}
    assert [p.split(":")[0] for p in problems(data)] == ["linux.timeOffsets"]


def test_time_offset_clock_and_nanosecs() -> None:
    data = base()
    data["linux"]["namespaces"].append({"type": "time"})
    data["linux"]["timeOffsets"] = {"realtime": {"nanosecs": 1_000_000_000}}
    assert problems(data) == [
        'linux.timeOffsets["realtime"]: unknown clock "realtime" (expected one of boottime, monotonic)',
        'linux.timeOffsets["realtime"].nanosecs: 1000000000 is out of range (expected 0..999999999)',
    ]


@pytest.mark.parametrize("key", ["net.core.somaxconn", "net/ipv4/conf/eth0.100/rp_filter"])
def test_net_sysctl_needs_network_namespace(key: str) -> None:
    data = base()
    data["linux"]["sysctl"] = {key: "1"}
    data["linux"]["namespaces"] = [{"type": "mount"}, {"type": "uts"}]
    (problem,) = problems(data)
    assert problem.startswith(f'linux.sysctl[{json.dumps(key)}]: sysctl "net.')
    assert "not allowed in the host's network namespace" in problem


@pytest.mark.parametrize("key", ["kernel.msgmax", "kernel.shm_rmid_forced", "fs.mqueue.queues_max"])
def test_ipc_sysctl_needs_ipc_namespace(key: str) -> None:
    data = base()
    data["linux"]["sysctl"] = {key: "1"}
    data["linux"]["namespaces"] = [{"type": "mount"}, {"type": "uts"}]
    assert problems(data) == [
        f'linux.sysctl["{key}"]: sysctl "{key}" is not allowed in the host\'s ipc '
        f'namespace (expected {{"type": "ipc"}} in linux.namespaces)'
    ]


def test_domainname_sysctl_needs_uts() -> None:
    data = base()
    del data["hostname"]
    data["linux"]["sysctl"] = {"kernel.domainname": "x"}
    data["linux"]["namespaces"] = [{"type": "mount"}]
    assert [p.split(":")[0] for p in problems(data)] == ['linux.sysctl["kernel.domainname"]']


def test_domainname_sysctl_with_uts_ok() -> None:
    data = base()
    data["linux"]["sysctl"] = {"kernel.domainname": "x"}
    assert problems(data) == []


def test_hostname_sysctl_conflicts_with_field() -> None:
    data = base()
    data["linux"]["sysctl"] = {"kernel.hostname": "x"}
    assert problems(data) == [
        'linux.sysctl["kernel.hostname"]: sysctl "kernel.hostname" is not allowed '
        'as it conflicts with the OCI "hostname" field '
        '(expected "hostname" to be set instead)'
    ]


def test_unnamespaced_sysctl() -> None:
    data = base()
    data["linux"]["sysctl"] = {"vm.swappiness": "10"}
    assert problems(data) == [
        'linux.sysctl["vm.swappiness"]: sysctl "vm.swappiness" is not in a separate '
        "kernel namespace (expected net.*, fs.mqueue.*, an IPC kernel.* sysctl or "
        "kernel.domainname)"
    ]


def test_net_devices() -> None:
    data = base()
    data["linux"]["netDevices"] = {"eth1": {"name": "ctr0"}, "a/b": {}, "dummy0": {"name": "x" * 16}}
    assert [p.split(":")[0] for p in problems(data)] == [
        'linux.netDevices["a/b"]',
        'linux.netDevices["dummy0"].name',
    ]


def test_net_devices_need_network_namespace() -> None:
    data = base()
    data["linux"]["netDevices"] = {"eth1": {}}
    data["linux"]["sysctl"] = {}
    data["linux"]["namespaces"] = [{"type": "mount"}, {"type": "uts"}]
    assert [p.split(":")[0] for p in problems(data)] == ["linux.netDevices"]


# --- filesystem and devices ---------------------------------------------------------------------------


def test_device_rules() -> None:
    data = base()
    data["linux"]["devices"] = [{"type": "x", "path": "/dev/x"}, {"type": "b", "path": "dev/sda", "major": 8}]
    assert problems(data) == [
        'linux.devices[0].type: unknown device type "x" (expected one of c, b, u, p)',
        'linux.devices[1].minor: missing (a "b" device needs major and minor numbers)',
        'linux.devices[1].path: "dev/sda" is not an absolute path (expected a path starting with "/")',
    ]


def test_masked_and_readonly_paths_absolute() -> None:
    data = base()
    data["linux"]["maskedPaths"] = ["proc/kcore"]
    data["linux"]["readonlyPaths"] = ["/ok", "sys"]
    assert [p.split(":")[0] for p in problems(data)] == ["linux.maskedPaths[0]", "linux.readonlyPaths[1]"]


def test_masked_paths_need_mount_namespace() -> None:
    data = base()
    data["linux"]["namespaces"] = [ns for ns in data["linux"]["namespaces"] if ns["type"] != "mount"]
    assert problems(data) == [
        "linux.maskedPaths: unable to restrict sys entries without a private MNT "
        'namespace (expected {"type": "mount"} in linux.namespaces)'
    ]


@pytest.mark.parametrize(
    "value", ["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"]
)
def test_rootfs_propagation_allowed(value: str) -> None:
    data = base()
    data["linux"]["rootfsPropagation"] = value
    assert problems(data) == []


def test_rootfs_propagation_unknown() -> None:
    data = base()
    data["linux"]["rootfsPropagation"] = "recursive"
    assert problems(data) == [
        'linux.rootfsPropagation: unknown propagation "recursive" (expected one of '
        "private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable)"
    ]


@pytest.mark.parametrize("path", ["/machine.slice/x", "relative/path", "system.slice:docker:abc"])
def test_any_cgroups_path_is_fine(path: str) -> None:
    data = base()
    data["linux"]["cgroupsPath"] = path
    assert problems(data) == []


# --- resources ----------------------------------------------------------------------------------------


def test_resources_device_rules() -> None:
    data = base()
    data["linux"]["resources"]["devices"] = [{"allow": True, "type": "x", "access": "rwx"}]
    assert [p.split(":")[0] for p in problems(data)] == [
        "linux.resources.devices[0].type",
        "linux.resources.devices[0].access",
    ]


def test_memory_rules() -> None:
    data = base()
    data["linux"]["resources"]["memory"] = {"limit": 200, "swap": 100, "swappiness": 101}
    assert problems(data) == [
        "linux.resources.memory.swappiness: 101 is out of range (expected 0..100)",
        "linux.resources.memory.swap: memory+swap limit 100 is below the memory limit 200 "
        "(expected swap >= limit, or -1 for unlimited)",
    ]


def test_memory_unlimited_and_unset_values_ok() -> None:
    data = base()
    data["linux"]["resources"]["memory"] = {
        "limit": 200,
        "swap": -1,
        "swappiness": 2**64 - 1,
        "reservation": 0,
        "kernel": 0,
    }
    assert problems(data) == []


def test_cpu_rules() -> None:
    data = base()
    data["linux"]["resources"]["cpu"] = {"quota": 100, "burst": 200, "idle": 2, "shares": 0}
    assert [p.split(":")[0] for p in problems(data)] == [
        "linux.resources.cpu.burst",
        "linux.resources.cpu.idle",
    ]


def test_cpu_burst_with_unlimited_quota_ok() -> None:
    data = base()
    data["linux"]["resources"]["cpu"] = {"quota": -1, "burst": 200}
    assert problems(data) == []


def test_block_io_weight_device_needs_a_weight() -> None:
    data = base()
    data["linux"]["resources"]["blockIO"] = {"weight": 0, "weightDevice": [{"major": 8, "minor": 0}]}
    assert problems(data) == [
        "linux.resources.blockIO.weightDevice[0]: neither weight nor leafWeight given (expected at least one)"
    ]


def test_hugepage_size_format() -> None:
    data = base()
    data["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2M", "limit": 1}]
    assert problems(data) == [
        'linux.resources.hugepageLimits[0].pageSize: "2M" is not a page size '
        '(expected <size><unit>B such as "2MB")'
    ]


def test_rdma_needs_a_limit() -> None:
    data = base()
    data["linux"]["resources"]["rdma"] = {"mlx5_1": {}}
    assert problems(data) == [
        'linux.resources.rdma["mlx5_1"]: neither hcaHandles nor hcaObjects given (expected at least one)'
    ]


@pytest.mark.parametrize("key", ["memory/high", "nodot", ".max"])
def test_unified_key_format(key: str) -> None:
    data = base()
    data["linux"]["resources"]["unified"] = {key: "1"}
    assert [p.split(":")[0] for p in problems(data)] == [f"linux.resources.unified[{json.dumps(key)}]"]


def test_weights_and_shares_in_the_kernels_range() -> None:
    data = base()
    data["linux"]["resources"]["cpu"] = {"shares": 1}
    data["linux"]["resources"]["blockIO"] = {
        "weight": 1001,
        "leafWeight": 9,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 10, "leafWeight": 2000}],
    }
    assert problems(data) == [
        "linux.resources.cpu.shares: 1 is out of range (expected 2..262144, or 0 for unset)",
        "linux.resources.blockIO.weight: 1001 is out of range (expected 10..1000, or 0 for unset)",
        "linux.resources.blockIO.leafWeight: 9 is out of range (expected 10..1000, or 0 for unset)",
        "linux.resources.blockIO.weightDevice[0].leafWeight: 2000 is out of range (expected 10..1000, "
        "or 0 for unset)",
    ]
    data["linux"]["resources"]["cpu"] = {"shares": 262144}
    data["linux"]["resources"]["blockIO"] = {"weight": 0, "leafWeight": 10}
    assert problems(data) == []


def test_validate_resources_paths_are_rooted() -> None:
    resources = load_resources({"memory": {"swappiness": 200}})
    assert [p.path for p in validate_resources(resources)] == ["memory.swappiness"]
    assert validate_resources(Resources()) == []


# --- seccomp, personality, intelRdt -------------------------------------------------------------------


def test_seccomp_unknown_names() -> None:
    data = base()
    seccomp = data["linux"]["seccomp"]
    seccomp["defaultAction"] = "SCMP_ACT_DENY"
    seccomp["architectures"] = ["SCMP_ARCH_X86_65"]
    seccomp["flags"] = ["SECCOMP_FILTER_FLAG_NOPE"]
    seccomp["syscalls"][0]["args"][0]["op"] = "SCMP_CMP_EQUAL"
    assert [p.split(":")[0] for p in problems(data)] == [
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
        "linux.seccomp.architectures[0]",
        "linux.seccomp.flags[0]",
        "linux.seccomp.syscalls[0].args[0].op",
    ]


def test_seccomp_arch_suggestion() -> None:
    data = base()
    data["linux"]["seccomp"]["architectures"] = ["SCMP_ARCH_X86_65"]
    (problem,) = problems(data)
    assert "did you mean SCMP_ARCH_X86_64?" in problem


def test_seccomp_errno_needs_errno_action() -> None:
    data = base()
    data["linux"]["seccomp"]["syscalls"][0]["errnoRet"] = 1
    assert problems(data) == [
        "linux.seccomp.syscalls[0].errnoRet: an errno needs an action that returns one "
        "(expected SCMP_ACT_ERRNO or SCMP_ACT_TRACE, got SCMP_ACT_ALLOW)"
    ]


def test_seccomp_rule_needs_names_and_small_index() -> None:
    data = base()
    data["linux"]["seccomp"]["syscalls"] = [
        {"names": [], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}
    ]
    assert problems(data) == [
        "linux.seccomp.syscalls[0].names: empty (expected at least one syscall name)",
        "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (expected 0..5)",
    ]


def test_seccomp_notify_rules() -> None:
    data = base()
    seccomp = data["linux"]["seccomp"]
    seccomp["listenerMetadata"] = "meta"
    seccomp["syscalls"].append({"names": ["write"], "action": "SCMP_ACT_NOTIFY"})
    assert [p.split(":")[0] for p in problems(data)] == [
        "linux.seccomp.listenerMetadata",
        "linux.seccomp.listenerPath",
        "linux.seccomp.syscalls[1].action",
    ]


def test_seccomp_notify_with_listener_ok() -> None:
    data = base()
    seccomp = data["linux"]["seccomp"]
    seccomp.update(listenerPath="/run/agent.sock", listenerMetadata="m", flags=["SECCOMP_FILTER_FLAG_LOG"])
    seccomp["syscalls"].append({"names": ["mount"], "action": "SCMP_ACT_NOTIFY"})
    assert problems(data) == []


def test_seccomp_notify_cannot_be_default() -> None:
    data = base()
    data["linux"]["seccomp"].update(defaultAction="SCMP_ACT_NOTIFY", listenerPath="/run/a.sock")
    del data["linux"]["seccomp"]["defaultErrnoRet"]
    assert problems(data) == [
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action "
        "(expected it only in syscalls[].action)"
    ]


def test_personality() -> None:
    data = base()
    data["linux"]["personality"] = {"domain": "LINUX64", "flags": ["X"]}
    assert problems(data) == [
        'linux.personality.domain: unknown personality domain "LINUX64" (expected one of LINUX, LINUX32)',
        "linux.personality.flags: the spec defines no personality flags (expected none)",
    ]


def test_intel_rdt() -> None:
    data = base()
    data["linux"]["intelRdt"] = {"closID": "../x", "memBwSchema": "L3:0=7f0"}
    assert [p.split(":")[0] for p in problems(data)] == [
        "linux.intelRdt.closID",
        "linux.intelRdt.memBwSchema",
    ]


def test_intel_rdt_ok() -> None:
    data = base()
    data["linux"]["intelRdt"] = {"closID": "guaranteed_group", "memBwSchema": "MB:0=20;1=70"}
    assert problems(data) == []


# --- several problems at once -------------------------------------------------------------------------


def test_every_problem_reported_in_section_order() -> None:
    data = base()
    data["ociVersion"] = "2.0.0"
    data["process"]["cwd"] = "x"
    data["mounts"][0]["destination"] = "proc"
    data["linux"]["namespaces"][0]["type"] = "pidd"
    data["linux"]["rootfsPropagation"] = "nope"
    data["linux"]["seccomp"]["defaultAction"] = "nope"
    assert [p.split(":")[0] for p in problems(data)] == [
        "ociVersion",
        "process.cwd",
        "mounts[0].destination",
        "linux.namespaces[0].type",
        "linux.rootfsPropagation",
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    ]


def test_validate_without_linux_section() -> None:
    data = base()
    del data["linux"]
    assert problems(data) == [
        "hostname: unable to set hostname without a private UTS namespace "
        '(expected {"type": "uts"} in linux.namespaces)'
    ]


# --- the hand-written grammars match the patterns they replace -----------------------------------------

# The patterns validate.py used before it stopped compiling regular expressions at import.
_PATTERNS = {
    "_is_oci_version": r"1\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?",
    "_is_cpu_list": r"[0-9, -]*",
    "_is_page_size": r"[0-9]+[KMGTPE]?B",
}
_SAMPLES = [
    "",
    "1",
    "1.",
    "1.2",
    "1.2.",
    "1.2.0",
    "1.0.2-dev",
    "1.2.3-rc.1+build.5",
    "1.2.3+b-c",
    "1.2.3--x",
    "1.2.3-",
    "1.2.3+",
    "1.2.3-+b",
    "1.2.3-a+",
    "1.2.3+a+b",
    "1.2.3-a_b",
    "1.2.3.4",
    "01.2.3",
    "2.0.0",
    "1.2.3\n",
    "1.٣.4",  # an Arabic-Indic digit: \d matches it
    "1.2.3-é",
    "0-3,7",
    " 1 , 2-4 ",
    "all",
    "0-3\n",
    "2MB",
    "2B",
    "MB",
    "B",
    "64KB",
    "2M",
    "2KMB",
    "1٣GB",
    "10EB",
    "2mb",
]


@pytest.mark.parametrize("name", sorted(_PATTERNS))
def test_grammar_matches_its_pattern(name: str) -> None:
    module = importlib.import_module("pycontainer.spec.validate")  # the package's `validate` is the function
    check_fn, pattern = getattr(module, name), re.compile(_PATTERNS[name])
    rng = random.Random(name)
    alphabet = "0123456789.-+, KMGTPEBab_\n٣é"
    samples = _SAMPLES + ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(5000)]
    samples += ["1." + "".join(rng.choices("0123456789.-+ab", k=rng.randint(0, 10))) for _ in range(5000)]
    for sample in samples:
        assert check_fn(sample) == bool(pattern.fullmatch(sample)), sample
