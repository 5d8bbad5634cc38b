"""Turn ``config.json`` (and ``process.json``, ``resources.json``) into the models, and back.

One small converter does all the work, driven by each model class's annotations (resolved once per
class by ``_model.resolve``, the first time the class is loaded):

* ``str``, ``bool``, ``int`` (with an optional ``IntRange`` such as ``UInt32``), ``X | None``,
  ``list[X]``, ``dict[str, X]`` and nested models are all the shapes the spec needs;
* a field's JSON key is its name converted to camelCase, with the spec's acronyms kept upper-case
  (``container_id`` -> ``containerID``) and a class's ``JSON_KEYS`` for the rare exception;
* a class's ``REQUIRED`` names the keys that must be present.

Shape problems are collected, not raised one by one, so a user fixing a config sees all of them at
once, each with the JSON path of the offending value (``linux.namespaces[3].type``).  Unknown keys are
ignored, as the spec asks.  Semantic rules (is that namespace type known?) belong to validate.py.
"""

from __future__ import annotations

import os
import posixpath

from pycontainer import jsonio
from pycontainer.errors import ConfigError, Problem
from pycontainer.spec import _model
from pycontainer.spec._model import ANY, DICT, FLOAT, INT, LIST, MODEL, OPTIONAL, SCALAR, IntRange, Model
from pycontainer.spec.models import Process, Resources, Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, TypeVar

    T = TypeVar("T", bound=Model)

# Words the spec writes in capitals inside camelCase keys: containerID, blockIO, kernelTCP,
# disableOOMKiller, execCPUAffinity, throttleReadIOPSDevice, enableCMT, enableMBM.
_ACRONYMS = {
    "id": "ID",
    "io": "IO",
    "tcp": "TCP",
    "oom": "OOM",
    "cpu": "CPU",
    "iops": "IOPS",
    "cmt": "CMT",
    "mbm": "MBM",
}


class _Invalid:
    """Marks a value that could not be converted; its problem is already recorded."""


_INVALID = _Invalid()


# --- public entry points ---------------------------------------------------------------------------


def load_config(
    source: str | os.PathLike[str] | dict[str, Any], bundle: str | os.PathLike[str] | None = None
) -> Spec:
    """Load a ``config.json`` file (or an already-parsed dict) into a :class:`Spec`.

    ``bundle`` defaults to the file's directory, or to the current directory for a dict; it is made
    absolute (a str) so ``spec.rootfs`` does not change meaning if the process later changes directory.
    Raises :class:`ConfigError` carrying every shape problem found.
    """
    if isinstance(source, dict):
        data, default_bundle = source, ""
    else:
        path = _path_str(source)
        data, default_bundle = _read_json(path), posixpath.dirname(path)
    spec = _load(data, Spec)
    spec.bundle = os.path.abspath(bundle if bundle is not None else default_bundle)
    return spec


def load_process(source: str | os.PathLike[str] | dict[str, Any]) -> Process:
    """Load a ``process.json`` (as given to ``exec --process``); paths in problems start at the
    process object itself (``args[1]``, not ``process.args[1]``)."""
    data = source if isinstance(source, dict) else _read_json(_path_str(source))
    return _load(data, Process)


def load_resources(source: str | os.PathLike[str] | dict[str, Any]) -> Resources:
    """Load a ``linux.resources`` object on its own, as given to ``update --resources``."""
    data = source if isinstance(source, dict) else read_json(source)
    return _load(data, Resources)


def read_json(source: str | os.PathLike[str]) -> Any:
    """The parsed JSON of a file; a ConfigError names the file whatever goes wrong."""
    return _read_json(_path_str(source))


def dump(obj: Any) -> Any:
    """The JSON form of a model (the inverse of loading), e.g. to store a config beside the state.

    Unset optionals and empty lists and dicts are left out, as Go's ``omitempty`` does, except where
    the key is REQUIRED.  ``Spec.bundle`` is not part of the JSON and is not written.
    """
    if isinstance(obj, Model):
        out: dict[str, Any] = {}
        for name, key, _, required in _plan(type(obj)):
            value = getattr(obj, name)
            if not required and (value is None or value == [] or value == {}):
                continue
            out[key] = dump(value)
        return out
    if isinstance(obj, list):
        return [dump(item) for item in obj]
    if isinstance(obj, dict):
        return {key: dump(value) for key, value in obj.items()}
    return obj


