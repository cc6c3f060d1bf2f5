"""PostgreSQL backend (asyncpg pool) with group commit and a per-site lock on the chain head.

Every process has one writer task: concurrent appends are gathered into one transaction,
committed once, and only then acknowledged. Inside that transaction each site's chain is
serialised by a transaction-scoped advisory lock (keyed by schema and site, taken in key
order so two batches never deadlock), so any number of worker processes and server
instances can share one database and every site's chain stays one unbroken line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

from ..errors import StartupError
from . import Event, StoredEvent, Tally, VerifyResult
from .batching import MAX_BATCH, fail_queued, next_batch, settle
from .chain import GENESIS, HASH_VERSION, Mark, check_chain, link, payload_hash, personal_digest
from .rows import row_to_stored

SCHEMA_VERSION = 1
PAGE = 1000

# Version N means migrations 1..N are applied (rows of crumb_schema); each runs in one
# transaction with its record. Version 1 is the whole of SQLite's schema version 2.
_MIGRATIONS = {
    1: """
    CREATE TABLE events (
        seq BIGINT PRIMARY KEY,
        site TEXT NOT NULL,
        consent_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        categories JSONB NOT NULL,
        services JSONB NOT NULL,
        policy_version TEXT NOT NULL,
        method TEXT NOT NULL,
        language TEXT NOT NULL,
        gpc BOOLEAN NOT NULL,
        user_agent TEXT,
        ip_hash TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        payload_hash TEXT NOT NULL,
        chain TEXT NOT NULL,
        erased BOOLEAN NOT NULL DEFAULT FALSE,
        pos BIGINT NOT NULL,
        actor TEXT NOT NULL DEFAULT '',
        personal_digest TEXT,
        hash_version INTEGER NOT NULL
    );
    CREATE SEQUENCE events_seq OWNED BY events.seq;
    CREATE INDEX events_site_seq ON events(site, seq);
    CREATE INDEX events_consent ON events(site, consent_id);
    CREATE INDEX events_time ON events(site, created_at);
    CREATE TABLE chain_heads (
        site TEXT PRIMARY KEY, seq BIGINT NOT NULL, pos BIGINT NOT NULL, chain TEXT NOT NULL
    );
    CREATE TABLE checkpoints (
        site TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        pos BIGINT NOT NULL,
        chain TEXT NOT NULL,
        purged BIGINT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    """,
}

_COLUMNS = ("seq, site, consent_id, kind, categories::text, services::text, policy_version, method, "
            "language, gpc, user_agent, ip_hash, created_at, payload_hash, chain, erased, pos, actor, "
            "personal_digest, hash_version")

_INSERT = (
    "INSERT INTO events (seq, site, consent_id, kind, categories, services, policy_version, method, "
    "language, gpc, user_agent, ip_hash, created_at, payload_hash, chain, erased, pos, actor, "
    "personal_digest, hash_version) "
    "SELECT s, si, ci, k, ca::jsonb, se::jsonb, pv, m, l, g, ua, ip, t, ph, ch, er, po, ac, pd, hv "
    "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::text[], $9::text[], $10::boolean[], $11::text[], $12::text[], $13::float8[], $14::text[], "
    "$15::text[], $16::boolean[], $17::bigint[], $18::text[], $19::text[], $20::int[]) "
    "AS r(s, si, ci, k, ca, se, pv, m, l, g, ua, ip, t, ph, ch, er, po, ac, pd, hv)"
)

_SITES = (  # the events' sites by a recursive index walk (a loose index scan), not a full scan
    "WITH RECURSIVE s(site) AS (SELECT min(site) FROM events UNION ALL "
    "SELECT (SELECT min(site) FROM events WHERE site > s.site) FROM s WHERE s.site IS NOT NULL) "
    "SELECT site FROM s WHERE site IS NOT NULL "
    "UNION SELECT site FROM chain_heads UNION SELECT site FROM checkpoints ORDER BY 1")

_HEADS_AND_SEQS = (  # the scalar subquery runs once: exactly $2 new numbers
    "SELECT (SELECT array_agg(nextval('events_seq')) FROM generate_series(1, $2::int)) AS seqs, "
    "array_agg(site) AS sites, array_agg(pos) AS poss, array_agg(chain) AS chains "
    "FROM chain_heads WHERE site = ANY($1::text[])"
)

_INSERT_WITH_HEADS = (  # the events, then each site's new head, in one statement
    f"WITH ins AS ({_INSERT}) "
    "INSERT INTO chain_heads (site, seq, pos, chain) "
    "SELECT * FROM unnest($21::text[], $22::bigint[], $23::bigint[], $24::text[]) "
    "ON CONFLICT (site) DO UPDATE SET seq = excluded.seq, pos = excluded.pos, chain = excluded.chain"
)


def _columns(items: Sequence[StoredEvent]) -> list[list[Any]]:
    """The 20 column arrays of _INSERT for these events (an erased event has no personal fields)."""
    rows = [(s.seq, s.event.site, s.event.consent_id, s.event.kind,
             json.dumps(s.event.categories, sort_keys=True), json.dumps(s.event.services, sort_keys=True),
             s.event.policy_version, s.event.method, s.event.language, s.event.gpc,
             None if s.erased else s.event.user_agent, None if s.erased else s.event.ip_hash,
             s.event.created_at, s.payload_hash, s.chain, s.erased, s.pos, s.event.actor,
             s.personal_digest or None, s.hash_version) for s in items]
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(20)]


def schema_from_url(url: str) -> str | None:
    """The first schema of a `?search_path=` in the URL (asyncpg sends it as a server setting)."""
    values = parse_qs(urlsplit(url).query).get("search_path")
    if not values:
        return None
    first = values[0].split(",")[0].strip().strip('"')
    return first or None


class PostgresStorage:
    def __init__(self, url: str, schema: str | None = None, pool_size: int = 10) -> None:
        self.url = url
        self.schema = schema or schema_from_url(url)
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._queue: asyncio.Queue[tuple[Event, asyncio.Future[StoredEvent]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncpg.Connection | None = None  # the writer task's own pooled connection

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create the schema if named, apply pending migrations, start the writer.

        Raises StartupError naming the database (password hidden) when it cannot be reached."""
        settings = {"search_path": self.schema} if self.schema else {}
        try:
            if self.schema:
                conn = await asyncpg.connect(self.url)
                try:
                    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(self.schema)}")
                except asyncpg.UniqueViolationError:
                    pass  # created by a worker starting at the same moment
                finally:
                    await conn.close()
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=self.pool_size,
                                                   server_settings=settings)
            async with self._pool.acquire() as conn:
                self.schema = await conn.fetchval("SELECT current_schema()")
                if self.schema is None:
                    raise StartupError(f"PostgreSQL {redact(self.url)}: no schema of the search_path exists")
                await self._migrate(conn)
        except BaseException as exc:
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None
            if not isinstance(exc, OSError | TimeoutError | asyncpg.PostgresError | asyncpg.InterfaceError):
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StartupError(f"cannot use PostgreSQL at {redact(self.url)}: {reason}") from None
        self._task = asyncio.create_task(self._write_loop())

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            # Workers starting together: one migrates, the others wait, then find it done.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(self.schema or "", ":migrate"))
            await conn.execute("CREATE TABLE IF NOT EXISTS crumb_schema (version INTEGER NOT NULL)")
            version = await conn.fetchval("SELECT max(version) FROM crumb_schema") or 0
            if version > SCHEMA_VERSION:
                raise StartupError(f"PostgreSQL {redact(self.url)} has schema version {version}, newer "
                                   f"than this Crumb ({SCHEMA_VERSION}): upgrade Crumb")
            for target in sorted(v for v in _MIGRATIONS if v > version):
                await conn.execute(_MIGRATIONS[target])
                await conn.execute("INSERT INTO crumb_schema (version) VALUES ($1)", target)

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        fail_queued(self._queue)
        await self._release_writer()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresStorage is not open")
        return self._pool

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    # -- writing ---------------------------------------------------------------------------

    async def append(self, event: Event) -> StoredEvent:
        future: asyncio.Future[StoredEvent] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        return await future

    async def _write_loop(self) -> None:
        while True:
            batch = await next_batch(self._queue, MAX_BATCH)
            try:
                stored = await self._write_batch([event for event, _ in batch])
            except (ValueError, asyncpg.DataError):
                # A value that cannot be hashed or stored (a lone surrogate, a NUL character)
                # stopped the batch before its commit: write one by one, so only that event fails.
                await self._write_one_by_one(batch)
            except Exception as exc:  # e.g. connection lost: the outcome is unknown, no retry
                settle(batch, error=exc)
            else:
                settle(batch, results=stored)

    async def _write_one_by_one(self, batch: list[tuple[Event, asyncio.Future[StoredEvent]]]) -> None:
        for event, future in batch:
            try:
                stored = await self._write_batch([event])
            except Exception as exc:
                settle([(event, future)], error=exc)
            else:
                settle([(event, future)], results=stored)

    def _lock_keys(self, sites: Iterable[str]) -> list[int]:
        """Advisory lock keys of these sites' chains, ascending: two transactions taking them in
        this order never wait on each other in a cycle (even when two sites share a key)."""
        return sorted({_lock_key(self.schema or "", site) for site in sites})

    async def _lock_sites(self, conn: asyncpg.Connection, sites: Iterable[str]) -> None:
        """Serialise writers of these sites' chains until the transaction ends (any process)."""
        for key in self._lock_keys(sites):
            await conn.execute("SELECT pg_advisory_xact_lock($1)", key)

    async def _write_batch(self, events: list[Event]) -> list[StoredEvent]:
        """One transaction in four round trips on the writer's own connection: BEGIN with the
        site locks, chain heads with new seqs, events with new heads, COMMIT."""
        hashes = [payload_hash(e) for e in events]  # a value that cannot be hashed fails here
        conn = await self._writer_connection()
        keys = self._lock_keys(e.site for e in events)
        locks = "".join(f"SELECT pg_advisory_xact_lock({key});" for key in keys)
        try:
            await conn.execute(f"BEGIN;{locks}")
            stored = await self._insert(conn, events, hashes)
            await conn.execute("COMMIT")
        except BaseException as exc:
            await self._abort(conn, exc)
            raise
        return stored

    async def _writer_connection(self) -> asyncpg.Connection:
        if self._writer is not None and not _usable(self._writer):
            await self._release_writer()
        if self._writer is None:
            self._writer = await self.pool.acquire()
        return self._writer

    async def _abort(self, conn: asyncpg.Connection, exc: BaseException) -> None:
        """Roll back after an error the database reported; after anything else (connection lost,
        client state unknown) the connection goes back to the pool, which resets or replaces it."""
        if isinstance(exc, asyncpg.PostgresError | ValueError) and _usable(conn):
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            if _usable(conn) and not conn.is_in_transaction():
                return
        await self._release_writer()

    async def _release_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None and self._pool is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(conn)

    async def _insert(self, conn: asyncpg.Connection, events: list[Event],
                      hashes: list[str] | None = None) -> list[StoredEvent]:
        """Chain and insert `events` inside the caller's transaction, which holds their sites' locks."""
        hashes = hashes or [payload_hash(e) for e in events]
        sites = sorted({e.site for e in events})
        # Seqs are drawn under the lock: within a site, seq order is chain order.
        row = await conn.fetchrow(_HEADS_AND_SEQS, sites, len(events))
        heads: dict[str, tuple[int, str]] = {
            site: (pos, chain) for site, pos, chain in zip(row["sites"] or [], row["poss"] or [],
                                                           row["chains"] or [], strict=True)}
        stored = []
        for seq, e, p_hash in zip(sorted(row["seqs"]), events, hashes, strict=True):
            pos, previous = heads.get(e.site, (0, GENESIS))
            chain = link(previous, p_hash)
            heads[e.site] = (pos + 1, chain)
            stored.append(StoredEvent(seq=seq, event=e, payload_hash=p_hash, chain=chain, pos=pos + 1,
                                      hash_version=HASH_VERSION))
        tails = {s.event.site: s for s in stored}
        ends = list(tails.values())
        await conn.execute(_INSERT_WITH_HEADS, *_columns(stored), list(tails), [s.seq for s in ends],
                           [s.pos for s in ends], [s.chain for s in ends])
        return stored

    async def erase(self, site: str, consent_id: str, actor: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock_sites(conn, [site])
            items = [row_to_stored(r) for r in await conn.fetch(
                f"SELECT {_COLUMNS} FROM events WHERE site = $1 AND consent_id = $2 AND NOT erased "
                "AND kind <> 'erased' ORDER BY seq", site, consent_id)]
            if not items:
                return 0
            await conn.execute(
                "UPDATE events SET user_agent = NULL, ip_hash = NULL, erased = TRUE, personal_digest = d "
                "FROM unnest($1::bigint[], $2::text[]) AS r(s, d) WHERE events.seq = r.s",
                [s.seq for s in items],
                [personal_digest(s.event) if s.hash_version >= 2 else None for s in items])
            last = items[-1].event
            await self._insert(conn, [Event(
                site=site, consent_id=consent_id, kind="erased", categories={}, services={},
                policy_version=last.policy_version, method="erasure", language=last.language,
                gpc=False, user_agent="", ip_hash="", created_at=time.time(), actor=actor)])
            return len(items)

    async def purge(self, older_than: float, site: str | None = None) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            sites = [site] if site is not None else [
                r[0] for r in await conn.fetch("SELECT site FROM chain_heads")]
            await self._lock_sites(conn, sites)
            removed = 0
            for site_id in sites:
                # Only a prefix of the chain: everything before the first event to keep.
                first_kept = await conn.fetchval(
                    "SELECT min(seq) FROM events WHERE site = $1 AND created_at >= $2", site_id, older_than)
                row = await conn.fetchrow(
                    "SELECT seq, pos, chain FROM events WHERE site = $1 AND seq < $2 "
                    "ORDER BY seq DESC LIMIT 1", site_id, first_kept if first_kept is not None else 2**62)
                if row is None:
                    continue
                status = await conn.execute("DELETE FROM events WHERE site = $1 AND seq <= $2",
                                            site_id, row["seq"])
                count = int(status.split()[-1])
                removed += count
                await conn.execute(
                    "INSERT INTO checkpoints (site, seq, pos, chain, purged, created_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (site) DO UPDATE SET seq = excluded.seq, "
                    "pos = excluded.pos, chain = excluded.chain, "
                    "purged = checkpoints.purged + excluded.purged, created_at = excluded.created_at",
                    site_id, row["seq"], row["pos"], row["chain"], count, time.time())
            return removed

    async def import_log(self, items: AsyncIterator[StoredEvent], heads: Sequence[Sequence[Any]],
                         checkpoints: Sequence[Sequence[Any]]) -> int:
        """Copy a log exactly as another backend stores it into this empty one, in one transaction:
        events with their seq, hashes, chain, position and erasure; chain heads as rows
        (site, seq, pos, chain); checkpoints as rows (site, seq, pos, chain, purged, created_at).
        Raises ValueError, writing nothing, if this log is not empty."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE events, chain_heads, checkpoints IN EXCLUSIVE MODE")
            if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events) OR EXISTS "
                                   "(SELECT 1 FROM chain_heads) OR EXISTS (SELECT 1 FROM checkpoints)"):
                raise ValueError(f"schema {self.schema!r} already holds a consent log")
            count, batch = 0, []
            async for item in items:
                batch.append(item)
                if len(batch) >= PAGE:
                    await conn.execute(_INSERT, *_columns(batch))
                    count, batch = count + len(batch), []
            if batch:
                await conn.execute(_INSERT, *_columns(batch))
                count += len(batch)
            await conn.executemany("INSERT INTO chain_heads (site, seq, pos, chain) VALUES ($1, $2, $3, $4)",
                                   [tuple(h) for h in heads])
            await conn.executemany(
                "INSERT INTO checkpoints (site, seq, pos, chain, purged, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6)", [tuple(c) for c in checkpoints])
            top = max([await conn.fetchval("SELECT max(seq) FROM events") or 0,
                       *(h[1] for h in heads), *(c[1] for c in checkpoints)])
            await conn.execute("SELECT setval('events_seq', $1::bigint, $2)", max(top, 1), top > 0)
            sites = [r[0] for r in await conn.fetch(_SITES)]
            for site in sites:  # before the commit: a copy that does not verify is not kept
                result = await _verify_on(conn, site)
                if not result.ok:
                    raise ValueError(f"site {site} does not verify after the copy (event {result.bad_seq}: "
                                     f"{result.problem})")
        return count

    # -- reading ---------------------------------------------------------------------------

    async def history(self, site: str, consent_id: str) -> list[StoredEvent]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE site = $1 AND consent_id = $2 ORDER BY seq",
            site, consent_id)
        return [row_to_stored(r) for r in rows]

    def events(self, site: str | None = None, since: float | None = None,
               until: float | None = None) -> AsyncIterator[StoredEvent]:
        return _pages(self.pool, site, since, until)

    async def tally(self, site: str, since: float, until: float) -> list[Tally]:
        rows = await self.pool.fetch(
            "SELECT floor(created_at / 86400)::bigint, kind, method, gpc, policy_version, language, "
            "categories::text, COUNT(*) FROM events WHERE site = $1 AND created_at >= $2 "
            "AND created_at < $3 GROUP BY 1, 2, 3, 4, 5, 6, categories", site, since, until)
        return [Tally(r[0], r[1], r[2], bool(r[3]), r[4], r[5], json.loads(r[6]), r[7]) for r in rows]

    async def sites(self) -> list[str]:
        return [r[0] for r in await self.pool.fetch(_SITES)]

    async def verify(self, site: str) -> VerifyResult:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                                   readonly=True):
            return await _verify_on(conn, site)  # one snapshot: later appends are not seen


async def _verify_on(conn: asyncpg.Connection, site: str) -> VerifyResult:
    marks: list[Mark | None] = []
    for table in ("checkpoints", "chain_heads"):
        row = await conn.fetchrow(f"SELECT seq, pos, chain FROM {table} WHERE site = $1", site)
        marks.append(Mark(row["seq"], row["pos"], row["chain"]) if row else None)
    return await check_chain(site, _pages(conn, site), marks[0], marks[1])


async def _pages(db: asyncpg.Pool | asyncpg.Connection, site: str | None = None,
                 since: float | None = None, until: float | None = None) -> AsyncIterator[StoredEvent]:
    """Events in seq order in keyset pages: memory stays flat whatever the log size."""
    where: list[str] = []
    args: list[object] = []
    for clause, value in (("site = ${}", site), ("created_at >= ${}", since), ("created_at < ${}", until)):
        if value is not None:
            args.append(value)
            where.append(clause.format(len(args)))
    where.append(f"seq > ${len(args) + 1}")
    query = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY seq LIMIT {PAGE}"
    last = 0
    while True:
        rows = await db.fetch(query, *args, last)
        if not rows:
            return
        for row in rows:
            yield row_to_stored(row)
        last = rows[-1][0]


def _usable(conn: asyncpg.Connection) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when its connection was lost
        return False



def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lock_key(schema: str, site: str) -> int:
    """A stable signed 64-bit advisory lock key for (schema, site), the same in every process."""
    digest = hashlib.sha256(f"crumb:{schema}:{site}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
