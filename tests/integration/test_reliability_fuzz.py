"""Property: any config.json -- the spec's shapes, broken ones, and worse
(wrong types, huge numbers, unicode, deep nesting, missing fields) -- ends
in a valid container or a ConfigError naming a JSON path (or, for what only
the kernel can refuse, another ContainerError): never any other exception,
never a partial container left behind.

500 examples in the normal suite, derandomized (the same ones every run;
scripts/test-vm.sh runs 100); ``PYCONTAINER_FUZZ_EXAMPLES=10000``
runs that many, and ``PYCONTAINER_FUZZ_RANDOM=1`` with a new seed each time:

    PYCONTAINER_FUZZ_EXAMPLES=10000 PYCONTAINER_FUZZ_RANDOM=1 python3 -m pytest -q -p no:cacheprovider \\
        tests/integration/test_reliability_fuzz.py
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycontainer import Container
from pycontainer.errors import ConfigError, ContainerError
from tests.conftest import SPECS, example_config
from tests.reliability import leftovers

pytestmark = pytest.mark.root

EXAMPLES = int(os.environ.get("PYCONTAINER_FUZZ_EXAMPLES", "500"))
# Outcomes by kind; PYCONTAINER_FUZZ_REPORT=FILE writes them there as JSON.
OUTCOMES: Counter = Counter()

# Words of the spec, so that generated values often mean something.
WORDS = [
    "bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "tmpfs", "proc", "sysfs", "devpts", "mqueue",
    "cgroup", "private", "rprivate", "slave", "rslave", "size=1k", "mode=755", "c", "b", "u", "p", "a",
    "rwm", "r", "pid", "network", "mount", "ipc", "uts", "user", "time", "CAP_SYS_ADMIN", "CAP_KILL",
    "CAP_NOPE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_BOGUS", "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL", "SCMP_ARCH_X86_64", "read", "write", "/", "/dev", "/dev/null", "/proc", "/tmp", "",
    ".", "..", "../..", "/proc/self/ns/net", "/nonexistent", "1.0.0", "1.2.0", "9.9.9", "\u00e9\u00e8",
    "\x00", "a" * 300,
]  # fmt: skip
# Paths to mutate besides those of the example config.
EXTRA_PATHS = [
    "linux.resources.memory.limit", "linux.resources.memory.swap", "linux.resources.pids.limit",
    "linux.resources.cpu.shares", "linux.resources.cpu.quota", "linux.resources.cpu.cpus",
    "linux.resources.blockIO.weight", "linux.resources.devices", "linux.resources.hugepageLimits",
    "linux.devices", "linux.sysctl", "linux.seccomp", "linux.seccomp.syscalls", "linux.uidMappings",
    "linux.gidMappings", "linux.maskedPaths", "linux.readonlyPaths", "linux.timeOffsets",
    "linux.rootfsPropagation", "linux.personality", "linux.intelRdt", "process.consoleSize",
    "process.user.additionalGids", "process.user.umask", "process.oomScoreAdj", "process.scheduler",
    "process.ioPriority", "process.apparmorProfile", "process.terminal", "process.rlimits",
    "mounts[0].options", "mounts[1].source", "mounts", "hooks", "hooks.prestart", "hooks.createRuntime",
    "domainname", "hostname", "annotations", "ociVersion", "root", "root.readonly", "process.env",
    "process.cwd", "linux.namespaces[0].path",
]  # fmt: skip
# Kept out of reach: a rootfs of "/" or ".." would be the host's, and a
# random cgroupsPath could name a cgroup the host check does not look at.
FIXED = {"root.path", "linux.cgroupsPath"}

INTS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64, 10**40]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INTS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(WORDS),
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(WORDS)), inner, max_size=4),
    ),
    max_leaves=10,
)


# Deep nesting: a placeholder in the config, replaced in its JSON text (a
# Python object thousands of levels deep cannot even be printed).
DEEP = st.builds(lambda depth, kind: f"@@deep:{depth}:{kind}@@", st.integers(1, 5000), st.sampled_from("[{"))


def _nested_text(depth: int, kind: str) -> str:
    if kind == "[":
        return "[" * depth + '"deep"' + "]" * depth
    return '{"x":' * depth + '"deep"' + "}" * depth


def _to_json(config: dict) -> str:
    import re

    return re.sub(
        r'"@@deep:(\d+):(.)@@"', lambda m: _nested_text(int(m.group(1)), m.group(2)), json.dumps(config)
    )


CGROUPS_PATHS = st.sampled_from(["", "/", "..", "../..", "/t-fuzz/../..", "a:b:c", "t-fuzz/x", "/t-fuzz"])


def _paths(value, prefix: str = "") -> list[str]:
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out.append(path)
            out.extend(_paths(item, path))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.append(f"{prefix}[{i}]")
            out.extend(_paths(item, f"{prefix}[{i}]"))
    return out


def _tokens(path: str) -> list:
    out: list = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        out.append(name)
        if rest:
            out.append(int(rest.rstrip("]")))
    return out


def _apply(config: dict, path: str, op: str, value) -> None:
    """Delete or set the value at ``path``, making the parents it needs;
    silently nothing if a parent is of another type by now."""
    tokens = _tokens(path)
    node = config
    for token, following in zip(tokens, tokens[1:], strict=False):
        if isinstance(token, int):
            if not isinstance(node, list) or token >= len(node):
                return
            node = node[token]
        else:
            if not isinstance(node, dict):
                return
            node = node.setdefault(token, [] if isinstance(following, int) else {})
    last = tokens[-1]
    if isinstance(last, int):
        if isinstance(node, list) and last < len(node):
            if op == "delete":
                del node[last]
            else:
                node[last] = value
    elif isinstance(node, dict):
        if op == "delete":
            node.pop(last, None)
        else:
            node[last] = value


BASE = example_config("busybox")
BASE["process"]["args"] = ["/bin/true"]
ALL_PATHS = sorted((set(_paths(BASE)) | set(EXTRA_PATHS)) - FIXED)
MUTATION = st.tuples(
    st.sampled_from(ALL_PATHS),
    st.sampled_from(["delete", "junk", "scalar", "deep"]),
    JUNK,
    SCALARS,
    DEEP,
)


@st.composite
def configs(draw):
    config = copy.deepcopy(BASE)
    for path, op, junk, scalar, deep in draw(st.lists(MUTATION, min_size=1, max_size=6)):
        _apply(config, path, op, {"junk": junk, "scalar": scalar, "deep": deep}.get(op))
    if draw(st.integers(0, 9)) == 0 and isinstance(config.get("linux"), dict):
        config["linux"]["cgroupsPath"] = draw(CGROUPS_PATHS)
    if isinstance(config.get("root"), dict):
        config["root"]["path"] = "@@rootfs@@"
    return _to_json(config)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    path = os.environ.get("PYCONTAINER_FUZZ_REPORT")
    if path:
        Path(path).write_text(json.dumps(dict(OUTCOMES), indent=2))


@pytest.fixture(scope="module")
def fuzz_rootfs(rootfs):
    """A copy of the rootfs of its own: generated mounts and devices may
    make directories and nodes in it."""
    top = Path(tempfile.mkdtemp(prefix="pycontainer-fuzz-"))
    top.chmod(0o755)
    subprocess.run(["cp", "-a", str(rootfs), str(top / "rootfs")], check=True)
    yield top / "rootfs"
    shutil.rmtree(top)


def _host_mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _fuzz_cgroups() -> list[str]:
    found = []
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        for dirpath, dirnames, _ in os.walk(os.path.join("/sys/fs/cgroup", hierarchy)):
            if dirpath.count("/") > 7:
                dirnames[:] = []
            if "t-fuzz" in dirpath:
                found.append(dirpath)
    return found


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="PYCONTAINER_FUZZ_RANDOM" not in os.environ,
    suppress_health_check=list(HealthCheck),
)
@given(config=configs())
def test_any_config_ends_in_a_container_or_a_clear_error(config, fuzz_rootfs, tmp_path_factory, host_clean):
    bundle = tmp_path_factory.mktemp("fuzz", numbered=True)
    root = tmp_path_factory.getbasetemp() / "fuzz-state"
    (bundle / "config.json").write_text(config.replace("@@rootfs@@", str(fuzz_rootfs)))
    container_id = "t-fuzz-" + uuid.uuid4().hex[:10]
    mounts = _host_mounts()
    try:
        container = Container.create(container_id, bundle, root=root)
    except ConfigError as e:
        OUTCOMES["ConfigError"] += 1
        # Where: a JSON path, or for text that is not JSON at all, its line and column.
        located = [p for p in e.problems if p.path or "invalid JSON at line" in p.message]
        assert located == e.problems, f"a problem that does not say where: {e.problems}"
    except ContainerError as e:
        # What only the kernel can refuse (a mount, a device, an id map ...): also clean.
        OUTCOMES[type(e).__name__] += 1
    else:
        OUTCOMES["container"] += 1
        try:
            if container._console is not None:
                os.close(container.terminal())
        finally:
            container.delete(force=True)
    left = leftovers(container_id, root)
    assert not left, f"a partial container: {left}"
    assert not _fuzz_cgroups()
    assert _host_mounts() == mounts
    shutil.rmtree(bundle)


def test_the_generator_makes_valid_containers_too(rootfs, state_root, host_clean):
    """The property above is not only about errors: the unmutated base makes
    a container that runs."""
    from pycontainer.spec import load_config

    config = copy.deepcopy(BASE)
    config["root"]["path"] = str(rootfs)
    spec = load_config(config, bundle=str(SPECS / "busybox"))
    with Container.create("t-fuzzbase-" + uuid.uuid4().hex[:6], spec=spec, root=state_root) as c:
        c.start()
        assert c.wait() == 0
