"""The one exception hierarchy of pycontainer.

Everything the library raises on purpose derives from :class:`PycontainerError`;
the CLI turns it into one line on stderr (and a JSON log line) and exit code 1.
"""

from __future__ import annotations


class PycontainerError(Exception):
    """Base of every error pycontainer raises on purpose."""


class Problem:
    """One thing wrong with a config: where (a JSON path such as
    ``linux.namespaces[3].type``) and what.  Immutable, compares by value."""

    __slots__ = ("path", "message")

    def __init__(self, path: str, message: str) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "message", message)

    def __setattr__(self, name, value):
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


class _ProcessOutputError(PycontainerError):
    """What TimeoutExpired and CalledProcessError carry, as subprocess's:
    ``cmd``, ``output`` (alias ``stdout``) and ``stderr``."""

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
