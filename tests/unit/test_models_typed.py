"""Specs built in code: keyword constructors that refuse unknown fields, validate() checking the
types of a built or changed spec with the loader's JSON paths, and the library's default_spec()."""

from __future__ import annotations

import os

import pytest

import pycontainer
from pycontainer import jsonio
from pycontainer.errors import ConfigError, Problem
from pycontainer.spec import (
    CPU,
    Memory,
    Namespace,
    Pids,
    Process,
    Resources,
    Root,
    Spec,
    User,
    check,
    defaults,
    dump,
    load_config,
    load_process,
    load_resources,
    validate,
    validate_process,
    validate_resources,
)
from pycontainer.spec import __all__ as SPEC_NAMES
from pycontainer.spec._model import fields, is_model

MODELS = [getattr(pycontainer.spec, name) for name in SPEC_NAMES if is_model(getattr(pycontainer.spec, name))]


def built_spec(**process: object) -> Spec:
    """A valid spec made only of constructors, as a library user writes one."""
    return Spec(
        oci_version="1.2.0",
        root=Root(path="rootfs"),
        process=Process(args=["/bin/true"], **process),  # type: ignore[arg-type]
        bundle="/tmp/bundle",
    )


# --- constructors ----------------------------------------------------------------------------------


def test_every_model_is_covered():
    assert len(MODELS) == 36


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_unknown_keyword_is_a_type_error_naming_it(cls):
    required = {f.name: None for f in fields(cls) if f.name in getattr(cls, "REQUIRED", ())}
    with pytest.raises(
        TypeError, match=rf"^{cls.__name__}\.__init__\(\) got an unexpected keyword argument 'limt'$"
    ):
        cls(**required, limt=3)


def test_missing_required_keyword_is_a_type_error():
    with pytest.raises(
        TypeError, match=r"Pids.__init__\(\) missing 1 required keyword-only argument: 'limit'"
    ):
        Pids()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="positional"):
        Memory(5)  # type: ignore[misc]


def test_constructor_fields_and_defaults():
    memory = Memory(limit=3)
    assert memory.limit == 3 and memory.swap is None
    assert Process().user == User() and Process().args == [] and Process().args is not Process().args


# --- validate() on a built spec --------------------------------------------------------------------


def test_built_spec_validates():
    assert validate(built_spec()) == []


def test_args_as_a_string_is_refused_at_process_args():
    spec = built_spec()
    spec.process.args = "/bin/true"  # type: ignore[assignment, union-attr]
    assert validate(spec) == [Problem("process.args", "expected an array of strings, got string")]
    with pytest.raises(ConfigError) as info:
        check(spec)
    assert info.value.problems == [Problem("process.args", "expected an array of strings, got string")]


def test_built_and_loaded_mistakes_give_the_same_problem():
    """The same mistake made in JSON and in code is reported with the same path and message."""
    doc = dump(built_spec())
    doc["process"]["args"] = "/bin/true"
    doc["linux"] = {"uidMappings": [{"containerID": 0, "hostID": -1, "size": 1}]}
    with pytest.raises(ConfigError) as info:
        load_config(doc)
    from pycontainer.spec import IDMapping, Linux

    spec = built_spec()
    spec.process.args = "/bin/true"  # type: ignore[assignment, union-attr]
    spec.linux = Linux(uid_mappings=[IDMapping(container_id=0, host_id=-1, size=1)])
    assert validate(spec) == info.value.problems
    assert [p.path for p in info.value.problems] == ["process.args", "linux.uidMappings[0].hostID"]


def test_resources_as_a_dict_is_refused_clearly():
    spec = built_spec()
    spec.linux = pycontainer.spec.Linux(resources={"pids": {"limit": 5}})  # type: ignore[arg-type]
    assert validate(spec) == [
        Problem("linux.resources", "expected a Resources (build it with Resources(...)), got a dict")
    ]


@pytest.mark.parametrize("key", ["limit", "reservation", "swap"])
def test_negative_memory_byte_counts_are_refused_built_or_loaded(key):
    expected = [
        Problem(
            f"linux.resources.memory.{key}", "-5 is out of range (expected a byte count, or -1 for unlimited)"
        )
    ]
    spec = built_spec()
    spec.linux = pycontainer.spec.Linux(resources=Resources(memory=Memory(**{key: -5})))
    assert validate(spec) == expected
    loaded = load_config(dump(spec), bundle="/tmp/bundle")
    assert validate(loaded) == expected
    spec.linux.resources.memory = Memory(**{key: -1})  # type: ignore[union-attr]
    assert validate(spec) == []


