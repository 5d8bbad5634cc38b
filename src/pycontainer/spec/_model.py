"""A tiny stand-in for ``dataclasses``, made for the config models and cheap to import.

``dataclasses`` costs several milliseconds at import (it pulls in inspect, ast, dis, tokenize) and
``exec()``s generated methods for every class; a runtime that must start a container in a few
milliseconds cannot pay that for 36 classes.  This module gives the models the same shape with
plain Python and nothing generated::

    class User(Model):
        REQUIRED: ClassVar[frozenset[str]] = frozenset({"uid", "gid"})

        uid: UInt32 = 0
        additional_gids: list[UInt32] = field(default_factory=list)

* The fields are the class's own annotations, in order (those of a base model first); ``ClassVar``
  ones are skipped.  A field's default is its class attribute; ``field(default_factory=...)`` gives a
  fresh mutable default per instance.  :func:`fields` lists them.
* Instances get one generic keyword-only ``__init__`` (a missing required argument or an unknown one
  is a TypeError, as with ``@dataclass(kw_only=True)``), ``__repr__`` and ``__eq__``; like a
  dataclass with ``eq=True``, a model is not hashable.
* Annotations stay the strings ``from __future__ import annotations`` makes them.  The loader needs
  them as types only when it first loads a class, so :func:`resolve` parses them then, once per class.
  The grammar is what the spec needs: ``X``, ``X | None``, ``list[X]`` and ``dict[str, X]``, where X is
  ``str``, ``int``, ``bool``, ``float``, ``object`` or ``Any`` (raw JSON), an :class:`IntRange` such as
  ``UInt32``, or a model class, named in the model's module.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (it costs milliseconds)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any, ClassVar, dataclass_transform
else:

    def dataclass_transform(**_options: object) -> Callable[[type], type]:
        """At run time a no-op: the decorator only tells type checkers what ``Model`` does."""
        return _identity


def _identity(cls: type) -> type:
    return cls


class _Missing:
    """The type of :data:`MISSING`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Marks a field without a default (``Field.default`` / ``Field.default_factory``)."""


class Field:
    """One field of a model: its name, its annotation (a string) and its default."""

    __slots__ = ("name", "type", "default", "default_factory")

    def __init__(self, default: Any = MISSING, default_factory: Callable[[], Any] = MISSING) -> None:
        self.name = ""
        self.type = ""
        self.default = default
        self.default_factory = default_factory

    def __repr__(self) -> str:
        return (
            f"Field(name={self.name!r}, type={self.type!r}, default={self.default!r}, "
            f"default_factory={self.default_factory!r})"
        )


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] = MISSING) -> Any:
    """A field's default given explicitly; needed for mutable ones: ``field(default_factory=list)``."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory)


class IntRange:
    """The range a JSON integer must fall in; named in annotations through aliases such as ``UInt32``."""

    __slots__ = ("name", "lo", "hi")
    name: str
    lo: int
    hi: int

    def __init__(self, name: str, lo: int, hi: int) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        return f"IntRange(name={self.name!r}, lo={self.lo!r}, hi={self.hi!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not IntRange:
            return NotImplemented
        return (self.name, self.lo, self.hi) == (other.name, other.lo, other.hi)

    def __hash__(self) -> int:
        return hash((self.name, self.lo, self.hi))


# To a type checker the aliases are plain ints; at run time they are the ranges the loader enforces.
if TYPE_CHECKING:  # pragma: no cover
    Int32 = int
    Int64 = int
    UInt16 = int
    UInt32 = int
    UInt64 = int
else:
    Int32 = IntRange("int32", -(2**31), 2**31 - 1)
    Int64 = IntRange("int64", -(2**63), 2**63 - 1)
    UInt16 = IntRange("uint16", 0, 2**16 - 1)
    UInt32 = IntRange("uint32", 0, 2**32 - 1)
    UInt64 = IntRange("uint64", 0, 2**64 - 1)


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
class Model:
    """Base of the config models: fields from annotations, keyword-only ``__init__``, repr, eq."""

    __slots__ = ()

    # Filled in for each subclass by __init_subclass__.
    _fields_: ClassVar[tuple[Field, ...]] = ()
    _names_: ClassVar[frozenset[str]] = frozenset()
    _defaults_: ClassVar[dict[str, Any]] = {}
    _factories_: ClassVar[tuple[tuple[str, Callable[[], Any]], ...]] = ()
    _required_: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = {f.name: f for f in cls._fields_}  # a base model's fields come first
        namespace = cls.__dict__
        for name, annotation in namespace.get("__annotations__", {}).items():
            if annotation.__class__ is not str:
                raise TypeError(
                    f"{cls.__qualname__}.{name}: a model's module needs `from __future__ import annotations`"
                )
            if annotation.startswith("ClassVar"):
                continue
            default = namespace.get(name, MISSING)
            if default.__class__ is Field:
                f = default
                if f.default is MISSING:
                    delattr(cls, name)  # as dataclasses does: no Field object left on the class
                else:
                    setattr(cls, name, f.default)
            else:
                f = Field(default)
            f.name, f.type = name, annotation
            found[name] = f
        defaults, factories, required = {}, [], []
        for f in found.values():
            if f.default is not MISSING:
                defaults[f.name] = f.default
            elif f.default_factory is not MISSING:
                factories.append((f.name, f.default_factory))
            else:
                required.append(f.name)
        cls._fields_ = tuple(found.values())
        cls._names_ = frozenset(found)
        cls._defaults_ = defaults
        cls._factories_ = tuple(factories)
        cls._required_ = tuple(required)

    def __init__(self, **kwargs: Any) -> None:
        cls = type(self)
        values = dict(cls._defaults_)
        for name, factory in cls._factories_:
            if name not in kwargs:
                values[name] = factory()
        values.update(kwargs)
        if len(values) != len(cls._fields_) or not cls._names_.issuperset(kwargs):
            _bad_arguments(cls, kwargs)
        self.__dict__.update(values)

    def __repr__(self) -> str:
        args = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self._fields_)
        return f"{type(self).__qualname__}({args})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in self._fields_)

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value, like a dataclass


