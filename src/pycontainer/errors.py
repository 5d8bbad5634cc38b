"""The one exception hierarchy of pycontainer.

Everything the library raises on purpose derives from :class:`PycontainerError`;
the CLI turns it into one line on stderr (and a JSON log line) and exit code 1.

An error raised in a container's init or in an ``exec``'d process before it
execs crosses to the parent as JSON (:func:`to_wire`, :func:`from_wire`):
its class by name, its message as it was, and the attributes its class lists
in ``_wire`` (attribute -> kind), so the library's caller gets the same class
with the same attributes as if the error had been raised in its own process.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    _E = TypeVar("_E", bound="PycontainerError")

#: The end of a hook's captured output put in a :class:`HookError` message.
EXCERPT_LIMIT = 4096
#: Characters of JSON each captured output (its last bytes) may take when it
#: crosses with an error from the init: a message on the channel must fit in
#: one pipe write.
WIRE_OUTPUT_LIMIT = 512


class PycontainerError(Exception):
    """Base of every error pycontainer raises on purpose."""

    #: The attributes that cross with the error from a container's process
    #: (name -> "str", "int", "bool", "bytes" or "problems"; None is allowed
    #: for each).  A subclass lists its own and its bases'.
    _wire: ClassVar[dict[str, str]] = {}
    #: False for the errors only the library's own side raises (a wait's
    #: timeout): they never come from a container's process.
    _crosses: ClassVar[bool] = True


class Problem:
    """One thing wrong with a config: where (a JSON path such as
    ``linux.namespaces[3].type``) and what.  Immutable, compares by value."""

    __slots__ = ("path", "message")
    path: str
    message: str

    def __init__(self, path: str, message: str) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "message", message)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Problem is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return (self.path, self.message) == (other.path, other.message)

    def __hash__(self) -> int:
        return hash((self.path, self.message))

    def __repr__(self) -> str:
        return f"Problem(path={self.path!r}, message={self.message!r})"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(PycontainerError):
    """The config is malformed or inconsistent.  Carries every problem found;
    ``path`` and ``message`` are those of the first one."""

    def __init__(self, problems: list[Problem] | Problem | str, path: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem(path, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    _wire = {"problems": "problems"}

    @property
    def path(self) -> str:
        return self.problems[0].path

    @property
    def message(self) -> str:
        return self.problems[0].message


class ContainerError(PycontainerError):
    """Creating, starting or controlling a container failed."""


class ContainerNotFound(ContainerError):
    """No container with that id exists under the state root."""


class ContainerExists(ContainerError):
    """A container with that id already exists under the state root."""


class StateUnreadable(ContainerError):
    """The container's state file is truncated or corrupt."""


class InvalidState(ContainerError):
    """The operation does not fit the container's current status."""


class ExecutableNotFound(ContainerError):
    """``process.args[0]`` cannot be found in the container."""


class ExecFailed(ContainerError):
    """``nsinit exec`` into a container could not start the process; exit
    code 255, as runc."""

    exit_code = 255


class HookError(ContainerError):
    """A hook failed: it could not be run, exited non-zero, was killed by a
    signal or ran past its timeout.

    ``str()`` is ``"{phase} hook #{index} ({path}) failed: {reason}"`` plus
    ``", stdout: ..."`` and ``", stderr: ..."`` excerpts when there was output.
    Attributes: ``phase``, ``index``, ``path``, ``reason``; ``exit_status``
    (int or None), ``signal`` (the killing signal or None), ``timed_out``,
    ``errno`` (an exec/spawn failure's errno or None) and the captured
    ``stdout`` and ``stderr`` (bytes, at most the last 64 KiB of each; of a
    createContainer or startContainer hook, run in the container's init,
    the last few hundred bytes: :data:`WIRE_OUTPUT_LIMIT`).
    """

    _wire = {
        "phase": "str",
        "index": "int",
        "path": "str",
        "reason": "str",
        "exit_status": "int",
        "signal": "int",
        "timed_out": "bool",
        "errno": "int",
        "stdout": "bytes",
        "stderr": "bytes",
    }

    def __init__(
        self,
        phase: str,
        index: int,
        path: str,
        reason: str,
        *,
        exit_status: int | None = None,
        signal: int | None = None,
        timed_out: bool = False,
        errno: int | None = None,
        stdout: bytes = b"",
        stderr: bytes = b"",
    ) -> None:
        self.phase = phase
        self.index = index
        self.path = path
        self.reason = reason
        self.exit_status = exit_status
        self.signal = signal
        self.timed_out = timed_out
        self.errno = errno
        self.stdout = stdout
        self.stderr = stderr
        message = f"{phase} hook #{index} ({path}) failed: {reason}"
        for name, data in (("stdout", stdout), ("stderr", stderr)):
            text = _excerpt(data)
            if text:
                message += f", {name}: {text}"
        super().__init__(message)


def _excerpt(data: bytes) -> str:
    """The end of some output as text for a message: trailing whitespace
    dropped, at most EXCERPT_LIMIT characters ("..." in front when cut)."""
    text = data.decode("utf-8", "replace").rstrip()
    if len(text) > EXCERPT_LIMIT:
        text = "..." + text[-EXCERPT_LIMIT:]
    return text


