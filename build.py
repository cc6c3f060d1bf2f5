"""Build site widgets: `python build.py [--site ID] [--sites DIR] [--out DIR]`, the same as
`crumb build` (server/cli/build.py).

Each site config in sites/ becomes one static, minified script in data/dist/ (plus .gz and .br
copies and manifest.json); prints a size table and the embed snippet.
"""

from __future__ import annotations

import argparse
import sys

from server.cli import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.splitlines()[0])
    build.add_arguments(parser)
    return build.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
