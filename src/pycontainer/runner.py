"""``pycontainer.run`` and ``run_async``: a container as ``subprocess.run``
runs a program.  Create, start, wait (or communicate), delete; whatever
happens (an error, the timeout, KeyboardInterrupt or any other
BaseException), the container is deleted before the call returns::

    import pycontainer

    result = pycontainer.run("/path/to/bundle", ["sh", "-c", "echo hi"], capture_output=True, timeout=5)
    print(result.returncode, result.stdout)
"""

from __future__ import annotations

import os

from pycontainer import stdio
from pycontainer.container import Container
from pycontainer.errors import CalledProcessError, TimeoutExpired

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from pycontainer.spec import Spec
    from pycontainer.stdio import StdioArg


class CompletedProcess:
    """What :func:`run` returns, as ``subprocess.CompletedProcess``:
    ``args`` (the process's), ``returncode`` (128+N if killed by signal N;
    never None: run reaps its own child), ``stdout``/``stderr`` (None
    unless captured)."""

    __slots__ = ("args", "returncode", "stdout", "stderr")

    def __init__(
        self,
        args: list[str],
        returncode: int,
        stdout: bytes | str | None = None,
        stderr: bytes | str | None = None,
    ) -> None:
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        parts = [f"args={self.args!r}", f"returncode={self.returncode!r}"]
        parts += [
            f"{name}={getattr(self, name)!r}"
            for name in ("stdout", "stderr")
            if getattr(self, name) is not None
        ]
        return f"CompletedProcess({', '.join(parts)})"

    def check_returncode(self) -> None:
        """Raise CalledProcessError if the exit code is non-zero."""
        if self.returncode:
            raise CalledProcessError(self.returncode, self.args, self.stdout, self.stderr)


def run(
    bundle_or_spec: str | os.PathLike[str] | Spec,
    args: list[str] | None = None,
    *,
    id: str | None = None,
    root: str | os.PathLike[str] | None = None,
    input: bytes | str | None = None,
    capture_output: bool = False,
    stdin: StdioArg = None,
    stdout: StdioArg = None,
    stderr: StdioArg = None,
    timeout: float | None = None,
    check: bool = False,
    text: bool = False,
    encoding: str | None = None,
    errors: str | None = None,
    **create_options: Any,
) -> CompletedProcess:
    """Run a container to its end, as ``subprocess.run`` runs a program.

    ``bundle_or_spec``: a bundle directory, or a Spec (left unchanged:
    ``args``, which replaces ``process.args``, goes to a copy).  ``id``:
    the container's id (default: a new ``pycontainer-...`` one); ``root``:
    the state root.  ``input`` (to stdin), ``capture_output``, ``stdin``,
    ``stdout``, ``stderr``, ``text``/``encoding``/``errors``, ``timeout``
    and ``check`` as subprocess's; on timeout every process of the
    container is killed, the container deleted, and TimeoutExpired raised
    with the output so far.  Other keywords go to :meth:`Container.create`.
    """
    spec, container_id, (stdin, stdout, stderr) = _prepare(
        bundle_or_spec, args, id, input, capture_output, stdin, stdout, stderr
    )
    box = Container.create(
        container_id,
        spec=spec,
        root=root,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=text,
        encoding=encoding,
        errors=errors,
        **create_options,
    )
    try:
        box.start()
        try:
            if box.stdin is not None or box.stdout is not None or box.stderr is not None:
                out, err = box.communicate(input, timeout)
            else:
                out = err = None
                box.wait(timeout)
        except TimeoutExpired as e:
            box.stop(0)  # SIGKILL to all of it at once: it has had its time
            raise TimeoutExpired(box.args, timeout or 0.0, e.output, e.stderr) from None
    finally:
        _discard(box)
    return _completed(box, out, err, check)


async def run_async(
    bundle_or_spec: str | os.PathLike[str] | Spec,
    args: list[str] | None = None,
    *,
    id: str | None = None,
    root: str | os.PathLike[str] | None = None,
    input: bytes | str | None = None,
    capture_output: bool = False,
    stdin: StdioArg = None,
    stdout: StdioArg = None,
    stderr: StdioArg = None,
    timeout: float | None = None,
    check: bool = False,
    text: bool = False,
    encoding: str | None = None,
    errors: str | None = None,
    **create_options: Any,
) -> CompletedProcess:
    """:func:`run` for asyncio.  The container's exit is awaited on its
    pidfd and its output read through the event loop (``add_reader``), no
    thread per container.  Create, start and delete run in the loop's
    default executor: each blocks for a few milliseconds (cloning the init
    and waiting for it to set up; removing cgroups), which would stall every
    other task of the loop; the executor's threads are a bounded pool, not
    one per container.  Cancelling the task deletes the container too."""
    import asyncio
    import functools

    loop = asyncio.get_running_loop()
    spec, container_id, (stdin, stdout, stderr) = _prepare(
        bundle_or_spec, args, id, input, capture_output, stdin, stdout, stderr
    )
    create = functools.partial(
        Container.create,
        container_id,
        spec=spec,
        root=root,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=False,  # decoded here at the end: the loop reads bytes
        **create_options,
    )
    box = await _in_executor_or_delete(loop, create, container_id, root)
    try:
        await loop.run_in_executor(None, box.start)
        try:
            raw = await asyncio.wait_for(_communicate_async(loop, box, input), timeout)
        except TimeoutError:
            box.stop(0)
            raise TimeoutExpired(box.args, timeout or 0.0) from None
    finally:
        box._close_streams()
        # Shielded: a cancellation meanwhile must not leave the container behind.
        await asyncio.shield(loop.run_in_executor(None, _discard, box))
    out, err = (_decode(b, text, encoding, errors) for b in raw)
    return _completed(box, out, err, check)


