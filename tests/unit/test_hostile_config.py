"""Hostile configs and command lines, the pure pieces: what validation refuses (with the JSON path
and the allowed range, runc's words where runc has some), how exec's flags are parsed, and the
values the final step gets (capability masks, rlimits, C strings)."""

from __future__ import annotations

import copy
import resource
from typing import Any

import pytest

from pycontainer.cli.args import ArgumentError, parse
from pycontainer.errors import ConfigError, ContainerError
from pycontainer.process import finalize
from pycontainer.process.parent import HostFacts
from pycontainer.security import capabilities
from pycontainer.spec import Capabilities, load_config, load_process, validate, validate_process
from pycontainer.spec.load import parse_json

BASE: dict[str, Any] = {
    "ociVersion": "1.2.0",
    "root": {"path": "rootfs"},
    "process": {
        "args": ["/bin/sh"],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
    },
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "pid"}]},
}


def problems(change: str) -> list[str]:
    config = copy.deepcopy(BASE)
    exec(change, {"c": config})
    try:
        spec = load_config(config)
    except ConfigError as e:
        return [str(p) for p in e.problems]
    return [str(p) for p in validate(spec)]


def test_the_base_config_is_clean():
    assert problems("pass") == []


RANGE = "uids and gids must be in range 0-2147483647"


@pytest.mark.parametrize(
    "change, expected",
    [
        ("c['process']['user']['uid'] = 4294967295", f"process.user.uid: {RANGE} (got 4294967295)"),
        ("c['process']['user']['gid'] = 2147483648", f"process.user.gid: {RANGE} (got 2147483648)"),
        (
            "c['process']['user']['additionalGids'] = [1, 4294967295]",
            f"process.user.additionalGids[1]: {RANGE} (got 4294967295)",
        ),
        (
            "c['linux']['devices'] = [{'type': 'c', 'path': '/dev/x', 'major': 1, 'minor': 3, "
            "'uid': 4294967295}]",
            f"linux.devices[0].uid: {RANGE} (got 4294967295)",
        ),
        ("c['process']['user']['uid'] = -1", "process.user.uid: -1 is out of range for uint32"),
    ],
)
def test_ids_outside_runcs_range(change, expected):
    assert any(p.startswith(expected) for p in problems(change)), problems(change)


def test_the_largest_id_runc_takes_is_fine():
    assert problems("c['process']['user'].update(uid=2147483647, gid=2147483647)") == []


def test_id_mappings_must_not_reach_uid_t_minus_one():
    userns = "c['linux']['namespaces'].append({'type': 'user'}); "
    ok = userns + (
        "c['linux']['uidMappings'] = c['linux']['gidMappings'] = "
        "[{'containerID': 0, 'hostID': 4294967294 - 65536, 'size': 65536}]"
    )
    assert problems(ok) == []
    bad = userns + (
        "c['linux']['uidMappings'] = c['linux']['gidMappings'] = "
        "[{'containerID': 0, 'hostID': 4294967295 - 10, 'size': 65536}]"
    )
    found = problems(bad)
    assert any(p.startswith("linux.uidMappings[0].hostID: ids 4294967285..") for p in found), found
    assert any("(uid_t)-1" in p for p in found)
    mount = (
        "c['mounts'].append({'destination': '/m', 'type': 'bind', 'source': '/m', 'options': ['bind'], "
        "'uidMappings': [{'containerID': 4294967295, 'hostID': 0, 'size': 1}]})"
    )
    assert any(p.startswith("mounts[1].uidMappings[0].containerID:") for p in problems(mount))


def test_unmapped_ids_in_a_new_user_namespace():
    change = (
        "c['linux']['namespaces'].append({'type': 'user'}); "
        "c['linux']['uidMappings'] = c['linux']['gidMappings'] = "
        "[{'containerID': 0, 'hostID': 100000, 'size': 1000}]; "
        "c['process']['user'] = {'uid': 1000, 'gid': 5, 'additionalGids': [2000]}"
    )
    assert problems(change) == [
        "process.user.uid: cannot set uid to unmapped user in user namespace "
        "(1000 is not in linux.uidMappings)",
        "process.user.additionalGids[0]: cannot set gid to unmapped user in user namespace "
        "(2000 is not in linux.gidMappings)",
    ]


NUL = "can't contain null(\\x00)"


