"""linux.seccomp compiled to classic BPF: the programs are run here by a small cBPF interpreter
(seccomp's subset), so what a syscall gets is checked without loading anything (no root needed;
libseccomp is)."""

from __future__ import annotations

import json
import logging
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pycontainer.errors import ConfigError, ContainerError
from pycontainer.security import seccomp as sc
from pycontainer.spec import load_config
from pycontainer.spec.models import Seccomp, SeccompArg, Syscall

pyseccomp = pytest.importorskip("pyseccomp")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "engine-configs"
SECCOMP_FIXTURES = [
    p
    for p in sorted(FIXTURES.glob("*.json"))
    if (json.loads(p.read_text()).get("linux") or {}).get("seccomp")
]

NATIVE = pyseccomp.system_arch()
X86 = pyseccomp.Arch.X86
X86_64 = pyseccomp.Arch.X86_64

ALLOW = 0x7FFF0000
LOG = 0x7FFC0000
TRAP = 0x00030000
KILL_THREAD = 0
KILL_PROCESS = 0x80000000


def ERRNO(n: int) -> int:
    return 0x00050000 | n


def TRACE(n: int) -> int:
    return 0x7FF00000 | n


def nr(name: str, arch: int = 0) -> int:
    number = pyseccomp.resolve_syscall(arch, name)
    assert number >= 0, name
    return number


# --- a classic BPF interpreter, enough for what libseccomp and the stub emit ----------------------


def run(bpf: bytes, nr: int, args=(0, 0, 0, 0, 0, 0), arch: int = NATIVE) -> int:
    """The SECCOMP_RET_* value the program returns for this syscall."""
    args = tuple(args) + (0,) * (6 - len(args))
    data = struct.pack("=iIQ6Q", nr, arch, 0x1000, *args)
    insns = [struct.unpack_from("=HBBI", bpf, off) for off in range(0, len(bpf), 8)]
    a = x = 0
    mem = [0] * 16
    pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # BPF_LD
            mode = code & 0xE0
            if mode == 0x20:  # BPF_ABS, BPF_W
                assert code & 0x18 == 0 and k % 4 == 0 and k + 4 <= len(data)
                a = struct.unpack_from("=I", data, k)[0]
            elif mode == 0x00:  # BPF_IMM
                a = k
            elif mode == 0x60:  # BPF_MEM
                a = mem[k]
            else:
                raise AssertionError(f"ld mode {code:#x}")
        elif cls == 0x01:  # BPF_LDX
            x = {0x00: k, 0x60: mem[k] if k < 16 else 0}[code & 0xE0]
        elif cls == 0x02:  # BPF_ST
            mem[k] = a
        elif cls == 0x03:  # BPF_STX
            mem[k] = x
        elif cls == 0x04:  # BPF_ALU
            src = x if code & 0x08 else k
            op = code & 0xF0
            if op == 0x00:
                a += src
            elif op == 0x10:
                a -= src
            elif op == 0x40:
                a |= src
            elif op == 0x50:
                a &= src
            elif op == 0x60:
                a <<= src
            elif op == 0x70:
                a >>= src
            else:
                raise AssertionError(f"alu op {code:#x}")
            a &= 0xFFFFFFFF
        elif cls == 0x05:  # BPF_JMP
            op = code & 0xF0
            if op == 0x00:  # BPF_JA
                pc += k
                continue
            src = x if code & 0x08 else k
            taken = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}[op]
            pc += jt if taken else jf
        elif cls == 0x06:  # BPF_RET
            return k if code & 0x18 == 0 else a
        elif cls == 0x07:  # BPF_MISC
            if code & 0xF8 == 0x00:  # TAX
                x = a
            else:  # TXA
                a = x
        else:  # pragma: no cover
            raise AssertionError(f"opcode {code:#x}")


def profile(default="SCMP_ACT_ALLOW", rules=(), default_errno=None, arches=(), flags=()) -> Seccomp:
    return Seccomp(
        default_action=default,
        default_errno_ret=default_errno,
        architectures=list(arches),
        flags=list(flags),
        syscalls=list(rules),
    )


