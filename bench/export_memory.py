"""Peak memory of the admin's streamed CSV export of one million consent events.

    python bench/export_memory.py                 # 1,000,000 events, CSV
    python bench/export_memory.py --events 200000 --format ndjson --dashboard

1. Writes the events straight into a fresh SQLite log (executemany in the storage's own schema,
   payload hashes from server/storage/chain.py computed in a process pool, chained in order),
   spread over the last 30 days. A small log made the same way is checked with
   `storage.verify` first, so the rows are what Crumb writes.
2. Starts the real server (`python -m server`) on that log, logs in to the admin over HTTP and
   reads the server process's resident memory (VmRSS) as the baseline.
3. Resets the server's peak-RSS mark (/proc/PID/clear_refs), streams /admin/export.csv for the
   whole range, counting rows, while sampling its VmRSS; at the end reads its VmHWM (the peak
   RSS during the export) from /proc.

Prints the figures, the ratio peak / baseline, and one `BENCH {json}` line for bench/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.auth import hash_password  # noqa: E402
from server.storage import Event  # noqa: E402
from server.storage.chain import GENESIS, HASH_VERSION, link, payload_hash  # noqa: E402
from server.storage.sqlite import SqliteStorage  # noqa: E402
from tests.conftest import start_server, stop_server  # noqa: E402

PASSWORD = "bench password, not a secret"
TARGET_MB = 100.0
BATCH = 20_000
SITE = "demo"
CATEGORIES = ("necessary", "preferences", "analytics", "marketing")
METHODS = ("accept_all", "reject_all", "custom")
LANGUAGES = ("en", "en", "de", "fr", "es")
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"


def _event(i: int, start: float, step: float) -> Event:
    method = METHODS[i % 3]
    chosen = {c: c == "necessary" or method == "accept_all" or (method == "custom" and i % 2 == 0)
              for c in CATEGORIES}
    return Event(site=SITE, consent_id=f"bench{i:09d}", kind="given", categories=chosen, services={},
                 policy_version="2026-11-01", method=method, language=LANGUAGES[i % 5], gpc=i % 11 == 0,
                 user_agent=UA, ip_hash=f"{i:016x}", created_at=start + i * step)


def _hashed(batch: tuple[int, int, float, float]) -> list[tuple[object, ...]]:
    """Rows for events first..last-1 with their payload hashes (the costly part, run in a pool)."""
    first, last, start, step = batch
    rows: list[tuple[object, ...]] = []
    for i in range(first, last):
        e = _event(i, start, step)
        rows.append((e.site, e.consent_id, e.kind, json.dumps(e.categories, sort_keys=True),
                     json.dumps(e.services, sort_keys=True), e.policy_version, e.method, e.language,
                     int(e.gpc), e.user_agent, e.ip_hash, e.created_at, payload_hash(e), e.actor))
    return rows


def fill(db: Path, count: int) -> float:
    """Create the schema with the storage's migrations, then insert `count` chained events."""
    async def migrate() -> None:
        storage = SqliteStorage(db)
        await storage.open()
        await storage.close()

    asyncio.run(migrate())
    started = time.perf_counter()
    now = time.time()
    start, step = now - 30 * 86400 + 60, (30 * 86400 - 120) / max(1, count)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # a scratch file: durability does not matter here
    previous, seq, pos = GENESIS, 0, 0
    batches = [(first, min(count, first + BATCH), start, step) for first in range(0, count, BATCH)]
    with multiprocessing.Pool(min(4, os.cpu_count() or 1)) as pool:
        for hashed in pool.imap(_hashed, batches):  # in order: the chain links them one by one
            rows = []
            for row in hashed:
                previous = link(previous, str(row[12]))
                pos += 1
                rows.append((*row[:13], previous, pos, row[13], HASH_VERSION))
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO events (site, consent_id, kind, categories, services, policy_version, method, "
                "language, gpc, user_agent, ip_hash, created_at, payload_hash, chain, pos, actor, "
                "hash_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            seq = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            conn.execute("INSERT INTO chain_heads (site, seq, pos, chain) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(site) DO UPDATE SET seq = excluded.seq, pos = excluded.pos, "
                         "chain = excluded.chain",
                         (SITE, seq, pos, previous))
            conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def check_generator(tmp: Path) -> None:
    """A small log made by `fill` must verify with the storage's own check."""
    db = tmp / "check.sqlite3"
    fill(db, 2_000)

    async def verify() -> None:
        storage = SqliteStorage(db)
        await storage.open()
        try:
            result = await storage.verify(SITE)
        finally:
            await storage.close()
        if not result.ok or result.checked != 2_000:
            raise SystemExit(f"the generated log does not verify: {result}")

    asyncio.run(verify())


