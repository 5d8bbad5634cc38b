"""A container process's own stdin, stdout and stderr, as ``subprocess`` has
them: ``None`` (inherit the caller's 0, 1, 2), :data:`PIPE`, :data:`DEVNULL`,
an fd, a file object, and :data:`STDOUT` for stderr.

No fd of the calling process is ever dup2'd: the fds a process is to get go
down to it through the clone (every fd is inherited), and the process dup2s
them onto its own 0, 1 and 2 just before it reports ready (:func:`install`).
So many threads can make containers at once, each with its own streams, while
the application's own prints stay on its stdout.

One thing a clone shares that an exec would not: the child inherits every fd
of the caller, close-on-exec or not, until it execs.  A container made by
another thread in between would hold this one's pipe ends, and a reader would
wait for EOF until that other container starts.  So every fd made here is
recorded (:func:`_record`, with the identity of the file it names), and a
child closes those it does not use as its first step (:func:`close_others`);
:data:`CLONE_LOCK` keeps making a pipe and recording it atomic with respect
to a clone.
"""

from __future__ import annotations

import _thread
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # pragma: no cover
    from typing import IO, Any, Protocol

    class HasFileno(Protocol):
        def fileno(self) -> int: ...

    StdioArg = int | HasFileno | None

# The values of subprocess's constants, so either module's may be passed.
PIPE = -1
STDOUT = -2
DEVNULL = -3

NAMES = ("stdin", "stdout", "stderr")

# Held while a fd is made and recorded here, and around every clone of a
# container process (parent.spawn_init, exec.spawn_exec).
CLONE_LOCK = _thread.allocate_lock()
# fd -> (st_dev, st_ino) of every fd made here and not yet closed by us.
_MADE: dict[int, tuple[int, int]] = {}


def check_arg(value: object, name: str) -> None:
    """Raise TypeError/ValueError for what none of the stdio arguments takes
    (pure logic, before anything is made)."""
    if value is None:
        return
    if isinstance(value, bool) or not (isinstance(value, int) or hasattr(value, "fileno")):
        raise TypeError(f"{name}: expected None, PIPE, DEVNULL, an fd or a file object, not {value!r}")
    if isinstance(value, int):
        if value == STDOUT and name != "stderr":
            raise ValueError(f"{name}: STDOUT is only for stderr")
        if value < 0 and value not in (PIPE, STDOUT, DEVNULL):
            raise ValueError(f"{name}: {value} is neither a valid fd nor PIPE, STDOUT or DEVNULL")


def wanted(stdin: object, stdout: object, stderr: object) -> bool:
    """Whether any stream is not simply inherited (checks the arguments)."""
    for value, name in zip((stdin, stdout, stderr), NAMES, strict=True):
        check_arg(value, name)
    return stdin is not None or stdout is not None or stderr is not None


