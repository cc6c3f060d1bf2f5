"""`crumb serve`: check everything that can be checked, then run the server under uvicorn.

Every failure at start-up ends with one line naming the problem and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
from typing import Any

from ..errors import StartupError
from ..settings import Settings, ensure_secret, load_settings


def register(commands: Any) -> None:
    p = commands.add_parser("serve", help="run the server (the default command)",
                            description="Run the Crumb server: widgets, consent API, admin and "
                            "(with --demo) the demo shop. Site configs are re-read while it runs.")
    p.add_argument("--host", help="address to listen on (CRUMB_HOST, default 127.0.0.1)")
    p.add_argument("--port", help="port (CRUMB_PORT, default 8000)")
    p.add_argument("--sites", help="site config folder (CRUMB_SITES, default ./sites)")
    p.add_argument("--data", help="data folder: secret key, SQLite log, built widgets "
                   "(CRUMB_DATA, default ./data)")
    p.add_argument("--db", help="SQLite database file (CRUMB_DB, default <data>/crumb.sqlite3)")
    p.add_argument("--workers", help="worker processes (CRUMB_WORKERS, default 1)")
    p.add_argument("--demo", action=argparse.BooleanOptionalAction, default=None,
                   help="serve the demo shop under /demo/ (CRUMB_DEMO=1/0; default: when the "
                   "sites folder holds demo.toml)")
    p.set_defaults(run=run)


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
    from ..storage import open_storage

    storage = open_storage(settings)
    await storage.open()
    await storage.close()


def run(args: argparse.Namespace) -> int:
    demo = None if args.demo is None else ("1" if args.demo else "0")
    settings = load_settings({"host": args.host, "port": args.port, "sites": args.sites,
                              "db": args.db, "data": args.data, "workers": args.workers,
                              "demo": demo})
    _check_data_dir(settings)
    settings = ensure_secret(settings)
    from ..app import create_app

    app = create_app(settings)  # validates every site config and builds the widgets
    _check_port(settings)
    asyncio.run(_check_database(settings))
    import uvicorn

    demo_note = " (demo: /demo/)" if settings.demo else ""
    print(f"Crumb serving {', '.join(sorted(app.state.sites))} on "
          f"http://{settings.host}:{settings.port}/{demo_note}", flush=True)
    if settings.workers > 1:
        os.environ.update(settings.to_env())
        uvicorn.run("server.app:app_from_env", factory=True, host=settings.host,
                    port=settings.port, workers=settings.workers, log_level="warning")
    else:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0
