"""Load and sustained use, bounded for the suite (benchmarks/load.py and
benchmarks/soak.py are the full commands: 200 containers, 2,000 cycles).

PYCONTAINER_LOAD=200 and PYCONTAINER_SOAK=2000 run the full sizes here too.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import load  # noqa: E402
import soak  # noqa: E402

pytestmark = pytest.mark.root

LOAD = int(os.environ.get("PYCONTAINER_LOAD", "24"))
SOAK = int(os.environ.get("PYCONTAINER_SOAK", "150"))


def _sleeping_bundle(bundle):
    bundle.config["process"]["args"] = ["/bin/sleep", "600"]
    bundle.write()
    return bundle.path


def _check(figures: dict) -> None:
    assert not figures["errors"], figures["errors"][:5]
    assert not figures["observer_failures"], figures["observer_failures"][:5]
    assert not figures["leftovers"], figures["leftovers"]
    assert figures["list_calls"] > 0 and figures["state_calls"] > 0


def test_parallel_nsinit_processes(bundle, tmp_path):
    figures = load.run_load(
        LOAD, 8, "cli", str(tmp_path / "state"), _sleeping_bundle(bundle), prefix=f"t-load-{os.getpid()}-"
    )
    _check(figures)


def test_library_threads(bundle, tmp_path):
    figures = load.run_load(
        max(LOAD, 60), 16, "library", str(tmp_path / "state"), _sleeping_bundle(bundle), prefix="t-lload-"
    )
    _check(figures)


def test_sustained_library_cycles_do_not_grow(bundle, tmp_path):
    """Container.run again and again in this process: its fds stay exactly
    the same, its memory within a page or two of noise."""
    bundle.config["process"]["args"] = ["/bin/true"]
    bundle.write()
    warmup = min(30, SOAK // 3)
    figures = soak.run_soak(SOAK, "library", bundle.path, str(tmp_path / "state"), "t-soak-", warmup, 30)
    assert not figures["errors"], figures["errors"][:5]
    assert not figures["state_dirs_left"]
    assert figures["growth"]["self_fds"] == 0, figures["samples"]
    assert figures["growth"]["self_rss_kb"] < 2048, figures["samples"]


def test_sustained_cli_cycles(bundle, tmp_path):
    bundle.config["process"]["args"] = ["/bin/true"]
    bundle.write()
    cycles = max(SOAK // 5, 10)
    figures = soak.run_soak(cycles, "cli", bundle.path, str(tmp_path / "state"), "t-csoak-", 5, 10)
    assert not figures["errors"], figures["errors"][:5]
    assert not figures["state_dirs_left"]
