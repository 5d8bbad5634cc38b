"""The typed Python face of the C core: the one seam between pycontainer and
the kernel calls Python has no wrapper for.

Each function raises ``OSError(errno, "<syscall>: <strerror>")`` on failure,
so an error message always names the call that failed.  Tests of pure logic
may replace this module's functions; everything else calls them from here.
"""

from __future__ import annotations

import os

from pycontainer._native._core import ffi, lib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

# clone(2) / unshare(2) / setns(2) flags, from <linux/sched.h>.
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_PARENT = 0x00008000

# prctl(2) options used by the runtime.
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36

MNT_DETACH = 2


def _fail(name: str) -> OSError:
    err = ffi.errno
    return OSError(err, f"{name}: {os.strerror(err)}")


def _check(name: str, rc: int) -> int:
    if rc < 0:
        raise _fail(name)
    return rc


def _cstr(value: str | bytes | os.PathLike | None):
    if value is None:
        return ffi.NULL
    return os.fsencode(value)


def clone(flags: int) -> int:
    """fork(2) with namespace flags: returns the child's pid in the parent and
    0 in the child, which goes on running Python (CPython's fork hooks run)."""
    return _check("clone", lib.pyc_clone(flags))


def unshare(flags: int) -> None:
    _check("unshare", lib.pyc_unshare(flags))


def setns(fd: int, nstype: int = 0) -> None:
    _check("setns", lib.pyc_setns(fd, nstype))


def pivot_root(new_root: str, put_old: str) -> None:
    _check("pivot_root", lib.pyc_pivot_root(_cstr(new_root), _cstr(put_old)))


def mount(
    source: str | None, target: str | os.PathLike, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    rc = lib.pyc_mount(_cstr(source), _cstr(target), _cstr(fstype), flags, _cstr(data or None))
    if rc < 0:
        err = ffi.errno
        raise OSError(err, f"mount {source or fstype} on {target}: {os.strerror(err)}")


def umount2(target: str, flags: int = 0) -> None:
    _check("umount2", lib.pyc_umount2(_cstr(target), flags))


def mount_setattr(
    dirfd: int,
    path: str,
    flags: int,
    attr_set: int = 0,
    attr_clr: int = 0,
    propagation: int = 0,
    userns_fd: int = 0,
) -> None:
    rc = lib.pyc_mount_setattr(dirfd, _cstr(path), flags, attr_set, attr_clr, propagation, userns_fd)
    _check("mount_setattr", rc)


def open_tree(dirfd: int, path: str, flags: int) -> int:
    """open_tree(2); returns the fd of the (detached, with OPEN_TREE_CLONE) mount."""
    return _check("open_tree", lib.pyc_open_tree(dirfd, _cstr(path), flags))


def move_mount(from_dirfd: int, from_path: str, to_dirfd: int, to_path: str, flags: int) -> None:
    _check("move_mount", lib.pyc_move_mount(from_dirfd, _cstr(from_path), to_dirfd, _cstr(to_path), flags))


def userns_fd(uid_map: str, gid_map: str) -> int:
    """An fd of a new user namespace with these uid_map/gid_map lines (for
    MOUNT_ATTR_IDMAP); nothing else of it remains."""
    return _check("user namespace for an idmapping", lib.pyc_userns_fd(uid_map.encode(), gid_map.encode()))


# openat2(2) resolve flags, <linux/openat2.h>.
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2); returns the new fd."""
    return _check("openat2", lib.pyc_openat2(dirfd, _cstr(path), flags, mode, resolve))


def fstatfs_type(fd: int) -> int:
    """The ``f_type`` of fstatfs(2): the magic number of the file system ``fd`` is on."""
    return _check("fstatfs", lib.pyc_fstatfs_type(fd))


def join_session_keyring(name: str) -> int:
    """A new session keyring named ``name``; returns its serial."""
    return _check("keyctl(KEYCTL_JOIN_SESSION_KEYRING)", lib.pyc_join_session_keyring(name.encode()))


def link_up(ifname: str) -> None:
    """Set a network interface up (SIOCSIFFLAGS)."""
    _check(f"link up {ifname}", lib.pyc_link_up(ifname.encode()))


def sethostname(name: str) -> None:
    raw = name.encode()
    _check("sethostname", lib.pyc_sethostname(raw, len(raw)))


# linux.personality domains (<sys/personality.h>): PER_LINUX, PER_LINUX32.
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def personality(persona: int) -> None:
    _check("personality", lib.pyc_personality(persona))


def sched_setattr(
    policy: int, flags: int, nice: int, priority: int, runtime: int, deadline: int, period: int
) -> None:
    """This thread's scheduling (pid 0), all of sched_attr's fields."""
    rc = lib.pyc_sched_setattr(0, policy, flags, nice, priority, runtime, deadline, period)
    _check("sched_setattr", rc)


IOPRIO_WHO_PROCESS = 1


def ioprio_set(ioprio_class: int, priority: int) -> None:
    """This process's I/O priority (class and level, as ioprio_set(2) packs them)."""
    _check("ioprio_set", lib.pyc_ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio_class << 13 | priority))


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check("setdomainname", lib.pyc_setdomainname(raw, len(raw)))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check("prctl", lib.pyc_prctl(option, arg2, arg3, arg4, arg5))


def capget() -> tuple[int, int, int]:
    """The calling thread's (effective, permitted, inheritable) sets as bitmasks."""
    eff, perm, inh = (
        ffi.new("unsigned long long *"),
        ffi.new("unsigned long long *"),
        ffi.new("unsigned long long *"),
    )
    _check("capget", lib.pyc_capget(eff, perm, inh))
    return eff[0], perm[0], inh[0]


# -- seccomp ahead of the final step (a profile with a seccomp agent) --------------------------


def seccomp_load(bpf: bytes, flags: int) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, program); the notify fd with
    SECCOMP_FILTER_FLAG_NEW_LISTENER (close-on-exec, as the kernel makes it)."""
    return _check("seccomp", lib.pyc_seccomp_load(bpf, len(bpf) // 8, flags))


def seccomp_flag_supported(flag: int) -> bool:
    return bool(lib.pyc_seccomp_flag_supported(flag))


def pidfd_getfd(pid: int, fd: int) -> int:
    """A duplicate of process ``pid``'s fd ``fd`` (needs ptrace rights over it)."""
    return _check("pidfd_getfd", lib.pyc_pidfd_getfd(pid, fd))


class ExecRequest:
    """Everything the final step needs; built in Python, carried out in C.

    ``uid`` None keeps the current ids; ``groups`` None skips setgroups (denied
    in the user namespace); ``capabilities`` None keeps the capabilities,
    else a dict of the five sets (bounding, effective, permitted, inheritable,
    ambient) as bitmasks; ``seccomp_filter`` is a packed struct sock_filter[]."""

    __slots__ = (
        "path",
        "argv",
        "envp",
        "close_from",
        "uid",
        "gid",
        "groups",
        "capabilities",
        "last_cap",
        "no_new_privs",
        "seccomp_filter",
        "seccomp_flags",
        "trampoline_fd",
        "credentials_applied",
        "_keep",
    )

    def __init__(
        self,
        path: str | bytes,
        argv: Sequence[str | bytes],
        envp: Sequence[str | bytes],
        close_from: int = 3,
        uid: int | None = None,
        gid: int = 0,
        groups: list[int] | None = None,
        capabilities: dict[str, int] | None = None,
        last_cap: int = 40,
        no_new_privs: bool = False,
        seccomp_filter: bytes = b"",
        seccomp_flags: int = 0,
        trampoline_fd: int = -1,
    ) -> None:
        self.path, self.argv, self.envp, self.close_from = path, argv, envp, close_from
        self.uid, self.gid, self.groups = uid, gid, groups
        self.capabilities, self.last_cap, self.no_new_privs = capabilities, last_cap, no_new_privs
        self.seccomp_filter, self.seccomp_flags = seccomp_filter, seccomp_flags
        # A sealed_trampoline() fd: execveat that, which execs ``path`` (see trampoline.c).
        self.trampoline_fd = trampoline_fd
        self.credentials_applied = False
        self._keep: list = []  # cdata that must stay alive until execve


def apply_credentials(req: ExecRequest) -> None:
    """The first half of the final step, with no Python in between: seccomp,
    the capability sets, groups, gid and uid, no_new_privs (runc's
    finalizeNamespace and seccomp).  Whatever runs after it (startContainer
    hooks) runs with the process's credentials.  Ids above 2147483647 are
    refused by the C core itself.  Raises OSError naming the failing step."""
    e = _exec_struct(req)
    step = ffi.new("const char **")
    if lib.pyc_apply_credentials(e, step) < 0:
        raise _fail(ffi.string(step[0]).decode())
    req.credentials_applied = True


