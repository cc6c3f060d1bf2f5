"""`python -m server`: the same command line as `crumb` (see server/cli)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m server"))
