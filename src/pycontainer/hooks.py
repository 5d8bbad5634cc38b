"""OCI lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks").

A hook is a program on the host (or, for ``startContainer``, in the
container): ``path`` is executed directly (absolute, no shell, no PATH
search) with ``args`` as its argv (``[path]`` when empty) and exactly ``env``
as its environment (an empty list is an empty environment).  The container
state JSON is written to its stdin, which is then closed; a hook that does not
read it is fine.  Its stdout and stderr are captured (the last 64 KiB of each)
and only reported when it fails, as runc does (crun sends them to /dev/null).
No other fd reaches it.  With ``timeout`` (seconds) a hook still running at
the deadline is killed with SIGKILL and fails.

This runs on the container start path and in the container's init after
pivot_root, where no module can be imported any more: only os, errno, select,
time and pycontainer's own light modules, no subprocess or threads.  The
process is made with fork + execve; an exec failure comes back through a
close-on-exec pipe as its errno (CPython's subprocess does the same).  The
parent feeds stdin and reads stdout and stderr in one poll loop (no deadlock
on large outputs either way), and waits for the exit on a pidfd, or by
polling waitpid where pidfds are missing.  It does not wait for end-of-file
on stdout/stderr once the hook has exited: a daemon the hook started may keep
them open forever.  Every fd is close-on-exec and closed on every path, and
the hook is always reaped (killed first if need be, e.g. on an exception from
a signal handler).

Relies on SIGPIPE being ignored in the calling process, as CPython does at
start-up: a hook that exits without reading stdin is then an EPIPE, ignored.
"""

from __future__ import annotations

import errno
import os
import select
import time

from pycontainer import jsonio, signals
from pycontainer.errors import HookError

PHASES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

OUTPUT_LIMIT = 64 * 1024  # bytes of each of stdout and stderr kept (the last ones)

_CHUNK = 64 * 1024
_POLLIN = select.POLLIN | select.POLLHUP | select.POLLERR
_POLLOUT = select.POLLOUT | select.POLLERR
# Without pidfds the exit is polled: first after 1 ms, then twice as long up to this.
_MAX_NAP_MS = 50
# Signals CPython ignores at start-up; the hook gets them back at their defaults.
_RESTORE = ("SIGPIPE", "SIGXFSZ")
_restore_numbers: tuple[int, ...] | None = None


def run_hooks(hooks: list, state: dict, phase: str, trampoline_fd: int = -1) -> None:
    """Run ``hooks`` (the list of one lifecycle point) in order, each with
    ``state`` on stdin; the first failure raises :class:`HookError` and the
    rest are not run.  Index ``i`` in messages is the position in the list.
    ``trampoline_fd`` (startContainer, in the container): a sealed memfd of
    pyc-trampoline each hook is exec'd through, so a hook path that is a
    ``#!/proc/self/exe`` script never runs the host's interpreter."""
    if not hooks:
        return
    data = jsonio.dumps(state).encode()
    for index, hook in enumerate(hooks):
        _run(hook, data, phase, index, trampoline_fd)


def run_hook(hook, state: dict, *, phase: str, index: int) -> None:
    """Run one hook (anything with ``path``, ``args``, ``env`` and ``timeout``,
    e.g. a spec ``Hook``) with the container ``state`` (the runtime-spec state
    dict, e.g. ``State.to_oci()``) as JSON on its stdin.  Returns when it has
    exited 0; raises :class:`HookError` otherwise.  ``phase`` is the
    lifecycle point's JSON name and ``index`` the hook's position in it."""
    _run(hook, jsonio.dumps(state).encode(), phase, index)


# --- the work ----------------------------------------------------------------------------------------