def json_key(cls: type, name: str) -> str:
    """The JSON key of attribute ``name`` of model class ``cls``: ``uid_mappings`` -> ``uidMappings``."""
    override = getattr(cls, "JSON_KEYS", {}).get(name)
    if override is not None:
        return override
    first, *rest = name.split("_")
    return first + "".join(_ACRONYMS.get(word, word.capitalize()) for word in rest)


# --- reading the file ---------------------------------------------------------------------------------


def _path_str(source: str | os.PathLike[str]) -> str:
    """The file name as ``str(pathlib.Path(source))`` spells it (``./a//b`` -> ``a/b``), without pathlib."""
    path = os.fspath(source)
    if not isinstance(path, str):
        raise TypeError(f"expected a str path or os.PathLike returning str, not {type(path).__name__}")
    root = "//" if path[:2] == "//" and path[2:3] != "/" else "/" if path[:1] == "/" else ""
    return root + "/".join(part for part in path.split("/") if part and part != ".") or "."


def _read_json(path: str) -> Any:
    """Parse a JSON file, turning every way it can fail into a ConfigError that names the file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (expected a JSON config file)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory (expected the JSON config file inside it)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_json(raw, path)


def parse_json(raw: bytes | str, where: str) -> Any:
    """Parse JSON text, turning every way it can fail into a ConfigError that names ``where``
    (a file, or a flag such as ``--resources -``)."""
    try:
        return jsonio.loads(raw)
    except UnicodeDecodeError as exc:  # bytes that are not text
        raise ConfigError(f"{where}: invalid JSON: {exc}") from None
    except ValueError as exc:
        if hasattr(exc, "lineno"):  # jsonio.JSONError or json.JSONDecodeError: both say where
            e: Any = exc
            raise ConfigError(
                f"{where}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
            ) from None
        # NaN/Infinity
        raise ConfigError(f"{where}: invalid JSON: {exc}") from None


# --- the converter ------------------------------------------------------------------------------------

# Per model class, its JSON fields as (attribute name, JSON key, resolved type, required); the type of
# an optional field is its inner type, since a null or absent value never reaches the converter.
_plans: dict[type, tuple[tuple[str, str, tuple[int, Any], bool], ...]] = {}


def _plan(cls: type[Model]) -> tuple[tuple[str, str, tuple[int, Any], bool], ...]:
    plan = _plans.get(cls)
    if plan is None:
        hints = _model.resolve(cls)
        skip: frozenset[str] = getattr(cls, "NOT_IN_JSON", frozenset())
        required: frozenset[str] = getattr(cls, "REQUIRED", frozenset())
        plan = _plans[cls] = tuple(
            (f.name, json_key(cls, f.name), _strip_optional(hints[f.name]), f.name in required)
            for f in _model.fields(cls)
            if f.name not in skip
        )
    return plan


def _strip_optional(tp: tuple[int, Any]) -> tuple[int, Any]:
    return tp[1] if tp[0] == OPTIONAL else tp


def _load(data: Any, cls: type[T]) -> T:
    """Convert parsed JSON into ``cls`` or raise ConfigError with every problem found."""
    problems: list[Problem] = []
    result = _convert_object(data, cls, "", problems)
    if problems:
        raise ConfigError(problems)
    return result


def _convert(value: Any, tp: tuple[int, Any], path: str, problems: list[Problem]) -> Any:
    """Convert one JSON value to type ``tp``; on a mismatch record a Problem and return _INVALID."""
    kind, arg = tp
    if kind == SCALAR:
        if type(value) is arg:  # not isinstance: a JSON true must not pass for 1
            return value
    elif kind == MODEL:
        return _convert_object(value, arg, path, problems)
    elif kind == LIST:
        return _convert_list(value, arg, path, problems)
    elif kind == INT:
        if type(value) is int:
            if arg is None or arg.lo <= value <= arg.hi:
                return value
            problems.append(Problem(path, out_of_range(value, arg)))
            return _INVALID
        return _convert_int(value, path, problems)
    elif kind == DICT:
        return _convert_dict(value, arg, path, problems)
    elif kind == OPTIONAL:
        return None if value is None else _convert(value, arg, path, problems)
    elif kind == FLOAT:
        if type(value) is int or type(value) is float:
            return value
    elif kind == ANY:
        return value
    return _mismatch(value, tp, path, problems)


def _convert_object(value: Any, cls: type[Model], path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, dict):
        return _mismatch(value, (MODEL, cls), path, problems)
    before = len(problems)
    prefix = f"{path}." if path else ""
    kwargs: dict[str, Any] = {}
    for name, key, tp, required in _plan(cls):
        item = value.get(key)
        if item is None:  # absent, or null which Go also reads as "not set"
            if required:
                problems.append(
                    Problem(prefix + key, f"missing required property (expected {_describe(tp)})")
                )
        elif tp[0] == SCALAR and type(item) is tp[1]:  # the common case, inline
            kwargs[name] = item
        else:
            kwargs[name] = _convert(item, tp, prefix + key, problems)
    if len(problems) > before:
        return _INVALID
    return cls(**kwargs)


def _convert_list(value: Any, item_tp: tuple[int, Any], path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, list):
        return _mismatch(value, (LIST, item_tp), path, problems)
    if item_tp[0] == SCALAR:  # a list of strings: check them all at once, index paths only on error
        scalar = item_tp[1]
        for item in value:
            if type(item) is not scalar:
                break
        else:
            return list(value)
    items = [_convert(item, item_tp, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    return _INVALID if any(item is _INVALID for item in items) else items


def _convert_dict(value: Any, value_tp: tuple[int, Any], path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, dict):
        return _mismatch(value, (DICT, value_tp), path, problems)
    if value_tp[0] == SCALAR:  # an object of strings (annotations, sysctl): the common case
        scalar = value_tp[1]
        for item in value.values():
            if type(item) is not scalar:
                break
        else:
            return dict(value)
    out = {
        key: _convert(item, value_tp, f"{path}[{jsonio.dumps(key)}]", problems) for key, item in value.items()
    }
    return _INVALID if any(item is _INVALID for item in out.values()) else out


def _convert_int(value: Any, path: str, problems: list[Problem]) -> Any:
    if type(value) is float and value.is_integer():
        problems.append(
            Problem(
                path,
                f"expected an integer, got {value!r} (write whole numbers without a fraction or exponent)",
            )
        )
        return _INVALID
    if type(value) is float:
        problems.append(Problem(path, f"expected an integer, got {value!r}"))
        return _INVALID
    return _mismatch(value, (INT, None), path, problems)


def out_of_range(value: int, limits: IntRange) -> str:
    """The message for an integer outside its JSON type's range."""
    return f"{value} is out of range for {limits.name} (expected {limits.lo}..{limits.hi})"


def _mismatch(value: Any, tp: tuple[int, Any], path: str, problems: list[Problem]) -> _Invalid:
    problems.append(Problem(path, f"expected {_describe(tp)}, got {_json_type(value)}"))
    return _INVALID


# --- words for messages -------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, as a user reading the file would call it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _describe(tp: tuple[int, Any], plural: bool = False) -> str:
    """``a string``, ``an array of integers``, ``an object of strings`` ... for a resolved type."""
    kind, arg = tp
    if kind == OPTIONAL:
        return _describe(arg, plural)
    if kind == LIST:
        return ("arrays" if plural else "an array") + " of " + _describe(arg, True)
    if kind == DICT:
        return ("objects" if plural else "an object") + " of " + _describe(arg, True)
    if kind == SCALAR:
        singular, many = ("a string", "strings") if arg is str else ("a boolean", "booleans")
    elif kind == INT:
        singular, many = "an integer", "integers"
    elif kind == FLOAT:
        singular, many = "a number", "numbers"
    elif kind == ANY:
        singular, many = "any JSON value", "JSON values"
    else:
        singular, many = "an object", "objects"
    return many if plural else singular
