"""JSON for the start-up path, on CPython's C accelerator ``_json``.

``import json`` pulls in ``re``, ``enum``, ``functools`` and ``collections``:
about 4 ms, a fifth of a container's whole start.  The C scanner and string
encoder that the json package itself uses need none of that, so this module
wraps them: ``loads`` (strict JSON: no NaN or Infinity, as Go and the runtime
spec have it) and ``dumps`` (compact, or indented for people).

Errors are :class:`JSONError`, a ValueError carrying ``msg``, ``lineno`` and
``colno`` like json.JSONDecodeError (which the C scanner raises for errors
inside a value; that one also has the three attributes).
"""

from __future__ import annotations

from _json import encode_basestring_ascii, make_scanner

_WHITESPACE = " \t\n\r"


class JSONError(ValueError):
    def __init__(self, msg: str, doc: str, pos: int) -> None:
        self.msg = msg
        self.lineno = doc.count("\n", 0, pos) + 1
        self.colno = pos - doc.rfind("\n", 0, pos)
        super().__init__(f"{msg}: line {self.lineno} column {self.colno} (char {pos})")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


class _Context:
    """What the C scanner reads from its context (json.JSONDecoder's fields)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_reject_constant)
    memo: dict = {}


_scan = make_scanner(_Context())  # type: ignore[arg-type]  # it reads only the fields _Context has


def loads(text: str | bytes):
    if isinstance(text, bytes | bytearray):
        # A BOM is allowed (as utf-8-sig would; that codec is one more import).
        text = bytes(text[3:] if text[:3] == b"\xef\xbb\xbf" else text).decode("utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        raise JSONError("Expecting value", text, stop.value) from None
    except SystemError:
        # An error inside a value: the C scanner raises json.decoder's
        # JSONDecodeError, but only finds it if json.decoder was imported
        # (otherwise a SystemError).  Import it now, on the error path only.
        import json.decoder  # noqa: F401

        value, end = _scan(text, start)  # raises the JSONDecodeError
    except RecursionError:
        raise JSONError("Nested too deeply", text, start) from None
    finally:
        _Context.memo.clear()
    rest = len(text) - len(text[end:].lstrip(_WHITESPACE))
    if rest != len(text):
        raise JSONError("Extra data", text, rest)
    return value


def dumps(value, indent: int | None = None) -> str:
    """Compact JSON (``indent`` None) or indented, ASCII-only like json.dumps."""
    parts: list[str] = []
    _encode(value, parts, indent, 0)
    return "".join(parts)


def _encode(value, out: list[str], indent: int | None, level: int) -> None:
    if isinstance(value, str):
        out.append(encode_basestring_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a JSON value")
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        items = list(value.items())
        open_, sep, close = _delims(indent, level, "{", "}")
        out.append(open_)
        for i, (key, item) in enumerate(items):
            if not isinstance(key, str):
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            if i:
                out.append(sep)
            out.append(encode_basestring_ascii(key))
            out.append(": " if indent is not None else ":")
            _encode(item, out, indent, level + 1)
        out.append(close)
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        open_, sep, close = _delims(indent, level, "[", "]")
        out.append(open_)
        for i, item in enumerate(value):
            if i:
                out.append(sep)
            _encode(item, out, indent, level + 1)
        out.append(close)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _delims(indent: int | None, level: int, open_: str, close: str) -> tuple[str, str, str]:
    if indent is None:
        return open_, ",", close
    inner = "\n" + " " * (indent * (level + 1))
    return open_ + inner, "," + inner, "\n" + " " * (indent * level) + close
