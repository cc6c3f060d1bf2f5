"""The consent log: appends are chained and durable, erasure and purge keep `verify` green, and
`verify` names the first event that was altered, removed, reordered or cut off the end."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from server.errors import StartupError
from server.storage import Event, Storage
from server.storage.chain import GENESIS, legacy_payload_hash, link
from server.storage.postgres import PostgresStorage
from server.storage.sqlite import _MIGRATIONS, SCHEMA_VERSION, SqliteStorage
from tests.postgres_db import execute_sql

DAY = 86400.0


def event(consent_id: str = "c1", kind: str = "given", site: str = "demo", at: float | None = None,
          **fields: Any) -> Event:
    values: dict[str, Any] = {
        "categories": {"necessary": True, "analytics": True}, "policy_version": "2026-11-01",
        "method": "accept_all", "language": "en", "gpc": False, "user_agent": "Mozilla/5.0 Test",
        "ip_hash": "0123456789abcdef", "created_at": time.time() if at is None else at, **fields,
    }
    return Event(site=site, consent_id=consent_id, kind=kind, **values)


async def count(storage: Storage, site: str | None = None) -> int:
    return len([e async for e in storage.events(site)])


def tamper(storage: Storage, sql: str, *args: object) -> None:
    """Change the database behind the storage's back, as an attacker with file access would."""
    if isinstance(storage, PostgresStorage):
        execute_sql(storage.url, sql, *args)
        return
    if not isinstance(storage, SqliteStorage):
        pytest.skip(f"no raw SQL access for {type(storage).__name__}")
    with sqlite3.connect(storage.path) as conn:
        conn.execute(sql, args)


async def fill(storage: Storage, n: int, site: str = "demo") -> list[int]:
    return [(await storage.append(event(f"c{i}", site=site))).seq for i in range(n)]


async def test_appended_events_form_one_chain_per_site_and_verify(storage: Storage) -> None:
    first = await storage.append(event("a"))
    other = await storage.append(event("b", site="shop"))
    second = await storage.append(event("a", kind="updated"))
    assert first.chain == link(GENESIS, first.payload_hash)
    assert second.chain == link(first.chain, second.payload_hash)
    assert other.chain == link(GENESIS, other.payload_hash)
    assert [first.pos, second.pos, other.pos] == [1, 2, 1]
    assert [s.seq for s in await storage.history("demo", "a")] == [first.seq, second.seq]
    assert await storage.sites() == ["demo", "shop"]
    assert (await storage.verify("demo")).ok and (await storage.verify("shop")).checked == 1


async def test_concurrent_appends_share_commits_and_keep_the_chain(storage: Storage) -> None:
    stored = await asyncio.gather(*(storage.append(event(f"c{i}")) for i in range(300)))
    assert len({s.seq for s in stored}) == 300
    assert sorted(s.pos for s in stored) == list(range(1, 301))
    assert await count(storage) == 300
    result = await storage.verify("demo")
    assert (result.ok, result.checked) == (True, 300)


async def test_events_stream_filters_by_site_and_time(storage: Storage) -> None:
    now = time.time()
    await storage.append(event("old", at=now - 10 * DAY))
    await storage.append(event("new", at=now))
    await storage.append(event("elsewhere", site="shop", at=now))
    assert [e.event.consent_id async for e in storage.events("demo", since=now - DAY)] == ["new"]
    assert [e.event.consent_id async for e in storage.events(until=now - DAY)] == ["old"]


async def test_tally_counts_one_sites_events_by_day_and_field_in_the_database(storage: Storage) -> None:
    day = 20_000  # 2024-10-04 UTC
    at = day * DAY + 3600
    await storage.append(event("a", at=at))
    await storage.append(event("b", at=at + 60))
    await storage.append(event("c", at=at + DAY, method="reject_all", gpc=True,
                               categories={"necessary": True, "analytics": False}))
    await storage.append(event("a", kind="withdrawn", at=at + DAY))
    await storage.append(event("x", site="shop", at=at))
    await storage.append(event("late", at=at + 5 * DAY))
    rows = await storage.tally("demo", day * DAY, (day + 2) * DAY)
    got = sorted((t.day, t.kind, t.method, t.gpc, t.categories["analytics"], t.count) for t in rows)
    assert got == [(day, "given", "accept_all", False, True, 2),
                   (day + 1, "given", "reject_all", True, False, 1),
                   (day + 1, "withdrawn", "accept_all", False, True, 1)]


