"""The log tools a site owner runs: `python -m server verify`, `purge` and `erase`."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.storage import Event
from server.storage.sqlite import SqliteStorage

from .conftest import ROOT

DAY = 86400.0


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRUMB_")}
    return subprocess.run([sys.executable, "-m", "server", *args, "--data", str(data)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


async def seed(data: Path, ages_days: list[float], site: str = "demo") -> list[int]:
    """Events of consent ids c0, c1, … created `ages_days` ago; returns their seqs."""
    storage = SqliteStorage(data / "crumb.sqlite3")
    await storage.open()
    try:
        seqs = []
        for i, age in enumerate(ages_days):
            stored = await storage.append(Event(
                site=site, consent_id=f"c{i}", kind="given", categories={"necessary": True},
                policy_version="1", method="accept_all", language="en", gpc=False,
                user_agent="UA", ip_hash="0123456789abcdef", created_at=time.time() - age * DAY))
            seqs.append(stored.seq)
        return seqs
    finally:
        await storage.close()


def count(data: Path) -> int:
    with sqlite3.connect(data / "crumb.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


async def test_verify_reports_each_site_and_exits_0_when_intact(tmp_path: Path) -> None:
    await seed(tmp_path, [0, 0, 0])
    await seed(tmp_path, [0], site="shop")
    r = run(tmp_path, "verify")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["demo: ok, 3 events, chain intact", "shop: ok, 1 events, chain intact"]
    assert run(tmp_path, "verify", "--site", "shop").stdout == "shop: ok, 1 events, chain intact\n"


async def test_verify_exits_1_naming_the_altered_event(tmp_path: Path) -> None:
    seqs = await seed(tmp_path, [0, 0, 0])
    with sqlite3.connect(tmp_path / "crumb.sqlite3") as conn:
        conn.execute("UPDATE events SET method = 'reject_all' WHERE seq = ?", (seqs[1],))
    r = run(tmp_path, "verify")
    assert r.returncode == 1
    assert r.stdout.startswith(f"demo: FAILED at event {seqs[1]}: altered")


async def test_purge_removes_old_events_and_verify_stays_green(tmp_path: Path) -> None:
    await seed(tmp_path, [400, 400, 10, 0])
    r = run(tmp_path, "purge", "--older-than", "365")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "demo: removed 2 events created before" in r.stdout
    assert count(tmp_path) == 2
    assert run(tmp_path, "verify").stdout == "demo: ok, 2 events, chain intact\n"


async def test_purge_refuses_to_destroy_a_broken_chain(tmp_path: Path) -> None:
    seqs = await seed(tmp_path, [400, 400, 0])
    with sqlite3.connect(tmp_path / "crumb.sqlite3") as conn:
        conn.execute("DELETE FROM events WHERE seq = ?", (seqs[1],))
    r = run(tmp_path, "purge", "--older-than", "365")
    assert r.returncode == 1 and f"FAILED at event {seqs[2]}: removed" in r.stdout
    assert "nothing purged" in r.stderr and count(tmp_path) == 2


async def test_erase_removes_personal_data_and_records_who_did_it(tmp_path: Path) -> None:
    await seed(tmp_path, [0, 0])
    r = run(tmp_path, "erase", "--site", "demo", "--consent-id", "c1", "--actor", "dpo@shop")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("demo: erased the personal data of 1 events of consent c1; "
                        "recorded as erased by dpo@shop\n")
    with sqlite3.connect(tmp_path / "crumb.sqlite3") as conn:
        rows = conn.execute("SELECT kind, user_agent, ip_hash, actor FROM events WHERE consent_id = 'c1' "
                            "ORDER BY seq").fetchall()
    assert rows == [("given", None, None, ""), ("erased", "", "", "dpo@shop")]
    assert run(tmp_path, "verify").returncode == 0
    again = run(tmp_path, "erase", "--site", "demo", "--consent-id", "c1")
    assert again.returncode == 1 and "nothing erased" in again.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("verify",), "error: no consent log at"),
    (("purge", "--older-than", "365"), "error: no consent log at"),
])
def test_tools_refuse_a_missing_log_in_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    r = run(tmp_path / "nowhere", *args)
    assert r.returncode == 2 and r.stderr.startswith(message) and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("days", ["soon", "-3", "nan"])
async def test_purge_refuses_a_bad_age_in_one_line(tmp_path: Path, days: str) -> None:
    await seed(tmp_path, [400])
    r = run(tmp_path, "purge", "--older-than", days)
    assert r.returncode == 2 and r.stderr.startswith("error: --older-than must be a number of days")
    assert count(tmp_path) == 1
