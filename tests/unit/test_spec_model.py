"""spec/_model.py: the small dataclass stand-in behind the config models, and the import cost it buys."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from typing import ClassVar

import pytest

from pycontainer.spec import models
from pycontainer.spec._model import (
    ANY,
    DICT,
    FLOAT,
    INT,
    LIST,
    MISSING,
    MODEL,
    OPTIONAL,
    SCALAR,
    IntRange,
    Model,
    UInt16,
    field,
    fields,
    is_model,
    parse_annotation,
    resolve,
)

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


class Point(Model):
    """A model as the config models are written: ClassVars, required fields, defaults, factories."""

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"x"})

    x: int
    y: UInt16 = 7
    tags: list[str] = field(default_factory=list)
    label: str | None = field(default=None)


class Point3(Point):
    z: int = 0
    y: UInt16 = 8  # redefined: keeps its place, takes the new default


# --- fields ---------------------------------------------------------------------------------------------


def test_fields_in_declaration_order_without_classvars() -> None:
    assert [f.name for f in fields(Point)] == ["x", "y", "tags", "label"]
    assert [f.type for f in fields(Point)] == ["int", "UInt16", "list[str]", "str | None"]


def test_field_defaults() -> None:
    x, y, tags, label = fields(Point)
    assert x.default is MISSING and x.default_factory is MISSING
    assert y.default == 7 and y.default_factory is MISSING
    assert tags.default is MISSING and tags.default_factory is list
    assert label.default is None


def test_fields_of_an_instance_and_of_a_non_model() -> None:
    assert fields(Point(x=1)) == fields(Point)
    with pytest.raises(TypeError, match="not a model class"):
        fields(int)


def test_class_attributes_like_dataclasses() -> None:
    """A plain default stays on the class, a factory marker does not."""
    assert Point.y == 7 and Point.label is None
    assert "tags" not in Point.__dict__


def test_inherited_fields_come_first() -> None:
    assert [f.name for f in fields(Point3)] == ["x", "y", "tags", "label", "z"]
    assert Point3(x=1).y == 8 and Point(x=1).y == 7


def test_is_model() -> None:
    assert is_model(Point) and is_model(Point(x=1))
    assert not is_model(IntRange) and not is_model({"x": 1})


def test_annotations_must_be_strings() -> None:
    with pytest.raises(TypeError, match="from __future__ import annotations"):
        type("Bad", (Model,), {"__annotations__": {"x": int}})


# --- instances ------------------------------------------------------------------------------------------


def test_init_is_keyword_only_with_defaults() -> None:
    p = Point(x=1)
    assert (p.x, p.y, p.tags, p.label) == (1, 7, [], None)
    with pytest.raises(TypeError):
        Point(1)  # type: ignore[misc]


def test_factories_give_each_instance_its_own_value() -> None:
    a, b = Point(x=1), Point(x=1)
    a.tags.append("t")
    assert b.tags == []
    assert Point(x=1, tags=["given"]).tags == ["given"]


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (Point, {}, "Point.__init__() missing 1 required keyword-only argument: 'x'"),
        (Point, {"x": 1, "w": 2}, "Point.__init__() got an unexpected keyword argument 'w'"),
        (Point, {"w": 2}, "Point.__init__() got an unexpected keyword argument 'w'"),  # same count
        (
            models.IDMapping,
            {"size": 1},
            "IDMapping.__init__() missing 2 required keyword-only arguments: 'container_id' and 'host_id'",
        ),
        (
            models.Rlimit,
            {},
            "Rlimit.__init__() missing 3 required keyword-only arguments: 'type', 'hard', and 'soft'",
        ),
    ],
)
def test_bad_init_arguments_raise_type_error(cls: type, kwargs: dict, message: str) -> None:
    with pytest.raises(TypeError) as info:
        cls(**kwargs)
    assert str(info.value) == message


def test_repr_like_a_dataclass() -> None:
    assert repr(Point(x=1, tags=["a"])) == "Point(x=1, y=7, tags=['a'], label=None)"
    assert repr(models.Root(path="rootfs")) == "Root(path='rootfs', readonly=False)"


def test_eq_compares_fields_of_the_same_class() -> None:
    assert Point(x=1) == Point(x=1)
    assert Point(x=1) != Point(x=2)
    assert Point(x=1) != Point3(x=1)
    assert Point(x=1) != {"x": 1, "y": 7, "tags": [], "label": None}
    assert models.Linux() == models.Linux()


def test_models_are_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(Point(x=1))


def test_field_marker_rejects_both_defaults() -> None:
    with pytest.raises(ValueError):
        field(default=1, default_factory=list)


# --- IntRange -------------------------------------------------------------------------------------------


def test_int_range_is_an_immutable_value() -> None:
    r = IntRange("uint16", 0, 65535)
    assert r == UInt16 and hash(r) == hash(UInt16) and r != IntRange("uint16", 0, 1)
    assert repr(r) == "IntRange(name='uint16', lo=0, hi=65535)"
    with pytest.raises(AttributeError):
        r.lo = 1  # type: ignore[misc]


def test_models_module_keeps_the_range_names() -> None:
    assert models.UInt32 == IntRange("uint32", 0, 2**32 - 1)
    assert models.Int64 == IntRange("int64", -(2**63), 2**63 - 1)
    assert models.IntRange is IntRange


# --- annotations as types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("str", (SCALAR, str)),
        ("bool", (SCALAR, bool)),
        ("int", (INT, None)),
        ("float", (FLOAT, None)),
        ("object", (ANY, None)),
        ("Any", (ANY, None)),
        ("UInt16", (INT, UInt16)),
        ("Point", (MODEL, Point)),
        ("str | None", (OPTIONAL, (SCALAR, str))),
        ("None | str", (OPTIONAL, (SCALAR, str))),
        ("list[UInt16]", (LIST, (INT, UInt16))),
        ("dict[str, Point]", (DICT, (MODEL, Point))),
        ("dict[str, list[int | None]] | None", (OPTIONAL, (DICT, (LIST, (OPTIONAL, (INT, None)))))),
    ],
)
def test_parse_annotation(text: str, expected: tuple) -> None:
    assert parse_annotation(text, globals()) == expected


@pytest.mark.parametrize(
    "text",
    ["Unknown", "str | int", "str | int | None", "dict[int, str]", "tuple[str]", "set[str]", "IntRange"],
)
def test_parse_annotation_rejects_what_the_spec_does_not_use(text: str) -> None:
    with pytest.raises(TypeError, match="cannot resolve"):
        parse_annotation(text, globals())


def test_resolve_names_the_field_and_caches() -> None:
    class Broken(Model):
        ok: int = 0
        bad: Nowhere = 0  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match=r"Broken\.bad: cannot resolve 'Nowhere'"):
        resolve(Broken)
    assert resolve(Point) is resolve(Point)
    assert resolve(Point)["y"] == (INT, UInt16)


@pytest.mark.parametrize(
    "cls",
    [c for _, c in inspect.getmembers(models, inspect.isclass) if issubclass(c, Model) and c is not Model],
    ids=lambda c: c.__name__,
)
def test_every_model_annotation_resolves(cls: type[Model]) -> None:
    """Resolution is lazy (on first load), so a typo in models.py would otherwise hide until then."""
    assert set(resolve(cls)) == {f.name for f in fields(cls)}


# --- what importing costs -------------------------------------------------------------------------------

HEAVY = ("dataclasses", "typing", "pathlib", "difflib", "inspect", "logging", "ast", "dis", "tokenize")


def test_importing_spec_pulls_in_no_heavy_module() -> None:
    """Beyond json (and what json needs) and the pycontainer package itself, the spec package
    imports nothing heavy: see the module docstring of _model.py."""
    code = (
        f"import sys; sys.path[:0] = [{os.path.abspath(SRC)!r}]; "
        "import json, pycontainer, pycontainer.errors; "
        "before = set(sys.modules); import pycontainer.spec; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    added = set(out.stdout.split())
    assert "pycontainer.spec.models" in added
    assert not added & set(HEAVY), sorted(added & set(HEAVY))


def test_difflib_only_for_a_did_you_mean() -> None:
    code = (
        f"import sys; sys.path[:0] = [{os.path.abspath(SRC)!r}]; "
        "from pycontainer.spec import load_config, validate; "
        "data = {'ociVersion': '1.2.0', 'root': {'path': 'r'}, "
        "'process': {'args': ['a'], 'cwd': '/', 'user': {'uid': 0, 'gid': 0}}}; "
        "validate(load_config(data)); print('difflib' in sys.modules); "
        "data['process']['capabilities'] = {'bounding': ['CAP_SYS_ADMN']}; "
        "print(validate(load_config(data))[0].message.split('?')[0]); print('difflib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "False",
        'unknown capability "CAP_SYS_ADMN" (did you mean CAP_SYS_ADMIN',
        "True",
    ]


def test_no_generated_code() -> None:
    """Nothing exec()-ed: every model method is the one written in _model.py."""
    for cls in (models.Spec, models.Process, Point):
        for name in ("__init__", "__repr__", "__eq__"):
            assert getattr(cls, name) is getattr(Model, name)