def exec_final(req: ExecRequest) -> None:
    """Apply the credentials (unless apply_credentials did), close every fd
    from ``close_from`` on, reset signals and exec, through the trampoline
    when the request has one.  Returns only by raising OSError."""
    if not req.credentials_applied:
        apply_credentials(req)
    e = _exec_struct(req)
    step = ffi.new("const char **")
    lib.pyc_exec(e, step)
    raise _fail(ffi.string(step[0]).decode())


def _exec_struct(req: ExecRequest):
    """The request as a struct pyc_exec (kept alive by ``req``)."""
    keep = req._keep
    e = ffi.new("struct pyc_exec *")
    keep.append(e)

    def cstr_array(items: Sequence[str | bytes]):
        cs = [ffi.new("char[]", os.fsencode(s)) for s in items]
        keep.extend(cs)
        arr = ffi.new("char *[]", cs + [ffi.NULL])
        keep.append(arr)
        return arr

    path = ffi.new("char[]", os.fsencode(req.path))
    keep.append(path)
    e.path = path
    argv: Sequence[str | bytes] = req.argv
    if req.trampoline_fd >= 0:
        argv = [req.path, "-", *argv]  # the trampoline's: PATH ERRFD ARGV... (errors to stderr)
    e.argv = cstr_array(argv)
    e.envp = cstr_array(req.envp)
    e.close_from = req.close_from
    e.trampoline_fd = req.trampoline_fd
    if req.uid is not None:
        e.set_ids = 1
        e.uid, e.gid = req.uid, req.gid
        if req.groups is not None:
            e.set_groups = 1
            groups = ffi.new("unsigned int[]", req.groups or [0])
            keep.append(groups)
            e.ngroups, e.groups = len(req.groups), groups
    if req.capabilities is not None:
        e.set_caps = 1
        e.last_cap = req.last_cap
        caps = req.capabilities
        e.cap_bounding = caps["bounding"]
        e.cap_effective = caps["effective"]
        e.cap_permitted = caps["permitted"]
        e.cap_inheritable = caps["inheritable"]
        e.cap_ambient = caps["ambient"]
    e.no_new_privs = int(req.no_new_privs)
    if req.seccomp_filter:
        buf = ffi.new("char[]", req.seccomp_filter)
        keep.append(buf)
        e.seccomp_filter = buf
        e.seccomp_len = len(req.seccomp_filter) // 8
        e.seccomp_flags = req.seccomp_flags
    return e


# -- the exec trampoline (CVE-2019-5736) ---------------------------------------------------------

TRAMPOLINE = os.path.join(os.path.dirname(__file__), "_native", "pyc-trampoline")
MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_EXEC = 0x1, 0x2, 0x10
F_ADD_SEALS, F_GET_SEALS = 1033, 1034
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, F_SEAL_EXEC = 0x1, 0x2, 0x4, 0x8, 0x20
SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE


def sealed_trampoline() -> int:
    """A close-on-exec memfd holding pyc-trampoline, sealed against every
    change (and against chmod where the kernel has F_SEAL_EXEC): what a
    container process is exec'd from, so it never runs or holds the host's
    interpreter.  Read from the package before any namespace is joined."""
    import fcntl  # a C module, already loaded by os users; cheap

    try:
        with open(TRAMPOLINE, "rb") as f:
            code = f.read()
    except OSError as e:
        hint = "(built by pip install . or setup.py build_ext)"
        raise OSError(e.errno, f"{TRAMPOLINE}: {e.strerror} {hint}") from None
    flags = MFD_CLOEXEC | MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create("pyc-trampoline", flags | MFD_EXEC)  # vm.memfd_noexec=1 needs it
    except OSError:
        fd = os.memfd_create("pyc-trampoline", flags)  # Linux < 6.3: MFD_EXEC unknown
    try:
        os.fchmod(fd, 0o555)
        if os.write(fd, code) != len(code):
            raise OSError(5, "pyc-trampoline: short write to its memfd")
        try:
            fcntl.fcntl(fd, F_ADD_SEALS, SEALS | F_SEAL_EXEC)
        except OSError:
            fcntl.fcntl(fd, F_ADD_SEALS, SEALS)  # Linux < 6.3: no F_SEAL_EXEC
    except BaseException:
        os.close(fd)
        raise
    return fd
