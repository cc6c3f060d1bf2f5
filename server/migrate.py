"""`crumb migrate-sqlite-to-postgres` (server/cli/log.py): copy a SQLite consent log into PostgreSQL.

Every event keeps its seq, position, payload hash, chain value and erasure, and the chain heads
and purge checkpoints come along, so each site's hash chain arrives intact. The source must
verify; the copy is one transaction into an empty target that commits only if every site
verifies on the target; the command then verifies the committed copy again and reports it.
Stop the server (or point it at the old database read-only) while the copy runs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .errors import CrumbError
from .storage.postgres import PostgresStorage, redact
from .storage.sqlite import SqliteStorage

BATCH = 1000


class MigrationError(CrumbError):
    """The copy could not be made: the source is missing or broken, or the target not empty."""


async def migrate(source: Path, target_url: str, schema: str | None = None,
                  out: list[str] | None = None) -> int:
    """Copy every event of `source` into the PostgreSQL database at `target_url`; returns the count."""
    lines = out if out is not None else []
    if not source.is_file():
        raise MigrationError(f"--from {source}: no such SQLite file")
    _check_sqlite(source)
    src = SqliteStorage(source)
    dst = PostgresStorage(target_url, schema=schema)
    await src.open()  # brings an older SQLite schema up to date first
    try:
        heads, checkpoints = _read_marks(source)
        for site in await src.sites():  # a broken source would arrive broken: refuse it
            result = await src.verify(site)
            if not result.ok:
                raise MigrationError(f"--from {source}: site {site} does not verify (event "
                                     f"{result.bad_seq}: {result.problem}); nothing was copied")
        await dst.open()
        try:
            try:
                copied = await dst.import_log(src.events(), heads, checkpoints)
            except ValueError as exc:
                raise MigrationError(f"--to {redact(target_url)}: {exc}; nothing was copied") from None
            failed = []
            for site in await dst.sites():
                result = await dst.verify(site)
                if result.ok:
                    lines.append(f"{site}: ok, {result.checked} events, chain intact")
                else:
                    failed.append(f"{site}: FAILED at event {result.bad_seq}: {result.problem}")
            if failed:
                raise MigrationError("the copy does not verify on the target: " + "; ".join(failed))
        finally:
            await dst.close()
    finally:
        await src.close()
    return copied


def _check_sqlite(path: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM events").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"--from {path}: not a Crumb SQLite log ({exc})") from None


def _read_marks(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The source's chain heads and purge checkpoints, as recorded (so a truncated end or a
    purged start stays what it is)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        heads = conn.execute("SELECT site, seq, pos, chain FROM chain_heads").fetchall()
        checkpoints = conn.execute(
            "SELECT site, seq, pos, chain, purged, created_at FROM checkpoints").fetchall()
    finally:
        conn.close()
    return heads, checkpoints

