"""jsonio's errors inside a value, in a fresh interpreter: the C scanner
needs json.decoder for them, which nsinit does not import up front."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
SCRIPT = """
import sys
sys.path.insert(0, {src!r})
from pycontainer import jsonio
assert "json.decoder" not in sys.modules
text = {text!r}
if text == "DEEP":
    text = "[" * 100000 + "]" * 100000
try:
    jsonio.loads(text)
except ValueError as e:
    print(type(e).__name__, e)
"""


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"a": 1, "b', "Unterminated string starting at: line 1 column 10"),
        ("[1, 2", "Expecting ',' delimiter: line 1 column 6"),
        ('{"a" 1}', "Expecting ':' delimiter"),
        ('{"a": [1, }', "Expecting value"),
        ("DEEP", "Nested too deeply"),
    ],
)
def test_error_inside_a_value_is_a_value_error(text, message):
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(src=SRC, text=text)], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert message in r.stdout
