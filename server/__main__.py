"""Command line: `python -m server [serve] [--host --port --sites --db --workers]` and tools.

Every failure at start-up ends with one line naming the problem and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sys
from collections.abc import Callable

from .errors import CrumbError, StartupError
from .settings import Settings, ensure_secret, load_settings


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


async def _verify(settings: Settings, site: str | None) -> int:
    from .storage import open_storage

    storage = open_storage(settings)
    await storage.open()
    try:
        sites = [site] if site else await storage.sites()
        failed = 0
        for site_id in sites:
            result = await storage.verify(site_id)
            if result.ok:
                print(f"{site_id}: ok, {result.checked} events, chain intact")
            else:
                failed += 1
                print(f"{site_id}: FAILED at event {result.bad_seq}: {result.problem}")
        return 1 if failed else 0
    finally:
        await storage.close()


def verify(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m server verify",
                                description="Recompute every hash chain of the consent log.")
    p.add_argument("--site", help="only this site")
    p.add_argument("--db", help="SQLite database file")
    args = p.parse_args(argv)
    settings = ensure_secret(load_settings({"db": args.db}))
    return asyncio.run(_verify(settings, args.site))


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
