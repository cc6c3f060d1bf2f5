"""`crumb hash-password`: the CRUMB_ADMIN_PASSWORD_HASH value for an admin password."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from ..errors import StartupError


def register(commands: Any) -> None:
    p = commands.add_parser("hash-password", help="print the admin password hash to configure",
                            description="Print the CRUMB_ADMIN_PASSWORD_HASH value for an admin password.")
    p.add_argument("--stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import auth

    if args.stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Admin password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise StartupError("the two passwords differ; nothing was printed")
    try:
        encoded = auth.hash_password(password)
    except auth.AuthError as exc:
        raise StartupError(exc.detail) from None
    print("Set this (in single quotes) as CRUMB_ADMIN_PASSWORD_HASH and restart the server:",
          file=sys.stderr)
    print(encoded)
    return 0
