"""The cgroup v2 device program, run by a small interpreter of the few eBPF
instructions it uses: the verdict for each (type, major, minor, access)
must be what the v1 devices controller would decide for the same rules."""

from __future__ import annotations

import struct

import pytest

from pycontainer.cgroups import devicefilter as df
from pycontainer.cgroups.resources import DEFAULT_DEVICE_RULES
from pycontainer.spec.models import DeviceRule

M32 = 0xFFFFFFFF


def run(code: bytes, kind: str, major: int, minor: int, access: str) -> int:
    """Execute the program on one bpf_cgroup_dev_ctx; returns R0."""
    ctx = struct.pack(
        "<III", (df._access_bits(access) << 16) | {"c": df.DEV_CHAR, "b": df.DEV_BLOCK}[kind], major, minor
    )
    insns = [struct.unpack_from("<BBhi", code, i) for i in range(0, len(code), 8)]
    reg = [0] * 11  # R1 is the context pointer: loads below read ctx directly
    pc = 0
    for _ in range(10000):
        op, regs, off, imm = insns[pc]
        dst, src = regs & 0xF, regs >> 4
        pc += 1
        if op == 0x61:
            assert src == 1 and dst != 1, "loads only from the context (R1), never into R1"
            reg[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0x54:
            reg[dst] = reg[dst] & (imm & M32)
        elif op == 0x74:
            reg[dst] = (reg[dst] & M32) >> imm
        elif op == 0xB4:
            reg[dst] = imm & M32
        elif op == 0xBC:
            reg[dst] = reg[src] & M32
        elif op == 0x15:
            pc += off if reg[dst] == imm & M32 else 0
        elif op == 0x55:
            pc += off if reg[dst] != imm & M32 else 0
        elif op == 0x5D:
            pc += off if reg[dst] != reg[src] else 0
        elif op == 0x95:
            return reg[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
    raise AssertionError("program does not terminate")


def rule(allow, kind="a", major=None, minor=None, access="rwm") -> DeviceRule:
    return DeviceRule(allow=allow, type=kind, major=major, minor=minor, access=access)


def test_default_rules_allow_the_standard_devices_and_nothing_else():
    code = df.program(DEFAULT_DEVICE_RULES)
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (10, 200), (136, 4)):
        assert run(code, "c", major, minor, "rw") == 1, (major, minor)
    assert run(code, "c", 1, 11, "r") == 0  # /dev/kmsg
    assert run(code, "b", 8, 0, "r") == 0  # a disk
    assert run(code, "b", 8, 0, "m") == 1  # mknod of any node is allowed
    assert run(code, "c", 4, 1, "m") == 1


def test_last_matching_rule_wins():
    code = df.program([rule(True, "c", 1, None, "rwm"), rule(False, "c", 1, 5, "rwm")])
    assert run(code, "c", 1, 3, "r") == 1
    assert run(code, "c", 1, 5, "r") == 0
    code = df.program([rule(False, "c", 1, 5, "rwm"), rule(True, "c", 1, None, "rwm")])
    assert run(code, "c", 1, 5, "r") == 1


def test_access_subsets():
    code = df.program([rule(True, "c", 1, 3, "r")])
    assert run(code, "c", 1, 3, "r") == 1
    assert run(code, "c", 1, 3, "rw") == 0  # asks for more than allowed
    assert run(code, "c", 1, 3, "w") == 0
    # A deny of part of the access refuses any request touching it.
    code = df.program([rule(True, "c", 1, 3, "rwm"), rule(False, "c", 1, 3, "w")])
    assert run(code, "c", 1, 3, "r") == 1
    assert run(code, "c", 1, 3, "rw") == 0
    assert run(code, "c", 1, 3, "m") == 1


def test_type_a_matches_everything():
    code = df.program([rule(True, "a")])
    assert run(code, "b", 259, 1, "rwm") == 1
    code = df.program([rule(True, "a"), rule(False, "c", 1, 5)])
    assert run(code, "c", 1, 5, "r") == 0
    assert run(code, "c", 1, 3, "r") == 1
    code = df.program([rule(True, "c", 1, 3), rule(False, "a")])
    assert run(code, "c", 1, 3, "r") == 0


def test_nothing_is_default_deny():
    code = df.program([])
    assert run(code, "c", 1, 3, "r") == 0


def test_block_and_char_are_told_apart():
    code = df.program([rule(True, "b", 7, None, "rw")])
    assert run(code, "b", 7, 0, "r") == 1
    assert run(code, "c", 7, 0, "r") == 0


def test_big_device_numbers():
    code = df.program([rule(True, "c", 0xFFFFFFF0, 2**31 + 5, "r")])
    assert run(code, "c", 0xFFFFFFF0, 2**31 + 5, "r") == 1
    assert run(code, "c", 0xFFFFFFF0, 5, "r") == 0


@pytest.mark.parametrize(
    "bad", [rule(True, "x", 1, 1), rule(True, "c", 1, 1, "rx"), rule(True, "c", 2**32, 1)]
)
def test_inexpressible_rules_are_refused(bad):
    with pytest.raises(ValueError):
        df.program([bad])