def test_wrong_types_at_any_depth_are_all_reported_with_paths():
    spec = built_spec(env=None)
    spec.process.user.additional_gids = (1, 2)  # type: ignore[assignment, union-attr]
    spec.annotations = {1: "x"}  # type: ignore[dict-item]
    spec.linux = pycontainer.spec.Linux(
        namespaces=[Namespace(type="pid"), "mount"],  # type: ignore[list-item]
        resources=Resources(pids=Pids(limit=2**63), cpu=CPU(shares=True)),  # type: ignore[arg-type]
    )
    assert validate(spec) == [
        Problem("process.user.additionalGids", "expected an array of integers, got a tuple"),
        Problem("process.env", "expected an array of strings, got None"),
        Problem("annotations[1]", "expected a string key, got number"),
        Problem("linux.namespaces[1]", "expected a Namespace (build it with Namespace(...)), got string"),
        Problem(
            "linux.resources.cpu.shares",
            "expected an integer, got boolean",
        ),
        Problem(
            "linux.resources.pids.limit",
            f"{2**63} is out of range for int64 (expected {-(2**63)}..{2**63 - 1})",
        ),
    ]


def test_a_required_field_set_to_none_is_reported():
    spec = built_spec()
    spec.root.path = None  # type: ignore[assignment, union-attr]
    assert validate(spec) == [Problem("root.path", "expected a string, got None")]


def test_text_problems_in_a_built_spec_keep_their_message():
    spec = built_spec(env=["A=b\0c"])
    assert validate(spec) == [
        Problem("process.env[0]", '"A=b\\u0000c" can\'t contain null(\\x00) (a C string ends at it)')
    ]


def test_validate_process_and_resources_check_types_too():
    process = load_process({"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}})
    process.cwd = 5  # type: ignore[assignment]
    assert validate_process(process, "process") == [Problem("process.cwd", "expected a string, got number")]
    resources = load_resources({})
    resources.pids = 5  # type: ignore[assignment]
    assert validate_resources(resources, "linux.resources") == [
        Problem("linux.resources.pids", "expected a Pids (build it with Pids(...)), got number")
    ]


# --- default_spec() --------------------------------------------------------------------------------


@pytest.mark.parametrize("rootless", [False, True])
@pytest.mark.parametrize("cgroup2", [False, True])
def test_default_spec_round_trips_and_validates(monkeypatch, rootless, cgroup2):
    monkeypatch.setattr(defaults, "cgroup2_only", lambda: cgroup2)
    spec = pycontainer.default_spec(["echo", "hi"], rootfs="/srv/rootfs", rootless=rootless, seccomp=True)
    assert isinstance(spec, Spec)
    assert validate(spec) == []
    text = jsonio.dumps(dump(spec))
    assert load_config(jsonio.loads(text), bundle=spec.bundle) == spec
    assert spec.rootfs == "/srv/rootfs" and spec.process.args == ["echo", "hi"]
    types = [ns.type for ns in spec.linux.namespaces]
    assert ("user" in types) is rootless and ("cgroup" in types) is cgroup2
    assert "network" in types  # a sandbox gets its own, empty, network namespace, rootless too
    assert spec.process.terminal is False


def test_default_spec_options():
    spec = pycontainer.default_spec(
        terminal=True, host_network=True, readonly=False, hostname="box", cwd="/tmp", bundle="/b"
    )
    assert spec.process.terminal is True and spec.process.cwd == "/tmp" and spec.hostname == "box"
    assert "network" not in [ns.type for ns in spec.linux.namespaces]
    assert spec.root.readonly is False and spec.bundle == "/b" and spec.rootfs == "/b/rootfs"
    assert spec.linux.seccomp is None
    rootless = pycontainer.default_spec(rootless=True)
    assert rootless.linux.uid_mappings[0].host_id == os.geteuid() and rootless.linux.resources is None


def test_default_spec_refuses_args_as_one_string():
    with pytest.raises(TypeError, match=r"did you mean \['echo hi'\]"):
        pycontainer.default_spec("echo hi")


def test_default_spec_is_fresh_every_call():
    first = pycontainer.default_spec()
    first.linux.masked_paths.clear()
    first.process.capabilities.bounding.append("CAP_SYS_ADMIN")
    first.mounts[2].options.clear()
    assert pycontainer.default_spec() == pycontainer.default_spec() != first


def test_nsinit_spec_writes_the_library_default(tmp_path):
    """``nsinit spec`` is the library's default_spec in runc's key order; the CLI adds nothing."""
    from pycontainer.cli.main import main

    for flags in ([], ["--rootless"], ["--seccomp"], ["--rootless", "--seccomp"]):
        bundle = tmp_path / "-".join(flags or ["plain"])
        bundle.mkdir()
        assert main(["spec", "--bundle", str(bundle), *flags]) == 0
        rootless, seccomp = "--rootless" in flags, "--seccomp" in flags
        spec = defaults.default_spec(terminal=True, rootless=rootless, host_network=rootless, seccomp=seccomp)
        expected = jsonio.dumps(defaults.runc_json(spec), indent=2) + "\n"
        assert (bundle / "config.json").read_text() == expected
        doc = jsonio.loads(expected)
        assert list(doc) == ["ociVersion", "process", "root", "hostname", "mounts", "linux"]
        if seccomp:  # Go's omitempty: a zero valueTwo is not written
            args = [a for s in doc["linux"]["seccomp"]["syscalls"] for a in s.get("args", ())]
            assert args and all("valueTwo" not in a for a in args)
