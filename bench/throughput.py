"""Part 3, throughput: wrk against the real server vs a bare Starlette hello-world, same run.

Consent POST (valid consents from an allowed origin, synchronous=FULL, group commit) and
widget GET, each against the bare app under identical uvicorn settings; optionally consent
POST on PostgreSQL with 2 workers vs SQLite with 1. The load generator shares the machine.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import profile
from bench.common import (
    BENCH,
    LOOPBACK,
    ROOT,
    BenchError,
    PartResult,
    Row,
    WrkResult,
    bare_server,
    crumb_server,
    demo_consent_body,
    free_port,
    load_demo_site,
    need_wrk,
    ratio_row,
    remove,
    temp_dir,
    wrk,
)

LOAD = BENCH / "load.lua"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Options:
    seconds: float = 8.0
    warmup: float = 2.0
    rounds: int = 2
    connections: int = 50
    profile: bool | None = None  # None: profile only when a target is missed


@dataclass(frozen=True)
class Run:
    wrk: WrkResult
    cpu_us: float  # server CPU time (user + system, all its threads) per request, in µs


def _median(runs: list[Run]) -> tuple[float, float, int]:
    return (statistics.median(r.wrk.rps for r in runs), statistics.median(r.wrk.p99_ms for r in runs),
            sum(r.wrk.status_errors + r.wrk.socket_errors for r in runs))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of `pid` so far (one process only)."""
    ticks = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _measure(cases: dict[str, tuple[str, list[str], int]], opts: Options,
             result: PartResult) -> dict[str, list[Run]]:
    """Warm each case up, then measure every case once per round, alternating."""
    for url, args, _ in cases.values():
        wrk(url, LOAD, args, None, connections=opts.connections, seconds=opts.warmup)
    runs: dict[str, list[Run]] = {name: [] for name in cases}
    for _ in range(opts.rounds):
        for name, (url, args, pid) in cases.items():
            before = _cpu_seconds(pid)
            load = wrk(url, LOAD, args, result, connections=opts.connections, seconds=opts.seconds)
            cpu = _cpu_seconds(pid) - before
            runs[name].append(Run(load, cpu / load.requests * 1e6 if load.requests else 0.0))
    return runs


def _check_post(url: str, origin: str, body: str) -> None:
    response = httpx.post(url, content=body, headers={"Origin": origin, "Content-Type": "application/json"})
    if response.status_code != 201:
        raise BenchError(f"a consent POST answered {response.status_code}, not 201: {response.text[:200]}")


def run(result: PartResult, opts: Options = Options()) -> None:
    need_wrk()
    body = demo_consent_body(load_demo_site().policy_version)
    data = temp_dir("throughput")
    crumb_port, bare_port = free_port(), free_port()
    crumb = f"http://{LOOPBACK}:{crumb_port}"
    bare = f"http://{LOOPBACK}:{bare_port}/"
    post_url = f"{crumb}/api/demo/consent"
    try:
        with crumb_server(data, crumb_port, result) as server, \
                bare_server(bare_port, data / "bare.log", result, data / "dist" / "demo.js.br") as bare_proc:
            _check_post(post_url, crumb, body)
            runs = _measure({
                "bare GET": (bare, ["GET", crumb], bare_proc.pid),
                "widget GET": (f"{crumb}/widget/demo.js", ["GET", crumb], server.pid),
                "bare GET same bytes": (f"{bare}file", ["GET", crumb], bare_proc.pid),
                "bare POST": (bare, ["POST", crumb, body], bare_proc.pid),
                "consent POST": (post_url, ["POST", crumb, body], server.pid),
            }, opts, result)
            rows = _rows(runs)
            missed = any(r.met is False for r in rows)
            if opts.profile or (opts.profile is None and missed):
                _profile(server.pid, post_url, crumb, body, opts, result)
        result.rows += rows
        result.notes.append(
            f"wrk -t2 -c{opts.connections}, {opts.warmup:g} s warm-up per case, then {opts.rounds} "
            f"rounds of {opts.seconds:g} s alternating bare/Crumb; medians. wrk shares the 2 cores "
            "with the server (nothing pinned). Bare POST reads the body and answers 13 bytes; "
            "'same bytes' = the bare app answering the widget's brotli file from memory.")
        sqlite_rps = statistics.median(r.wrk.rps for r in runs["consent POST"])
        result.rows += _postgres(result, opts, body, sqlite_rps)
    finally:
        remove(data)