def _decode(data: bytes | None, text: bool, encoding: str | None, errors: str | None) -> bytes | str | None:
    if data is None or not (text or encoding or errors):
        return data
    return data.decode(encoding or "utf-8", errors or "strict")


def _prepare(
    bundle_or_spec: str | os.PathLike[str] | Spec,
    args: list[str] | None,
    container_id: str | None,
    input: bytes | str | None,
    capture_output: bool,
    stdin: StdioArg,
    stdout: StdioArg,
    stderr: StdioArg,
) -> tuple[Spec, str, tuple[StdioArg, StdioArg, StdioArg]]:
    """The spec to run (a copy when ``args`` changes it), the id, and the
    stdio arguments for create."""
    import copy

    from pycontainer.errors import ConfigError
    from pycontainer.spec import Spec, load_config

    if isinstance(bundle_or_spec, Spec):
        spec = bundle_or_spec
    else:
        spec = load_config(os.path.join(bundle_or_spec, "config.json"), bundle=bundle_or_spec)
    if spec.process is None:
        raise ConfigError("a process is required to run a container", "process")
    if args is not None:
        if isinstance(args, str) or not all(isinstance(a, str) for a in args):
            raise TypeError(f"args must be a list of strings, not {args!r}")
        process = copy.copy(spec.process)  # the caller's spec stays as it was
        process.args = list(args)
        spec = copy.copy(spec)
        spec.process = process
    if input is not None:
        if stdin is not None:
            raise ValueError("stdin and input arguments may not both be used")
        stdin = stdio.PIPE
    if capture_output:
        if stdout is not None or stderr is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output")
        stdout = stderr = stdio.PIPE
    if container_id is None:
        container_id = "pycontainer-" + os.urandom(8).hex()
    return spec, container_id, (stdin, stdout, stderr)


def _discard(box: Container) -> None:
    """Delete the container (kill everything left in it) and close our ends
    of its pipes."""
    box._close_streams()
    box.delete(force=True)


def _completed(
    box: Container, out: bytes | str | None, err: bytes | str | None, check: bool
) -> CompletedProcess:
    code = box.returncode
    assert code is not None  # our own child, reaped by wait or delete
    result = CompletedProcess(list(box.args) if isinstance(box.args, list) else [], code, out, err)
    if check:
        result.check_returncode()
    return result


async def _in_executor_or_delete(loop: Any, create: Any, container_id: str, root: Any) -> Container:
    """``create()`` in the executor.  If this task is cancelled meanwhile,
    the create still finishes in its thread: wait for it, and delete what
    it made."""
    import asyncio

    future = loop.run_in_executor(None, create)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        try:
            box = await future
        except Exception:  # noqa: BLE001 - it failed: it undid itself
            raise asyncio.CancelledError from None
        await loop.run_in_executor(None, _discard, box)
        raise


async def _communicate_async(
    loop: Any, box: Container, input: bytes | str | None
) -> tuple[bytes | None, bytes | None]:
    """Write ``input`` to stdin, read stdout and stderr to EOF, all through
    the event loop's readers and writers; then await the exit."""
    import asyncio

    done: list[Any] = []
    chunks: dict[str, list[bytes]] = {}
    for name in ("stdout", "stderr"):
        f = getattr(box, name)
        if f is None:
            continue
        chunks[name] = []
        done.append(_read_to_eof(loop, f.fileno(), chunks[name]))
    if box.stdin is not None:
        data = input.encode() if isinstance(input, str) else (input or b"")
        done.append(_write_all(loop, box.stdin, data))
    if done:
        await asyncio.gather(*done)
    await box.wait_async()
    out, err = (b"".join(chunks[n]) if n in chunks else None for n in ("stdout", "stderr"))
    return out, err


def _read_to_eof(loop: Any, fd: int, into: list[bytes]) -> Any:
    os.set_blocking(fd, False)
    finished = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if data:
            into.append(data)
            return
        loop.remove_reader(fd)
        if not finished.done():
            finished.set_result(None)

    loop.add_reader(fd, readable)
    finished.add_done_callback(lambda _: loop.remove_reader(fd))  # also when cancelled
    return finished


def _write_all(loop: Any, f: Any, data: bytes) -> Any:
    fd = f.fileno()
    os.set_blocking(fd, False)
    finished = loop.create_future()
    view = memoryview(data)
    sent = 0

    def writable() -> None:
        nonlocal sent
        try:
            sent += os.write(fd, view[sent : sent + 65536])
        except BlockingIOError:
            return
        except BrokenPipeError:
            sent = len(view)
        if sent >= len(view):
            loop.remove_writer(fd)
            f.close()
            if not finished.done():
                finished.set_result(None)

    if not data:
        f.close()
        finished.set_result(None)
    else:
        loop.add_writer(fd, writable)
        finished.add_done_callback(lambda _: loop.remove_writer(fd) if not f.closed else None)
    return finished