def fields(model: type[Model] | Model) -> tuple[Field, ...]:
    """The fields of a model class or instance, in declaration order."""
    cls = model if isinstance(model, type) else type(model)
    if not issubclass(cls, Model):
        raise TypeError(f"{cls.__qualname__} is not a model class")
    return cls._fields_


def is_model(obj: object) -> bool:
    """Whether ``obj`` is a model class or instance."""
    return isinstance(obj, Model) or isinstance(obj, type) and issubclass(obj, Model)


def _bad_arguments(cls: type[Model], kwargs: dict[str, Any]) -> None:
    """Raise the TypeError Python raises for a bad call of a dataclass's ``__init__``."""
    where = f"{cls.__qualname__}.__init__()"
    for name in kwargs:
        if name not in cls._names_:
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
    missing = [repr(name) for name in cls._required_ if name not in kwargs]
    if len(missing) == 1:
        listed = missing[0]
    elif len(missing) == 2:
        listed = f"{missing[0]} and {missing[1]}"
    else:
        listed = ", ".join(missing[:-1]) + f", and {missing[-1]}"
    noun = "argument" if len(missing) == 1 else "arguments"
    raise TypeError(f"{where} missing {len(missing)} required keyword-only {noun}: {listed}")


# --- annotations as types ----------------------------------------------------------------------------

# A resolved annotation is a tuple (kind, arg):
SCALAR = 0  # arg: str or bool, matched by exact type (a JSON true is not an int, 1 is not a bool)
INT = 1  # arg: the IntRange, or None for a plain int
FLOAT = 2  # arg: None; any JSON number
ANY = 3  # arg: None; any JSON value, kept as parsed
MODEL = 4  # arg: the model class
LIST = 5  # arg: the item type
DICT = 6  # arg: the value type (keys are always strings in JSON)
OPTIONAL = 7  # arg: the type of a value that may also be None

_BUILTINS = {
    "str": (SCALAR, str),
    "bool": (SCALAR, bool),
    "int": (INT, None),
    "float": (FLOAT, None),
    "object": (ANY, None),
    "Any": (ANY, None),
}

_resolved: dict[type, dict[str, tuple[int, Any]]] = {}


def resolve(cls: type[Model]) -> dict[str, tuple[int, Any]]:
    """Field name -> resolved annotation, for every field of ``cls``; computed once per class."""
    hints = _resolved.get(cls)
    if hints is None:
        namespace = vars(sys.modules[cls.__module__])
        hints = {}
        for f in cls._fields_:
            try:
                hints[f.name] = parse_annotation(f.type, namespace)
            except TypeError as exc:
                raise TypeError(f"{cls.__qualname__}.{f.name}: {exc}") from None
        _resolved[cls] = hints
    return hints


def parse_annotation(text: str, namespace: dict[str, Any]) -> tuple[int, Any]:
    """Resolve one annotation string, looking names up in ``namespace`` (a module's globals)."""
    text = text.strip()
    alternatives = _split_top(text, "|")
    if len(alternatives) > 1:
        rest = [alt for alt in alternatives if alt != "None"]
        if len(alternatives) != 2 or len(rest) != 1:
            raise TypeError(f"cannot resolve {text!r} (expected X or X | None)")
        return (OPTIONAL, parse_annotation(rest[0], namespace))
    if text.endswith("]"):
        head, _, inner = text[:-1].partition("[")
        head = head.strip()
        if head == "list":
            return (LIST, parse_annotation(inner, namespace))
        if head == "dict":
            args = _split_top(inner, ",")
            if len(args) == 2 and args[0] == "str":
                return (DICT, parse_annotation(args[1], namespace))
        raise TypeError(f"cannot resolve {text!r} (expected list[X] or dict[str, X])")
    builtin = _BUILTINS.get(text)
    if builtin is not None:
        return builtin
    obj = namespace.get(text)
    if isinstance(obj, IntRange):
        return (INT, obj)
    if isinstance(obj, type) and issubclass(obj, Model):
        return (MODEL, obj)
    raise TypeError(f"cannot resolve {text!r} (not a builtin, an IntRange or a model class)")


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets, each part stripped."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts
