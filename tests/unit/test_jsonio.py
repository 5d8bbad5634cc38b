"""jsonio must read and write what the json package does, for our shapes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pycontainer import jsonio

SAMPLES = [
    {"a": [1, 2.5, None, True, False, 'é\n"x\\'], "b": {}, "c": [], "d": {"e": {"f": [1, {"g": -3}]}}},
    [],
    "s",
    0,
    -1.25e300,
    {"ociVersion": "1.2.0", "process": {"args": ["/bin/sh", "-c", "echo 🐍"], "user": {"uid": 0}}},
]


@pytest.mark.parametrize("value", SAMPLES)
def test_dumps_matches_json(value):
    assert jsonio.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert jsonio.dumps(value, indent=2) == json.dumps(value, indent=2)


@pytest.mark.parametrize("value", SAMPLES)
def test_round_trip(value):
    assert jsonio.loads(jsonio.dumps(value)) == value
    assert jsonio.loads(json.dumps(value, indent=4).encode()) == value


@pytest.mark.parametrize(
    "text, line, col",
    [('{"a": ', 1, 7), ("  ", 1, 3), ('{"a":1} x', 1, 9), ('{"a": 1,}', 1, 9), ('\n\n  {"x": tru}', 3, 9)],
)
def test_errors_carry_line_and_column(text, line, col):
    with pytest.raises(ValueError) as info:
        jsonio.loads(text)
    assert (info.value.lineno, info.value.colno) == (line, col)


@pytest.mark.parametrize("text", ["NaN", "[1, Infinity]", '{"a": -Infinity}'])
def test_non_json_constants_are_rejected(text):
    with pytest.raises(ValueError, match="is not a JSON value"):
        jsonio.loads(text)


def test_unserializable_values():
    with pytest.raises(TypeError):
        jsonio.dumps({"a": object()})
    with pytest.raises(TypeError):
        jsonio.dumps({1: "a"})
    with pytest.raises(ValueError):
        jsonio.dumps(float("nan"))


def test_importing_it_does_not_import_re_or_enum():
    code = "import sys; import pycontainer.jsonio; print(sorted({'re', 'enum', 'json'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0]={sys.path!r}; {code}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"
