"""The README's library example runs as printed (with this test's bundle and
state root swapped in)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.root


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- the README example.*?-->\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its library example"
    return match.group(1)


def test_readme_library_example_runs(bundle):
    config = bundle.write()
    code = readme_example()
    assert code.count("\n") <= 12  # "a ten-line example"
    code = code.replace('"specs/busybox/config.json"', repr(str(config)))
    code = code.replace('"/run/pycontainer"', repr(str(bundle.state_root)))
    code = code.replace('"readme-demo"', repr(bundle.id))
    r = subprocess.run(
        [sys.executable, "-u", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src")},
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("created ")
    assert int(lines[0].split()[1]) > 1
    assert lines[1:] == ["hello from pycontainer", "exit code 3"]
