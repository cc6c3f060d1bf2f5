"""Part 4, durability under kill: wrk POSTs consents with many connections, the server is
SIGKILLed mid-load, restarted on the same data folder, and every consent_id it acknowledged
(a 201 that reached the client) must be in the log; `python -m server verify` must pass.

A SIGKILL ends the process, not the machine: this proves nothing is acknowledged before it is
committed; power loss additionally relies on synchronous=FULL (fsync at each commit).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import (
    BENCH,
    LOOPBACK,
    ROOT,
    BenchError,
    PartResult,
    Row,
    crumb_env,
    crumb_server,
    demo_consent_body,
    free_port,
    load_demo_site,
    need_wrk,
    remove,
    shown,
    sites_env,
    start,
    stop,
    temp_dir,
    wait_ready,
)

ACKS = BENCH / "acks.lua"


@dataclass(frozen=True)
class Options:
    runs: int = 5
    connections: int = 32
    load_seconds: float = 4.0  # wrk's run; the kill comes at a random point inside it


@dataclass(frozen=True)
class Outcome:
    acknowledged: int
    missing: int
    logged: int
    verify_ok: bool
    killed_at: float


async def _logged_ids(data: Path) -> set[str]:
    """Every consent_id in the log, read through the storage protocol after the restart."""
    from server.settings import load_settings
    from server.storage import open_storage

    settings = load_settings({"data": str(data)}, environ={"CRUMB_SECRET_KEY": "x" * 32})
    storage = open_storage(settings)
    await storage.open()
    try:
        return {item.event.consent_id async for item in storage.events("demo")}
    finally:
        await storage.close()


def _acked(folder: Path) -> set[str]:
    ids: set[str] = set()
    for path in folder.glob("acks-*.txt"):
        ids.update(line.strip() for line in path.read_text().splitlines() if line.strip())
    return ids


def _one(run: int, opts: Options, body: str, result: PartResult) -> Outcome:
    data = temp_dir(f"durability-{run}")
    try:
        return _kill_and_check(run, data, opts, body, result)
    finally:
        remove(data)


def _kill_and_check(run: int, data: Path, opts: Options, body: str, result: PartResult) -> Outcome:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    env = crumb_env(data, **sites_env(data, result))
    argv = [sys.executable, "-m", "server", "--host", LOOPBACK, "--port", str(port)]
    result.command(argv, shown(env))
    log = data / "server.log"
    server = start(argv, env, log)
    try:
        wait_ready(f"{url}/healthz", server, log)
        load_argv = [need_wrk(), "-t2", f"-c{opts.connections}", f"-d{opts.load_seconds:g}s",
                     "-s", str(ACKS.relative_to(ROOT)), f"{url}/api/demo/consent", "--", url, body, str(data)]
        result.command([*load_argv[:-3], "--", "ORIGIN", "BODY", "OUTDIR"])
        load = subprocess.Popen(load_argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        killed_at = random.uniform(0.3, 0.7) * opts.load_seconds
        time.sleep(killed_at)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        try:
            load.wait(opts.load_seconds + 30)
        finally:
            stop(load)
    finally:
        stop(server)
    acknowledged = _acked(data)
    if not acknowledged:
        raise BenchError(f"run {run}: no consent was acknowledged before the kill: {log.read_text()[-300:]}")
    with crumb_server(data, port, result):  # restart on the same folder; it must take writes again
        response = httpx.post(f"{url}/api/demo/consent", content=body,
                              headers={"Origin": url, "Content-Type": "application/json"})
        if response.status_code != 201:
            raise BenchError(f"run {run}: after the restart a consent POST answered {response.status_code}")
        acknowledged.add(response.json()["consent_id"])
    logged = asyncio.run(_logged_ids(data))
    verify = subprocess.run([sys.executable, "-m", "server", "verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    result.command([sys.executable, "-m", "server", "verify"], shown(env))
    outcome = Outcome(acknowledged=len(acknowledged), missing=len(acknowledged - logged),
                      logged=len(logged), verify_ok=verify.returncode == 0, killed_at=killed_at)
    if not outcome.verify_ok:
        result.notes.append(f"run {run}: verify failed: {(verify.stdout + verify.stderr).strip()[-300:]}")
    return outcome


def run(result: PartResult, opts: Options = Options()) -> None:
    need_wrk()
    body = demo_consent_body(load_demo_site().policy_version)
    outcomes = [_one(i + 1, opts, body, result) for i in range(opts.runs)]
    missing = sum(o.missing for o in outcomes)
    acked = sum(o.acknowledged for o in outcomes)
    verified = sum(o.verify_ok for o in outcomes)
    result.rows += [
        Row("acknowledged consents missing after SIGKILL + restart", f"{missing:,}",
            f"of {acked:,} acked", None, "= 0", missing == 0),
        Row("`python -m server verify` after the restart", f"{verified}/{len(outcomes)} pass",
            f"{len(outcomes)} runs", None, "all pass", verified == len(outcomes)),
    ]
    result.notes += [
        f"{opts.runs} runs; each: fresh data folder, wrk -t2 -c{opts.connections} POSTing consents for "
        f"{opts.load_seconds:g} s, SIGKILL at a random point (30-70 %), restart on the same folder, one "
        "more POST, then every acked consent_id looked up in the log (storage protocol) and verify run.",
        "Per run (acked / in log / missing / killed at s): "
        + "; ".join(f"{o.acknowledged} / {o.logged} / {o.missing} / {o.killed_at:.1f}" for o in outcomes)
        + ". The log may hold more than was acked: commits whose response never left.",
        "SIGKILL ends the process, not the machine: power loss additionally relies on synchronous=FULL.",
    ]
