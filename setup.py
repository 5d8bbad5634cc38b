"""Builds the cffi extension pycontainer._native._core (API mode, out-of-line).

Metadata lives in pyproject.toml; this file only adds the compiled module, so
`pip install .` and `pip install -e .` both compile it.
"""

from setuptools import setup

setup(cffi_modules=["src/pycontainer/_native/build.py:ffibuilder"])
