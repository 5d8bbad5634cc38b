"""The ``nsinit`` command line: a thin layer over the library.

args.py is the argument model (runc's flags), commands.py does each command,
and ``main`` ties them together with runc's error conventions: one line on
stderr, a JSON log line with ``--log-format json``, exit code 1.
"""

from pycontainer.cli.main import main

__all__ = ["main"]