class ResourceError(ContainerError):
    """A resource setting could not be applied: the kernel refused a write,
    or the controller it needs is not available.  ``path`` is the JSON path
    in the config (``linux.resources.memory.limit``); ``file`` and ``value``
    are set when a write failed, ``errno`` is the kernel's error number."""

    _wire = {"path": "str", "file": "str", "value": "str", "errno": "int"}

    def __init__(
        self,
        message: str,
        path: str,
        file: str | None = None,
        value: str | None = None,
        error_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.file = file
        self.value = value
        self.errno = error_number


# --------------------------------------------------- across a process boundary


def error_classes() -> dict[str, type[PycontainerError]]:
    """Every error class of this module by name: what may cross (and what an
    unknown name falls back from, to ContainerError)."""
    found: dict[str, type[PycontainerError]] = {}
    pending: list[type[PycontainerError]] = [PycontainerError]
    while pending:
        cls = pending.pop()
        if not cls._crosses:
            continue  # nor its subclasses
        if cls.__module__ == __name__:
            found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def to_wire(exc: BaseException) -> dict[str, Any]:
    """``{"kind", "message", "attrs"}``, JSON-safe: the nearest class of this
    module (anything else is a ContainerError), ``str(exc)`` as it is, and
    the attributes the class lists (bytes as latin-1 text, cut to their end
    to fit :data:`WIRE_OUTPUT_LIMIT`; problems as path/message pairs).  Uses no
    import: the init calls it after pivot_root."""
    kind = next(
        (
            c
            for c in type(exc).__mro__
            if c.__module__ == __name__ and issubclass(c, PycontainerError) and c._crosses
        ),
        ContainerError,
    )
    attrs: dict[str, Any] = {}
    for name, what in kind._wire.items():
        value = getattr(exc, name, None)
        if what == "bytes" and isinstance(value, bytes):
            value = _tail_for_json(value)
        elif what == "problems" and isinstance(value, list):
            value = [[p.path, p.message] for p in value if isinstance(p, Problem)]
        attrs[name] = value
    return {"kind": kind.__name__, "message": str(exc), "attrs": attrs}


def _tail_for_json(data: bytes) -> str:
    """The end of ``data`` as latin-1 text that JSON-encodes to at most
    :data:`WIRE_OUTPUT_LIMIT` characters (a byte outside printable ASCII
    takes six: ``\\u00XX``)."""
    cost = 0
    start = len(data)
    while start > 0:
        byte = data[start - 1]
        cost += 1 if 0x20 <= byte < 0x7F and byte not in (0x22, 0x5C) else 6
        if cost > WIRE_OUTPUT_LIMIT:
            break
        start -= 1
    return data[start:].decode("latin-1")


def from_wire(kind: object, message: object, attrs: object = None) -> PycontainerError:
    """The error :func:`to_wire` described, rebuilt: its class (ContainerError
    for a name this module does not know), the message as sent, and each
    attribute of the right kind (anything else sent is dropped: the other
    side may be confused, never trusted)."""
    cls = error_classes().get(kind, ContainerError) if isinstance(kind, str) else ContainerError
    text = message if isinstance(message, str) else "container init failed"
    return _rebuild(cls, text, attrs if isinstance(attrs, dict) else {})


def _rebuild(cls: type[_E], message: str, attrs: dict[str, Any]) -> _E:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    for name, what in cls._wire.items():
        setattr(exc, name, _decode(what, attrs.get(name)))
    if isinstance(exc, ConfigError) and not exc.problems:
        exc.problems = [Problem("", message)]
    if isinstance(exc, HookError):  # never None, as from __init__
        exc.timed_out = bool(exc.timed_out)
        exc.stdout, exc.stderr = exc.stdout or b"", exc.stderr or b""
    return exc


def _decode(what: str, value: object) -> Any:
    if what == "bytes":
        if isinstance(value, str):
            try:
                return value.encode("latin-1")
            except UnicodeEncodeError:
                return None
        return None
    if what == "problems":
        if not isinstance(value, list):
            return []
        return [
            Problem(p[0], p[1])
            for p in value
            if isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], str)
        ]
    wanted = {"str": str, "int": int, "bool": bool}[what]
    if what == "int" and isinstance(value, bool):
        return None
    return value if isinstance(value, wanted) else None


class _ProcessOutputError(PycontainerError):
    """What TimeoutExpired and CalledProcessError carry, as subprocess's:
    ``cmd``, ``output`` (alias ``stdout``) and ``stderr``."""

    _crosses = False  # raised by the caller's side only: never sent by an init

    def __init__(self, cmd: object, output: bytes | str | None, stderr: bytes | str | None) -> None:
        self.cmd = cmd
        self.output = output
        self.stderr = stderr

    @property
    def stdout(self) -> bytes | str | None:
        return self.output


class TimeoutExpired(_ProcessOutputError):
    """A wait, ``communicate`` or :func:`pycontainer.run` took longer than its
    ``timeout``; the attributes are those of ``subprocess.TimeoutExpired``
    (``cmd``, ``timeout``, ``output``/``stdout`` and ``stderr``: what was
    captured so far).  Not a subclass of it: that would make every import of
    the library import ``subprocess``."""

    def __init__(
        self,
        cmd: object,
        timeout: float,
        output: bytes | str | None = None,
        stderr: bytes | str | None = None,
    ) -> None:
        super().__init__(cmd, output, stderr)
        self.args = (cmd, timeout)
        self.timeout = timeout

    def __str__(self) -> str:
        return f"{self.cmd!r} timed out after {self.timeout} seconds"


class CalledProcessError(_ProcessOutputError):
    """``run(..., check=True)`` of a container whose process exited non-zero;
    the attributes are those of ``subprocess.CalledProcessError``."""

    def __init__(
        self,
        returncode: int,
        cmd: object,
        output: bytes | str | None = None,
        stderr: bytes | str | None = None,
    ) -> None:
        super().__init__(cmd, output, stderr)
        self.args = (returncode, cmd)
        self.returncode = returncode

    def __str__(self) -> str:
        if self.returncode > 128:
            return f"{self.cmd!r} died of signal {self.returncode - 128} (exit status {self.returncode})"
        return f"{self.cmd!r} returned non-zero exit status {self.returncode}"