class Streams:
    """The streams of one process being made: ``child[i]``, the fd its fd i
    becomes (None: inherited as it is), and ``ours[i]``, our end of a pipe
    (None without one).  Every fd here was made by us and is ours to close."""

    __slots__ = ("child", "ours")

    def __init__(self) -> None:
        self.child: list[int | None] = [None, None, None]
        self.ours: list[int | None] = [None, None, None]

    @classmethod
    def open(cls, stdin: StdioArg, stdout: StdioArg, stderr: StdioArg) -> Streams:
        streams = cls()
        try:
            with CLONE_LOCK:
                _prune()
                for index, value in enumerate((stdin, stdout, stderr)):
                    streams._open_one(index, value)
        except BaseException:
            streams.close()
            raise
        return streams

    def _open_one(self, index: int, value: StdioArg) -> None:
        if value is None:
            return
        if value == PIPE:
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            if index == 0:
                self.child[0], self.ours[0] = _record(read_end), _record(write_end)
            else:
                self.ours[index], self.child[index] = _record(read_end), _record(write_end)
        elif value == DEVNULL:
            self.child[index] = _record(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
        elif value == STDOUT:  # stderr onto whatever stdout becomes (the caller's fd 1 if inherited)
            self.child[2] = _record(_dup_above_2(self.child[1] if self.child[1] is not None else 1))
        else:
            fd = value if isinstance(value, int) else value.fileno()
            # Our own copy, above 2: the child's dup2s onto 0-2 can then never
            # overwrite a source it has still to use (stdin=1, stdout=0).
            self.child[index] = _record(_dup_above_2(fd))

    def close_child_ends(self) -> None:
        """Once the process has them (after the clone)."""
        for index, fd in enumerate(self.child):
            if fd is not None:
                _close(fd)
                self.child[index] = None

    def close(self) -> None:
        self.close_child_ends()
        for index, fd in enumerate(self.ours):
            if fd is not None:
                _close(fd)
                self.ours[index] = None

    def files(self, text: bool = False, encoding: str | None = None, errors: str | None = None) -> list[Any]:
        """Our ends as file objects (binary, unbuffered writes for stdin as
        subprocess; text with ``text`` or an ``encoding``); ours to close now."""
        out: list[Any] = []
        for index, fd in enumerate(self.ours):
            if fd is None:
                out.append(None)
                continue
            mode = "wb" if index == 0 else "rb"
            f: Any = open(fd, mode, buffering=0 if index == 0 else -1, closefd=True)  # noqa: SIM115
            if text or encoding or errors:
                import io

                f = io.TextIOWrapper(f, encoding=encoding, errors=errors, write_through=index == 0)
            out.append(f)
            self.ours[index] = None  # the file closes it (stays in _MADE: pruned once closed)
        return out


def _record(fd: int) -> int:
    st = os.fstat(fd)
    _MADE[fd] = (st.st_dev, st.st_ino)
    return fd


def _close(fd: int) -> None:
    with CLONE_LOCK:  # a clone now would hold the fd with no record of it
        _MADE.pop(fd, None)
        os.close(fd)


def _prune() -> None:
    """Forget recorded fds closed since (by a file object) or now naming
    something else."""
    for fd, ident in list(_MADE.items()):
        if _identity(fd) != ident:
            del _MADE[fd]


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _dup_above_2(fd: int) -> int:
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    except OSError as e:
        raise ValueError(f"fd {fd}: {e.strerror}") from None


def close_others(keep: list[int | None], preserve_fds: int = 0) -> None:
    """In a freshly cloned child: let go of every fd made here for another
    container (see the module's docstring), but ``keep`` and the preserved
    fds 3..2+``preserve_fds``.  By identity, so a number since reused for
    something the child needs is left alone.  Each is replaced by /dev/null
    (close-on-exec) rather than closed: a file object of the caller's that
    the child's garbage collector finalizes later then closes that, never a
    number the child has reused meanwhile."""
    mine = [(fd, ident) for fd, ident in _MADE.items() if fd not in keep and not 3 <= fd < 3 + preserve_fds]
    _MADE.clear()
    mine = [(fd, ident) for fd, ident in mine if _identity(fd) == ident]
    if not mine:
        return
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for fd, _ in mine:
            os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


def install(child: list[int | None] | None) -> None:
    """In the process, before ready: its fds 0-2 become ``child``'s (all above
    2, see Streams); the originals are closed."""
    if not child:
        return
    for target, fd in enumerate(child):
        if fd is not None:
            os.dup2(fd, target)  # inheritable: the program gets it
    for fd in set(child):
        if fd is not None:
            os.close(fd)


# -- communicate: as subprocess's, with a selector ------------------------------------


def communicate(
    proc: Any, input: bytes | str | None, timeout: float | None
) -> tuple[bytes | str | None, bytes | str | None]:
    """Feed ``input`` to ``proc.stdin`` and read ``proc.stdout`` and
    ``proc.stderr`` to EOF, then wait for ``proc`` (its ``wait(timeout)``).
    On timeout, TimeoutExpired carries the output so far, and a later call
    goes on where this one stopped (as subprocess)."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    state = proc._communication
    if state is None:
        state = proc._communication = _Communication(proc, input)
    try:
        state.run(deadline)
    except _Timeout:
        from pycontainer.errors import TimeoutExpired

        out, err = state.results()
        raise TimeoutExpired(proc.args, timeout or 0.0, out, err) from None
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    proc.wait(remaining)
    return state.results()


class _Timeout(Exception):
    pass


class _Communication:
    """The progress of one communicate(): what is left to write, what was read."""

    def __init__(self, proc: Any, input: bytes | str | None) -> None:
        self.readers: dict[int, IO[Any]] = {}  # fd -> the stdout or stderr file, until EOF
        self.names: dict[int, str] = {}
        self.chunks: dict[str, list[bytes]] = {}
        self.text: dict[str, tuple[str, str] | None] = {}  # (encoding, errors) of a text stream
        self.input = b""
        self.offset = 0
        self.stdin = proc.stdin
        if proc.stdin is not None:
            if input:
                self.input = input.encode(_encoding(proc.stdin)) if isinstance(input, str) else bytes(input)
            else:
                self._close_stdin()
        elif input:
            raise ValueError("communicate: input given but stdin is not PIPE")
        for name in ("stdout", "stderr"):
            f = getattr(proc, name)
            if f is not None:
                self.readers[f.fileno()] = f
                self.names[f.fileno()] = name
                self.chunks[name] = []
                if _is_text(f):
                    self.text[name] = (_encoding(f), getattr(f, "errors", None) or "strict")
                else:
                    self.text[name] = None

    def _close_stdin(self) -> None:
        if self.stdin is not None:
            try:
                self.stdin.close()
            except BrokenPipeError:
                pass
            self.stdin = None

    def run(self, deadline: float | None) -> None:
        import selectors
        import time

        with selectors.PollSelector() as sel:
            if self.stdin is not None:
                self.stdin.flush()
                sel.register(self.stdin.fileno(), selectors.EVENT_WRITE)
            for fd in self.readers:
                sel.register(fd, selectors.EVENT_READ)
            while sel.get_map():
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    raise _Timeout
                for key, _ in sel.select(wait):
                    fd = key.fd
                    if fd in self.readers:
                        data = os.read(fd, 65536)
                        if data:
                            self.chunks[self.names[fd]].append(data)
                        else:
                            sel.unregister(fd)
                            self.readers.pop(fd).close()
                        continue
                    try:
                        self.offset += os.write(fd, self.input[self.offset : self.offset + 65536])
                    except BrokenPipeError:
                        self.offset = len(self.input)
                    if self.offset >= len(self.input):
                        sel.unregister(fd)
                        self._close_stdin()

    def results(self) -> tuple[bytes | str | None, bytes | str | None]:
        out: list[bytes | str | None] = []
        for name in ("stdout", "stderr"):
            if name not in self.chunks:
                out.append(None)
                continue
            data = b"".join(self.chunks[name])
            text = self.text[name]
            out.append(data.decode(*text) if text is not None else data)
        return out[0], out[1]


def _is_text(f: IO[Any]) -> bool:
    return hasattr(f, "encoding")


def _encoding(f: IO[Any]) -> str:
    return getattr(f, "encoding", None) or "utf-8"