def rule(names, action, errno_ret=None, args=()) -> Syscall:
    return Syscall(
        names=list(names),
        action=action,
        errno_ret=errno_ret,
        args=[SeccompArg(index=i, op=op, value=v, value_two=v2) for i, op, v, v2 in args],
    )


@pytest.fixture(autouse=True)
def fresh_cache():
    sc.clear_cache()
    yield
    sc.clear_cache()


# --- the engines' profiles -------------------------------------------------------------------------


def test_there_are_engine_profiles():
    names = {p.name.split("-")[0] for p in SECCOMP_FIXTURES}
    assert names == {"docker", "podman"}


@pytest.mark.parametrize("path", SECCOMP_FIXTURES, ids=lambda p: p.name)
def test_engine_profiles_compile(path):
    seccomp = load_config(path).linux.seccomp
    compiled = sc.compile_profile(seccomp)
    assert compiled.bpf and len(compiled.bpf) % 8 == 0
    assert compiled.instructions == len(compiled.bpf) // 8 <= sc.BPF_MAXINSNS
    assert compiled.flags == 0
    # The first instruction loads seccomp_data.arch (libseccomp's or the -ENOSYS stub's).
    assert struct.unpack_from("=HBBI", compiled.bpf, 0) == (0x20, 0, 0, 4)
    # What the profiles say, as the program does it.
    assert run(compiled.bpf, nr("read")) == ALLOW
    assert run(compiled.bpf, nr("read", X86), arch=X86) == ALLOW
    # Docker makes glibc fall back to clone (ENOSYS), podman allows clone3.
    assert run(compiled.bpf, nr("clone3")) == (ERRNO(38) if path.name.startswith("docker") else ALLOW)
    default = ERRNO(seccomp.default_errno_ret or 1)
    assert run(compiled.bpf, nr("add_key")) == default  # in neither profile
    assert run(compiled.bpf, nr("personality"), [0]) == ALLOW
    assert run(compiled.bpf, nr("personality"), [0xFFFFFFFF]) == ALLOW
    assert run(compiled.bpf, nr("personality"), [0x0040000]) == default  # ADDR_COMPAT_LAYOUT
    # Engines generate the profile from a template: the same profile twice is compiled once.
    assert sc.compile_profile(load_config(path).linux.seccomp) is compiled


def test_docker_profile_gets_runcs_enosys_stub():
    """Docker's default action is EPERM: a syscall newer than every one in the profile gets ENOSYS
    (so glibc takes its fallback), one in the middle still the default action."""
    path = FIXTURES / "docker-create-memory64m-pids50.json"
    bpf = sc.compile_profile(load_config(path).linux.seccomp).bpf
    newest = max(
        pyseccomp.resolve_syscall(0, n) for r in load_config(path).linux.seccomp.syscalls for n in r.names
    )
    assert run(bpf, newest) == ALLOW
    assert run(bpf, newest + 1) == ERRNO(38)
    assert run(bpf, 1000) == ERRNO(38)
    assert run(bpf, nr("add_key")) == ERRNO(1)
    assert run(bpf, nr("add_key", X86), arch=X86) == ERRNO(1)
    assert run(bpf, 1000, arch=X86) == ERRNO(38)
    if NATIVE == X86_64:
        x32 = 0x40000000
        assert run(bpf, x32 | 0) == ALLOW  # x32 read
        assert run(bpf, x32 | 1000) == ERRNO(38)
        assert run(bpf, nr("read"), arch=pyseccomp.Arch.AARCH64) == KILL_THREAD  # not in the filter


def test_podman_profile_needs_no_stub():
    """podman's default action already returns ENOSYS: the program is libseccomp's alone."""
    seccomp = load_config(FIXTURES / "podman-create-run-echo.json").linux.seccomp
    bpf = sc.compile_profile(seccomp).bpf
    assert run(bpf, 1000) == ERRNO(38)
    assert run(bpf, nr("add_key")) == ERRNO(38)
    assert run(bpf, nr("acct")) == ERRNO(1)  # podman lists it, with EPERM
    # libseccomp's own first check is on the arch: jeq/jgt right after the load (no stub dispatch).
    first = [struct.unpack_from("=HBBI", bpf, off) for off in (0, 8)]
    assert first[0] == (0x20, 0, 0, 4) and first[1][0] in (0x15, 0x25, 0x35)
    assert bpf == _libseccomp_only(seccomp)


