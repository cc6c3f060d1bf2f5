"""The `crumb` command, also `python -m server`: one parser, one subcommand per tool.

Each module of this package adds its subcommands in `register(commands)` and gives each a
`run(args) -> exit code` default. No subcommand, or only flags, means `serve`. Every failure ends
with one line naming the problem (`error: …`) and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import CrumbError
from . import build, init, log, password, serve

MODULES = (serve, build, init, log, password)


def parser(prog: str = "crumb") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Crumb: self-hosted cookie consent, its consent API and proof-of-consent log.",
        epilog=f"`{prog} COMMAND --help` explains one command; with no command, `{prog}` serves.")
    commands = p.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for module in MODULES:
        module.register(commands)
    return p


def main(argv: list[str] | None = None, prog: str = "crumb") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]  # `python -m server --port 9000` serves, as it always did
    args = parser(prog).parse_args(argv)
    try:
        code: int = args.run(args)
    except CrumbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