def _rows(runs: dict[str, list[Run]]) -> list[Row]:
    b_get, b_get_p99, _ = _median(runs["bare GET"])
    w_get, w_get_p99, w_err = _median(runs["widget GET"])
    b_file, _, _ = _median(runs["bare GET same bytes"])
    b_post, b_post_p99, _ = _median(runs["bare POST"])
    c_post, c_post_p99, c_err = _median(runs["consent POST"])

    def cpu(name: str) -> float:
        return float(statistics.median(r.cpu_us for r in runs[name]))

    return [
        ratio_row("consent POST req/s (SQLite FULL, 1 worker) vs bare POST", c_post, b_post,
                  "{:,.0f}/s", "≥ 0.60", at_least=0.60,
                  note=f"{c_err} errors" if c_err else ""),
        ratio_row("consent POST p99 latency vs bare", c_post_p99, b_post_p99, "{:.1f} ms", "report"),
        ratio_row("widget GET req/s vs bare GET", w_get, b_get, "{:,.0f}/s", "≥ 0.85", at_least=0.85,
                  note=f"{w_err} errors" if w_err else ""),
        ratio_row("widget GET p99 latency vs bare", w_get_p99, b_get_p99, "{:.1f} ms", "report"),
        ratio_row("widget GET req/s vs bare GET of the same brotli bytes", w_get, b_file, "{:,.0f}/s",
                  "report"),
        _cpu_row("consent POST", cpu("consent POST"), cpu("bare POST")),
        _cpu_row("widget GET", cpu("widget GET"), cpu("bare GET")),
    ]


def _cpu_row(what: str, crumb: float, bare: float) -> Row:
    """Server CPU per request; the ratio is bare ÷ Crumb: the share of bare's req/s a CPU-bound
    Crumb could reach. Less sensitive to other load on the machine than req/s."""
    return Row(f"server CPU per {what} request vs bare (ratio: bare ÷ Crumb, CPU-bound ceiling)",
               f"{crumb:,.0f} µs", f"{bare:,.0f} µs", bare / crumb if crumb else None, "report", None)


def _profile(pid: int, url: str, origin: str, body: str, opts: Options, result: PartResult) -> None:
    """Sample the server with py-spy during one more consent POST run; notes say where time goes."""
    if not profile.available():
        result.notes.append("profile skipped: py-spy is not installed (pip install -e '.[bench]')")
        return
    out = Path(profile.record_during(pid, opts.seconds, lambda: wrk(
        url, LOAD, ["POST", origin, body], None, connections=opts.connections, seconds=opts.seconds)))
    result.command(profile.command(pid, opts.seconds, out.name))
    result.notes += profile.summarise(out)


# --- PostgreSQL, 2 workers (issue 9) -----------------------------------------------------------

async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _postgres(result: PartResult, opts: Options, body: str, sqlite_rps: float) -> list[Row]:
    if not (ROOT / "server" / "storage" / "postgres.py").exists():
        result.notes.append("PostgreSQL row skipped: server/storage/postgres.py does not exist yet")
        return []
    base_url = os.environ.get("CRUMB_DATABASE_URL") or DEFAULT_PG
    name = f"crumb_bench_{os.getpid()}_{int(time.time())}"
    db_url = base_url.rsplit("/", 1)[0] + "/" + name
    try:
        asyncio.run(_admin(base_url, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        result.notes.append(f"PostgreSQL row skipped: cannot create a fresh database at {base_url} ({exc})")
        return []
    data = temp_dir("pg")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    try:
        with crumb_server(data, port, result, ("--workers", "2"), CRUMB_DATABASE_URL=db_url) as server:
            _check_post(f"{url}/api/demo/consent", url, body)
            runs = _measure({"pg POST": (f"{url}/api/demo/consent", ["POST", url, body], server.pid)},
                            opts, result)
        rps, p99, errors = _median(runs["pg POST"])
        result.notes.append(f"PostgreSQL: a fresh database {name} on {base_url.rsplit('/', 1)[0]}, "
                            "dropped afterwards.")
        note = f"p99 {p99:.1f} ms" + (f", {errors} errors" if errors else "")
        return [ratio_row("consent POST req/s, PostgreSQL 2 workers vs SQLite 1 worker", rps, sqlite_rps,
                          "{:,.0f}/s", "report", note=note)]
    except BenchError as exc:
        result.notes.append(f"PostgreSQL row failed: {exc}")
        return []
    finally:
        remove(data)
        try:
            asyncio.run(_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception as exc:
            result.notes.append(f"could not drop database {name}: {exc}")
