"""Semantic checks of a loaded config: well-formed JSON that still cannot run.

The rules follow the runtime-spec (config.md, config-linux.md) and what runc checks before it
creates anything (libcontainer/configs/validate, specconv), so a config runc rejects is rejected here
too, with the JSON path of the culprit and a message that says what was expected instead.

Every check is pure: it reads the model and never the filesystem, so ``validate`` can run anywhere
(in tests, without root) and reports every problem at once instead of stopping at the first.
Rules that depend on the host (does the rootfs exist? is SELinux on?) belong to the code that acts.
"""

from __future__ import annotations

from pycontainer import jsonio
from pycontainer.errors import ConfigError, Problem
from pycontainer.security.capabilities import CAPABILITIES
from pycontainer.spec._model import (
    ANY,
    DICT,
    FLOAT,
    INT,
    LIST,
    MODEL,
    OPTIONAL,
    SCALAR,
    Model,
    fields,
    resolve,
)
from pycontainer.spec.load import _describe, _json_type, _plan, json_key, out_of_range
from pycontainer.spec.models import Hooks, Linux

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any

    from pycontainer.spec.models import IDMapping, Namespace, Process, Resources, Spec

# --- the tables the rules check against ---------------------------------------------------------------

NAMESPACE_TYPES = ("cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts")

RLIMITS = (
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_DATA",
    "RLIMIT_FSIZE",
    "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_RSS",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
    "RLIMIT_SIGPENDING",
    "RLIMIT_STACK",
)

ROOTFS_PROPAGATIONS = (
    "private",
    "rprivate",
    "slave",
    "rslave",
    "shared",
    "rshared",
    "unbindable",
    "runbindable",
)

DEVICE_TYPES = ("c", "b", "u", "p")
DEVICE_RULE_TYPES = ("a", "c", "b")

SECCOMP_ACTIONS = (
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
)
SECCOMP_ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
SECCOMP_OPERATORS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
SECCOMP_ARCHITECTURES = (
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
)
SECCOMP_FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)
SECCOMP_MAX_ARG_INDEX = 5  # a syscall has six argument registers

SCHEDULER_POLICIES = (
    "SCHED_OTHER",
    "SCHED_FIFO",
    "SCHED_RR",
    "SCHED_BATCH",
    "SCHED_ISO",
    "SCHED_IDLE",
    "SCHED_DEADLINE",
)
SCHEDULER_FLAGS = (
    "SCHED_FLAG_RESET_ON_FORK",
    "SCHED_FLAG_RECLAIM",
    "SCHED_FLAG_DL_OVERRUN",
    "SCHED_FLAG_KEEP_POLICY",
    "SCHED_FLAG_KEEP_PARAMS",
    "SCHED_FLAG_UTIL_CLAMP_MIN",
    "SCHED_FLAG_UTIL_CLAMP_MAX",
)
IOPRIO_CLASSES = ("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE")
PERSONALITY_DOMAINS = ("LINUX", "LINUX32")
TIME_CLOCKS = ("boottime", "monotonic")  # the only clocks a time namespace can offset

# Sysctls that live in the IPC namespace besides fs.mqueue.* (runc's list).
IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)

_NEED_NS = 'expected {{"type": "{}"}} in linux.namespaces'


# --- public entry points ------------------------------------------------------------------------------


def validate(spec: Spec) -> list[Problem]:
    """Every problem of ``spec``, in the order of the config's sections; empty if none.

    A spec built or changed in code is checked as the loader checks JSON first: every value must
    have its field's type and range (``process.args`` a list of strings, ``linux.resources`` a
    :class:`Resources`, not a dict), with the same JSON paths and messages.  If any value has the
    wrong type only those problems are returned: the semantic rules need well-typed values."""
    return _validate(spec, "", (problem for rule in _SPEC_RULES for problem in rule(spec)))


def check(spec: Spec) -> None:
    """Raise :class:`ConfigError` carrying every problem :func:`validate` finds."""
    problems = validate(spec)
    if problems:
        raise ConfigError(problems)


def validate_process(process: Process, path: str = "") -> list[Problem]:
    """The problems of a process on its own, as given to ``exec --process`` (paths start at ``path``)."""
    return _validate(process, path, _process(process, path))


def validate_resources(resources: Resources, path: str = "") -> list[Problem]:
    """The problems of a resources object on its own, as given to ``update --resources``."""
    return _validate(resources, path, _resources(resources, path))


def _validate(obj: Model, path: str, rules: Iterator[Problem]) -> list[Problem]:
    """Types first; the semantic ``rules`` (a generator, not yet run) only on well-typed values.
    Problems with text (NUL bytes ...) come last, as the config's sections are read."""
    types: list[Problem] = []
    texts: list[Problem] = []
    _check_object(obj, path, types, texts)
    if types:
        return types + texts
    return [*rules, *texts]


# --- message helpers ----------------------------------------------------------------------------------


