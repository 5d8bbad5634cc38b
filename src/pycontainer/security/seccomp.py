"""``linux.seccomp`` compiled to a classic BPF program, in the parent (crun's way).

:func:`compile_profile` turns the profile into the bytes seccomp(2) takes (a packed
``struct sock_filter[]``, what libseccomp's ``seccomp_export_bpf`` writes) and the seccomp(2)
filter flags.  The container's init only hands both to the C core's final step
(``ExecRequest.seccomp_filter`` / ``seccomp_flags``), which loads the program right before
``execve``: libseccomp never runs in the container, and a profile is compiled once per process
(:func:`compile_profile` keeps the programs it made, keyed by the profile's content).

The rules are runc's (``libcontainer/seccomp/seccomp_linux.go`` and ``patchbpf``) and crun's
(``src/libcrun/seccomp.c``):

* Actions: ``SCMP_ACT_KILL`` and ``SCMP_ACT_KILL_THREAD`` kill the thread, ``SCMP_ACT_KILL_PROCESS``
  the process; ``SCMP_ACT_ERRNO`` and ``SCMP_ACT_TRACE`` carry ``errnoRet`` (``defaultErrnoRet`` for the
  default action), EPERM when it is absent; ``SCMP_ACT_TRAP``, ``SCMP_ACT_ALLOW``, ``SCMP_ACT_LOG``;
  ``SCMP_ACT_NOTIFY`` (not as the default action): the filter is loaded with
  ``SECCOMP_FILTER_FLAG_NEW_LISTENER`` and its notify fd goes to the seccomp agent behind
  ``listenerPath`` (:mod:`pycontainer.security.notify`).
* A rule whose action is the default action is skipped (libseccomp refuses it).
* A syscall name libseccomp does not know on this machine's architecture is skipped with a warning
  (the profile may name syscalls of newer kernels or of other architectures).
* Argument comparisons of one rule are ANDed; when two of them test the same argument, each
  comparison becomes a rule of its own (ORed), as runc and crun do.  ``SCMP_CMP_MASKED_EQ`` takes
  ``value`` as the mask and ``valueTwo`` as the datum.
* ``architectures`` are added to the filter; the native one is always in it.
* Flags: ``SECCOMP_FILTER_FLAG_LOG`` and ``SECCOMP_FILTER_FLAG_SPEC_ALLOW`` are passed to seccomp(2);
  ``SECCOMP_FILTER_FLAG_TSYNC`` is ignored (the process is single-threaded when it loads the filter;
  runc ignores it too); ``SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`` only means something with a
  listener (the kernel rejects it without ``SECCOMP_FILTER_FLAG_NEW_LISTENER``), so it is dropped
  from a profile without SCMP_ACT_NOTIFY rules.  A flag this kernel does not know (seccomp(2)
  says EINVAL for it, asked with a NULL program) is dropped with a warning: the profile still
  applies, as libseccomp does when it loads a filter itself.
* runc's -ENOSYS stub (``patchbpf``): unless the default action lets syscalls through (ALLOW, LOG,
  TRACE) or already returns ENOSYS, a syscall numbered above every syscall the profile names (per
  architecture) gets ENOSYS instead of the default action, so programs probing a syscall newer than
  the profile (glibc and ``clone3``, ``fchmodat2`` ...) take their fallback instead of failing with
  EPERM.  Unlike runc, the native architecture gets the stub even when ``architectures`` is empty.

Importing this module costs nothing: libseccomp (through ``pyseccomp``, ctypes bindings) is imported
by the first :func:`compile_profile` call.
"""

from __future__ import annotations

import os

from pycontainer.errors import ConfigError, ContainerError
from pycontainer.log import get_logger

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from pycontainer.spec.models import Seccomp

log = get_logger(__name__)

EPERM = 1
ENOSYS = 38

# libseccomp's action values (<seccomp.h>); ERRNO and TRACE carry a 16-bit value.
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_NOTIFY = 0x7FC00000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000