def _run(hook, data: bytes, phase: str, index: int, trampoline_fd: int = -1) -> None:
    path = hook.path
    argv = list(hook.args or ()) or [path]
    timeout = hook.timeout

    def fail(reason: str, **details) -> HookError:
        return HookError(phase, index, path, reason, **details)

    if not isinstance(path, str) or not path.startswith("/"):
        raise fail("path is not absolute")
    if "\0" in path or any("\0" in arg for arg in argv):
        raise fail("path or argument contains a NUL byte")
    env = {}
    for entry in hook.env or ():
        name, eq, value = entry.partition("=")
        if not name or not eq or "\0" in entry:
            raise fail(f"environment entry {entry!r} is not of the form NAME=value")
        env[name] = value  # the last one of a name wins, as in Go's os/exec
    restore = _restore_signals()
    try:
        max_fd = max(os.sysconf("SC_OPEN_MAX"), 1024)
    except (OSError, ValueError):
        max_fd = 1024 * 1024

    fds: set[int] = set()  # every fd of ours still open; all closed in `finally`
    pid = 0
    reaped = False
    try:
        try:
            in_r, in_w, out_r, out_w, err_r, err_w, exec_r, exec_w = _pipes(fds)
        except OSError as e:
            raise fail(f"pipe: {e.strerror}", errno=e.errno) from None
        try:
            pid = os.fork()
        except OSError as e:
            raise fail(f"fork: {e.strerror}", errno=e.errno) from None
        if pid == 0:
            _child(in_r, out_w, err_w, exec_w, max_fd, path, argv, env, restore, trampoline_fd)  # no return

        for fd in (in_r, out_w, err_w, exec_w):
            _close(fd, fds)
        code = _read_exec_status(exec_r)
        _close(exec_r, fds)
        if code is not None:
            os.waitpid(pid, 0)  # the child exits 127 at once
            reaped = True
            raise fail(os.strerror(code), errno=code)

        deadline = None if timeout is None else time.monotonic() + timeout
        status, out, err = _communicate(pid, data, in_w, out_r, err_r, deadline, fds)
        if status is None:  # the deadline passed
            reaped = True
            _kill_and_reap(pid)
            _drain(out_r, out, fds)
            _drain(err_r, err, fds)
            raise fail(
                f"timeout after {timeout}s",
                timed_out=True,
                stdout=bytes(out[-OUTPUT_LIMIT:]),
                stderr=bytes(err[-OUTPUT_LIMIT:]),
            )
        reaped = True
        if status < 0:
            raise fail(f"waitpid: {os.strerror(-status)} (exit status unknown)", errno=-status)
        stdout, stderr = bytes(out[-OUTPUT_LIMIT:]), bytes(err[-OUTPUT_LIMIT:])
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            raise fail(f"killed by signal {sig}{_signal_name(sig)}", signal=sig, stdout=stdout, stderr=stderr)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        if code != 0:
            raise fail(f"exit status {code}", exit_status=code, stdout=stdout, stderr=stderr)
    finally:
        if pid and not reaped:
            _kill_and_reap(pid)
        for fd in list(fds):
            _close(fd, fds)


def _pipes(fds: set[int]) -> tuple[int, ...]:
    """Four close-on-exec pipes (stdin, stdout, stderr, exec status), none of
    their fds in 0-2: a caller with closed stdio would otherwise get one there
    and the child's dup2 onto 0-2 would clobber it."""
    ends: list[int] = []
    for _ in range(4):
        pair = os.pipe2(os.O_CLOEXEC)
        fds.update(pair)
        ends += pair
    low = [i for i, fd in enumerate(ends) if fd < 3]
    if low:
        # 0-2 are all taken now (by these pipes or the caller), so dup lands above them.
        old = [ends[i] for i in low]
        for i in low:
            ends[i] = os.dup(ends[i])  # close-on-exec, as every os.dup
            fds.add(ends[i])
        for fd in old:
            _close(fd, fds)
    for i in (1, 2, 4):  # our ends: stdin's write end, stdout's and stderr's read ends
        os.set_blocking(ends[i], False)
    return tuple(ends)


def _child(in_r, out_w, err_w, exec_w, max_fd, path, argv, env, restore, trampoline_fd=-1) -> None:
    """In the forked child: stdio onto the pipes, every other fd closed (but
    the exec-status pipe, close-on-exec, and the trampoline), signals at their
    defaults, execve; on failure the errno to the exec-status pipe, then exit
    127.  Through the trampoline, the exec-status pipe stays open across its
    exec: the trampoline writes the errno of the hook's execve there."""
    code = errno.EINVAL
    try:
        try:
            os.dup2(in_r, 0)  # dup2 clears close-on-exec on 0-2; the sources are all above 2
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            # Only 0-2 go to the hook, as with runc (its Go fds are all close-on-exec):
            # inheritable fds of the caller's, e.g. preserved for the container, do not.
            keep = sorted({exec_w, trampoline_fd} - {-1})
            for low, high in zip([3] + [fd + 1 for fd in keep], keep + [max_fd], strict=True):
                os.closerange(low, high)
            try:
                for sig in restore:
                    signals.set_handler(sig, signals.SIG_DFL)
            except (OSError, ValueError):
                pass
            if trampoline_fd >= 0:
                os.set_inheritable(exec_w, True)  # the trampoline makes it close-on-exec again
                os.execve(trampoline_fd, [path, str(exec_w), *argv], env)  # execveat(fd, "", AT_EMPTY_PATH)
            os.execve(path, argv, env)
        except OSError as e:
            code = e.errno or errno.EINVAL
        except BaseException:  # noqa: BLE001 - nothing may escape into the parent's code
            pass
        os.write(exec_w, b"%d" % code)
    finally:
        os._exit(127)


