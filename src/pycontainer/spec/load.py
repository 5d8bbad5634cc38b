"""Turn ``config.json`` (and ``process.json``, ``resources.json``) into the models, and back.

One small converter does all the work, driven by each dataclass's type annotations:

* ``str``, ``bool``, ``int`` (with an optional ``IntRange`` in ``Annotated``), ``X | None``,
  ``list[X]``, ``dict[str, X]`` and nested dataclasses are all the shapes the spec needs;
* a field's JSON key is its name converted to camelCase, with the spec's acronyms kept upper-case
  (``container_id`` -> ``containerID``) and a class's ``JSON_KEYS`` for the rare exception;
* a class's ``REQUIRED`` names the keys that must be present.

Shape problems are collected, not raised one by one, so a user fixing a config sees all of them at
once, each with the JSON path of the offending value (``linux.namespaces[3].type``).  Unknown keys are
ignored, as the spec asks.  Semantic rules (is that namespace type known?) belong to validate.py.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pycontainer.errors import ConfigError, Problem
from pycontainer.spec.models import IntRange, Process, Resources, Spec

T = TypeVar("T")

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
    absolute so ``spec.rootfs`` does not change meaning if the process later changes directory.
    Raises :class:`ConfigError` carrying every shape problem found.
    """
    if isinstance(source, dict):
        data, default_bundle = source, Path.cwd()
    else:
        data, default_bundle = _read_json(Path(source)), Path(source).parent
    spec = _load(data, Spec)
    spec.bundle = Path(os.path.abspath(bundle if bundle is not None else default_bundle))
    return spec


def load_process(source: str | os.PathLike[str] | dict[str, Any]) -> Process:
    """Load a ``process.json`` (as given to ``exec --process``); paths in problems start at the
    process object itself (``args[1]``, not ``process.args[1]``)."""
    data = source if isinstance(source, dict) else _read_json(Path(source))
    return _load(data, Process)


def load_resources(source: str | os.PathLike[str] | dict[str, Any]) -> Resources:
    """Load a ``linux.resources`` object on its own, as given to ``update --resources``."""
    data = source if isinstance(source, dict) else _read_json(Path(source))
    return _load(data, Resources)


def dump(obj: Any) -> Any:
    """The JSON form of a model (the inverse of loading), e.g. to store a config beside the state.

    Unset optionals and empty lists and dicts are left out, as Go's ``omitempty`` does, except where
    the key is REQUIRED.  ``Spec.bundle`` is not part of the JSON and is not written.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        required = getattr(cls, "REQUIRED", frozenset())
        out: dict[str, Any] = {}
        for f in _json_fields(cls):
            value = getattr(obj, f.name)
            if f.name not in required and (value is None or value == [] or value == {}):
                continue
            out[json_key(cls, f.name)] = dump(value)
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


def _read_json(path: Path) -> Any:
    """Parse a JSON file, turning every way it can fail into a ConfigError that names the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (expected a JSON config file)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory (expected the JSON config file inside it)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:  # NaN/Infinity, or bytes that are not text
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    """Python's json accepts NaN and Infinity; JSON (and Go) do not."""
    raise ValueError(f"{name} is not a JSON value")


# --- the converter ------------------------------------------------------------------------------------


def _load(data: Any, cls: type[T]) -> T:
    """Convert parsed JSON into ``cls`` or raise ConfigError with every problem found."""
    problems: list[Problem] = []
    result = _convert(data, cls, "", problems)
    if problems:
        raise ConfigError(problems)
    return typing.cast(T, result)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a model class (they are strings under ``from __future__``)."""
    return typing.get_type_hints(cls, include_extras=True)


@functools.cache
def _json_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The dataclass fields that come from JSON (all but those in ``NOT_IN_JSON``)."""
    skip = getattr(cls, "NOT_IN_JSON", frozenset())
    return tuple(f for f in dataclasses.fields(cls) if f.name not in skip)


def _convert(value: Any, tp: Any, path: str, problems: list[Problem]) -> Any:
    """Convert one JSON value to type ``tp``; on a mismatch record a Problem and return _INVALID."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(tp)
        result = _convert(value, base, path, problems)
        for rule in meta:
            if isinstance(rule, IntRange) and isinstance(result, int) and not rule.lo <= result <= rule.hi:
                problems.append(
                    Problem(path, f"{result} is out of range for {rule.name} (expected {rule.lo}..{rule.hi})")
                )
                return _INVALID
        return result
    if origin in (types.UnionType, typing.Union):  # only ever "X | None"
        if value is None:
            return None
        (inner,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return _convert(value, inner, path, problems)
    if dataclasses.is_dataclass(tp):
        return _convert_object(value, tp, path, problems)
    if origin is list:
        return _convert_list(value, typing.get_args(tp)[0], path, problems)
    if origin is dict:
        return _convert_dict(value, typing.get_args(tp)[1], path, problems)
    if tp is int:
        return _convert_int(value, path, problems)
    if tp is bool and type(value) is bool or tp is str and type(value) is str:
        return value
    return _mismatch(value, tp, path, problems)


def _convert_object(value: Any, cls: type, path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, dict):
        return _mismatch(value, cls, path, problems)
    before = len(problems)
    hints = _hints(cls)
    required = getattr(cls, "REQUIRED", frozenset())
    kwargs: dict[str, Any] = {}
    for f in _json_fields(cls):
        key = json_key(cls, f.name)
        child = f"{path}.{key}" if path else key
        if value.get(key) is None:  # absent, or null which Go also reads as "not set"
            if f.name in required:
                problems.append(
                    Problem(child, f"missing required property (expected {_describe(hints[f.name])})")
                )
            continue
        kwargs[f.name] = _convert(value[key], hints[f.name], child, problems)
    if len(problems) > before:
        return _INVALID
    return cls(**kwargs)


def _convert_list(value: Any, item_tp: Any, path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, list):
        return _mismatch(value, list[item_tp], path, problems)  # type: ignore[valid-type]
    items = [_convert(item, item_tp, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    return _INVALID if any(item is _INVALID for item in items) else items


def _convert_dict(value: Any, value_tp: Any, path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, dict):
        return _mismatch(value, dict[str, value_tp], path, problems)  # type: ignore[valid-type]
    out = {
        key: _convert(item, value_tp, f"{path}[{json.dumps(key)}]", problems) for key, item in value.items()
    }
    return _INVALID if any(item is _INVALID for item in out.values()) else out


def _convert_int(value: Any, path: str, problems: list[Problem]) -> Any:
    if type(value) is int:  # not isinstance: a JSON true must not pass for 1
        return value
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
    return _mismatch(value, int, path, problems)


def _mismatch(value: Any, tp: Any, path: str, problems: list[Problem]) -> _Invalid:
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


def _describe(tp: Any, plural: bool = False) -> str:
    """``a string``, ``an array of integers``, ``an object of strings`` ... for a type annotation."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _describe(typing.get_args(tp)[0], plural)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return _describe(inner, plural)
    if origin is list:
        return ("arrays" if plural else "an array") + " of " + _describe(typing.get_args(tp)[0], True)
    if origin is dict:
        return ("objects" if plural else "an object") + " of " + _describe(typing.get_args(tp)[1], True)
    singular, many = {
        str: ("a string", "strings"),
        int: ("an integer", "integers"),
        bool: ("a boolean", "booleans"),
    }.get(tp, ("an object", "objects"))
    return many if plural else singular