async def test_erase_removes_personal_fields_keeps_hashes_and_names_the_actor(storage: Storage) -> None:
    given = await storage.append(event("v"))
    await storage.append(event("v", kind="updated"))
    await storage.append(event("other"))
    assert await storage.erase("demo", "v", "admin:alice") == 2
    history = await storage.history("demo", "v")
    assert [s.event.kind for s in history] == ["given", "updated", "erased"]
    assert all(s.event.user_agent == "" and s.event.ip_hash == "" for s in history)
    assert history[0].erased and history[0].payload_hash == given.payload_hash
    assert history[2].event.actor == "admin:alice"
    assert (await storage.history("demo", "other"))[0].event.user_agent == "Mozilla/5.0 Test"
    assert (await storage.verify("demo")).ok
    assert await storage.erase("demo", "v", "admin:alice") == 0
    assert await storage.erase("demo", "nobody", "admin:alice") == 0
    assert await count(storage) == 4


async def test_an_erased_event_is_still_checked_for_tampering(storage: Storage) -> None:
    given = await storage.append(event("v"))
    await storage.erase("demo", "v", "cli")
    tamper(storage, "UPDATE events SET categories = ? WHERE seq = ?", '{"analytics":false}', given.seq)
    result = await storage.verify("demo")
    assert (result.ok, result.bad_seq) == (False, given.seq)
    assert result.problem.startswith("altered")


async def test_purge_removes_old_events_and_verify_continues_from_the_checkpoint(storage: Storage) -> None:
    now = time.time()
    for i in range(3):
        await storage.append(event(f"old{i}", at=now - 400 * DAY))
    await storage.append(event("old", site="shop", at=now - 400 * DAY))
    kept = await storage.append(event("new", at=now))
    assert await storage.purge(now - 365 * DAY, site="demo") == 3
    assert [e.seq async for e in storage.events("demo")] == [kept.seq]
    assert await count(storage, "shop") == 1
    assert (await storage.verify("demo")).ok
    after = await storage.append(event("later"))
    assert after.pos == 5
    assert (await storage.verify("demo")).checked == 2
    assert await storage.purge(now + DAY) == 3
    assert await count(storage) == 0
    assert [(await storage.verify(s)).ok for s in await storage.sites()] == [True, True]
    await storage.append(event("after-all"))
    assert (await storage.verify("demo")).ok


@pytest.mark.parametrize(("sql", "target", "problem"), [
    ("UPDATE events SET categories = '{\"analytics\":true,\"necessary\":true,\"marketing\":true}' "
     "WHERE seq = {seq}", 2, "altered"),
    ("UPDATE events SET created_at = created_at - 3600 WHERE seq = {seq}", 2, "altered"),
    ("UPDATE events SET payload_hash = 'ab' || substr(payload_hash, 3) WHERE seq = {seq}", 2, "altered"),
    ("UPDATE events SET chain = 'ab' || substr(chain, 3) WHERE seq = {seq}", 2, "chain broken"),
    ("DELETE FROM events WHERE seq = {seq}", 2, "removed"),
    ("UPDATE events SET seq = -seq WHERE seq = {seq}", 2, "removed"),
])
async def test_verify_names_the_first_tampered_event(storage: Storage, sql: str, target: int,
                                                     problem: str) -> None:
    seqs = await fill(storage, 5)
    tamper(storage, sql.replace("{seq}", str(seqs[target])))
    result = await storage.verify("demo")
    bad = seqs[target + 1] if problem == "removed" else seqs[target]
    assert (result.ok, result.bad_seq) == (False, bad), result
    assert result.problem.startswith(problem), result.problem


async def test_verify_names_reordered_events(storage: Storage) -> None:
    seqs = await fill(storage, 5)
    tamper(storage, "UPDATE events SET seq = CASE seq WHEN ? THEN ? ELSE ? END WHERE seq IN (?, ?)",
           seqs[1], -1, -2, seqs[1], seqs[2])
    tamper(storage, "UPDATE events SET seq = CASE seq WHEN -1 THEN ? ELSE ? END WHERE seq < 0",
           seqs[2], seqs[1])
    result = await storage.verify("demo")
    assert (result.ok, result.bad_seq) == (False, seqs[1]), result
    assert result.problem.startswith("reordered"), result.problem


