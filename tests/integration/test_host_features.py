"""A fresh machine of another kind: nsinit as installed, when ``python3`` on
PATH is a version manager's shim (pyenv's, here), and what pip installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO


def test_install_nsinit_names_the_interpreter_behind_a_shim(tmp_path):
    """A shim on PATH as ``python3`` (a script that runs the real one, as
    pyenv's do): the installed nsinit's first line names the real interpreter,
    with -I -S, and it runs with an empty environment, as engines call it."""
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    shim.chmod(0o755)
    dest = tmp_path / "nsinit"
    env = {"PATH": f"{shims}:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO / "src")}
    subprocess.run(["sh", str(REPO / "scripts" / "install-nsinit"), str(dest)], check=True, env=env)
    first = dest.read_text().splitlines()[0]
    assert first == f"#!{sys.executable} -IS"
    r = subprocess.run([str(dest), "features"], env={}, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and '"ociVersionMax"' in r.stdout, r.stderr


def test_pip_installs_no_nsinit_of_its_own(tmp_path):
    """pip's copy of a script loses its "-I -S" and, in pyenv's bin, gets a
    shim that comes before /usr/local/bin on PATH: the package has none, and
    scripts/install-nsinit is the one way nsinit is installed."""
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler (Debian package gcc): the wheel has a C extension")
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "rootfs", "*.so")
    shutil.copytree(REPO, source, ignore=ignore)
    argv = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        str(tmp_path / "wheel"),
        str(source),
    ]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "No matching distribution" in r.stderr:
        pytest.skip(f"pip cannot get the build requirements here: {r.stderr.strip()[-300:]}")
    assert r.returncode == 0, r.stderr
    (wheel,) = os.listdir(tmp_path / "wheel")
    names = zipfile.ZipFile(tmp_path / "wheel" / wheel).namelist()
    assert [n for n in names if n.startswith("pycontainer/cli/")]  # the package is there
    assert not [n for n in names if ".data/scripts/" in n or n.endswith("entry_points.txt")], names