_ACTIONS = {
    "SCMP_ACT_KILL": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": ACT_TRAP,
    "SCMP_ACT_ERRNO": ACT_ERRNO,
    "SCMP_ACT_TRACE": ACT_TRACE,
    "SCMP_ACT_ALLOW": ACT_ALLOW,
    "SCMP_ACT_LOG": ACT_LOG,
    "SCMP_ACT_NOTIFY": ACT_NOTIFY,
}
# Default actions after which the -ENOSYS stub is not wanted (runc's isAllowAction): a tracer
# should handle unknown syscalls itself.
_PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")

# enum scmp_compare.
_OPERATORS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
MAX_ARGS = 6

# seccomp(2) filter flags (<linux/seccomp.h>).
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 0,  # ignored, see the module's docstring
    "SECCOMP_FILTER_FLAG_LOG": SECCOMP_FILTER_FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}
_LISTENER_ONLY_FLAGS = SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
# Flags newer kernels added: dropped with a warning where this kernel lacks them.
_OPTIONAL_FLAGS = (
    SECCOMP_FILTER_FLAG_LOG,
    SECCOMP_FILTER_FLAG_SPEC_ALLOW,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
)

# libseccomp's architecture tokens: the kernel's AUDIT_ARCH_* values (<linux/audit.h>), except
# SCMP_ARCH_X32, which the kernel reports as x86_64 (its syscall numbers have bit 30 set).
_64BIT = 0x80000000
_LE = 0x40000000
_MIPS_N32 = 0x20000000
_ARCHES = {
    "SCMP_ARCH_X86": 3 | _LE,
    "SCMP_ARCH_X86_64": 62 | _64BIT | _LE,
    "SCMP_ARCH_X32": 62 | _LE,
    "SCMP_ARCH_ARM": 40 | _LE,
    "SCMP_ARCH_AARCH64": 183 | _64BIT | _LE,
    "SCMP_ARCH_LOONGARCH64": 258 | _64BIT | _LE,
    "SCMP_ARCH_M68K": 4,
    "SCMP_ARCH_MIPS": 8,
    "SCMP_ARCH_MIPS64": 8 | _64BIT,
    "SCMP_ARCH_MIPS64N32": 8 | _64BIT | _MIPS_N32,
    "SCMP_ARCH_MIPSEL": 8 | _LE,
    "SCMP_ARCH_MIPSEL64": 8 | _64BIT | _LE,
    "SCMP_ARCH_MIPSEL64N32": 8 | _64BIT | _LE | _MIPS_N32,
    "SCMP_ARCH_PPC": 20,
    "SCMP_ARCH_PPC64": 21 | _64BIT,
    "SCMP_ARCH_PPC64LE": 21 | _64BIT | _LE,
    "SCMP_ARCH_S390": 22,
    "SCMP_ARCH_S390X": 22 | _64BIT,
    "SCMP_ARCH_PARISC": 15,
    "SCMP_ARCH_PARISC64": 15 | _64BIT,
    "SCMP_ARCH_RISCV64": 243 | _64BIT | _LE,
    "SCMP_ARCH_SH": 42 | _LE,
    "SCMP_ARCH_SHEB": 42,
}
_ARCH_X86_64 = _ARCHES["SCMP_ARCH_X86_64"]
_ARCH_X32 = _ARCHES["SCMP_ARCH_X32"]
_ARCH_S390 = (_ARCHES["SCMP_ARCH_S390"], _ARCHES["SCMP_ARCH_S390X"])
_X32_SYSCALL_BIT = 0x40000000

# libseccomp's filter attributes (enum scmp_filter_attr).
_ATTR_CTL_NNP = 3
_ATTR_CTL_OPTIMIZE = 8
# runc's threshold for libseccomp's binary-tree layout (libseccomp <= 2.5.4 misbehaves with it and
# no rules; longer profiles get a much shorter path per syscall).
_OPTIMIZE_ABOVE = 32

BPF_MAXINSNS = 4096  # the kernel's limit on a classic BPF program
_INSN_SIZE = 8  # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}, host byte order


