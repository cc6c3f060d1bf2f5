"""The consent-log tools: `crumb verify`, `purge`, `erase` and `migrate-sqlite-to-postgres`.

They need no secret, and never create a log by accident.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import StartupError
from ..settings import Settings, load_settings

if TYPE_CHECKING:
    from ..storage import Storage


def register(commands: Any) -> None:
    p = _log_parser(commands, "verify", "check every hash chain of the consent log",
                    "Recompute every hash chain of the consent log: exit 0 when intact, 1 naming "
                    "the first altered, removed, reordered or missing event.")
    p.add_argument("--site", help="only this site")
    p.set_defaults(run=verify)

    p = _log_parser(commands, "purge", "remove events older than the retention period",
                    "Remove consent events older than the retention period, keeping a checkpoint "
                    "so `verify` still checks what remains. Refuses to run on a broken chain.")
    p.add_argument("--older-than", required=True, metavar="DAYS",
                   help="remove events created more than DAYS days ago")
    p.add_argument("--site", help="only this site")
    p.set_defaults(run=purge)

    p = _log_parser(commands, "erase", "erase one visitor's personal data on request",
                    "Erase the personal data (user agent, IP hash) of one consent id on request; "
                    "the events' hashes stay, so the chain still verifies.")
    p.add_argument("--site", required=True, help="the site id")
    p.add_argument("--consent-id", required=True, help="the consent id from the visitor's receipt")
    p.add_argument("--actor", help="who handles the request (recorded in the log; default cli:<user>)")
    p.set_defaults(run=erase)

    p = commands.add_parser(
        "migrate-sqlite-to-postgres", help="copy the SQLite log into PostgreSQL, chains intact",
        description="Copy the SQLite consent log into an empty PostgreSQL database, chains intact.")
    p.add_argument("--from", dest="source", help="SQLite file (default: CRUMB_DB or ./data/crumb.sqlite3)")
    p.add_argument("--to", dest="target", help="postgresql:// URL (default: CRUMB_DATABASE_URL)")
    p.set_defaults(run=migrate)


def _log_parser(commands: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=description)
    p.add_argument("--db", help="SQLite database file (CRUMB_DB, default <data>/crumb.sqlite3)")
    p.add_argument("--data", help="data folder (CRUMB_DATA, default ./data)")
    return p


def _log_settings(args: argparse.Namespace) -> Settings:
    settings = load_settings({"db": args.db, "data": args.data})
    if not settings.database_url and not settings.db_path.exists():
        raise StartupError(f"no consent log at {settings.db_path} (give --db or --data)")
    return settings


async def _open_log(settings: Settings) -> Storage:
    from ..storage import open_storage

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


def verify(args: argparse.Namespace) -> int:
    return asyncio.run(_verify(_log_settings(args), args.site))


async def _purge(settings: Settings, days: float, site: str | None) -> int:
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


def purge(args: argparse.Namespace) -> int:
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


def erase(args: argparse.Namespace) -> int:
    actor = args.actor or f"cli:{getpass.getuser()}"
    return asyncio.run(_erase(_log_settings(args), args.site, args.consent_id, actor))


def migrate(args: argparse.Namespace) -> int:
    from ..migrate import migrate as copy_log
    from ..storage.postgres import redact

    settings = load_settings({"db": args.source})
    target = args.target or settings.database_url
    if not target.startswith(("postgresql://", "postgres://")):
        raise StartupError("--to: expected a postgresql:// URL (or set CRUMB_DATABASE_URL)")
    lines: list[str] = []
    count = asyncio.run(copy_log(settings.db_path, target, out=lines))
    for line in lines:
        print(line)
    print(f"copied {count} events from {settings.db_path} to {redact(target)}")
    return 0
