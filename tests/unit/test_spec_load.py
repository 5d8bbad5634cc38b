"""Loading config.json / process.json / resources into the models: shapes, paths, defaults."""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from pycontainer.errors import ConfigError, PycontainerError
from pycontainer.spec import (
    IDMapping,
    Linux,
    Namespace,
    Process,
    Resources,
    Spec,
    dump,
    json_key,
    load_config,
    load_process,
    load_resources,
    models,
)
from pycontainer.spec._model import MISSING, Model, fields
from tests.conftest import ENGINE_FIXTURES as FIXTURES
from tests.conftest import engine_fixtures as _fixtures


def minimal() -> dict[str, Any]:
    return {
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]},
    }


def problems(data: Any) -> list[str]:
    """The problems load_config reports for ``data``, as "path: message" lines."""
    with pytest.raises(ConfigError) as info:
        load_config(data)
    return [str(p) for p in info.value.problems]


def model_classes() -> list[type]:
    return [
        cls
        for _, cls in inspect.getmembers(models, inspect.isclass)
        if issubclass(cls, Model) and cls.__module__ == models.__name__
    ]


# --- the engines' own files -------------------------------------------------------------------------


def test_fixture_kinds_present() -> None:
    assert _fixtures("config") and _fixtures("process") and _fixtures("resources")


@pytest.mark.parametrize("path", _fixtures("config"), ids=lambda p: p.name)
def test_engine_config_loads(path: Path) -> None:
    spec = load_config(path)
    assert spec.oci_version == "1.0.2-dev"
    assert spec.process is not None and spec.process.args
    assert spec.bundle == str(path.parent)


@pytest.mark.parametrize("path", _fixtures("process"), ids=lambda p: p.name)
def test_engine_process_loads(path: Path) -> None:
    process = load_process(path)
    assert isinstance(process, Process)
    assert process.args and process.cwd == "/"


@pytest.mark.parametrize("path", _fixtures("resources"), ids=lambda p: p.name)
def test_engine_resources_load(path: Path) -> None:
    resources = load_resources(path)
    assert isinstance(resources, Resources)
    assert resources.memory is not None and resources.memory.limit


def _contains(full: Any, part: Any, where: str = "") -> None:
    """Assert every key and value of ``part`` is in ``full`` (dump may add defaults)."""
    if isinstance(part, dict):
        assert isinstance(full, dict), where
        for key, value in part.items():
            if value in ([], {}):  # omitted like Go's omitempty
                continue
            assert key in full, f"{where}.{key} lost in the round trip"
            _contains(full[key], value, f"{where}.{key}")
    elif isinstance(part, list):
        assert isinstance(full, list) and len(full) == len(part), where
        for i, (a, b) in enumerate(zip(full, part, strict=True)):
            _contains(a, b, f"{where}[{i}]")
    else:
        assert full == part, where


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_dump_keeps_every_key_of_engine_files(path: Path) -> None:
    """Proves every key the engines write has a model field of the right name."""
    data = json.loads(path.read_text())
    loader = load_config if "ociVersion" in data else load_process if "args" in data else load_resources
    _contains(dump(loader(path)), data)


@pytest.mark.parametrize("path", _fixtures("config"), ids=lambda p: p.name)
def test_dump_then_load_gives_the_same_spec(path: Path) -> None:
    spec = load_config(path)
    assert load_config(dump(spec), bundle=spec.bundle) == spec


def test_podman_details() -> None:
    spec = load_config(FIXTURES / "podman-create-tty.json")
    assert spec.linux is not None and spec.linux.seccomp is not None
    assert spec.linux.seccomp.default_errno_ret == 38
    first = spec.linux.seccomp.syscalls[0]
    assert first.action == "SCMP_ACT_ERRNO" and first.errno_ret == 1
    personality = next(s for s in spec.linux.seccomp.syscalls if s.names == ["personality"] and s.args)
    assert personality.args[0].op == "SCMP_CMP_EQ" and personality.args[0].value_two == 0
    assert spec.linux.namespace("network") == Namespace(
        type="network", path="/run/netns/netns-f29d0c54-f194-6b63-aba9-bd62209c7da7"
    )
    assert spec.process is not None and spec.process.terminal and spec.process.user.umask == 18


def test_docker_prestart_hook_loaded() -> None:
    spec = load_config(FIXTURES / "docker-create-net-prestart-hook.json")
    assert spec.hooks is not None
    assert spec.hooks.prestart[0].path == "/proc/15747/exe"
    assert spec.hooks.prestart[0].args[0] == "libnetwork-setkey"
    assert spec.hooks.poststop == [] and spec.hooks.prestart[0].timeout is None