class CompiledFilter:
    """A compiled profile: ``bpf`` (packed ``struct sock_filter[]``, 8 bytes an instruction) and
    ``flags`` (seccomp(2) ``SECCOMP_FILTER_FLAG_*`` bits).  Immutable: a cached one is shared."""

    __slots__ = ("bpf", "flags")
    bpf: bytes
    flags: int

    def __init__(self, bpf: bytes, flags: int = 0) -> None:
        object.__setattr__(self, "bpf", bytes(bpf))
        object.__setattr__(self, "flags", flags)

    def __setattr__(self, name, value):
        raise AttributeError("CompiledFilter is immutable")

    @property
    def has_listener(self) -> bool:
        """SCMP_ACT_NOTIFY rules: loading it gives a notify fd for the seccomp agent."""
        return bool(self.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)

    @property
    def instructions(self) -> int:
        return len(self.bpf) // _INSN_SIZE

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompiledFilter):
            return NotImplemented
        return (self.bpf, self.flags) == (other.bpf, other.flags)

    def __hash__(self) -> int:
        return hash((self.bpf, self.flags))

    def __repr__(self) -> str:
        return f"CompiledFilter(<{self.instructions} instructions>, flags={self.flags:#x})"


_cache: dict[tuple, CompiledFilter] = {}
_CACHE_SIZE = 32


def compile_profile(seccomp: Seccomp, cache_dir: str | None = None) -> CompiledFilter:
    """Compile ``linux.seccomp`` (a :class:`~pycontainer.spec.models.Seccomp`) for seccomp(2).

    Raises :class:`~pycontainer.errors.ConfigError` (with the JSON path) for what cannot be
    compiled, :class:`~pycontainer.errors.ContainerError` when libseccomp is missing.  The same
    profile compiled again in this process returns the same object without calling libseccomp.
    With ``cache_dir`` (a directory only we can write), compiled programs are also kept there,
    as crun does: importing libseccomp's bindings and compiling an engine's profile costs some
    30 ms, more than the rest of a container's start."""
    key = _key(seccomp)
    found = _cache.get(key)
    if found is not None:
        return found
    compiled = _disk_cache_get(cache_dir, key) if cache_dir else None
    if compiled is None:
        compiled = _compile(seccomp)
        if cache_dir:
            _disk_cache_put(cache_dir, key, compiled)
    if len(_cache) >= _CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = compiled
    return compiled


def clear_cache() -> None:
    _cache.clear()


# -- the on-disk cache ------------------------------------------------------------------------------
# One file per profile: the full key text on the first line (compared exactly on a hit, so a
# hash collision can only miss, never hand out another profile's program), then the flags,
# then the program in hex.  The kernel release is part of the key: a new kernel, a new compile.
# Bounded in count and bytes (the oldest written goes first; a hit leaves its file as it is), written
# through a new temporary renamed over, and read only from a directory and files of ours that
# nobody else can write.

CACHE_MAX_FILES = 32
CACHE_MAX_BYTES = 8 << 20
_CACHE_MAX_FILE = 2 << 20  # a profile compiled to more is not kept (the kernel takes 4096 insns: 64 KB)
_STALE_TMP = 60.0  # seconds: a temporary older than this was left by a killed writer


def _key_text(key: tuple) -> str:
    return f"{os.uname().release} {key!r}"


def _cache_file(cache_dir: str, text: str) -> str:
    import zlib

    return os.path.join(cache_dir, f"{zlib.crc32(text.encode()):08x}-{len(text)}.bpf")


def _ours(st: os.stat_result, private: int) -> bool:
    """Owned by us, and none of the ``private`` mode bits set."""
    return st.st_uid == os.geteuid() and not st.st_mode & private


def _safe_dir(cache_dir: str) -> bool:
    """Only a directory of ours (not a link) that nobody else can reach may feed us programs."""
    import stat

    try:
        st = os.lstat(cache_dir)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and _ours(st, 0o077)


