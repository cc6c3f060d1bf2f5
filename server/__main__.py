"""Command line: `python -m server [serve] [--host --port --sites --db --workers]` and tools.

Every failure at start-up ends with one line naming the problem and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import CrumbError, StartupError
from .settings import Settings, ensure_secret, load_settings

if TYPE_CHECKING:
    from .storage import Storage


def _serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m server", description="Run the Crumb server.")
    p.add_argument("--host", help="address to listen on (CRUMB_HOST, default 127.0.0.1)")
    p.add_argument("--port", help="port (CRUMB_PORT, default 8000)")
    p.add_argument("--sites", help="site config folder (CRUMB_SITES, default ./sites)")
    p.add_argument("--db", help="SQLite database file (CRUMB_DB, default ./data/crumb.sqlite3)")
    p.add_argument("--data", help="data folder (CRUMB_DATA, default ./data)")
    p.add_argument("--workers", help="worker processes (CRUMB_WORKERS, default 1)")
    return p


def _check_data_dir(settings: Settings) -> None:
    folder = settings.db_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".crumb-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"data folder {folder} is not writable: {exc.strerror}") from None


def _check_port(settings: Settings) -> None:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"port {settings.port} on {settings.host} is already in use "
                                   "(choose another with --port)") from None
            raise StartupError(f"cannot listen on {settings.host}:{settings.port}: "
                               f"{exc.strerror}") from None


async def _check_database(settings: Settings) -> None:
    """Open the log once before any worker starts: migrations run once, and an unreachable
    database is a one-line error (StartupError) instead of a failing worker."""
    from .storage import open_storage

    storage = open_storage(settings)
    await storage.open()
    await storage.close()


def serve(argv: list[str]) -> int:
    args = _serve_parser().parse_args(argv)
    settings = load_settings({"host": args.host, "port": args.port, "sites": args.sites,
                              "db": args.db, "data": args.data, "workers": args.workers})
    _check_data_dir(settings)
    settings = ensure_secret(settings)
    from .app import create_app

    app = create_app(settings)  # validates every site config and builds the widgets
    _check_port(settings)
    asyncio.run(_check_database(settings))
    import uvicorn

    print(f"Crumb serving {', '.join(sorted(app.state.sites))} on "
          f"http://{settings.host}:{settings.port}/ (demo: /demo/)", flush=True)
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        uvicorn.run("server.app:app_from_env", factory=True, host=settings.host,
                    port=settings.port, workers=settings.workers, log_level="warning")
    else:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def _log_parser(command: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m server {command}", description=description)
    p.add_argument("--db", help="SQLite database file (CRUMB_DB, default <data>/crumb.sqlite3)")
    p.add_argument("--data", help="data folder (CRUMB_DATA, default ./data)")
    return p


def _log_settings(args: argparse.Namespace) -> Settings:
    """Settings for the log tools: they need no secret, and never create a log by accident."""
    settings = load_settings({"db": args.db, "data": args.data})
    if not settings.database_url and not settings.db_path.exists():
        raise StartupError(f"no consent log at {settings.db_path} (give --db or --data)")
    return settings


async def _open_log(settings: Settings) -> Storage:
    from .storage import open_storage

    storage = open_storage(settings)
    await storage.open()
    return storage


async def _verify_sites(storage: Storage, sites: list[str]) -> int:
    failed = 0
    for site_id in sites:
        result = await storage.verify(site_id)
        if result.ok:
            print(f"{site_id}: ok, {result.checked} events, chain intact")
        else:
            failed += 1
            print(f"{site_id}: FAILED at event {result.bad_seq}: {result.problem}")
    return 1 if failed else 0


async def _verify(settings: Settings, site: str | None) -> int:
    storage = await _open_log(settings)
    try:
        sites = [site] if site else await storage.sites()
        if not sites:
            print("the consent log holds no events yet")
        return await _verify_sites(storage, sites)
    finally:
        await storage.close()


def verify(argv: list[str]) -> int:
    """Exit 0 when every chain is intact, 1 naming the first bad event of each broken chain."""
    p = _log_parser("verify", "Recompute every hash chain of the consent log.")
    p.add_argument("--site", help="only this site")
    args = p.parse_args(argv)
    return asyncio.run(_verify(_log_settings(args), args.site))


async def _purge(settings: Settings, days: float, site: str | None) -> int:
    from datetime import UTC, datetime

    cutoff = time.time() - days * 86400
    storage = await _open_log(settings)
    try:
        sites = [site] if site else await storage.sites()
        if await _verify_sites(storage, sites):  # a broken chain is evidence: keep it
            print("nothing purged: fix or investigate the broken chain first", file=sys.stderr)
            return 1
        when = datetime.fromtimestamp(cutoff, UTC).isoformat(timespec="seconds")
        for site_id in sites:
            removed = await storage.purge(cutoff, site_id)
            print(f"{site_id}: removed {removed} events created before {when}Z; "
                  "verify continues from the checkpoint")
        return await _verify_sites(storage, sites)
    finally:
        await storage.close()


def purge(argv: list[str]) -> int:
    p = _log_parser("purge", "Remove consent events older than the retention period, keeping a "
                    "checkpoint so `verify` still checks what remains.")
    p.add_argument("--older-than", required=True, metavar="DAYS",
                   help="remove events created more than DAYS days ago")
    p.add_argument("--site", help="only this site")
    args = p.parse_args(argv)
    try:
        days = float(args.older_than)
    except ValueError:
        days = -1.0
    if not 0 <= days < 100000:
        raise StartupError(f"--older-than must be a number of days (0 or more), got {args.older_than!r}")
    return asyncio.run(_purge(_log_settings(args), days, args.site))


async def _erase(settings: Settings, site: str, consent_id: str, actor: str) -> int:
    storage = await _open_log(settings)
    try:
        erased = await storage.erase(site, consent_id, actor)
    finally:
        await storage.close()
    if not erased:
        print(f"{site}: consent {consent_id} has no events with personal data; nothing erased",
              file=sys.stderr)
        return 1
    print(f"{site}: erased the personal data of {erased} events of consent {consent_id}; "
          f"recorded as erased by {actor}")
    return 0


def erase(argv: list[str]) -> int:
    p = _log_parser("erase", "Erase the personal data (user agent, IP hash) of one consent id on "
                    "request; the events' hashes stay, so the chain still verifies.")
    p.add_argument("--site", required=True, help="the site id")
    p.add_argument("--consent-id", required=True, help="the consent id from the visitor's receipt")
    p.add_argument("--actor", help="who handles the request (recorded in the log; default cli:<user>)")
    args = p.parse_args(argv)
    actor = args.actor or f"cli:{getpass.getuser()}"
    return asyncio.run(_erase(_log_settings(args), args.site, args.consent_id, actor))


def hash_password(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m server hash-password",
        description="Print the CRUMB_ADMIN_PASSWORD_HASH value for an admin password.")
    p.add_argument("--stdin", action="store_true", help="read the password from the first line of stdin")
    args = p.parse_args(argv)
    from . import auth

    if args.stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

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


def migrate_sqlite_to_postgres(argv: list[str]) -> int:
    from .migrate import main as run

    return run(argv)


COMMANDS: dict[str, Callable[[list[str]], int]] = {"serve": serve, "verify": verify,
                                                   "purge": purge, "erase": erase,
                                                   "hash-password": hash_password,
                                                   "migrate-sqlite-to-postgres": migrate_sqlite_to_postgres}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    try:
        if command is not None:
            return command(argv[1:])
        return serve(argv)
    except CrumbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