def _libseccomp_only(seccomp: Seccomp) -> bytes:
    saved = sc._permissive
    sc._permissive = lambda *_: True
    try:
        sc.clear_cache()
        return sc.compile_profile(seccomp).bpf
    finally:
        sc._permissive = saved
        sc.clear_cache()


# --- actions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action, errno_ret, expected",
    [
        ("SCMP_ACT_ERRNO", None, ERRNO(1)),
        ("SCMP_ACT_ERRNO", 38, ERRNO(38)),
        ("SCMP_ACT_ERRNO", 0, ERRNO(0)),
        ("SCMP_ACT_TRACE", None, TRACE(1)),
        ("SCMP_ACT_TRACE", 7, TRACE(7)),
        ("SCMP_ACT_KILL", None, KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", None, KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", None, KILL_PROCESS),
        ("SCMP_ACT_TRAP", None, TRAP),
        ("SCMP_ACT_LOG", None, LOG),
    ],
)
def test_rule_actions(action, errno_ret, expected):
    bpf = sc.compile_profile(profile(rules=[rule(["mkdir"], action, errno_ret)])).bpf
    assert run(bpf, nr("mkdir")) == expected
    assert run(bpf, nr("rmdir")) == ALLOW


@pytest.mark.parametrize(
    "default, errno_ret, expected",
    [
        ("SCMP_ACT_ERRNO", None, ERRNO(1)),
        ("SCMP_ACT_ERRNO", 38, ERRNO(38)),
        ("SCMP_ACT_KILL", None, KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", None, KILL_PROCESS),
        ("SCMP_ACT_TRAP", None, TRAP),
        ("SCMP_ACT_TRACE", 3, TRACE(3)),
        ("SCMP_ACT_LOG", None, LOG),
    ],
)
def test_default_actions(default, errno_ret, expected):
    rules = [rule(["read", "getppid"], "SCMP_ACT_ALLOW")]
    bpf = sc.compile_profile(profile(default, rules, default_errno=errno_ret)).bpf
    assert run(bpf, nr("read")) == ALLOW
    assert run(bpf, nr("getpid")) == expected  # below getppid on every architecture
    # Above every syscall of the profile: ENOSYS unless the default lets syscalls through (runc).
    permissive = default in ("SCMP_ACT_TRACE", "SCMP_ACT_LOG") or expected == ERRNO(38)
    newest = max(nr("read"), nr("getppid"))
    assert run(bpf, newest + 1) == (expected if permissive else ERRNO(38))
    assert run(bpf, 1000) == (expected if permissive else ERRNO(38))


def test_a_rule_with_the_default_action_is_skipped():
    base = profile("SCMP_ACT_ERRNO", [rule(["read", "write"], "SCMP_ACT_ALLOW")])
    same = profile(
        "SCMP_ACT_ERRNO",
        [
            rule(["read", "write"], "SCMP_ACT_ALLOW"),
            rule(["mkdir"], "SCMP_ACT_ERRNO"),  # EPERM, as the default
            rule(["rmdir"], "SCMP_ACT_ERRNO", 1),
        ],
    )
    other = profile(
        "SCMP_ACT_ERRNO", [rule(["read", "write"], "SCMP_ACT_ALLOW"), rule(["mkdir"], "SCMP_ACT_ERRNO", 13)]
    )
    # libseccomp's part is the same; the -ENOSYS stub knows the profile names mkdir and rmdir (runc).
    assert _libseccomp_only(same) == _libseccomp_only(base)
    bpf = sc.compile_profile(same).bpf
    assert run(bpf, nr("mkdir")) == run(bpf, nr("rmdir")) == ERRNO(1)
    assert run(sc.compile_profile(other).bpf, nr("mkdir")) == ERRNO(13)
    # KILL and KILL_THREAD are one action.
    kill = profile("SCMP_ACT_KILL", [rule(["read"], "SCMP_ACT_ALLOW")])
    kill_too = profile(
        "SCMP_ACT_KILL", [rule(["read"], "SCMP_ACT_ALLOW"), rule(["mkdir"], "SCMP_ACT_KILL_THREAD")]
    )
    assert _libseccomp_only(kill_too) == _libseccomp_only(kill)


def test_notify_rules_ask_for_a_listener():
    seccomp = profile(
        "SCMP_ACT_ERRNO",
        [rule(["read"], "SCMP_ACT_ALLOW"), rule(["openat"], "SCMP_ACT_NOTIFY")],
        flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    )
    seccomp.listener_path = "/run/agent.sock"
    compiled = sc.compile_profile(seccomp)
    assert compiled.has_listener
    assert compiled.flags == sc.SECCOMP_FILTER_FLAG_NEW_LISTENER | sc.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    assert run(compiled.bpf, nr("openat")) == sc.ACT_NOTIFY
    assert run(compiled.bpf, nr("read")) == ALLOW
    assert not sc.compile_profile(profile(rules=[rule(["read"], "SCMP_ACT_ERRNO")])).has_listener


def test_notify_without_a_listener_path_or_as_default_is_refused_with_the_path():
    seccomp = profile("SCMP_ACT_ALLOW", [rule(["openat"], "SCMP_ACT_NOTIFY")])
    with pytest.raises(ConfigError) as info:
        sc.compile_profile(seccomp)
    assert info.value.path == "linux.seccomp.listenerPath"
    with pytest.raises(ConfigError) as info:
        sc.compile_profile(profile("SCMP_ACT_NOTIFY"))
    assert info.value.path == "linux.seccomp.defaultAction"


def test_a_flag_the_kernel_lacks_is_dropped_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(sc, "kernel_knows_flag", lambda flag: flag != sc.SECCOMP_FILTER_FLAG_SPEC_ALLOW)
    with caplog.at_level(logging.WARNING, logger="pycontainer.security.seccomp"):
        flags = sc.compile_profile(
            profile(flags=["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"])
        ).flags
    assert flags == sc.SECCOMP_FILTER_FLAG_LOG
    assert "SECCOMP_FILTER_FLAG_SPEC_ALLOW" in caplog.text


@pytest.mark.parametrize(
    "seccomp, path",
    [
        (profile("SCMP_ACT_NOPE"), "linux.seccomp.defaultAction"),
        (profile(rules=[rule(["read"], "SCMP_ACT_NOPE")]), "linux.seccomp.syscalls[0].action"),
        (profile(arches=["SCMP_ARCH_X86", "SCMP_ARCH_VAX"]), "linux.seccomp.architectures[1]"),
        (profile(flags=["SECCOMP_FILTER_FLAG_NOPE"]), "linux.seccomp.flags[0]"),
        (
            profile(rules=[rule(["kill"], "SCMP_ACT_ERRNO", args=[(1, "SCMP_CMP_NOPE", 9, 0)])]),
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            profile(rules=[rule(["kill"], "SCMP_ACT_ERRNO", args=[(6, "SCMP_CMP_EQ", 9, 0)])]),
            "linux.seccomp.syscalls[0].args[0].index",
        ),
    ],
)
def test_what_cannot_be_compiled_names_its_path(seccomp, path):
    with pytest.raises(ConfigError) as info:
        sc.compile_profile(seccomp)
    assert info.value.path == path


# --- syscall names, arguments, architectures, flags ------------------------------------------------


def test_unknown_syscall_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="pycontainer.security.seccomp"):
        compiled = sc.compile_profile(
            profile(rules=[rule(["mkdir", "no_such_syscall", "rmdir"], "SCMP_ACT_ERRNO", 38)])
        )
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no_such_syscall" in warnings[0].getMessage()
    assert "mkdir" not in warnings[0].getMessage()
    assert run(compiled.bpf, nr("mkdir")) == ERRNO(38)
    assert run(compiled.bpf, nr("rmdir")) == ERRNO(38)
    sc.clear_cache()
    assert (
        compiled.bpf
        == sc.compile_profile(profile(rules=[rule(["mkdir", "rmdir"], "SCMP_ACT_ERRNO", 38)])).bpf
    )