@pytest.mark.parametrize(
    "change, path",
    [
        ("c['process']['env'].append('A=b\\0c')", "process.env[1]"),
        ("c['process']['args'].append('a\\0b')", "process.args[1]"),
        ("c['process']['cwd'] = '/a\\0b'", "process.cwd"),
        ("c['hostname'] = 'a\\0b'", "hostname"),
        ("c['domainname'] = 'a\\0b'", "domainname"),
        ("c['mounts'][0]['destination'] = '/pr\\0c'", "mounts[0].destination"),
        ("c['mounts'][0]['source'] = 'pr\\0c'", "mounts[0].source"),
        ("c['mounts'][0]['options'] = ['nosuid', 'x\\0']", "mounts[0].options[1]"),
        ("c['hooks'] = {'prestart': [{'path': '/bin/a\\0b'}]}", "hooks.prestart[0].path"),
        ("c['hooks'] = {'poststop': [{'path': '/bin/t', 'env': ['A=\\0']}]}", "hooks.poststop[0].env[0]"),
        ("c['annotations'] = {'k\\0': 'v'}", 'annotations["k\\u0000"]'),
        ("c['linux']['maskedPaths'] = ['/proc/kc\\0ore']", "linux.maskedPaths[0]"),
        ("c['linux']['sysctl'] = {'kernel.shmmax': '1\\0'}", 'linux.sysctl["kernel.shmmax"]'),
        ("c['root']['path'] = 'root\\0fs'", "root.path"),
    ],
)
def test_nul_bytes_are_refused_with_the_json_path(change, path):
    found = problems(change)
    assert any(p.startswith(f"{path}: ") and NUL in p for p in found), found


def test_lone_surrogates_are_refused():
    found = problems("c['process']['env'].append('A=\\ud800')")
    assert found == [
        'process.env[1]: "A=\\ud800" is not valid Unicode (a lone surrogate \\ud800 at 2; '
        "expected text that UTF-8 can encode)"
    ]
    # Text beyond ASCII is fine.
    assert problems("c['process']['env'].append('GREETING=grüß dich ✓')") == []


@pytest.mark.parametrize(
    "change, path, expected",
    [
        (
            "c['linux']['devices'] = [{'type': 'c', 'path': '/dev/x', 'major': 2**40, 'minor': 1}]",
            "linux.devices[0].major",
            "1099511627776 is out of range (expected 0..4095)",
        ),
        (
            "c['linux']['devices'] = [{'type': 'b', 'path': '/dev/x', 'major': 1, 'minor': 2**20}]",
            "linux.devices[0].minor",
            "1048576 is out of range (expected 0..1048575)",
        ),
        (
            "c['linux']['resources'] = {'devices': [{'allow': True, 'major': 2**32}]}",
            "linux.resources.devices[0].major",
            "4294967296 is out of range (expected 0..4294967295, or -1 for any)",
        ),
        (
            "c['linux']['resources'] = {'blockIO': {'throttleReadBpsDevice': "
            "[{'major': -1, 'minor': 0, 'rate': 1}]}}",
            "linux.resources.blockIO.throttleReadBpsDevice[0].major",
            "-1 is out of range for uint32",
        ),
        (
            "c['process']['consoleSize'] = {'height': 65536, 'width': 80}",
            "process.consoleSize.height",
            "65536 is out of range for uint16",
        ),
        (
            "c['process']['scheduler'] = {'policy': 'SCHED_FIFO', 'priority': 100}",
            "process.scheduler.priority",
            "100 is out of range (expected 0..99)",
        ),
        (
            "c['process']['rlimits'] = [{'type': 'RLIMIT_CORE', 'hard': 2**64, 'soft': 0}]",
            "process.rlimits[0].hard",
            "18446744073709551616 is out of range for uint64",
        ),
        (
            "c['hooks'] = {'poststop': [{'path': '/bin/t', 'timeout': 2**40}]}",
            "hooks.poststop[0].timeout",
            "1099511627776 is out of range for int32",
        ),
        (
            "c['linux']['seccomp'] = {'defaultAction': 'SCMP_ACT_ERRNO', 'defaultErrnoRet': 65536}",
            "linux.seccomp.defaultErrnoRet",
            "65536 is out of range (expected 0..65535)",
        ),
    ],
)
def test_integers_that_reach_c_are_range_checked(change, path, expected):
    found = problems(change)
    assert any(p.startswith(f"{path}: {expected}") for p in found), found


def test_unlimited_rlimits_are_valid():
    change = "c['process']['rlimits'] = [{'type': 'RLIMIT_CORE', 'hard': 2**64 - 1, 'soft': 2**64 - 1}]"
    assert problems(change) == []