def _disk_cache_get(cache_dir: str, key: tuple) -> CompiledFilter | None:
    import stat

    if not _safe_dir(cache_dir):
        return None
    text = _key_text(key)
    try:
        fd = os.open(_cache_file(cache_dir, text), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _ours(st, 0o022) or st.st_size > _CACHE_MAX_FILE:
            return None
        with open(fd, closefd=False) as f:
            stored_key, flags, program = f.read().split("\n")[:3]
        if stored_key != text:
            return None
        return CompiledFilter(bytes.fromhex(program), int(flags))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def _disk_cache_put(cache_dir: str, key: tuple, compiled: CompiledFilter) -> None:
    text = _key_text(key)
    data = f"{text}\n{compiled.flags}\n{compiled.bpf.hex()}\n".encode()
    if len(data) > _CACHE_MAX_FILE:
        return
    try:
        try:
            os.mkdir(cache_dir, 0o700)
        except FileExistsError:
            pass
        if not _safe_dir(cache_dir):
            return
        path = _cache_file(cache_dir, text)
        tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _evict(cache_dir, keep=path)
    except OSError:
        pass  # a cache, nothing more


def _evict(cache_dir: str, keep: str) -> None:
    """Remove the least recently used programs (and stale temporaries) until
    the cache holds at most CACHE_MAX_FILES files and CACHE_MAX_BYTES."""
    import time

    entries = []
    now = time.time()
    with os.scandir(cache_dir) as it:
        for entry in it:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.name.endswith(".tmp"):
                if now - st.st_mtime > _STALE_TMP:
                    _unlink(entry.path)
            elif entry.path != keep:
                entries.append((st.st_mtime, st.st_size, entry.path))
    entries.sort()  # oldest first
    count = len(entries) + 1  # with the one just written
    total = sum(size for _, size, _ in entries) + os.stat(keep).st_size
    for _, size, path in entries:
        if count <= CACHE_MAX_FILES and total <= CACHE_MAX_BYTES:
            break
        _unlink(path)
        count -= 1
        total -= size


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _key(seccomp: Seccomp) -> tuple:
    """Everything that shapes the program, as a hashable value (no collisions: the value itself)."""
    return (
        seccomp.default_action,
        seccomp.default_errno_ret,
        bool(seccomp.listener_path),
        tuple(seccomp.architectures),
        tuple(seccomp.flags),
        tuple(
            (
                tuple(rule.names),
                rule.action,
                rule.errno_ret,
                tuple((a.index, a.value, a.value_two, a.op) for a in rule.args),
            )
            for rule in seccomp.syscalls
        ),
    )


def _action(name: str, errno_ret: int | None, path: str) -> int:
    try:
        act = _ACTIONS[name]
    except KeyError:
        raise ConfigError(f"unknown seccomp action {name!r}", path=path) from None
    if act in (ACT_ERRNO, ACT_TRACE):
        act |= (EPERM if errno_ret is None else errno_ret) & 0xFFFF
    return act


def _flags(seccomp: Seccomp, notify: bool) -> int:
    flags = SECCOMP_FILTER_FLAG_NEW_LISTENER if notify else 0
    for i, name in enumerate(seccomp.flags):
        try:
            flags |= _FLAGS[name]
        except KeyError:
            raise ConfigError(f"unknown seccomp flag {name!r}", path=f"linux.seccomp.flags[{i}]") from None
    if flags & _LISTENER_ONLY_FLAGS and not flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        log.debug("seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV dropped: the filter has no listener")
        flags &= ~_LISTENER_ONLY_FLAGS
    for bit in _OPTIONAL_FLAGS:
        if flags & bit and not kernel_knows_flag(bit):
            name = next(n for n, v in _FLAGS.items() if v == bit)
            log.warning("seccomp: %s ignored: this kernel does not support it", name)
            flags &= ~bit
    return flags


def kernel_knows_flag(flag: int) -> bool:
    """Whether seccomp(2) knows a filter flag: asked to install a NULL program with it, the kernel
    says EFAULT once the flags passed its check, EINVAL if it does not know one (libseccomp's
    probe).  Nothing is installed either way."""
    from pycontainer import syscalls

    if flag & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV:
        flag |= SECCOMP_FILTER_FLAG_NEW_LISTENER  # EINVAL without it, known or not
    return syscalls.seccomp_flag_supported(flag)


def _compile(seccomp: Seccomp) -> CompiledFilter:
    at = "linux.seccomp"
    if seccomp.default_action == "SCMP_ACT_NOTIFY":
        raise ConfigError("SCMP_ACT_NOTIFY cannot be the default action", path=f"{at}.defaultAction")
    default = _action(seccomp.default_action, seccomp.default_errno_ret, f"{at}.defaultAction")
    notify = any(rule.action == "SCMP_ACT_NOTIFY" for rule in seccomp.syscalls)
    if notify and not seccomp.listener_path:
        raise ConfigError(
            "missing (SCMP_ACT_NOTIFY rules need the path of the seccomp agent's socket)",
            path=f"{at}.listenerPath",
        )
    flags = _flags(seccomp, notify)
    arches = []
    for i, name in enumerate(seccomp.architectures):
        if name not in _ARCHES:
            raise ConfigError(f"unknown seccomp architecture {name!r}", path=f"{at}.architectures[{i}]")
        arches.append((i, _ARCHES[name]))

    # Every rule checked before libseccomp is loaded: (path, action, names, [conditions per rule]).
    rules = []
    for i, rule in enumerate(seccomp.syscalls):
        rule_at = f"{at}.syscalls[{i}]"
        act = _action(rule.action, rule.errno_ret, f"{rule_at}.action")
        if act == default:
            continue  # redundant, and libseccomp refuses it
        conds = []
        for j, arg in enumerate(rule.args):
            if arg.index >= MAX_ARGS:
                raise ConfigError(
                    f"argument index {arg.index} out of range (expected 0..{MAX_ARGS - 1})",
                    path=f"{rule_at}.args[{j}].index",
                )
            op = _OPERATORS.get(arg.op)
            if op is None:
                raise ConfigError(f"unknown seccomp operator {arg.op!r}", path=f"{rule_at}.args[{j}].op")
            conds.append((arg.index, op, arg.value, arg.value_two))
        indexes = [c[0] for c in conds]
        if len(set(indexes)) < len(indexes):
            # Two comparisons of one argument: one rule each (ORed), as runc and crun do.
            groups = [[c] for c in conds]
        else:
            groups = [conds]
        rules.append((rule_at, act, rule.names, groups))

    try:
        pyseccomp = _import_pyseccomp()
    except (ImportError, RuntimeError, OSError) as e:  # RuntimeError: no libseccomp.so
        raise ContainerError(f"seccomp: cannot load libseccomp (pip install pyseccomp): {e}") from e

    filt = pyseccomp.SyscallFilter(default)
    # libseccomp would set no_new_privs itself when *it* loads the filter (seccomp_load); pycontainer
    # only exports the program and the runtime decides no_new_privs (process.noNewPrivileges), as
    # runc does with SetNoNewPrivsBit(false).  Export ignores the attribute: this is to say so.
    filt.set_attr(_ATTR_CTL_NNP, 0)
    for i, arch in arches:
        try:
            filt.add_arch(arch)
        except OSError as e:
            if e.errno != 17:  # EEXIST: the native one, or listed twice
                raise ConfigError(
                    f"architecture {seccomp.architectures[i]} not supported by this libseccomp: {e.strerror}",
                    path=f"{at}.architectures[{i}]",
                ) from None
    if sum(len(names) for _, _, names, _ in rules) > _OPTIMIZE_ABOVE:
        try:
            filt.set_attr(_ATTR_CTL_OPTIMIZE, 2)
        except OSError:  # libseccomp < 2.5: the linear layout it is
            pass

    # Every name resolved once: the -ENOSYS stub needs the native numbers too.
    resolve = pyseccomp.resolve_syscall
    native = pyseccomp.system_arch()
    numbers = {name: resolve(native, name) for rule in seccomp.syscalls for name in rule.names}
    unknown = []
    for rule_at, act, names, groups in rules:
        for name in names:
            nr = numbers[name]
            if nr == -1:  # __NR_SCMP_ERROR; other negative numbers are other arches' syscalls
                unknown.append(name)
                continue
            for conds in groups:
                args = [pyseccomp.Arg(*c) for c in conds]
                try:
                    filt.add_rule(act, nr, *args)
                except OSError as e:
                    raise ConfigError(
                        f"libseccomp refused the rule for {name}: {e.strerror}", path=rule_at
                    ) from None
    if unknown:
        listed = ", ".join(dict.fromkeys(unknown))
        log.warning("seccomp: syscalls unknown on this architecture ignored: %s", listed)

    program = _export(filt)
    if not _permissive(seccomp, default):
        program = _enosys_stub(seccomp, pyseccomp, native, numbers) + program
    count = len(program) // _INSN_SIZE
    if count > BPF_MAXINSNS:
        raise ConfigError(
            f"the compiled filter has {count} instructions, more than the kernel's {BPF_MAXINSNS}", path=at
        )
    return CompiledFilter(program, flags)


# pyseccomp's import pulls in more than it needs.  ctypes.util, for find_library at import (its only
# use), imports subprocess, shutil, tempfile and re (some 7 ms of a first start under ``python3 -IS``,
# as much as libseccomp's compile), and find_library runs ``ldconfig -p`` in a subprocess (another
# 4 ms): the dynamic loader finds these sonames itself.  typing (2 ms) only serves its annotations,
# ``cast`` and ``overload``.  So pyseccomp is imported with stand-ins for both (when nothing imported
# the real ones yet), gone again right after: whoever imports them later gets the real modules.  Should
# a pyseccomp release want more of them, its import fails with the stand-ins and is simply redone.
_SONAMES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}