def test_other_arches_syscalls_are_not_unknown(caplog):
    """chown32 exists on x86 only: libseccomp knows it (for the x86 part of the filter)."""
    with caplog.at_level(logging.WARNING):
        bpf = sc.compile_profile(
            profile(rules=[rule(["chown32"], "SCMP_ACT_ERRNO", 13)], arches=["SCMP_ARCH_X86"])
        ).bpf
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert run(bpf, nr("chown32", X86), arch=X86) == ERRNO(13)


def test_argument_comparisons():
    cases = [
        ("SCMP_CMP_EQ", 9, 0, {9: True, 8: False, 9 | 1 << 32: False}),
        ("SCMP_CMP_NE", 9, 0, {9: False, 8: True}),
        ("SCMP_CMP_LT", 9, 0, {8: True, 9: False, 1 << 40: False}),
        ("SCMP_CMP_LE", 9, 0, {9: True, 10: False}),
        ("SCMP_CMP_GT", 1 << 33, 0, {(1 << 33) + 1: True, 1 << 33: False, 5: False}),
        ("SCMP_CMP_GE", 9, 0, {9: True, 8: False, 1 << 63: True}),
        # MASKED_EQ: value is the mask, valueTwo the datum (runc, libseccomp).
        ("SCMP_CMP_MASKED_EQ", 0xF0, 0x20, {0x25: True, 0x2F: True, 0x35: False, 0x05: False}),
        ("SCMP_CMP_MASKED_EQ", 0o4000, 0o4000, {0o4755: True, 0o755: False}),
    ]
    for op, value, value_two, expect in cases:
        sc.clear_cache()
        bpf = sc.compile_profile(
            profile(rules=[rule(["kill"], "SCMP_ACT_ERRNO", 13, args=[(1, op, value, value_two)])])
        ).bpf
        for arg, blocked in expect.items():
            got = run(bpf, nr("kill"), [1234, arg])
            assert got == (ERRNO(13) if blocked else ALLOW), (op, value, value_two, hex(arg))