def test_engine_zero_values_are_kept() -> None:
    """Docker writes 0 for "unset"; the loader keeps it as given."""
    spec = load_config(FIXTURES / "docker-create-net-prestart-hook.json")
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.resources.cpu is not None and spec.linux.resources.cpu.shares == 0
    assert spec.linux.resources.block_io is not None and spec.linux.resources.block_io.weight == 0
    assert spec.process is not None and spec.process.oom_score_adj == 0


# --- the bundle and the root filesystem ---------------------------------------------------------------


def test_relative_root_resolved_against_file_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(minimal()))
    spec = load_config(tmp_path / "config.json")
    assert spec.bundle == str(tmp_path)
    assert spec.rootfs == str(tmp_path / "rootfs")


def test_ctr_relative_root_resolved() -> None:
    spec = load_config(FIXTURES / "ctr-create-run-echo.json")
    assert spec.rootfs == str(FIXTURES / "rootfs")


def test_absolute_root_kept(tmp_path: Path) -> None:
    data = minimal()
    data["root"]["path"] = "/srv/rootfs"
    assert load_config(data, bundle=tmp_path).rootfs == "/srv/rootfs"


def test_bundle_argument_overrides_file_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(minimal()))
    spec = load_config(tmp_path / "config.json", bundle="/elsewhere")
    assert spec.rootfs == "/elsewhere/rootfs"


def test_dict_bundle_defaults_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(minimal()).bundle == str(tmp_path)


def test_bundle_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_text(json.dumps(minimal()))
    monkeypatch.chdir(tmp_path)
    spec = load_config("b/config.json")
    assert os.path.isabs(spec.bundle) and spec.rootfs == str(tmp_path / "b" / "rootfs")


def test_bundle_and_rootfs_are_strings(tmp_path: Path) -> None:
    """Plain str, so using a config needs no pathlib (its import alone costs milliseconds)."""
    spec = load_config(minimal(), bundle=tmp_path)
    assert type(spec.bundle) is str and type(spec.rootfs) is str


@pytest.mark.parametrize(
    "root_path", ["rootfs", "./rootfs/", "a//b/./c", "../rootfs", "/srv//rootfs/.", "/", ".", "//x/y"]
)
def test_rootfs_spelled_as_pathlib_would(root_path: str) -> None:
    data = minimal()
    data["root"]["path"] = root_path
    for bundle in ("/bundle", "/", "//net/b"):
        assert load_config(data, bundle=bundle).rootfs == str(Path(bundle) / root_path)


def test_file_names_in_errors_spelled_as_pathlib_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("./nope//config.json", "nope/./config.json/", str(tmp_path) + "//nope.json"):
        with pytest.raises(ConfigError) as info:
            load_config(name)
        assert str(info.value) == f"{Path(name)}: no such file (expected a JSON config file)"


def test_source_may_be_pathlike(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(minimal()))
    assert load_config(os.fspath(tmp_path / "config.json")) == load_config(tmp_path / "config.json")


def test_rootfs_without_root_raises() -> None:
    data = minimal()
    del data["root"]
    with pytest.raises(ConfigError) as info:
        _ = load_config(data).rootfs
    assert info.value.path == "root"


# --- reading the file ---------------------------------------------------------------------------------


def test_bad_json_reports_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{\n  "ociVersion": "1.2.0",\n  "root": {"path": rootfs}\n}\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.json")
    assert "line 3, column 20" in str(info.value)
    assert str(tmp_path / "config.json") in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "config.json")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_nan_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"ociVersion": "1.2.0", "x": NaN}')
    with pytest.raises(ConfigError, match="NaN is not a JSON value"):
        load_config(tmp_path / "config.json")


def test_config_error_is_a_pycontainer_error(tmp_path: Path) -> None:
    with pytest.raises(PycontainerError):
        load_config(tmp_path / "nope.json")


# --- shape problems and their JSON paths --------------------------------------------------------------


def test_minimal_config_loads() -> None:
    spec = load_config(minimal())
    assert isinstance(spec, Spec) and spec.process is not None
    assert spec.process.args == ["/bin/true"]


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.json")
    assert str(info.value) == "expected an object, got array"


def test_missing_oci_version() -> None:
    data = minimal()
    del data["ociVersion"]
    assert problems(data) == ["ociVersion: missing required property (expected a string)"]


def test_null_required_counts_as_missing() -> None:
    data = minimal()
    data["ociVersion"] = None
    assert problems(data) == ["ociVersion: missing required property (expected a string)"]