class _Subscriptable:
    """typing's ``Any``, ``Union`` ... as far as annotations evaluated at import need them."""

    def __getitem__(self, _):
        return self


def _stand_ins() -> dict:
    import types

    # Stand-in modules are plain objects to a type checker: attributes are set on them freely.
    util: Any = types.ModuleType("ctypes.util")
    util.find_library = _SONAMES.get
    typing: Any = types.ModuleType("typing")
    anything = _Subscriptable()
    typing.Any = typing.Collection = typing.Iterable = typing.Union = anything
    typing.cast = lambda _type, value: value
    typing.overload = lambda func: func
    return {"ctypes.util": util, "typing": typing}


def _import_pyseccomp():
    import sys

    loaded = sys.modules.get("pyseccomp")
    if loaded is not None:
        return loaded
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        # Another thread could import typing or ctypes.util while the stand-ins
        # are in place and keep them: the plain import (a library user's case).
        import pyseccomp

        return pyseccomp
    import ctypes

    try:
        for soname in _SONAMES.values():
            ctypes.CDLL(soname)
    except OSError:
        import pyseccomp  # other sonames here: let pyseccomp look them up

        return pyseccomp
    stand_ins = {name: m for name, m in _stand_ins().items() if name not in sys.modules}
    if "ctypes.util" not in stand_ins:  # imported already: only skip ldconfig
        real = ctypes.util.find_library
        ctypes.util.find_library = lambda name: _SONAMES.get(name) or real(name)
    sys.modules.update(stand_ins)
    if "ctypes.util" in stand_ins:
        ctypes.util = stand_ins["ctypes.util"]
    try:
        import pyseccomp
    except Exception:  # a pyseccomp the stand-ins do not fit (or none): the plain import below
        pyseccomp = None  # (a failed import leaves nothing in sys.modules)
    finally:
        for name in stand_ins:
            del sys.modules[name]
        if "ctypes.util" in stand_ins:
            del ctypes.util
        else:
            ctypes.util.find_library = real
    if pyseccomp is None:
        import pyseccomp
    return pyseccomp