def test_comparisons_of_different_args_are_anded():
    bpf = sc.compile_profile(
        profile(
            rules=[
                rule(
                    ["kill"], "SCMP_ACT_ERRNO", 13, args=[(0, "SCMP_CMP_EQ", 1, 0), (1, "SCMP_CMP_EQ", 9, 0)]
                )
            ]
        )
    ).bpf
    assert run(bpf, nr("kill"), [1, 9]) == ERRNO(13)
    assert run(bpf, nr("kill"), [1, 15]) == ALLOW
    assert run(bpf, nr("kill"), [2, 9]) == ALLOW


def test_comparisons_of_one_arg_are_split_into_rules_ored():
    """runc: two comparisons on the same argument make one rule each (an AND could never match)."""
    bpf = sc.compile_profile(
        profile(
            rules=[
                rule(
                    ["kill"],
                    "SCMP_ACT_ERRNO",
                    13,
                    args=[(1, "SCMP_CMP_EQ", 10, 0), (1, "SCMP_CMP_EQ", 12, 0), (0, "SCMP_CMP_EQ", 1, 0)],
                )
            ]
        )
    ).bpf
    assert run(bpf, nr("kill"), [5, 10]) == ERRNO(13)
    assert run(bpf, nr("kill"), [5, 12]) == ERRNO(13)
    assert run(bpf, nr("kill"), [1, 0]) == ERRNO(13)  # the arg0 comparison alone is a rule too
    assert run(bpf, nr("kill"), [5, 15]) == ALLOW


def test_masked_eq_and_split_rules_in_a_deny_by_default_profile():
    """Docker's clone rule (allow unless a namespace flag is set) and a split rule, default ERRNO."""
    bpf = sc.compile_profile(
        profile(
            "SCMP_ACT_ERRNO",
            [
                rule(["read"], "SCMP_ACT_ALLOW"),
                rule(["clone"], "SCMP_ACT_ALLOW", args=[(0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0)]),
                rule(
                    ["personality"],
                    "SCMP_ACT_ALLOW",
                    args=[(0, "SCMP_CMP_EQ", 0, 0), (0, "SCMP_CMP_EQ", 8, 0)],
                ),
            ],
        )
    ).bpf
    assert run(bpf, nr("clone"), [17]) == ALLOW  # SIGCHLD
    assert run(bpf, nr("clone"), [17 | 0x20000]) == ERRNO(1)  # CLONE_NEWNS
    assert run(bpf, nr("personality"), [8]) == ALLOW
    assert run(bpf, nr("personality"), [0]) == ALLOW
    assert run(bpf, nr("personality"), [4]) == ERRNO(1)


