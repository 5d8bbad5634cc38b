"""cffi build script for pycontainer._native._core (API mode, out-of-line).

setup.py names ``ffibuilder`` in cffi_modules, so ``pip install .`` compiles
core.c into the extension module.  The declarations live in core.h (and bpf.h for bpf.c),
shared by cffi's cdef and the C source.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef((HERE / "core.h").read_text() + (HERE / "bpf.h").read_text())
ffibuilder.set_source(
    "pycontainer._native._core",
    '#include "core.h"\n#include "bpf.h"\n' + (HERE / "core.c").read_text() + (HERE / "bpf.c").read_text(),
    include_dirs=[str(HERE)],
    py_limited_api=False,  # PyOS_BeforeFork and friends are not in the limited API
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(HERE.parent.parent), verbose=True)
