"""scripts/docs builds the reference documentation from the docstrings, and fails on a pdoc warning
or on a public function, class or method without a docstring."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "docs")

pdoc = pytest.importorskip("pdoc", reason="pdoc is not installed (pip install -e '.[test]')")


def test_docs_build_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "pycontainer.html").is_file()
    page = (tmp_path / "pycontainer" / "spec.html").read_text()
    assert 'id="Memory"' in page and "Int64 | None" in page  # the range aliases shown as written
    assert 'id="default_spec"' in (tmp_path / "pycontainer.html").read_text()


def test_a_public_callable_without_a_docstring_is_reported(monkeypatch):
    docs = runpy.run_path(SCRIPT, run_name="docs")
    module = types.ModuleType("fake_api", "A module.")
    exec(
        "class Box:\n"
        "    '''A box.'''\n"
        "    def open(self): pass\n"
        "    def close(self):\n"
        "        '''Close it.'''\n"
        "    def _private(self): pass\n"
        "def run(): pass\n"
        "LIMIT = 3\n",
        module.__dict__,
    )
    monkeypatch.setitem(sys.modules, "fake_api", module)
    found = docs["undocumented"](pdoc.doc.Module(module))
    assert sorted(found) == ["fake_api.Box.open", "fake_api.run"]
