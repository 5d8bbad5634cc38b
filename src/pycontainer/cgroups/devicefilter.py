"""Device rules on cgroup v2: a ``BPF_PROG_TYPE_CGROUP_DEVICE`` program.

cgroup v2 has no ``devices.allow``/``devices.deny`` files.  The kernel
instead runs the eBPF programs attached to the cgroup (and its ancestors)
at every open or mknod of a device node and allows it only if each returns 1.
runc (``libcontainer/cgroups/devices/devicefilter.go``) and crun
(``ebpf.c``) generate such a program from the device rules; so do we:

* the rules are the v1 whitelist's: deny everything, then the config's
  rules in order, then :data:`~pycontainer.cgroups.resources.DEFAULT_DEVICE_RULES`;
  the **last** rule that matches decides, so the program tests them in
  reverse order and returns at the first match, and denies if none does;
* an *allow* rule matches an access that it covers entirely (``rw`` is not
  allowed by a rule granting only ``r``); a *deny* rule matches an access
  that asks for any part of what it denies (``rw`` is denied by a rule
  denying ``w``), which is how the v1 controller behaves;
* type ``a`` matches every device whatever its numbers and access.

The program is generated here (a few dozen instructions) and the C core
only makes the ``bpf(2)`` calls: load, attach to the container's cgroup
directory with ``BPF_F_ALLOW_MULTI`` (so a parent's program keeps running
too, and a later update can add its program before removing the old one),
query and detach.  :func:`install` is what ``create`` and ``update`` call.
"""

from __future__ import annotations

import errno
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }:
# access_type is (access << 16) | type.
DEV_BLOCK = 1  # BPF_DEVCG_DEV_BLOCK
DEV_CHAR = 2  # BPF_DEVCG_DEV_CHAR
ACC_MKNOD = 1  # BPF_DEVCG_ACC_MKNOD
ACC_READ = 2  # BPF_DEVCG_ACC_READ
ACC_WRITE = 4  # BPF_DEVCG_ACC_WRITE
_ACCESS = {"r": ACC_READ, "w": ACC_WRITE, "m": ACC_MKNOD}
_TYPES = {"c": DEV_CHAR, "b": DEV_BLOCK}

BPF_F_ALLOW_MULTI = 2

# Opcodes (linux/bpf_common.h, linux/bpf.h).
_LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
_ALU32_AND_K = 0x54  # dst &= imm
_ALU32_RSH_K = 0x74  # dst >>= imm
_ALU32_MOV_K = 0xB4  # dst = imm
_ALU32_MOV_X = 0xBC  # dst = src
_JMP_JEQ_K = 0x15  # if dst == imm: pc += off
_JMP_JNE_K = 0x55  # if dst != imm: pc += off
_JMP_JNE_X = 0x5D  # if dst != src: pc += off
_EXIT = 0x95

R0, R1, R2, R3, R4, R5 = range(6)
# The registers the prologue loads: R2 type, R3 access, R4 major, R5 minor.
_TYPE, _ACC, _MAJOR, _MINOR = R2, R3, R4, R5

_NEXT = object()  # a jump to the next rule's block, resolved when the block ends


def _insn(code: int, dst: int = 0, src: int = 0, off: int | object = 0, imm: int = 0) -> list:
    return [code, dst, src, off, imm]


def _access_bits(access: str | None) -> int:
    bits = 0
    for char in access or "rwm":
        try:
            bits |= _ACCESS[char]
        except KeyError:
            raise ValueError(f"unknown device access {char!r} in {access!r} (expected r, w, m)") from None
    return bits


def _rule_block(rule) -> list[list]:
    """The instructions testing one rule: jumps to the next block when the
    rule does not match, returns its verdict when it does."""
    verdict = 1 if rule.allow else 0
    kind = rule.type or "a"
    block: list[list] = []
    if kind != "a":
        if kind not in _TYPES:
            raise ValueError(f"invalid device type {kind!r} (expected a, b or c)")
        block.append(_insn(_JMP_JNE_K, _TYPE, off=_NEXT, imm=_TYPES[kind]))
        wanted = _access_bits(rule.access)
        if rule.allow and wanted != ACC_READ | ACC_WRITE | ACC_MKNOD:
            # The access asked for must lie within what the rule allows.
            block.append(_insn(_ALU32_MOV_X, R1, _ACC))
            block.append(_insn(_ALU32_AND_K, R1, imm=wanted))
            block.append(_insn(_JMP_JNE_X, R1, _ACC, off=_NEXT))
        elif not rule.allow and wanted != ACC_READ | ACC_WRITE | ACC_MKNOD:
            # Any part of the access asked for that the rule denies.
            block.append(_insn(_ALU32_MOV_X, R1, _ACC))
            block.append(_insn(_ALU32_AND_K, R1, imm=wanted))
            block.append(_insn(_JMP_JEQ_K, R1, off=_NEXT, imm=0))
        for register, number in ((_MAJOR, rule.major), (_MINOR, rule.minor)):
            if number is not None and number >= 0:
                if number > 0xFFFFFFFF:
                    raise ValueError(f"device number {number} does not fit in 32 bits")
                block.append(_insn(_JMP_JNE_K, register, off=_NEXT, imm=_s32(number)))
    block.append(_insn(_ALU32_MOV_K, R0, imm=verdict))
    block.append(_insn(_EXIT))
    end = len(block)
    for pc, insn in enumerate(block):
        if insn[3] is _NEXT:
            insn[3] = end - (pc + 1)
    return block