async def test_verify_names_reordered_contents_when_positions_are_untouched(storage: Storage) -> None:
    seqs = await fill(storage, 4)
    tamper(storage, "UPDATE events SET consent_id = CASE consent_id WHEN 'c1' THEN 'c2' ELSE 'c1' END, "
           "payload_hash = (SELECT payload_hash FROM events e WHERE e.seq = ? + ? - events.seq), "
           "chain = (SELECT chain FROM events e WHERE e.seq = ? + ? - events.seq) WHERE seq IN (?, ?)",
           seqs[1], seqs[2], seqs[1], seqs[2], seqs[1], seqs[2])
    result = await storage.verify("demo")
    assert (result.ok, result.bad_seq) == (False, seqs[1]), result


@pytest.mark.parametrize("removed", [1, 2])
async def test_verify_detects_events_cut_off_the_end(storage: Storage, removed: int) -> None:
    seqs = await fill(storage, 4)
    tamper(storage, "DELETE FROM events WHERE seq > ?", seqs[-1 - removed])
    result = await storage.verify("demo")
    assert (result.ok, result.bad_seq) == (False, seqs[-1]), result
    assert result.problem.startswith("truncated"), result.problem


async def test_sqlite_migrates_a_version_1_log_and_keeps_it_verifiable(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(_MIGRATIONS[1] + "PRAGMA user_version=1;")
        heads: dict[str, str] = {}
        for i, site in enumerate(["demo", "shop", "demo"]):
            e = event(f"v{i}", site=site)
            p_hash = legacy_payload_hash(e)
            heads[site] = link(heads.get(site, GENESIS), p_hash)
            conn.execute(
                "INSERT INTO events (site, consent_id, kind, categories, services, policy_version, method, "
                "language, gpc, user_agent, ip_hash, created_at, payload_hash, chain) "
                "VALUES (?, ?, ?, ?, '{}', ?, ?, ?, 0, ?, ?, ?, ?, ?)",
                (site, e.consent_id, e.kind, '{"analytics": true, "necessary": true}', e.policy_version,
                 e.method, e.language, e.user_agent, e.ip_hash, e.created_at, p_hash, heads[site]))
            conn.execute("INSERT INTO chain_heads (site, seq, chain) VALUES (?, 0, ?) "
                         "ON CONFLICT(site) DO UPDATE SET chain = excluded.chain", (site, heads[site]))
    storage = SqliteStorage(path)
    await storage.open()
    try:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert [(s.pos, s.hash_version) for s in await storage.history("demo", "v2")] == [(2, 1)]
        assert (await storage.verify("demo")).ok and (await storage.verify("shop")).ok
        new = await storage.append(event("v3"))
        assert new.pos == 3
        assert await storage.erase("demo", "v0", "cli") == 1
        result = await storage.verify("demo")
        assert (result.ok, result.checked) == (True, 4), result
    finally:
        await storage.close()


async def test_sqlite_refuses_a_log_from_a_newer_crumb(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(StartupError, match="schema version 99"):
        await SqliteStorage(path).open()


async def test_verify_fails_when_the_chain_head_is_deleted(storage: Storage) -> None:
    seqs = await fill(storage, 2)
    tamper(storage, "DELETE FROM chain_heads WHERE site = 'demo'")
    assert "demo" in await storage.sites()
    result = await storage.verify("demo")
    assert (result.ok, result.bad_seq) == (False, seqs[-1]), result
    assert result.problem.startswith("chain head missing"), result.problem


async def test_one_bad_event_does_not_fail_the_others_in_its_batch(storage: Storage) -> None:
    events = [event("g0"), event("g1"), event("bad", user_agent="\ud800"), event("g2"), event("g3")]
    results = await asyncio.gather(*(storage.append(e) for e in events), return_exceptions=True)
    assert isinstance(results[2], UnicodeEncodeError)
    written = [r.event.consent_id for r in results if not isinstance(r, BaseException)]
    assert written == ["g0", "g1", "g2", "g3"]
    assert await count(storage) == 4
    assert (await storage.verify("demo")).ok