def _export(filt) -> bytes:
    """libseccomp's program, through a memfd (seccomp_export_bpf writes to a file descriptor)."""
    fd = os.memfd_create("pycontainer-seccomp", os.MFD_CLOEXEC)
    try:
        with open(fd, "rb", buffering=0, closefd=False) as f:
            filt.export_bpf(f)
        size = os.fstat(fd).st_size
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _permissive(seccomp: Seccomp, default: int) -> bool:
    return seccomp.default_action in _PERMISSIVE or default == ACT_ERRNO | ENOSYS


# --- runc's -ENOSYS stub ------------------------------------------------------------------------------

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JA = 0x05  # BPF_JMP | BPF_JA
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGT = 0x25  # BPF_JMP | BPF_JGT | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_OFF_NR, _OFF_ARCH = 0, 4  # offsetof(struct seccomp_data, nr / arch)


def _audit_arch(token: int) -> int:
    return _ARCH_X86_64 if token == _ARCH_X32 else token


def _enosys_stub(seccomp: Seccomp, pyseccomp, native: int, numbers: dict[str, int]) -> bytes:
    """Instructions put before libseccomp's program: per architecture of the filter, a syscall
    number above the largest one the profile names returns ENOSYS; everything else goes on to the
    filter.  Every conditional jump is short (jt/jf are 8 bits): each architecture's section has
    its own ``ret ENOSYS`` and ``ja filter`` (``ja`` takes 32 bits)."""
    tokens = [native] + [_ARCHES[name] for name in seccomp.architectures]
    largest: dict[int, dict[int, int]] = {}  # audit arch -> {token: largest syscall number}
    for token in dict.fromkeys(tokens):
        if token == native:  # ``numbers``: the profile's names resolved on it
            top = max(numbers.values(), default=0)
        else:
            resolve, arch = pyseccomp.resolve_syscall, token
            top = max((resolve(arch, name) for name in numbers), default=0)
        if top > 0:
            largest.setdefault(_audit_arch(token), {})[token] = top
        else:
            log.debug("seccomp: no syscall of the profile on arch %#x: no -ENOSYS stub for it", token)
    if not largest:
        return b""

    enosys = ACT_ERRNO | ENOSYS
    # (code, jt, jf, k) with labels for jump targets; "filter" is the first instruction after the stub.
    prog: list = [("ld", _OFF_ARCH)]
    for audit in largest:
        prog += [(_JEQ, 0, 1, audit), (_JA, 0, 0, f"arch{audit}")]
    prog.append((_JA, 0, 0, "filter"))
    for audit, tops in largest.items():
        sec = f"arch{audit}"
        prog += [("label", sec), ("ld", _OFF_NR)]
        if set(tops) & set(_ARCH_S390):
            # s390 multiplexes unknown syscalls through nr 0 (setup(2), long gone): ENOSYS.
            prog.append((_JEQ, f"{sec}.enosys", 0, 0))
        if audit == _ARCH_X86_64:
            x86_64, x32 = tops.get(_ARCH_X86_64), tops.get(_ARCH_X32)
            if x86_64 and x32:
                prog += [
                    (_JSET, f"{sec}.x32", 0, _X32_SYSCALL_BIT),
                    (_JGT, f"{sec}.enosys", f"{sec}.filter", x86_64),
                    ("label", f"{sec}.x32"),
                    (_JGT, f"{sec}.enosys", f"{sec}.filter", x32),
                ]
            elif x86_64:  # x32 syscalls go on to the filter (which kills them as a bad arch)
                prog += [
                    (_JSET, f"{sec}.filter", 0, _X32_SYSCALL_BIT),
                    (_JGT, f"{sec}.enosys", f"{sec}.filter", x86_64),
                ]
            else:
                prog += [
                    (_JSET, 0, f"{sec}.filter", _X32_SYSCALL_BIT),
                    (_JGT, f"{sec}.enosys", f"{sec}.filter", x32),
                ]
        else:
            (top,) = tops.values()
            prog.append((_JGT, f"{sec}.enosys", f"{sec}.filter", top))
        prog += [
            ("label", f"{sec}.enosys"),
            (_RET, 0, 0, enosys),
            ("label", f"{sec}.filter"),
            (_JA, 0, 0, "filter"),
        ]
    return _assemble(prog)


def _assemble(prog: list) -> bytes:
    import struct  # only when compiling

    pack = struct.Struct("=HBBI").pack
    labels: dict[str, int] = {}
    insns: list[Any] = []
    for item in prog:
        if item[0] == "label":
            labels[item[1]] = len(insns)
        else:
            insns.append(item)
    labels["filter"] = len(insns)
    out = bytearray()
    for pc, item in enumerate(insns):
        if item[0] == "ld":
            out += pack(_LD_W_ABS, 0, 0, item[1])
            continue
        code, jt, jf, k = item
        if code == _JA:
            k = labels[k] - pc - 1 if isinstance(k, str) else k
        else:
            jt = labels[jt] - pc - 1 if isinstance(jt, str) else jt
            jf = labels[jf] - pc - 1 if isinstance(jf, str) else jf
            if not (0 <= jt <= 255 and 0 <= jf <= 255):  # pragma: no cover - the layout prevents it
                raise AssertionError(f"seccomp stub: jump out of range at {pc}")
        out += pack(code, jt, jf, k)
    return bytes(out)