def test_architectures():
    bpf = sc.compile_profile(
        profile(rules=[rule(["mkdir"], "SCMP_ACT_ERRNO", 38)], arches=["SCMP_ARCH_X86"])
    ).bpf
    assert run(bpf, nr("mkdir", X86), arch=X86) == ERRNO(38)
    assert run(bpf, nr("mkdir")) == ERRNO(38)
    assert run(bpf, nr("read"), arch=pyseccomp.Arch.AARCH64) == KILL_THREAD  # libseccomp's bad-arch action
    # Without architectures, the native one only; listing it changes nothing.
    native_only = sc.compile_profile(profile(rules=[rule(["mkdir"], "SCMP_ACT_ERRNO", 38)])).bpf
    assert run(native_only, nr("mkdir", X86), arch=X86) == KILL_THREAD
    native_name = {X86_64: "SCMP_ARCH_X86_64", pyseccomp.Arch.AARCH64: "SCMP_ARCH_AARCH64"}.get(NATIVE)
    if native_name:
        sc.clear_cache()
        listed = profile(rules=[rule(["mkdir"], "SCMP_ACT_ERRNO", 38)], arches=[native_name, native_name])
        assert sc.compile_profile(listed).bpf == native_only


def test_arch_libseccomp_does_not_know_is_a_config_error_or_works():
    """libseccomp 2.5 has no LoongArch; 2.6 has: either way nothing half-made."""
    try:
        sc.compile_profile(profile(arches=["SCMP_ARCH_LOONGARCH64"]))
    except ConfigError as e:
        assert e.path == "linux.seccomp.architectures[0]"


@pytest.mark.parametrize(
    "flags, expected",
    [
        ([], 0),
        (["SECCOMP_FILTER_FLAG_LOG"], 2),
        (["SECCOMP_FILTER_FLAG_SPEC_ALLOW"], 4),
        (["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], 6),
        (["SECCOMP_FILTER_FLAG_TSYNC"], 0),  # ignored, as runc: one thread loads the filter
        # Needs SECCOMP_FILTER_FLAG_NEW_LISTENER (the kernel says EINVAL without): no listener yet.
        (["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_LOG"], 2),
    ],
)
def test_flags(flags, expected):
    assert sc.compile_profile(profile(flags=flags)).flags == expected


def test_flag_values_are_the_kernels():
    header = Path("/usr/include/linux/seccomp.h")
    if not header.exists():
        pytest.skip("no kernel headers")
    text = header.read_text()
    for name in ("LOG", "SPEC_ALLOW", "TSYNC", "NEW_LISTENER", "WAIT_KILLABLE_RECV"):
        full = f"SECCOMP_FILTER_FLAG_{name}"
        line = next(
            ln
            for ln in text.splitlines()
            if ln.startswith(f"#define {full}\t") or ln.startswith(f"#define {full} ")
        )
        shift = int(line.split("<<")[1].strip(" )"))
        assert getattr(sc, full) == 1 << shift


# --- the object, the cache, the import -------------------------------------------------------------


def test_compiled_filter_is_immutable_and_cached_by_content():
    a = sc.compile_profile(profile(rules=[rule(["mkdir"], "SCMP_ACT_ERRNO")]))
    b = sc.compile_profile(profile(rules=[rule(["mkdir"], "SCMP_ACT_ERRNO")]))
    c = sc.compile_profile(profile(rules=[rule(["mkdir"], "SCMP_ACT_ERRNO", 2)]))
    assert a is b and a != c
    with pytest.raises(AttributeError):
        a.flags = 1
    assert repr(a).startswith("CompiledFilter(<")
    sc.clear_cache()
    again = sc.compile_profile(profile(rules=[rule(["mkdir"], "SCMP_ACT_ERRNO")]))
    assert again is not a and again == a  # libseccomp's output is deterministic


def test_without_pyseccomp_it_is_a_container_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # import raises ImportError
    with pytest.raises(ContainerError, match="pyseccomp"):
        sc.compile_profile(profile(rules=[rule(["mkdir"], "SCMP_ACT_ERRNO")]))


def test_importing_the_module_loads_no_libseccomp():
    code = (
        "import sys; import pycontainer.security.seccomp; "
        "bad = [m for m in ('ctypes', 'pyseccomp', 'logging', 'typing') if m in sys.modules]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {src!r}); {code}"], check=True
    )


def _reference_program(seccomp: Seccomp) -> bytes:
    """libseccomp's program for a profile, built the plain way: pyseccomp's public API, each name
    resolved by add_rule itself (no -ENOSYS stub)."""
    default = sc._action(seccomp.default_action, seccomp.default_errno_ret, "")
    filt = pyseccomp.SyscallFilter(default)
    for name in seccomp.architectures:
        if sc._ARCHES[name] != NATIVE:
            filt.add_arch(sc._ARCHES[name])
    filt.set_attr(sc._ATTR_CTL_OPTIMIZE, 2)
    for r in seccomp.syscalls:
        act = sc._action(r.action, r.errno_ret, "")
        if act == default:
            continue
        for name in r.names:
            if pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) == -1:  # unknown here
                continue
            filt.add_rule(
                act,
                name,
                *(pyseccomp.Arg(a.index, sc._OPERATORS[a.op], a.value, a.value_two) for a in r.args),
            )
    return sc._export(filt)


