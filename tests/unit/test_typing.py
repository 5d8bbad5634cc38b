"""The package type-checks (mypy, configured in pyproject.toml), and what a user's checker sees of
the public API: typed model constructors, default_spec() returning a Spec."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    import mypy  # noqa: F401
except ImportError:  # pragma: no cover - installed by .[test]
    pytest.skip("mypy is not installed (pip install -e '.[test]')", allow_module_level=True)


def run_mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--no-error-summary", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_package_has_no_type_errors():
    result = run_mypy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout, result.stdout


def test_py_typed_marker_ships():
    assert os.path.isfile(os.path.join(ROOT, "src", "pycontainer", "py.typed"))


def test_a_users_checker_sees_the_model_fields(tmp_path):
    user = tmp_path / "user_code.py"
    user.write_text(
        textwrap.dedent(
            """\
            import pycontainer
            from pycontainer.spec import Memory, Pids, Resources

            spec = pycontainer.default_spec(["echo", "hi"], rootless=True)
            reveal_type(spec)
            reveal_type(spec.process)
            Memory(limt=3)
            Memory(limit="64m")
            Pids()
            Resources(memory=Memory(limit=64 << 20), pids=Pids(limit=10))
            pycontainer.default_spec(rootles=True)
            """
        )
    )
    # The package as a user's checker sees it once installed: its own errors are not the user's.
    result = run_mypy("--strict", "--follow-imports=silent", str(user))
    lines = [line.split(":", 2)[1:] for line in result.stdout.splitlines() if line.startswith(str(user))]
    found = {(int(number), text.strip()) for number, text in lines}
    assert found == {
        (5, 'note: Revealed type is "pycontainer.spec.models.Spec"'),
        (6, 'note: Revealed type is "pycontainer.spec.models.Process | None"'),
        (7, 'error: Unexpected keyword argument "limt" for "Memory"; did you mean "limit"?  [call-arg]'),
        (8, 'error: Argument "limit" to "Memory" has incompatible type "str"; expected "int | None"  ' + ARG),
        (9, 'error: Missing named argument "limit" for "Pids"  [call-arg]'),
        (
            11,
            'error: Unexpected keyword argument "rootles" for "default_spec"; did you mean "rootless"?  '
            + CALL,
        ),
        (11, 'note: "default_spec" defined in "pycontainer.spec.defaults"'),
    }, result.stdout + result.stderr


ARG, CALL = "[arg-type]", "[call-arg]"
