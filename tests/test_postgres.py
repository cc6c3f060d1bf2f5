"""The PostgreSQL backend's own behaviour (the shared storage tests run on it through the
`storage` fixture): schema migrations once across workers, one-line errors for an unreachable
or newer database, a bad event failing alone in a group commit, and the SQLite → PostgreSQL
copy with every chain intact."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from server.errors import StartupError
from server.migrate import MigrationError, migrate
from server.storage import Event, StoredEvent
from server.storage.chain import GENESIS, legacy_payload_hash, link
from server.storage.postgres import SCHEMA_VERSION, PostgresStorage, redact
from server.storage.sqlite import _MIGRATIONS, SqliteStorage
from tests.conftest import ROOT, TEST_SECRET, backend_settings, free_port
from tests.postgres_db import drop_test_schemas, postgres_test_url

DAY = 86400.0


@pytest.fixture
def pg_url(tmp_path: Path) -> Any:
    """A URL of an empty schema of this test's own, dropped afterwards (skips without PostgreSQL)."""
    postgres_test_url()
    yield backend_settings("postgres", tmp_path).database_url
    drop_test_schemas()


def event(consent_id: str, site: str = "demo", at: float | None = None, **fields: Any) -> Event:
    values: dict[str, Any] = {
        "categories": {"necessary": True, "analytics": False}, "policy_version": "2026-11-01",
        "method": "custom", "language": "en", "gpc": False, "user_agent": "Mozilla/5.0 Test",
        "ip_hash": "0123456789abcdef", "created_at": time.time() if at is None else at, **fields,
    }
    return Event(site=site, consent_id=consent_id, kind="given", **values)


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CRUMB_SECRET_KEY": TEST_SECRET, **env})


def shape(items: list[StoredEvent]) -> list[tuple[Any, ...]]:
    return [(s.seq, s.pos, s.event, s.payload_hash, s.chain, s.erased, s.personal_digest, s.hash_version)
            for s in items]


async def test_workers_opening_a_fresh_schema_together_migrate_it_once(pg_url: str) -> None:
    stores = [PostgresStorage(pg_url, pool_size=2) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        rows = await stores[0].pool.fetch("SELECT version FROM crumb_schema")
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        written = await asyncio.gather(*(s.append(event(f"w{i}")) for i, s in enumerate(stores)))
        assert sorted(w.pos for w in written) == [1, 2, 3, 4]
        assert (await stores[1].verify("demo")).checked == 4
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_a_schema_from_a_newer_crumb_is_refused(pg_url: str) -> None:
    store = PostgresStorage(pg_url)
    await store.open()
    await store.pool.execute("INSERT INTO crumb_schema (version) VALUES (99)")
    await store.close()
    with pytest.raises(StartupError, match="schema version 99, newer than this Crumb"):
        await PostgresStorage(pg_url).open()


async def test_an_unreachable_database_is_one_clear_error_without_the_password() -> None:
    url = f"postgresql://crumb:s3cret-pw@127.0.0.1:{free_port()}/crumb"
    with pytest.raises(StartupError) as info:
        await PostgresStorage(url).open()
    message = str(info.value)
    assert message.startswith("cannot use PostgreSQL at postgresql://crumb:***@127.0.0.1:")
    assert "s3cret-pw" not in message and "\n" not in message
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


def test_the_server_refuses_to_start_on_an_unreachable_database(tmp_path: Path) -> None:
    done = cli("--port", str(free_port()), CRUMB_DATA=str(tmp_path), CRUMB_DIST=str(tmp_path / "dist"),
               CRUMB_DATABASE_URL=f"postgresql://crumb:pw@127.0.0.1:{free_port()}/crumb")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use PostgreSQL at postgresql://crumb:***@")


async def test_one_bad_event_fails_alone_in_a_group_commit(pg_url: str) -> None:
    store = PostgresStorage(pg_url)
    await store.open()
    try:
        results = await asyncio.gather(
            *(store.append(event(f"c{i}", language="en\x00" if i == 7 else "en")) for i in range(20)),
            return_exceptions=True)
        failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
        assert failed == [7]
        assert [s.pos async for s in store.events("demo")] == list(range(1, 20))
        assert (await store.verify("demo")).ok
    finally:
        await store.close()


async def _sqlite_log(path: Path) -> list[StoredEvent]:
    """A SQLite log with two sites, an erasure, a purge checkpoint and a later append."""
    now = time.time()
    store = SqliteStorage(path)
    await store.open()
    try:
        for i in range(3):
            await store.append(event(f"old{i}", at=now - 400 * DAY))
        for i in range(5):
            await store.append(event(f"v{i % 3}", site=("demo", "shop")[i % 2]))
        await store.erase("demo", "v0", "admin")
        assert await store.purge(now - 365 * DAY) == 3
        await store.append(event("late"))
        return [s async for s in store.events()]
    finally:
        await store.close()


async def test_migration_copies_every_chain_intact_and_the_log_goes_on(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "crumb.sqlite3"
    before = await _sqlite_log(source)
    done = cli("migrate-sqlite-to-postgres", "--from", str(source), "--to", pg_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "demo: ok, 5 events, chain intact", "shop: ok, 2 events, chain intact",
        f"copied 7 events from {source} to {pg_url}"]
    store = PostgresStorage(pg_url)
    await store.open()
    try:
        assert shape([s async for s in store.events()]) == shape(before)
        erased = [s for s in before if s.erased]
        assert erased and all(s.event.user_agent == "" for s in erased)
        checkpoint = await store.pool.fetchrow("SELECT seq, pos, purged FROM checkpoints WHERE site = 'demo'")
        assert (checkpoint["pos"], checkpoint["purged"]) == (3, 3)
        new = await store.append(event("after"))
        assert new.seq > before[-1].seq and new.pos == 9
        assert [(await store.verify(s)).ok for s in await store.sites()] == [True, True]
    finally:
        await store.close()
    verified = cli("verify", CRUMB_DATA=str(tmp_path), CRUMB_DATABASE_URL=pg_url)
    assert verified.returncode == 0 and "demo: ok, 6 events, chain intact" in verified.stdout, verified


async def test_migration_keeps_a_version_1_log_verifiable(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "old.sqlite3"
    with sqlite3.connect(source) as conn:  # a log written by schema version 1 (hash format 1)
        conn.executescript(_MIGRATIONS[1] + "PRAGMA user_version=1;")
        head = GENESIS
        for i in range(3):
            e = event(f"v{i}")
            head = link(head, legacy_payload_hash(e))
            conn.execute(
                "INSERT INTO events (site, consent_id, kind, categories, services, policy_version, method, "
                "language, gpc, user_agent, ip_hash, created_at, payload_hash, chain) "
                "VALUES ('demo', ?, 'given', ?, '{}', ?, ?, ?, 0, ?, ?, ?, ?, ?)",
                (e.consent_id, json.dumps(e.categories), e.policy_version, e.method, e.language,
                 e.user_agent, e.ip_hash, e.created_at, legacy_payload_hash(e), head))
        conn.execute("INSERT INTO chain_heads (site, seq, chain) VALUES ('demo', 0, ?)", (head,))
    lines: list[str] = []
    assert await migrate(source, pg_url, out=lines) == 3
    assert lines == ["demo: ok, 3 events, chain intact"]
    store = PostgresStorage(pg_url)
    await store.open()
    try:
        assert [(s.pos, s.hash_version) async for s in store.events()] == [(1, 1), (2, 1), (3, 1)]
        assert await store.erase("demo", "v1", "admin") == 1
        assert (await store.append(event("v3"))).pos == 5
        assert (await store.verify("demo")).ok
    finally:
        await store.close()


async def test_migration_into_a_log_that_holds_events_copies_nothing(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "crumb.sqlite3"
    await _sqlite_log(source)
    store = PostgresStorage(pg_url)
    await store.open()
    await store.append(event("already-here"))
    await store.close()
    done = cli("migrate-sqlite-to-postgres", "--from", str(source), "--to", pg_url)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: --to {pg_url}: schema {pg_url.rsplit('=', 1)[1]!r} already holds a consent log; "
        "nothing was copied"]
    store = PostgresStorage(pg_url)
    await store.open()
    try:
        assert [s.event.consent_id async for s in store.events()] == ["already-here"]
    finally:
        await store.close()


async def test_migration_refuses_a_source_that_does_not_verify(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "crumb.sqlite3"
    before = await _sqlite_log(source)
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE events SET categories = '{\"analytics\":true}' WHERE seq = ?", (before[1].seq,))
    with pytest.raises(MigrationError, match=f"site shop does not verify \\(event {before[1].seq}: altered"):
        await migrate(source, pg_url)
    conn = await asyncpg.connect(pg_url.split("?")[0])
    try:
        schema = pg_url.rsplit("=", 1)[1]
        assert not await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema)
    finally:
        await conn.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "/nonexistent/crumb.sqlite3", "--to", "postgresql://127.0.0.1:1/x"],
     "error: --from /nonexistent/crumb.sqlite3: no such SQLite file"),
    (["--to", "mysql://x"], "error: --to: expected a postgresql:// URL (or set CRUMB_DATABASE_URL)"),
])
def test_migration_arguments_are_checked_with_one_line(args: list[str], message: str) -> None:
    done = cli("migrate-sqlite-to-postgres", *args)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [message]