def _read_exec_status(fd: int) -> int | None:
    """The errno the child reported, or None if it exec'd (end of file)."""
    data = b""
    while True:
        chunk = os.read(fd, 16)
        if not chunk:
            break
        data += chunk
    if not data:
        return None
    try:
        return int(data)
    except ValueError:
        return errno.EINVAL


def _communicate(pid, data, in_w, out_r, err_r, deadline, fds):
    """Feed stdin, collect stdout and stderr, until the hook exits or the
    deadline passes.  Returns (wait status or None on timeout or -errno if
    waitpid failed, stdout bytearray, stderr bytearray)."""
    bufs = {out_r: bytearray(), err_r: bytearray()}
    poller = select.poll()
    pidfd = -1
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)  # close-on-exec always
            fds.add(pidfd)
            poller.register(pidfd, select.POLLIN)
        except OSError:
            pidfd = -1
    poller.register(out_r, _POLLIN)
    poller.register(err_r, _POLLIN)
    view, offset = memoryview(data), 0
    if data:
        poller.register(in_w, _POLLOUT)
    else:
        _close(in_w, fds)
    nap = 1
    status = None
    try:
        while True:
            wait = -1
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, bufs[out_r], bufs[err_r]
                wait = int(left * 1000) + 1
            if pidfd < 0:
                wait = nap if wait < 0 else min(wait, nap)
                nap = min(nap * 2, _MAX_NAP_MS)
            for fd, event in poller.poll(wait):
                if fd == pidfd:
                    status = _reap(pid)
                elif fd == in_w:
                    done = bool(event & select.POLLERR)  # the hook closed stdin
                    if not done:
                        try:
                            offset += os.write(in_w, view[offset : offset + _CHUNK])
                        except BlockingIOError:
                            pass
                        except (BrokenPipeError, ConnectionResetError):
                            done = True
                        done = done or offset >= len(data)
                    if done:
                        poller.unregister(in_w)
                        _close(in_w, fds)
                elif fd in bufs:
                    if _read_into(fd, bufs[fd]) == 0:
                        poller.unregister(fd)
                        _close(fd, fds)
            if status is None and pidfd < 0:
                status = _reap(pid, os.WNOHANG)
            if status is not None:
                break
    finally:
        if in_w in fds:
            _close(in_w, fds)
    # Exited: what it wrote is in the pipes now; take it, but wait for no end
    # of file (a process the hook left behind may hold them open).
    _drain(out_r, bufs[out_r], fds)
    _drain(err_r, bufs[err_r], fds)
    return status, bufs[out_r], bufs[err_r]


def _reap(pid: int, flags: int = 0) -> int | None:
    """The wait status; None if still running (WNOHANG); -errno if it cannot
    be had (someone else reaped it, e.g. with SIGCHLD ignored)."""
    try:
        got, status = os.waitpid(pid, flags)
    except ChildProcessError as e:
        return -(e.errno or errno.ECHILD)
    return status if got else None


def _read_into(fd: int, buf: bytearray) -> int:
    """One read into ``buf`` (kept bounded): 1 if data came, 0 at end of
    file, -1 if there is nothing to read now."""
    try:
        chunk = os.read(fd, _CHUNK)
    except BlockingIOError:
        return -1
    if not chunk:
        return 0
    buf += chunk
    if len(buf) > 2 * OUTPUT_LIMIT:
        del buf[:-OUTPUT_LIMIT]
    return 1


def _drain(fd: int, buf: bytearray, fds: set[int]) -> None:
    """Read what is in the pipe now (a bounded amount: a process the hook
    left behind may still be writing) and close it."""
    if fd not in fds:
        return
    for _ in range(64):
        if _read_into(fd, buf) <= 0:
            break
    _close(fd, fds)


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signals.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _close(fd: int, fds: set[int]) -> None:
    fds.discard(fd)
    try:
        os.close(fd)
    except OSError:
        pass


def _restore_signals() -> tuple[int, ...]:
    global _restore_numbers
    if _restore_numbers is None:
        table = signals.names()
        _restore_numbers = tuple(table[name] for name in _RESTORE if name in table)
    return _restore_numbers


def _signal_name(sig: int) -> str:
    for name, number in signals.names().items():
        if number == sig and "+" not in name and "-" not in name:
            return f" ({name})"
    return ""