def test_args_item_of_wrong_type() -> None:
    data = minimal()
    data["process"]["args"] = ["/bin/echo", 1]
    assert problems(data) == ["process.args[1]: expected a string, got number"]


def test_namespace_type_path() -> None:
    data = minimal()
    data["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid"}, {"type": "ipc"}, {"type": 7}]
    assert problems(data) == ["linux.namespaces[3].type: expected a string, got number"]


def test_mount_option_path() -> None:
    data = minimal()
    data["mounts"] = [{"destination": "/a"}, {"destination": "/b"}, {"destination": "/c", "options": [False]}]
    assert problems(data) == ["mounts[2].options[0]: expected a string, got boolean"]


def test_rlimit_soft_path() -> None:
    data = minimal()
    data["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": "1024"}]
    assert problems(data) == ["process.rlimits[0].soft: expected an integer, got string"]


def test_sysctl_value_path_quotes_the_key() -> None:
    data = minimal()
    data["linux"]["sysctl"] = {"net.ipv4.ip_forward": 1}
    assert problems(data) == ['linux.sysctl["net.ipv4.ip_forward"]: expected a string, got number']


def test_object_where_array_given() -> None:
    data = minimal()
    data["process"] = []
    assert problems(data) == ["process: expected an object, got array"]


def test_array_where_object_given() -> None:
    data = minimal()
    data["mounts"] = {"destination": "/x"}
    assert problems(data) == ["mounts: expected an array of objects, got object"]


def test_all_problems_reported_at_once() -> None:
    data = minimal()
    del data["ociVersion"]
    data["process"]["args"] = ["/bin/echo", 1]
    data["process"]["terminal"] = "yes"
    data["linux"]["namespaces"][1] = {"path": "/proc/1/ns/pid"}
    data["mounts"] = [{"destination": "/x", "options": "ro"}]
    assert problems(data) == [
        "ociVersion: missing required property (expected a string)",
        "process.terminal: expected a boolean, got string",
        "process.args[1]: expected a string, got number",
        "mounts[0].options: expected an array of strings, got string",
        "linux.namespaces[1].type: missing required property (expected a string)",
    ]


def test_error_path_and_message_are_the_first_problem() -> None:
    data = minimal()
    data["process"]["args"] = [1, 2]
    with pytest.raises(ConfigError) as info:
        load_config(data)
    assert info.value.path == "process.args[0]"
    assert info.value.message == "expected a string, got number"
    assert len(info.value.problems) == 2


def test_required_process_keys() -> None:
    data = minimal()
    data["process"] = {}
    assert problems(data) == [
        "process.user: missing required property (expected an object)",
        "process.args: missing required property (expected an array of strings)",
        "process.cwd: missing required property (expected a string)",
    ]


def test_required_user_ids() -> None:
    data = minimal()
    data["process"]["user"] = {"additionalGids": [5]}
    assert problems(data) == [
        "process.user.uid: missing required property (expected an integer)",
        "process.user.gid: missing required property (expected an integer)",
    ]


def test_required_mapping_key_uses_json_name() -> None:
    data = minimal()
    data["linux"]["uidMappings"] = [{"containerID": 0, "size": 1}]
    assert problems(data) == ["linux.uidMappings[0].hostID: missing required property (expected an integer)"]


def test_required_mount_destination() -> None:
    data = minimal()
    data["mounts"] = [{"type": "tmpfs"}]
    assert problems(data) == ["mounts[0].destination: missing required property (expected a string)"]


def test_required_seccomp_default_action() -> None:
    data = minimal()
    data["linux"]["seccomp"] = {"syscalls": [{"names": ["read"]}]}
    assert problems(data) == [
        "linux.seccomp.defaultAction: missing required property (expected a string)",
        "linux.seccomp.syscalls[0].action: missing required property (expected a string)",
    ]


# --- numbers ------------------------------------------------------------------------------------------


def test_bool_is_not_an_integer() -> None:
    data = minimal()
    data["process"]["user"]["uid"] = True
    assert problems(data) == ["process.user.uid: expected an integer, got boolean"]


def test_integer_is_not_a_bool() -> None:
    data = minimal()
    data["process"]["terminal"] = 1
    assert problems(data) == ["process.terminal: expected a boolean, got number"]


def test_whole_float_rejected_with_a_hint() -> None:
    data = minimal()
    data["process"]["user"]["uid"] = 1000.0
    assert problems(data) == [
        "process.user.uid: expected an integer, got 1000.0 "
        "(write whole numbers without a fraction or exponent)"
    ]


