"""SQLite backend (aiosqlite, WAL, synchronous=FULL) with group commit.

All writes go through one writer task: concurrent appends are gathered into one transaction,
committed once, and only then acknowledged. The chain head is read inside the write
transaction (BEGIN IMMEDIATE), so several worker processes sharing the file stay correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite

from . import Event, StoredEvent, VerifyResult
from .chain import GENESIS, link, payload_hash

SCHEMA_VERSION = 1
MAX_BATCH = 512

_MIGRATIONS = {
    1: """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        site TEXT NOT NULL,
        consent_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        categories TEXT NOT NULL,
        services TEXT NOT NULL,
        policy_version TEXT NOT NULL,
        method TEXT NOT NULL,
        language TEXT NOT NULL,
        gpc INTEGER NOT NULL,
        user_agent TEXT,
        ip_hash TEXT,
        created_at REAL NOT NULL,
        payload_hash TEXT NOT NULL,
        chain TEXT NOT NULL,
        erased INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX events_consent ON events(site, consent_id);
    CREATE INDEX events_time ON events(site, created_at);
    CREATE TABLE chain_heads (site TEXT PRIMARY KEY, seq INTEGER NOT NULL, chain TEXT NOT NULL);
    """,
}

_COLUMNS = ("seq, site, consent_id, kind, categories, services, policy_version, method, language, "
            "gpc, user_agent, ip_hash, created_at, payload_hash, chain, erased")


def row_to_stored(row: Any) -> StoredEvent:
    event = Event(
        site=row[1], consent_id=row[2], kind=row[3], categories=json.loads(row[4]),
        services=json.loads(row[5]), policy_version=row[6], method=row[7], language=row[8],
        gpc=bool(row[9]), user_agent=row[10] or "", ip_hash=row[11] or "", created_at=row[12],
    )
    return StoredEvent(seq=row[0], event=event, payload_hash=row[13], chain=row[14],
                       erased=bool(row[15]))


class SqliteStorage:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[tuple[Event, asyncio.Future[StoredEvent]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute("PRAGMA busy_timeout=30000")
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self._migrate(self._writer)
        self._reader = await self._connect()
        self._task = asyncio.create_task(self._write_loop())

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            version = (await (await conn.execute("PRAGMA user_version")).fetchone() or (0,))[0]
            for target in sorted(v for v in _MIGRATIONS if v > version):
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version={target}")
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None

    async def ping(self) -> None:
        assert self._reader is not None
        await (await self._reader.execute("SELECT 1")).fetchone()

    async def append(self, event: Event) -> StoredEvent:
        future: asyncio.Future[StoredEvent] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                stored = await self._write_batch([event for event, _ in batch])
            except Exception as exc:  # every waiter learns the batch failed; nothing acknowledged
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), item in zip(batch, stored, strict=True):
                if not future.done():
                    future.set_result(item)

    async def _write_batch(self, events: list[Event]) -> list[StoredEvent]:
        conn = self._writer
        assert conn is not None
        await conn.execute("BEGIN IMMEDIATE")
        try:
            heads: dict[str, str] = {}
            for site in {e.site for e in events}:
                row = await (await conn.execute(
                    "SELECT chain FROM chain_heads WHERE site = ?", (site,))).fetchone()
                heads[site] = row[0] if row else GENESIS
            rows, stored = [], []
            for e in events:
                p_hash = payload_hash(e)
                chain = link(heads[e.site], p_hash)
                heads[e.site] = chain
                rows.append((e.site, e.consent_id, e.kind, json.dumps(e.categories, sort_keys=True),
                             json.dumps(e.services, sort_keys=True), e.policy_version, e.method,
                             e.language, int(e.gpc), e.user_agent, e.ip_hash, e.created_at,
                             p_hash, chain))
                stored.append((e, p_hash, chain))
            cursor = await conn.executemany(
                "INSERT INTO events (site, consent_id, kind, categories, services, policy_version, "
                "method, language, gpc, user_agent, ip_hash, created_at, payload_hash, chain) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            await cursor.close()
            last = (await (await conn.execute("SELECT last_insert_rowid()")).fetchone() or (0,))[0]
            first = last - len(rows) + 1
            await conn.executemany(
                "INSERT INTO chain_heads (site, seq, chain) VALUES (?, 0, ?) "
                "ON CONFLICT(site) DO UPDATE SET chain = excluded.chain",
                list(heads.items()))
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return [StoredEvent(seq=first + i, event=e, payload_hash=p, chain=c)
                for i, (e, p, c) in enumerate(stored)]

    async def history(self, site: str, consent_id: str) -> list[StoredEvent]:
        assert self._reader is not None
        cursor = await self._reader.execute(
            f"SELECT {_COLUMNS} FROM events WHERE site = ? AND consent_id = ? ORDER BY seq",
            (site, consent_id))
        return [row_to_stored(r) for r in await cursor.fetchall()]

    async def events(self, site: str | None = None, since: float | None = None,
                     until: float | None = None) -> AsyncIterator[StoredEvent]:
        assert self._reader is not None
        where: list[str] = ["1=1"]
        args: list[object] = []
        if site is not None:
            where.append("site = ?")
            args.append(site)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        if until is not None:
            where.append("created_at < ?")
            args.append(until)
        last = 0
        while True:  # keyset pages: memory stays flat whatever the log size
            cursor = await self._reader.execute(
                f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} AND seq > ? "
                "ORDER BY seq LIMIT 1000", (*args, last))
            rows = await cursor.fetchall()
            if not rows:
                return
            for row in rows:
                yield row_to_stored(row)
            last = list(rows)[-1][0]

    async def sites(self) -> list[str]:
        assert self._reader is not None
        cursor = await self._reader.execute("SELECT site FROM chain_heads ORDER BY site")
        return [r[0] for r in await cursor.fetchall()]

    async def verify(self, site: str) -> VerifyResult:
        previous, checked = GENESIS, 0
        async for item in self.events(site):
            checked += 1
            expected = item.payload_hash if item.erased else payload_hash(item.event)
            if expected != item.payload_hash:
                return VerifyResult(site, False, checked, item.seq, "payload was altered")
            if link(previous, item.payload_hash) != item.chain:
                return VerifyResult(site, False, checked, item.seq,
                                    "chain broken: an event before it was removed or reordered")
            previous = item.chain
        return VerifyResult(site, True, checked)
