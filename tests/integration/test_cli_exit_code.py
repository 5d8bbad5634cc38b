"""`nsinit run` returns the container's exit code, and says so clearly when
the code cannot be known: with SIGCHLD ignored (inherited across exec from
the caller) the kernel reaps the init itself and its status is gone."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.conftest import NSINIT

pytestmark = pytest.mark.root


def run_exit_7(bundle, ignore_sigchld: bool) -> subprocess.CompletedProcess[str]:
    """`nsinit run` of `exit 7`, started with SIGCHLD ignored or not."""
    bundle.config["process"]["args"] = ["/bin/sh", "-c", "exit 7"]
    bundle.config["process"]["terminal"] = False
    bundle.write()

    def child_setup() -> None:
        if ignore_sigchld:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)

    return subprocess.run(
        [*NSINIT, "--root", str(bundle.state_root), "run", "--bundle", str(bundle.path), bundle.id],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=child_setup,
    )


def test_run_returns_the_exit_code(bundle):
    r = run_exit_7(bundle, ignore_sigchld=False)
    assert r.returncode == 7, r.stderr


def test_run_with_sigchld_ignored_reports_an_unknown_exit_code(bundle):
    r = run_exit_7(bundle, ignore_sigchld=True)
    # Not a traceback and not a made-up code: one line saying why.
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert "exit code" in r.stderr and "SIGCHLD" in r.stderr, r.stderr
