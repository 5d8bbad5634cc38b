"""Builds the cffi extension pycontainer._native._core (API mode, out-of-line)
and the exec trampoline pycontainer/_native/pyc-trampoline beside it.

Metadata lives in pyproject.toml; this file only adds the compiled parts, so
`pip install .`, `pip install -e .` and `setup.py build_ext --inplace` all
build both.
"""

import os
import shlex
import subprocess
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext

TRAMPOLINE_SOURCE = "src/pycontainer/_native/trampoline.c"
# A static program with no libc and no start files: raw syscalls, about 2 KB.
TRAMPOLINE_FLAGS = [
    "-Os",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fno-pie",
    "-no-pie",
    "-nostdlib",
    "-static",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--build-id=none,-z,noexecstack,-z,norelro,-z,max-page-size=4096,-n,-s",
]


class BuildWithTrampoline(build_ext):
    """build_ext, then the trampoline with the same C compiler, into the
    package directory the extension goes to (in place or under build/)."""

    def run(self) -> None:
        super().run()
        target = os.path.join(
            os.path.dirname(self.get_ext_fullpath("pycontainer._native._core")), "pyc-trampoline"
        )
        cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
        subprocess.run([*cc, *TRAMPOLINE_FLAGS, "-o", target, TRAMPOLINE_SOURCE], check=True)


setup(cffi_modules=["src/pycontainer/_native/build.py:ffibuilder"], cmdclass={"build_ext": BuildWithTrampoline})