def test_fractional_float_rejected() -> None:
    data = minimal()
    data["linux"]["resources"] = {"cpu": {"quota": 1.5}}
    assert problems(data) == ["linux.resources.cpu.quota: expected an integer, got 1.5"]


def test_uint32_range() -> None:
    data = minimal()
    data["process"]["user"]["gid"] = -1
    assert problems(data) == ["process.user.gid: -1 is out of range for uint32 (expected 0..4294967295)"]


def test_uint16_range() -> None:
    data = minimal()
    data["linux"]["resources"] = {"blockIO": {"weight": 70000}}
    assert problems(data) == [
        "linux.resources.blockIO.weight: 70000 is out of range for uint16 (expected 0..65535)"
    ]


def test_uint64_max_accepted() -> None:
    data = minimal()
    data["process"]["rlimits"] = [{"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1}]
    spec = load_config(data)
    assert spec.process is not None and spec.process.rlimits[0].hard == 2**64 - 1


def test_int64_minus_one_accepted() -> None:
    data = minimal()
    data["linux"]["resources"] = {"memory": {"limit": -1, "swap": -1}, "pids": {"limit": -1}}
    spec = load_config(data)
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.resources.memory is not None and spec.linux.resources.memory.limit == -1


# --- what the loader ignores or fills in --------------------------------------------------------------


def test_unknown_fields_ignored() -> None:
    data = minimal()
    data["futureField"] = {"anything": [1, 2]}
    data["process"]["user"]["futureUserField"] = 3
    data["linux"]["namespaces"][0]["flavour"] = "vanilla"
    data["windows"] = {"layerFolders": []}
    assert load_config(data) == load_config(minimal())


def test_null_optional_is_absent() -> None:
    data = minimal()
    data.update(hostname=None, mounts=None, annotations=None)
    spec = load_config(data)
    assert spec.hostname is None and spec.mounts == [] and spec.annotations == {}


def test_annotations_kept() -> None:
    data = minimal()
    data["annotations"] = {"io.podman.annotations.init": "FALSE", "org.example/key": "v"}
    assert load_config(data).annotations == {"io.podman.annotations.init": "FALSE", "org.example/key": "v"}


def test_annotation_values_must_be_strings() -> None:
    data = minimal()
    data["annotations"] = {"k": True}
    assert problems(data) == ['annotations["k"]: expected a string, got boolean']


def test_defaults_for_absent_keys() -> None:
    spec = load_config(minimal())
    assert spec.mounts == [] and spec.hooks is None and spec.hostname is None
    assert spec.process is not None
    assert spec.process.terminal is False and spec.process.env == [] and spec.process.capabilities is None
    assert spec.process.user.additional_gids == [] and spec.process.user.umask is None
    assert spec.linux is not None and spec.linux.sysctl == {} and spec.linux.resources is None
    assert spec.root is not None and spec.root.readonly is False


def test_mechanical_key_names_with_acronyms() -> None:
    data = minimal()
    data["process"]["execCPUAffinity"] = {"initial": "0", "final": "0-1"}
    data["process"]["oomScoreAdj"] = -17
    data["linux"].update(
        {
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "cgroupsPath": "/a/b",
            "intelRdt": {"closID": "c1", "enableCMT": True},
            "resources": {
                "memory": {"kernelTCP": 5, "disableOOMKiller": True},
                "blockIO": {"throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 10}]},
                "network": {"classID": 7},
            },
        }
    )
    spec = load_config(data)
    assert spec.process is not None and spec.linux is not None
    assert spec.process.exec_cpu_affinity is not None and spec.process.exec_cpu_affinity.final == "0-1"
    assert spec.process.oom_score_adj == -17
    assert spec.linux.uid_mappings == [IDMapping(container_id=0, host_id=100000, size=65536)]
    assert spec.linux.cgroups_path == "/a/b"
    assert spec.linux.intel_rdt is not None and spec.linux.intel_rdt.clos_id == "c1"
    assert spec.linux.intel_rdt.enable_cmt is True
    res = spec.linux.resources
    assert res is not None and res.memory is not None and res.block_io is not None and res.network is not None
    assert res.memory.kernel_tcp == 5 and res.memory.disable_oom_killer is True
    assert res.block_io.throttle_read_iops_device[0].rate == 10
    assert res.network.class_id == 7


def test_io_priority_class_key() -> None:
    data = minimal()
    data["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    spec = load_config(data)
    assert spec.process is not None and spec.process.io_priority is not None
    assert spec.process.io_priority.class_ == "IOPRIO_CLASS_BE"
    assert dump(spec.process.io_priority) == {"class": "IOPRIO_CLASS_BE", "priority": 4}


def test_maps_of_objects() -> None:
    data = minimal()
    data["linux"]["timeOffsets"] = {"monotonic": {"secs": -5, "nanosecs": 3}}
    data["linux"]["netDevices"] = {"eth1": {"name": "ctr0"}}
    data["linux"]["resources"] = {"rdma": {"mlx5_1": {"hcaHandles": 3}}, "unified": {"memory.high": "1G"}}
    spec = load_config(data)
    assert spec.linux is not None and spec.linux.resources is not None
    assert spec.linux.time_offsets["monotonic"].secs == -5
    assert spec.linux.net_devices["eth1"].name == "ctr0"
    assert spec.linux.resources.rdma["mlx5_1"].hca_handles == 3
    assert spec.linux.resources.unified == {"memory.high": "1G"}


def test_map_of_objects_path() -> None:
    data = minimal()
    data["linux"]["timeOffsets"] = {"boottime": {"secs": "1"}}
    assert problems(data) == ['linux.timeOffsets["boottime"].secs: expected an integer, got string']


def test_namespace_helper() -> None:
    linux = Linux(namespaces=[Namespace(type="pid"), Namespace(type="network", path="/run/netns/x")])
    assert linux.namespace("network") == Namespace(type="network", path="/run/netns/x")
    assert linux.namespace("user") is None


# --- process.json and resources.json ------------------------------------------------------------------


def test_load_process_paths_are_rooted_at_the_process() -> None:
    with pytest.raises(ConfigError) as info:
        load_process({"args": [True], "cwd": "/", "user": {"uid": 0, "gid": 0}})
    assert [str(p) for p in info.value.problems] == ["args[0]: expected a string, got boolean"]


def test_load_process_requires_args() -> None:
    with pytest.raises(ConfigError) as info:
        load_process({"cwd": "/", "user": {"uid": 0, "gid": 0}})
    assert str(info.value) == "args: missing required property (expected an array of strings)"


def test_load_process_from_file(tmp_path: Path) -> None:
    (tmp_path / "process.json").write_text(json.dumps(minimal()["process"]))
    assert load_process(tmp_path / "process.json").args == ["/bin/true"]


def test_load_process_bad_json(tmp_path: Path) -> None:
    (tmp_path / "process.json").write_text('{"args": [}')
    with pytest.raises(ConfigError, match="line 1, column 11"):
        load_process(tmp_path / "process.json")


def test_load_resources_from_dict() -> None:
    resources = load_resources({"pids": {"limit": 30}, "cpu": {"shares": 0}})
    assert resources.pids is not None and resources.pids.limit == 30
    assert resources.cpu is not None and resources.cpu.shares == 0


def test_load_resources_paths_are_rooted() -> None:
    with pytest.raises(ConfigError) as info:
        load_resources({"pids": {}})
    assert str(info.value) == "pids.limit: missing required property (expected an integer)"


# --- the models themselves ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", model_classes(), ids=lambda c: c.__name__)
def test_every_field_is_required_or_has_a_default(cls: type) -> None:
    required = getattr(cls, "REQUIRED", frozenset())
    names = {f.name for f in fields(cls)}
    assert required <= names
    for f in fields(cls):
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        assert has_default or f.name in required, f"{cls.__name__}.{f.name}"


@pytest.mark.parametrize("cls", model_classes(), ids=lambda c: c.__name__)
def test_attribute_names_are_json_keys_in_snake_case(cls: type) -> None:
    """The brief of the models: camelCase -> snake_case, mechanically, acronyms as one word."""
    overrides = getattr(cls, "JSON_KEYS", {})
    for f in fields(cls):
        if f.name in getattr(cls, "NOT_IN_JSON", ()) or f.name in overrides:
            continue
        key = json_key(cls, f.name)
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", key).lower()
        assert snake == f.name, f"{cls.__name__}: {key} -> {snake} != {f.name}"


def test_dump_leaves_out_unset_values() -> None:
    spec = load_config(minimal())
    out = dump(spec)
    assert "bundle" not in out and "hostname" not in out and "mounts" not in out
    assert out["process"]["args"] == ["/bin/true"] and out["ociVersion"] == "1.2.0"


def test_loaded_objects_are_independent() -> None:
    """Defaults are per instance, never a shared list."""
    data = minimal()
    a, b = load_config(copy.deepcopy(data)), load_config(data)
    assert a.mounts is not b.mounts
    a.mounts.append(models.Mount(destination="/x"))
    assert b.mounts == []
