"""``python3 -m pycontainer ...`` is ``nsinit ...``."""

import sys

from pycontainer.cli import main

sys.exit(main())