def test_capsets_the_kernel_would_refuse_after_create():
    """capabilities.permitted null: capset fails once the ids changed, after `create` reported
    ready (runc: "unable to apply caps").  Refused up front, naming the capability."""
    found = problems("c['process']['capabilities']['permitted'] = None")
    assert found == [
        'process.capabilities.effective[0]: "CAP_KILL" is not in process.capabilities.permitted '
        "(unable to apply caps: the kernel refuses effective capabilities outside the permitted set)"
    ]
    found = problems("c['process']['capabilities']['inheritable'] = ['CAP_CHOWN']")
    assert found[0].startswith('process.capabilities.inheritable[0]: "CAP_CHOWN" is not in ')
    # runc spec's ambient without inheritable is allowed: the final step skips them.
    assert problems("c['process']['capabilities']['ambient'] = ['CAP_KILL']") == []


def test_an_exec_process_file_is_checked_the_same_way():
    process = load_process(
        {
            "args": ["/bin/sh", "a\x00b"],
            "cwd": "/",
            "user": {"uid": 4294967295, "gid": 0},
            "env": ["A=\ud800"],
        }
    )
    found = [str(p) for p in validate_process(process)]
    assert f"user.uid: {RANGE} (got 4294967295)" in found
    assert any(p.startswith("args[1]: ") and NUL in p for p in found)
    assert any(p.startswith("env[0]: ") and "lone surrogate" in p for p in found)


# --- exec's command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-u", "4294967295"], f"--user 4294967295: {RANGE}"),
        (["-u", "4294967296"], f"--user 4294967296: {RANGE}"),
        (["-u", "-1"], f"--user -1: {RANGE}"),
        (["--user=5:-1"], f"--user -1: {RANGE}"),
        (["-u", "x"], f"--user 'x': expected a number ({RANGE})"),
        (["-g", "4294967295"], f"--additional-gids 4294967295: {RANGE}"),
    ],
)
def test_exec_ids_outside_runcs_range(argv, message):
    with pytest.raises(ArgumentError) as e:
        parse(["exec", *argv, "ctr", "id"])
    assert str(e.value) == message


def test_exec_ids_in_range():
    args = parse(["exec", "-u", "1000", "-g", "7", "-g", "2147483647", "ctr", "id"])
    assert args.user == (1000, None)  # no gid: the process's own (runc)
    assert args.additional_gids == [7, 2147483647]
    assert parse(["exec", "--user=5:6", "ctr", "id"]).user == (5, 6)


@pytest.mark.parametrize(
    "text, words",
    [("{bad", "at line 1, column 2"), (b"\xff", "invalid JSON"), ("[1,", "invalid JSON")],
)
def test_bad_json_names_where_it_came_from(text, words):
    with pytest.raises(ConfigError) as e:
        parse_json(text, "--resources -")
    assert str(e.value).startswith("--resources -: ") and words in str(e.value)


# --- what the final step gets ---------------------------------------------------------------------


def test_no_capabilities_is_five_empty_sets():
    assert capabilities.masks(None, 40) == dict.fromkeys(capabilities.SETS, 0)
    assert capabilities.masks(Capabilities(), 40) == dict.fromkeys(capabilities.SETS, 0)
    caps = Capabilities(bounding=["CAP_KILL", "CAP_CHECKPOINT_RESTORE"])
    assert capabilities.masks(caps, 39)["bounding"] == 1 << 5  # above this kernel's last: skipped


def test_unraisable_ambient_capabilities():
    caps = Capabilities(
        permitted=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_KILL"], ambient=["CAP_KILL", "CAP_CHOWN"]
    )
    assert capabilities.unraisable_ambient(caps) == ["CAP_CHOWN"]
    assert capabilities.unraisable_ambient(None) == []


def test_host_facts_come_from_this_host():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert HostFacts.of_this_host().last_cap == int(f.read())


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 0),
        (1024, 1024),
        (2**63 - 1, 2**63 - 1),
        (2**63, resource.RLIM_INFINITY),
        (2**64 - 1, resource.RLIM_INFINITY),
    ],
)
def test_rlimit_values(value, expected):
    assert finalize.rlimit_value(value) == expected


def test_c_strings_fail_before_ready_naming_the_field():
    assert finalize.c_strings(["A=1", "B=\udcff"], "process.env") == [b"A=1", b"B=\xff"]  # surrogateescape
    with pytest.raises(ContainerError, match=r"process.env\[1\]: surrogates not allowed"):
        finalize.c_strings(["A=1", "B=\ud800"], "process.env")
    with pytest.raises(ContainerError, match=r"process.args\[0\]: can't contain null"):
        finalize.c_strings(["a\0b"], "process.args")