def _s32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def program(rules: Sequence) -> bytes:
    """The program (``struct bpf_insn`` array) enforcing *rules* in order
    (objects with ``allow``, ``type``, ``major``, ``minor``, ``access``:
    :class:`~pycontainer.spec.models.DeviceRule`), over a default deny.
    Raises ValueError for a rule no program can express."""
    insns = [
        _insn(_LDX_MEM_W, _TYPE, R1, 0),
        _insn(_ALU32_AND_K, _TYPE, imm=0xFFFF),
        _insn(_LDX_MEM_W, _ACC, R1, 0),
        _insn(_ALU32_RSH_K, _ACC, imm=16),
        _insn(_LDX_MEM_W, _MAJOR, R1, 4),
        _insn(_LDX_MEM_W, _MINOR, R1, 8),
    ]
    for rule in reversed(rules):
        insns.extend(_rule_block(rule))
        if (rule.type or "a") == "a":
            break  # matches everything: the rules before it can never decide
    else:
        insns.append(_insn(_ALU32_MOV_K, R0, imm=0))
        insns.append(_insn(_EXIT))
    return b"".join(struct.pack("<BBhi", c, (s << 4) | d, off, imm) for c, d, s, off, imm in insns)


# ----------------------------------------------------------- the kernel side


def _core():
    from pycontainer._native._core import ffi, lib

    return ffi, lib


def _fail(name: str, ffi, detail: str = "") -> OSError:
    err = ffi.errno
    return OSError(err, f"{name}: {os.strerror(err)}{detail}")


def attached(cgroup_fd: int) -> list[int]:
    """The ids of the device programs attached to the cgroup itself."""
    ffi, lib = _core()
    room = 16
    while True:
        ids = ffi.new("unsigned int[]", room)
        count = ffi.new("unsigned int *", room)
        if lib.pyc_bpf_query_device_progs(cgroup_fd, ids, count) == 0:
            return [ids[i] for i in range(count[0])]
        if ffi.errno != errno.ENOSPC:
            raise _fail("bpf(BPF_PROG_QUERY)", ffi)
        room = max(room * 2, count[0])


def load(code: bytes) -> int:
    """Load a device program; returns its fd (close-on-exec).  The
    verifier's complaint, if any, is in the error."""
    ffi, lib = _core()
    log = ffi.new("char[]", 65536)
    fd = lib.pyc_bpf_load_device_prog(code, len(code) // 8, log, len(log))
    if fd < 0:
        text = ffi.string(log).decode(errors="replace").strip()
        raise _fail("bpf(BPF_PROG_LOAD)", ffi, f" (verifier: {text[-500:]})" if text else "")
    return fd


def install(directory: str, rules: Iterable) -> None:
    """Enforce *rules* on the cgroup v2 *directory*: load their program,
    attach it, then detach the device programs attached before (an update
    replaces the rules; between the two steps both programs run, which only
    denies more).  Raises ValueError for a rule no program can express and
    OSError when the kernel refuses."""
    code = program(list(rules))
    ffi, lib = _core()
    cgroup_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = attached(cgroup_fd)
        prog_fd = load(code)
        try:
            if lib.pyc_bpf_attach_device_prog(cgroup_fd, prog_fd, BPF_F_ALLOW_MULTI) < 0:
                raise _fail(f"bpf(BPF_PROG_ATTACH) to {directory}", ffi)
        finally:
            os.close(prog_fd)  # the attachment keeps the program alive
        for prog_id in old:
            detach(cgroup_fd, prog_id)
    finally:
        os.close(cgroup_fd)


def detach(cgroup_fd: int, prog_id: int) -> None:
    """Detach program *prog_id* from the cgroup; one already gone is fine."""
    ffi, lib = _core()
    prog_fd = lib.pyc_bpf_prog_fd_by_id(prog_id)
    if prog_fd < 0:
        if ffi.errno == errno.ENOENT:
            return
        raise _fail("bpf(BPF_PROG_GET_FD_BY_ID)", ffi)
    try:
        if lib.pyc_bpf_detach_device_prog(cgroup_fd, prog_fd) < 0 and ffi.errno != errno.ENOENT:
            raise _fail("bpf(BPF_PROG_DETACH)", ffi)
    finally:
        os.close(prog_fd)