async def test_log_tools_work_on_the_postgresql_log(tmp_path: Path, pg_url: str) -> None:
    store = PostgresStorage(pg_url)
    await store.open()
    try:
        for i, age in enumerate([400, 400, 0]):
            await store.append(event(f"c{i}", at=time.time() - age * DAY))
    finally:
        await store.close()
    env = {"CRUMB_DATA": str(tmp_path / "unused"), "CRUMB_DATABASE_URL": pg_url}
    purged = cli("purge", "--older-than", "365", **env)
    assert purged.returncode == 0 and "demo: removed 2 events created before" in purged.stdout, purged
    erased = cli("erase", "--site", "demo", "--consent-id", "c2", "--actor", "dpo@shop", **env)
    assert erased.returncode == 0, erased.stderr
    verified = cli("verify", **env)
    assert (verified.returncode, verified.stdout) == (0, "demo: ok, 2 events, chain intact\n")
    assert not (tmp_path / "unused").exists()


async def test_a_lost_writer_connection_is_replaced_and_the_chain_goes_on(pg_url: str) -> None:
    store = PostgresStorage(pg_url, pool_size=2)
    await store.open()
    try:
        await store.append(event("before"))
        assert store._writer is not None
        pid = store._writer.get_server_pid()
        await store.pool.execute("SELECT pg_terminate_backend($1)", pid)  # the database drops it
        try:  # fails if the writer learns of it mid-write, succeeds if it noticed before
            await store.append(event("in-flight"))
            kept = ["in-flight"]
        except Exception:
            kept = []
        after = await asyncio.gather(*(store.append(event(f"after{i}")) for i in range(5)))
        assert store._writer.get_server_pid() != pid
        assert [s.pos for s in after] == list(range(2 + len(kept), 7 + len(kept)))
        logged = [s.event.consent_id async for s in store.events()]
        assert logged == ["before", *kept, *(f"after{i}" for i in range(5))]
        assert (await store.verify("demo")).ok
    finally:
        await store.close()