def _q(value: object) -> str:
    """Quote a value from the config the way it was written (JSON)."""
    return jsonio.dumps(value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _unknown(noun: str, value: str, allowed: Sequence[str]) -> str:
    """``unknown <noun> "<value>" (expected one of ...)``; long tables get a did-you-mean instead."""
    if len(allowed) <= 16:
        return f"unknown {noun} {_q(value)} (expected one of {', '.join(allowed)})"
    import difflib  # only here: a did-you-mean is rare, and difflib costs a millisecond to import

    close = difflib.get_close_matches(value, allowed, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return (
        f"unknown {noun} {_q(value)} ({hint}expected one of the {len(allowed)} known names "
        f"{allowed[0]} .. {allowed[-1]})"
    )


def _not_absolute(value: str) -> str:
    return f'{_q(value)} is not an absolute path (expected a path starting with "/")'


def _is_absolute(value: str) -> bool:
    return value.startswith("/")


# Three small grammars, checked by hand rather than with regular expressions: compiling a pattern
# costs more than a whole config check.  tests/unit/test_spec_validate.py holds the equivalent
# patterns and checks these functions against them.

_DIGITS = "0123456789"
_SEMVER_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-")


def _is_oci_version(value: str) -> bool:
    r"""``1.\d+.\d+``, then an optional ``-prerelease`` and ``+build`` of ``[0-9A-Za-z.-]+``."""
    major, dot, rest = value.partition(".")
    if major != "1" or not dot:
        return False
    minor, dot, rest = rest.partition(".")
    if not minor.isdecimal() or not dot:
        return False
    end = len(rest)
    for i, char in enumerate(rest):
        if char == "-" or char == "+":
            end = i
            break
    patch, suffix = rest[:end], rest[end:]
    if not patch.isdecimal():
        return False
    if suffix[:1] == "-":
        prerelease, plus, build = suffix[1:].partition("+")
        return _semver_word(prerelease) and (not plus or _semver_word(build))
    return not suffix or _semver_word(suffix[1:])


def _semver_word(value: str) -> bool:
    return bool(value) and _SEMVER_CHARS.issuperset(value)


def _is_cpu_list(value: str) -> bool:
    """Only digits, commas, dashes and spaces (``[0-9, -]*``): the kernel parses the rest."""
    return not value.strip("0123456789, -")


def _is_page_size(value: str) -> bool:
    """``[0-9]+[KMGTPE]?B``, e.g. ``2MB`` or ``1GB``."""
    if value[-1:] != "B":
        return False
    number = value[:-2] if value[-2:-1] in ("K", "M", "G", "T", "P", "E") else value[:-1]
    return bool(number) and not number.strip(_DIGITS)


def _namespaces(spec: Spec) -> dict[str, Namespace]:
    """The first entry of each namespace type the container gets (new or joined)."""
    found: dict[str, Namespace] = {}
    for ns in (spec.linux or Linux()).namespaces:
        found.setdefault(ns.type, ns)
    return found


def _mapping_sizes(mappings: list[IDMapping], path: str) -> Iterator[Problem]:
    """Sizes of at least 1, and ranges the kernel takes: an extent must not reach 4294967295,
    which is (uid_t)-1 ("no id"), so containerID + size and hostID + size are at most that."""
    for i, mapping in enumerate(mappings):
        if mapping.size == 0:
            yield Problem(f"{path}[{i}].size", "0 ids mapped (expected a size of at least 1)")
            continue
        for key, first in (("containerID", mapping.container_id), ("hostID", mapping.host_id)):
            if first + mapping.size > MAPPED_ID_END:
                yield Problem(
                    f"{path}[{i}].{key}",
                    f"ids {first}..{first + mapping.size - 1} are out of range (expected {key} + size <= "
                    f"{MAPPED_ID_END}: ids run from 0 to {MAPPED_ID_END - 1}, {MAPPED_ID_END} is (uid_t)-1)",
                )


# runc's range for the ids a process runs as, and its words: (uid_t)-1 means "leave unchanged" to
# setresuid/setresgid/setgroups and chown, so 4294967295 would run as root (or keep an owner).
ID_MAX = 2**31 - 1
ID_RANGE = f"uids and gids must be in range 0-{ID_MAX}"
MAPPED_ID_END = 2**32 - 1


def _ids(values: Sequence[tuple[str, int | None]]) -> Iterator[Problem]:
    for at, value in values:
        if value is not None and not 0 <= value <= ID_MAX:
            yield Problem(at, f"{ID_RANGE} (got {value})")


# --- types and text: one walk over every value ----------------------------------------------------------
#
# The loader checks types while it converts JSON; a model built or changed in code has not been through
# it, so validate() walks the model against the same resolved annotations.  The same walk checks that
# every string can reach C intact, which the loaded config needs too: one pass over the values on every
# start.  Plain recursion appending to lists: no generators on this path.


# Per model class: (attribute, JSON key, resolved type without its "| None", whether None is allowed).
_type_plans: dict[type, tuple[tuple[str, str, tuple[int, Any], bool], ...]] = {}


def _type_plan(cls: type[Model]) -> tuple[tuple[str, str, tuple[int, Any], bool], ...]:
    plan = _type_plans.get(cls)
    if plan is None:
        hints = resolve(cls)
        plan = _type_plans[cls] = tuple(
            (name, key, tp, hints[name][0] in (OPTIONAL, ANY)) for name, key, tp, _ in _plan(cls)
        )
    return plan


def _check_object(obj: Model, path: str, types: list[Problem], texts: list[Problem]) -> None:
    prefix = f"{path}." if path else ""
    for name, key, tp, nullable in _type_plan(obj.__class__):
        value = getattr(obj, name)
        if value is None:
            if not nullable:
                types.append(Problem(prefix + key, f"expected {_describe(tp)}, got None"))
        elif tp[0] == SCALAR and value.__class__ is tp[1]:  # the common case, inline
            if tp[1] is str and not _clean(value):
                texts.append(_bad_text(value, prefix + key))
        else:
            _check_value(value, tp, prefix + key, types, texts)


def _check_value(
    value: Any, tp: tuple[int, Any], path: str, types: list[Problem], texts: list[Problem]
) -> None:
    """Check one value against a resolved annotation (see ``_model.resolve``)."""
    kind, arg = tp
    cls = value.__class__
    if kind == OPTIONAL:
        if value is not None:
            _check_value(value, arg, path, types, texts)
        return
    if kind == SCALAR:
        if cls is arg:
            if cls is str and not _clean(value):
                texts.append(_bad_text(value, path))
            return
    elif kind == INT:
        if cls is int:
            if arg is not None and not arg.lo <= value <= arg.hi:
                types.append(Problem(path, out_of_range(value, arg)))
            return
    elif kind == MODEL:
        if cls is arg:
            _check_object(value, path, types, texts)
            return
        name = arg.__qualname__
        got = "a dict" if cls is dict else _python_type(value)
        types.append(Problem(path, f"expected a {name} (build it with {name}(...)), got {got}"))
        return
    elif kind == LIST:
        if cls is list:
            if arg[0] == SCALAR and all(item.__class__ is arg[1] for item in value):
                if arg[1] is not str or _clean("".join(value)):
                    return  # a list of clean strings (env, args, seccomp names): one check for all
            for i, item in enumerate(value):
                _check_value(item, arg, f"{path}[{i}]", types, texts)
            return
    elif kind == DICT:
        if cls is dict:
            for key, item in value.items():
                at = f"{path}[{_q(key)}]" if key.__class__ is str else f"{path}[{key!r}]"
                if key.__class__ is not str:
                    types.append(Problem(at, f"expected a string key, got {_python_type(key)}"))
                    continue
                if not _clean(key):
                    texts.append(_bad_text(key, at))
                _check_value(item, arg, at, types, texts)
            return
    elif kind == FLOAT:
        if cls is int or cls is float:
            return
    else:  # ANY: raw JSON, kept as given (our extensions); its strings must still reach C intact
        _text(value, path, texts)
        return
    types.append(Problem(path, f"expected {_describe(tp)}, got {_python_type(value)}"))


def _python_type(value: Any) -> str:
    """What a value built in code is: its JSON type's name for what JSON has (``string``, as the
    loader says), else the Python class (``a tuple``, ``a Resources``), which points at the fix."""
    cls = value.__class__
    if cls in _JSON_CLASSES:
        return _json_type(value)
    name = cls.__qualname__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


_JSON_CLASSES = frozenset({str, int, float, bool, list})


def _text(value: Any, path: str, problems: list[Problem]) -> list[Problem]:
    r"""Every string of raw JSON (at any depth) must reach C intact: a NUL byte would end it
    there (``A=b\0c`` becoming ``A=b``), and a lone surrogate (``"\ud800"``) has no UTF-8
    form at all.  Object keys are checked too.  Appends to ``problems`` and returns it."""
    cls = value.__class__
    if cls is str:
        if not _clean(value):
            problems.append(_bad_text(value, path))
    elif cls is list:
        strings = [item for item in value if item.__class__ is str]
        if len(strings) == len(value) and _clean("".join(strings)):
            return problems
        for i, item in enumerate(value):
            _text(item, f"{path}[{i}]", problems)
    elif cls is dict:
        for key, item in value.items():
            at = f"{path}[{_q(key)}]"
            _text(key, at, problems)
            _text(item, at, problems)
    return problems


def _bad_text(value: str, path: str) -> Problem:
    if "\0" in value:
        return Problem(path, f"{_q(value)} can't contain null(\\x00) (a C string ends at it)")
    bad = next(i for i, char in enumerate(value) if "\ud800" <= char <= "\udfff")
    return Problem(
        path,
        f"{_q(value)} is not valid Unicode (a lone surrogate {_q(value[bad])[1:-1]} at {bad}; "
        f"expected text that UTF-8 can encode)",
    )


def _clean(text: str) -> bool:
    """No NUL, no surrogate: plain ASCII is the common case, checked in C."""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return False
    return "\0" not in text


# --- top level: version, root, hostname, mounts, hooks ----------------------------------------------


def _version(spec: Spec) -> Iterator[Problem]:
    if not _is_oci_version(spec.oci_version):
        yield Problem(
            "ociVersion",
            f"unsupported version {_q(spec.oci_version)} (expected 1.x.y such "
            f'as "1.2.0": this runtime implements runtime-spec 1)',
        )


def _root(spec: Spec) -> Iterator[Problem]:
    if spec.root is None:
        yield Problem("root", 'missing (expected {"path": ...} naming the container\'s root filesystem)')
    elif not spec.root.path:
        yield Problem(
            "root.path", "empty (expected the root filesystem's path, absolute or relative to the bundle)"
        )


def _spec_process(spec: Spec) -> Iterator[Problem]:
    if spec.process is None:
        yield Problem("process", "missing (expected the process to run: args, cwd and user)")
    else:
        yield from _process(spec.process, "process")


def _hostname(spec: Spec) -> Iterator[Problem]:
    if "uts" in _namespaces(spec):
        return
    for key, value in (("hostname", spec.hostname), ("domainname", spec.domainname)):
        if value:  # "" is how Go engines write "not set"
            yield Problem(
                key, f"unable to set {key} without a private UTS namespace ({_NEED_NS.format('uts')})"
            )


def _mounts(spec: Spec) -> Iterator[Problem]:
    for i, mount in enumerate(spec.mounts):
        at = f"mounts[{i}]"
        if not _is_absolute(mount.destination):
            yield Problem(f"{at}.destination", _not_absolute(mount.destination))
        if mount.uid_mappings or mount.gid_mappings:
            is_bind = mount.type == "bind" or {"bind", "rbind"} & set(mount.options)
            if not is_bind:
                yield Problem(
                    at, 'uidMappings/gidMappings need a bind mount (expected the "bind" or "rbind" option)'
                )
        yield from _mapping_sizes(mount.uid_mappings, f"{at}.uidMappings")
        yield from _mapping_sizes(mount.gid_mappings, f"{at}.gidMappings")


def _hooks(spec: Spec) -> Iterator[Problem]:
    if spec.hooks is None:
        return
    for point in fields(Hooks):
        for i, hook in enumerate(getattr(spec.hooks, point.name)):
            at = f"hooks.{json_key(Hooks, point.name)}[{i}]"
            if not _is_absolute(hook.path):
                yield Problem(f"{at}.path", _not_absolute(hook.path))
            if hook.timeout is not None and hook.timeout < 1:
                yield Problem(f"{at}.timeout", f"{hook.timeout} (expected a timeout of at least 1 second)")


# --- process ------------------------------------------------------------------------------------------


def _process(process: Process, path: str) -> Iterator[Problem]:
    if not process.args:
        yield Problem(_join(path, "args"), "empty (expected at least the program to run)")
    if not _is_absolute(process.cwd):
        yield Problem(_join(path, "cwd"), _not_absolute(process.cwd))
    for i, entry in enumerate(process.env):
        name, sep, _ = entry.partition("=")
        if not sep or not name:
            yield Problem(f"{_join(path, 'env')}[{i}]", f"{_q(entry)} is not of the form NAME=value")
    user = process.user
    gids = _join(path, "user.additionalGids")
    yield from _ids(
        [
            (_join(path, "user.uid"), user.uid),
            (_join(path, "user.gid"), user.gid),
            *((f"{gids}[{i}]", gid) for i, gid in enumerate(user.additional_gids)),
        ]
    )
    umask = user.umask
    if umask is not None and umask > 0o777:
        yield Problem(
            _join(path, "user.umask"),
            f"{umask} ({oct(umask)}) is out of range (expected 0..511, i.e. 0o0..0o777)",
        )
    if process.oom_score_adj is not None and not -1000 <= process.oom_score_adj <= 1000:
        yield Problem(
            _join(path, "oomScoreAdj"), f"{process.oom_score_adj} is out of range (expected -1000..1000)"
        )
    yield from _capabilities(process, _join(path, "capabilities"))
    yield from _rlimits(process, _join(path, "rlimits"))
    yield from _scheduler(process, _join(path, "scheduler"))
    yield from _io_priority(process, _join(path, "ioPriority"))
    affinity = process.exec_cpu_affinity
    if affinity is not None:
        for key in ("initial", "final"):
            value = getattr(affinity, key)
            if value is not None and not _is_cpu_list(value):
                yield Problem(
                    _join(path, f"execCPUAffinity.{key}"),
                    f'{_q(value)} is not a cpu list (expected numbers and ranges such as "0-3,7")',
                )


def _capabilities(process: Process, path: str) -> Iterator[Problem]:
    if process.capabilities is None:
        return
    caps = process.capabilities
    for kind in fields(caps):
        for i, name in enumerate(getattr(caps, kind.name)):
            if name not in CAPABILITIES:
                yield Problem(f"{path}.{kind.name}[{i}]", _unknown("capability", name, CAPABILITIES))
    # What capset(2) refuses once the ids have changed (the process would fail after `create`
    # said it was ready): an effective capability that is not permitted, an inheritable one
    # outside the bounding set.  runc fails the same configs with "unable to apply caps".
    # (An ambient one that is not permitted and inheritable is skipped, as runc and crun do.)
    for kind_name, within in (("effective", "permitted"), ("inheritable", "bounding")):
        allowed = set(getattr(caps, within))
        for i, name in enumerate(getattr(caps, kind_name)):
            if name in CAPABILITIES and name not in allowed:
                yield Problem(
                    f"{path}.{kind_name}[{i}]",
                    f"{_q(name)} is not in {path}.{within} (unable to apply caps: the kernel "
                    f"refuses {kind_name} capabilities outside the {within} set)",
                )


def _rlimits(process: Process, path: str) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, rlimit in enumerate(process.rlimits):
        at = f"{path}[{i}]"
        if rlimit.type not in RLIMITS:
            yield Problem(f"{at}.type", _unknown("rlimit", rlimit.type, RLIMITS))
        elif rlimit.type in first:
            yield Problem(
                f"{at}.type",
                f"duplicate rlimit {_q(rlimit.type)} (already given at "
                f"{path}[{first[rlimit.type]}]; expected each type at most once)",
            )
        else:
            first[rlimit.type] = i
        if rlimit.soft > rlimit.hard:
            yield Problem(
                f"{at}.soft",
                f"soft limit {rlimit.soft} is above the hard limit {rlimit.hard} (expected soft <= hard)",
            )


def _scheduler(process: Process, path: str) -> Iterator[Problem]:
    sched = process.scheduler
    if sched is None:
        return
    if sched.policy not in SCHEDULER_POLICIES:
        yield Problem(f"{path}.policy", _unknown("scheduler policy", sched.policy, SCHEDULER_POLICIES))
    if not -20 <= sched.nice <= 19:
        yield Problem(f"{path}.nice", f"{sched.nice} is out of range (expected -20..19)")
    if not 0 <= sched.priority <= 99:
        yield Problem(f"{path}.priority", f"{sched.priority} is out of range (expected 0..99)")
    if sched.priority != 0 and sched.policy not in ("SCHED_FIFO", "SCHED_RR"):
        yield Problem(
            f"{path}.priority",
            f"a priority needs a realtime policy "
            f"(expected policy SCHED_FIFO or SCHED_RR, got {sched.policy})",
        )
    for key in ("runtime", "deadline", "period"):
        if getattr(sched, key) != 0 and sched.policy != "SCHED_DEADLINE":
            yield Problem(
                f"{path}.{key}",
                f"{key} needs the deadline policy (expected policy SCHED_DEADLINE, got {sched.policy})",
            )
    for i, flag in enumerate(sched.flags):
        if flag not in SCHEDULER_FLAGS:
            yield Problem(f"{path}.flags[{i}]", _unknown("scheduler flag", flag, SCHEDULER_FLAGS))


def _io_priority(process: Process, path: str) -> Iterator[Problem]:
    prio = process.io_priority
    if prio is None:
        return
    if prio.class_ not in IOPRIO_CLASSES:
        yield Problem(f"{path}.class", _unknown("I/O priority class", prio.class_, IOPRIO_CLASSES))
    if not 0 <= prio.priority <= 7:
        yield Problem(f"{path}.priority", f"{prio.priority} is out of range (expected 0..7)")


# --- linux: namespaces and what depends on them -------------------------------------------------------


def _linux_namespaces(spec: Spec) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, ns in enumerate((spec.linux or Linux()).namespaces):
        at = f"linux.namespaces[{i}]"
        if ns.type not in NAMESPACE_TYPES:
            yield Problem(f"{at}.type", _unknown("namespace", ns.type, NAMESPACE_TYPES))
        elif ns.type in first:
            yield Problem(
                f"{at}.type",
                f"duplicate namespace {_q(ns.type)} (already given at linux."
                f"namespaces[{first[ns.type]}]; expected each type at most once)",
            )
        else:
            first[ns.type] = i
        if ns.path and not _is_absolute(ns.path):
            yield Problem(f"{at}.path", _not_absolute(ns.path))


def _id_mappings(spec: Spec) -> Iterator[Problem]:
    linux = spec.linux or Linux()
    user = _namespaces(spec).get("user")
    for key, kind in (("uidMappings", "uid"), ("gidMappings", "gid")):
        mappings = getattr(linux, f"{kind}_mappings")
        if mappings and user is None:
            yield Problem(
                f"linux.{key}",
                f"user namespace mappings given, but no user namespace ({_NEED_NS.format('user')})",
            )
        elif user is not None and not user.path and not mappings:
            yield Problem(
                f"linux.{key}",
                f"a new user namespace needs {kind} mappings "
                f"(expected at least one {{containerID, hostID, size}})",
            )
        yield from _mapping_sizes(mappings, f"linux.{key}")
    if user is not None and not user.path and spec.process is not None:
        yield from _unmapped_ids(spec.process, linux)


def _unmapped_ids(process: Process, linux: Linux) -> Iterator[Problem]:
    """In a new user namespace the process's ids must be mapped, or setresuid/setresgid fail
    after `create` (runc: "cannot set uid to unmapped user in user namespace")."""
    user = process.user
    ids = [("uid", "process.user.uid", user.uid), ("gid", "process.user.gid", user.gid)]
    ids += [("gid", f"process.user.additionalGids[{i}]", gid) for i, gid in enumerate(user.additional_gids)]
    for kind, at, value in ids:
        mappings = linux.uid_mappings if kind == "uid" else linux.gid_mappings
        if not mappings or any(m.size == 0 for m in mappings):
            continue  # none given, or already reported
        if not any(m.container_id <= value < m.container_id + m.size for m in mappings):
            yield Problem(
                at,
                f"cannot set {kind} to unmapped user in user namespace ({value} is not in "
                f"linux.{kind}Mappings)",
            )


def _time_offsets(spec: Spec) -> Iterator[Problem]:
    offsets = (spec.linux or Linux()).time_offsets
    if not offsets:
        return
    time_ns = _namespaces(spec).get("time")
    if time_ns is None:
        yield Problem(
            "linux.timeOffsets", f"time offsets given, but no time namespace ({_NEED_NS.format('time')})"
        )
    elif time_ns.path:
        yield Problem(
            "linux.timeOffsets",
            "time offsets given for a joined time namespace "
            "(expected a new one: offsets are fixed once a process enters it)",
        )
    for clock, offset in offsets.items():
        at = f"linux.timeOffsets[{_q(clock)}]"
        if clock not in TIME_CLOCKS:
            yield Problem(at, _unknown("clock", clock, TIME_CLOCKS))
        if offset.nanosecs >= 1_000_000_000:
            yield Problem(f"{at}.nanosecs", f"{offset.nanosecs} is out of range (expected 0..999999999)")


def _sysctl(spec: Spec) -> Iterator[Problem]:
    """Only namespaced sysctls may be set, and only if the container has that namespace (runc)."""
    namespaces = _namespaces(spec)
    for key in (spec.linux or Linux()).sysctl:
        name = _dotted_sysctl(key)
        at = f"linux.sysctl[{_q(key)}]"
        if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
            needed = "ipc"
        elif name.startswith("net."):
            needed = "network"
        elif name == "kernel.domainname":
            needed = "uts"
        elif name == "kernel.hostname":
            yield Problem(
                at,
                'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI '
                '"hostname" field (expected "hostname" to be set instead)',
            )
            continue
        else:
            yield Problem(
                at,
                f"sysctl {_q(name)} is not in a separate kernel namespace (expected net.*, "
                f"fs.mqueue.*, an IPC kernel.* sysctl or kernel.domainname)",
            )
            continue
        if needed not in namespaces:
            yield Problem(
                at,
                f"sysctl {_q(name)} is not allowed in the host's {needed} namespace "
                f"({_NEED_NS.format(needed)})",
            )


def _dotted_sysctl(key: str) -> str:
    """sysctl(8) accepts ``net/ipv4/ip_forward`` too; then dots inside names stand for slashes."""
    first = min((i for i in (key.find("."), key.find("/")) if i >= 0), default=-1)
    if first < 0 or key[first] == ".":
        return key
    return key.translate(str.maketrans("./", "/."))


def _net_devices(spec: Spec) -> Iterator[Problem]:
    devices = (spec.linux or Linux()).net_devices
    if devices and "network" not in _namespaces(spec):
        yield Problem(
            "linux.netDevices",
            f"network devices given, but no network namespace to move "
            f"them into ({_NEED_NS.format('network')})",
        )
    for host_name, device in devices.items():
        at = f"linux.netDevices[{_q(host_name)}]"
        if not _valid_ifname(host_name):
            yield Problem(at, _bad_ifname(host_name))
        if device.name is not None and not _valid_ifname(device.name):
            yield Problem(f"{at}.name", _bad_ifname(device.name))


def _valid_ifname(name: str) -> bool:
    """The kernel's dev_valid_name(), plus ':' which would clash with alias syntax."""
    return 0 < len(name) < 16 and name not in (".", "..") and not any(c in "/:" or c.isspace() for c in name)


def _bad_ifname(name: str) -> str:
    return (
        f'{_q(name)} is not a valid interface name (expected 1-15 characters, no "/", ":" or '
        f'whitespace, and not "." or "..")'
    )


# --- linux: filesystem and devices --------------------------------------------------------------------


def _devices(spec: Spec) -> Iterator[Problem]:
    for i, device in enumerate((spec.linux or Linux()).devices):
        at = f"linux.devices[{i}]"
        if device.type not in DEVICE_TYPES:
            yield Problem(f"{at}.type", _unknown("device type", device.type, DEVICE_TYPES))
        elif device.type != "p":
            for key, top in (("major", DEVICE_MAJOR_MAX), ("minor", DEVICE_MINOR_MAX)):
                number = getattr(device, key)
                if number is None:
                    yield Problem(
                        f"{at}.{key}", f'missing (a "{device.type}" device needs major and minor numbers)'
                    )
                elif not 0 <= number <= top:
                    yield Problem(f"{at}.{key}", f"{number} is out of range (expected 0..{top})")
        if not _is_absolute(device.path):
            yield Problem(f"{at}.path", _not_absolute(device.path))
        yield from _ids([(f"{at}.uid", device.uid), (f"{at}.gid", device.gid)])


# What mknod(2) can make: the kernel's dev_t has 12 bits of major and 20 of minor, and a bigger
# number would silently name another device.
DEVICE_MAJOR_MAX, DEVICE_MINOR_MAX = 2**12 - 1, 2**20 - 1


def _masked_and_readonly(spec: Spec) -> Iterator[Problem]:
    linux = spec.linux or Linux()
    for key, paths in (("maskedPaths", linux.masked_paths), ("readonlyPaths", linux.readonly_paths)):
        for i, path in enumerate(paths):
            if not _is_absolute(path):
                yield Problem(f"linux.{key}[{i}]", _not_absolute(path))
    if (linux.masked_paths or linux.readonly_paths) and "mount" not in _namespaces(spec):
        key = "maskedPaths" if linux.masked_paths else "readonlyPaths"
        yield Problem(
            f"linux.{key}",
            f"unable to restrict sys entries without a private MNT namespace ({_NEED_NS.format('mount')})",
        )


def _propagation(spec: Spec) -> Iterator[Problem]:
    value = (spec.linux or Linux()).rootfs_propagation
    if value and value not in ROOTFS_PROPAGATIONS:
        yield Problem("linux.rootfsPropagation", _unknown("propagation", value, ROOTFS_PROPAGATIONS))


# --- linux: resources ---------------------------------------------------------------------------------


def _spec_resources(spec: Spec) -> Iterator[Problem]:
    resources = (spec.linux or Linux()).resources
    if resources is not None:
        yield from _resources(resources, "linux.resources")


def _resources(res: Resources, path: str) -> Iterator[Problem]:
    for i, rule in enumerate(res.devices):
        at = f"{_join(path, 'devices')}[{i}]"
        if rule.type and rule.type not in DEVICE_RULE_TYPES:
            yield Problem(f"{at}.type", _unknown("device rule type", rule.type, DEVICE_RULE_TYPES))
        for key in ("major", "minor"):
            number = getattr(rule, key)
            if number is not None and number > 2**32 - 1:
                yield Problem(
                    f"{at}.{key}", f"{number} is out of range (expected 0..{2**32 - 1}, or -1 for any)"
                )
        if rule.access and set(rule.access) - set("rwm"):
            yield Problem(
                f"{at}.access",
                f'{_q(rule.access)} is not a device access (expected letters from "rwm": read, write, mknod)',
            )
    memory = res.memory
    if memory is not None:
        # The kernel reads "-1" as unlimited and refuses any other negative byte count.
        for key in ("limit", "reservation", "swap"):
            value = getattr(memory, key)
            if value is not None and value < -1:
                yield Problem(
                    _join(path, f"memory.{key}"),
                    f"{value} is out of range (expected a byte count, or -1 for unlimited)",
                )
        # 2**64-1 is uint64(-1): Go engines write it for "leave swappiness alone", and runc accepts it.
        if memory.swappiness is not None and memory.swappiness > 100 and memory.swappiness != 2**64 - 1:
            yield Problem(
                _join(path, "memory.swappiness"), f"{memory.swappiness} is out of range (expected 0..100)"
            )
        if memory.limit is not None and memory.swap is not None and 0 < memory.swap < memory.limit:
            yield Problem(
                _join(path, "memory.swap"),
                f"memory+swap limit {memory.swap} is below the "
                f"memory limit {memory.limit} (expected swap >= limit, "
                f"or -1 for unlimited)",
            )
    cpu = res.cpu
    if cpu is not None:
        if cpu.burst is not None and cpu.quota is not None and cpu.quota > 0 and cpu.burst > cpu.quota:
            yield Problem(
                _join(path, "cpu.burst"),
                f"burst {cpu.burst} is above the quota {cpu.quota} (expected burst <= quota)",
            )
        if cpu.idle is not None and cpu.idle not in (0, 1):
            yield Problem(_join(path, "cpu.idle"), f"{cpu.idle} (expected 0, or 1 for SCHED_IDLE)")
        if cpu.shares and not CPU_SHARES_MIN <= cpu.shares <= CPU_SHARES_MAX:
            yield Problem(
                _join(path, "cpu.shares"),
                f"{cpu.shares} is out of range (expected {CPU_SHARES_MIN}..{CPU_SHARES_MAX}, or 0 for unset)",
            )
    if res.block_io is not None:
        bio = res.block_io
        for key, value in (("blockIO.weight", bio.weight), ("blockIO.leafWeight", bio.leaf_weight)):
            yield from _blkio_weight(_join(path, key), value)
        for i, device in enumerate(bio.weight_device):
            at = f"{_join(path, 'blockIO.weightDevice')}[{i}]"
            if device.weight is None and device.leaf_weight is None:
                yield Problem(at, "neither weight nor leafWeight given (expected at least one)")
            yield from _blkio_weight(f"{at}.weight", device.weight)
            yield from _blkio_weight(f"{at}.leafWeight", device.leaf_weight)
    for i, hugepage in enumerate(res.hugepage_limits):
        if not _is_page_size(hugepage.page_size):
            yield Problem(
                f"{_join(path, 'hugepageLimits')}[{i}].pageSize",
                f'{_q(hugepage.page_size)} is not a page size (expected <size><unit>B such as "2MB")',
            )
    for device_name, rdma in res.rdma.items():
        if rdma.hca_handles is None and rdma.hca_objects is None:
            yield Problem(
                f"{_join(path, 'rdma')}[{_q(device_name)}]",
                "neither hcaHandles nor hcaObjects given (expected at least one)",
            )
    for key in res.unified:
        controller, dot, _ = key.partition(".")
        if "/" in key or not controller or not dot:
            yield Problem(
                f"{_join(path, 'unified')}[{_q(key)}]",
                f"{_q(key)} is not a cgroup file name (expected CONTROLLER.PARAMETER such as "
                f'"memory.high", without "/")',
            )


# The ranges the kernel takes: v1 cpu.shares (runc refuses what the kernel would clamp) and the
# blkio weights (v1 blkio.weight, and what runc converts to io.weight on v2).  0 means unset.
CPU_SHARES_MIN, CPU_SHARES_MAX = 2, 262144
BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX = 10, 1000


def _blkio_weight(at: str, value: int | None) -> Iterator[Problem]:
    if value and not BLKIO_WEIGHT_MIN <= value <= BLKIO_WEIGHT_MAX:
        yield Problem(
            at, f"{value} is out of range (expected {BLKIO_WEIGHT_MIN}..{BLKIO_WEIGHT_MAX}, or 0 for unset)"
        )


# --- linux: security ----------------------------------------------------------------------------------


def _seccomp(spec: Spec) -> Iterator[Problem]:
    seccomp = (spec.linux or Linux()).seccomp
    if seccomp is None:
        return
    at = "linux.seccomp"
    if seccomp.default_action not in SECCOMP_ACTIONS:
        yield Problem(
            f"{at}.defaultAction", _unknown("seccomp action", seccomp.default_action, SECCOMP_ACTIONS)
        )
    elif seccomp.default_action == "SCMP_ACT_NOTIFY":
        yield Problem(
            f"{at}.defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action (expected it only in syscalls[].action)",
        )
    yield from _errno_ret(f"{at}.defaultErrnoRet", seccomp.default_errno_ret)
    if seccomp.default_errno_ret is not None and seccomp.default_action not in SECCOMP_ERRNO_ACTIONS:
        yield Problem(
            f"{at}.defaultErrnoRet",
            f"an errno needs an action that returns one (expected "
            f"defaultAction SCMP_ACT_ERRNO or SCMP_ACT_TRACE, "
            f"got {seccomp.default_action})",
        )
    for i, arch in enumerate(seccomp.architectures):
        if arch not in SECCOMP_ARCHITECTURES:
            yield Problem(
                f"{at}.architectures[{i}]", _unknown("seccomp architecture", arch, SECCOMP_ARCHITECTURES)
            )
    for i, flag in enumerate(seccomp.flags):
        if flag not in SECCOMP_FLAGS:
            yield Problem(f"{at}.flags[{i}]", _unknown("seccomp flag", flag, SECCOMP_FLAGS))
    if seccomp.listener_metadata and not seccomp.listener_path:
        yield Problem(f"{at}.listenerMetadata", "given without listenerPath (expected both, or neither)")
    if not seccomp.listener_path and any(s.action == "SCMP_ACT_NOTIFY" for s in seccomp.syscalls):
        yield Problem(
            f"{at}.listenerPath",
            "missing (SCMP_ACT_NOTIFY rules need the path of the seccomp agent's socket)",
        )
    for i, rule in enumerate(seccomp.syscalls):
        rule_at = f"{at}.syscalls[{i}]"
        if not rule.names:
            yield Problem(f"{rule_at}.names", "empty (expected at least one syscall name)")
        if rule.action not in SECCOMP_ACTIONS:
            yield Problem(f"{rule_at}.action", _unknown("seccomp action", rule.action, SECCOMP_ACTIONS))
        elif rule.action == "SCMP_ACT_NOTIFY" and "write" in rule.names:
            yield Problem(
                f"{rule_at}.action",
                "SCMP_ACT_NOTIFY cannot be used for the write syscall (expected another action for write)",
            )
        yield from _errno_ret(f"{rule_at}.errnoRet", rule.errno_ret)
        if rule.errno_ret is not None and rule.action not in SECCOMP_ERRNO_ACTIONS:
            yield Problem(
                f"{rule_at}.errnoRet",
                f"an errno needs an action that returns one (expected "
                f"SCMP_ACT_ERRNO or SCMP_ACT_TRACE, got {rule.action})",
            )
        for j, arg in enumerate(rule.args):
            if arg.index > SECCOMP_MAX_ARG_INDEX:
                yield Problem(
                    f"{rule_at}.args[{j}].index",
                    f"{arg.index} is out of range (expected 0..{SECCOMP_MAX_ARG_INDEX})",
                )
            if arg.op not in SECCOMP_OPERATORS:
                yield Problem(
                    f"{rule_at}.args[{j}].op", _unknown("seccomp operator", arg.op, SECCOMP_OPERATORS)
                )


def _errno_ret(at: str, value: int | None) -> Iterator[Problem]:
    """A filter returns 16 bits of data (SECCOMP_RET_DATA): a bigger errno would be cut."""
    if value is not None and value > 0xFFFF:
        yield Problem(at, f"{value} is out of range (expected 0..65535)")


def _personality(spec: Spec) -> Iterator[Problem]:
    personality = (spec.linux or Linux()).personality
    if personality is None:
        return
    if personality.domain not in PERSONALITY_DOMAINS:
        yield Problem(
            "linux.personality.domain",
            _unknown("personality domain", personality.domain, PERSONALITY_DOMAINS),
        )
    if personality.flags:
        yield Problem("linux.personality.flags", "the spec defines no personality flags (expected none)")


def _intel_rdt(spec: Spec) -> Iterator[Problem]:
    rdt = (spec.linux or Linux()).intel_rdt
    if rdt is None:
        return
    if rdt.clos_id is not None and (rdt.clos_id in (".", "..") or "/" in rdt.clos_id):
        yield Problem(
            "linux.intelRdt.closID",
            f'{_q(rdt.clos_id)} is not a directory name (expected a name without "/", not "." or "..")',
        )
    if rdt.mem_bw_schema and (not rdt.mem_bw_schema.startswith("MB:") or "\n" in rdt.mem_bw_schema):
        yield Problem(
            "linux.intelRdt.memBwSchema",
            f"{_q(rdt.mem_bw_schema)} is not a memory bandwidth "
            f'schema (expected one line starting with "MB:")',
        )


# The rules in the order of the config's sections, so problems read top to bottom.
_SPEC_RULES: tuple[Callable[[Spec], Iterator[Problem]], ...] = (
    _version,
    _root,
    _spec_process,
    _hostname,
    _mounts,
    _hooks,
    _linux_namespaces,
    _id_mappings,
    _time_offsets,
    _devices,
    _net_devices,
    _spec_resources,
    _propagation,
    _masked_and_readonly,
    _sysctl,
    _seccomp,
    _personality,
    _intel_rdt,
)