def test_docker_profile_is_libseccomps_plain_compile_after_the_stub():
    """The compile resolves names itself and imports pyseccomp its own way: the program is still
    the stub, then exactly what pyseccomp's plain API makes of the profile."""
    seccomp = load_config(FIXTURES / "docker-create-memory64m-pids50.json").linux.seccomp
    bpf = sc.compile_profile(seccomp).bpf
    reference = _reference_program(seccomp)
    assert len(bpf) > len(reference) and bpf.endswith(reference)


def test_the_cheap_pyseccomp_import_leaves_the_real_modules_and_the_same_program():
    """pyseccomp imported with stand-ins for ctypes.util and typing (in a fresh interpreter, as
    nsinit's): those are gone afterwards, the real ones import as usual, and the program of a
    Docker profile is byte for byte the one compiled here with a normally imported pyseccomp."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = FIXTURES / "docker-create-memory64m-pids50.json"
    code = f"""
import sys
sys.path.insert(0, {src!r}); sys.path.extend({[p for p in sys.path if p.endswith("-packages")]!r})
from pycontainer.security import seccomp as sc
from pycontainer.spec import load_config
bpf = sc.compile_profile(load_config({str(path)!r}).linux.seccomp).bpf
left = [m for m in ("ctypes.util", "typing") if m in sys.modules]
assert not left, left
import ctypes.util, typing
assert callable(ctypes.util.find_library) and hasattr(typing, "TypeVar")
assert sys.modules["pyseccomp"].system_arch() > 0
sys.stdout.write(bpf.hex())
"""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, capture_output=True, text=True)
    assert bytes.fromhex(out.stdout) == sc.compile_profile(load_config(path).linux.seccomp).bpf


def test_a_pyseccomp_the_stand_ins_do_not_fit_is_imported_plainly(monkeypatch):
    """Should pyseccomp's import fail with the stand-ins, it is imported again without them."""
    import types

    monkeypatch.delitem(sys.modules, "pyseccomp")
    monkeypatch.delitem(sys.modules, "typing", raising=False)
    broken = types.ModuleType("typing")  # lacks what pyseccomp imports from typing
    monkeypatch.setattr(sc, "_stand_ins", lambda: {"typing": broken})
    module = sc._import_pyseccomp()
    assert module is sys.modules["pyseccomp"] and module.system_arch() == NATIVE
    assert sys.modules.get("typing") is not broken