def _status_mb(pid: int, key: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def _sites(tmp: Path) -> Path:
    """The demo site with a roomy widget budget: this bench measures the export, not the widget."""
    folder = tmp / "sites"
    folder.mkdir()
    text = re.sub(r"(?m)^size_budget *=.*$", "", (ROOT / "sites" / "demo.toml").read_text("utf-8"))
    (folder / "demo.toml").write_text(text.replace("[site]\n", "[site]\nsize_budget = 1000000\n", 1), "utf-8")
    return folder


def _login(client: httpx.Client) -> None:
    page = client.get("/admin/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if not token:
        raise SystemExit(f"no login form at /admin/login (HTTP {page.status_code})")
    done = client.post("/admin/login", data={"csrf": token.group(1), "password": PASSWORD, "name": "bench"})
    if done.status_code != 303:
        raise SystemExit(f"login failed: HTTP {done.status_code}")


def measure(tmp: Path, events: int, fmt: str, with_dashboard: bool) -> dict[str, Any]:
    db = tmp / "crumb.sqlite3"
    fill_s = fill(db, events)
    print(f"wrote {events:,} events in {fill_s:.1f} s ({db.stat().st_size / 2**20:.0f} MB log)", flush=True)
    server = start_server(tmp, extra_env={"CRUMB_DB": str(db), "CRUMB_SITES": str(_sites(tmp)),
                                          "CRUMB_ADMIN_PASSWORD_HASH": hash_password(PASSWORD)})
    pid = server.process.pid
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            samples.append(_status_mb(pid, "VmRSS"))

    try:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            _login(client)
            startup_peak = _status_mb(pid, "VmHWM")
            baseline = _status_mb(pid, "VmRSS")
            # "5" resets VmHWM to the current RSS (Linux >= 4.0), so the peak read at the end is
            # the export's own, not the start-up's (site configs, widget builds).
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            first = (date.today() - timedelta(days=31)).isoformat()
            last = datetime.now(UTC).date().isoformat()
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.perf_counter()
            lines = size = 0
            with client.stream("GET", f"/admin/export.{fmt}", params={"site": SITE, "from": first,
                                                                      "to": last}) as response:
                if response.status_code != 200:
                    raise SystemExit(f"export failed: HTTP {response.status_code}")
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            seconds = time.perf_counter() - started
            stop.set()
            sampler.join()
            peak = _status_mb(pid, "VmHWM")
            dashboard = None
            if with_dashboard:  # statistics + verify, streamed from storage.events, one page load
                started = time.perf_counter()
                page = client.get("/admin/", params={"site": SITE, "from": first, "to": last})
                dashboard = round(time.perf_counter() - started, 1)
                if f'id="consent-count">{events}<' not in page.text:
                    raise SystemExit(f"the dashboard does not show {events} consents "
                                     f"(HTTP {page.status_code})")
    finally:
        stop.set()
        stop_server(server)
    rows = lines - 1 if fmt == "csv" else lines
    if rows != events:
        raise SystemExit(f"the export has {rows:,} rows, expected {events:,}")
    # flatness: the RSS in the last quarter of the export against the first quarter
    quarter = max(1, len(samples) // 4)
    early, late = max(samples[:quarter], default=baseline), max(samples[-quarter:], default=baseline)
    return {"events": events, "format": fmt.upper(), "baseline_rss_mb": round(baseline, 1),
            "startup_peak_rss_mb": round(startup_peak, 1),
            "peak_rss_mb": round(peak, 1), "ratio": round(peak / baseline, 2),
            "early_rss_mb": round(early, 1), "late_rss_mb": round(late, 1), "seconds": round(seconds, 1),
            "events_per_s": round(events / seconds), "mb": round(size / 2**20, 1),
            "dashboard_s": dashboard}


def main() -> int:
    p = argparse.ArgumentParser(prog="python bench/export_memory.py", description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events in the log (default 1,000,000)")
    p.add_argument("--format", choices=("csv", "ndjson"), default="csv", help="export format (default csv)")
    p.add_argument("--dashboard", action="store_true",
                   help="also time one dashboard page load (statistics and verify over every event)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="crumb-export-bench-") as name:
        tmp = Path(name)
        check_generator(tmp)
        r = measure(tmp, args.events, args.format, args.dashboard)
    print(f"exported {r['events']:,} events as {r['format']}: {r['mb']} MB in {r['seconds']} s "
          f"({r['events_per_s']:,} events/s)")
    print(f"server RSS: baseline {r['baseline_rss_mb']} MB after login (start-up peak "
          f"{r['startup_peak_rss_mb']} MB); during the export "
          f"{r['early_rss_mb']} MB (first quarter) -> {r['late_rss_mb']} MB (last quarter)")
    print(f"peak RSS: {r['peak_rss_mb']} MB = {r['ratio']}x the baseline "
          f"(target < {TARGET_MB:.0f} MB, flat): {'OK' if r['peak_rss_mb'] < TARGET_MB else 'MISSED'}")
    if r["dashboard_s"] is not None:
        print(f"dashboard page over {r['events']:,} events (statistics + verify): {r['dashboard_s']} s")
    print("BENCH " + json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
