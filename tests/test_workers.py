"""Several processes on one consent log, on each backend: `--workers 2` serves concurrent visitors
and every site's chain verifies afterwards; writers in separate processes never fork a chain; a
SIGKILL of the whole server loses no acknowledged consent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from server.sites import load_sites
from server.storage import open_storage
from tests.conftest import ROOT, Server, backend_settings, start_server, stop_server

SITE = load_sites(ROOT / "sites")["demo"]
CHOICE = {
    "categories": {cid: cid in SITE.required_ids or cid == "analytics" for cid in SITE.category_ids},
    "policy_version": SITE.policy_version,
    "method": "custom",
}


def backend_env(backend: str, tmp: Path) -> dict[str, str]:
    """The server's environment for the same database `backend_settings(backend, tmp)` opens."""
    url = backend_settings(backend, tmp).database_url
    return {"CRUMB_DATABASE_URL": url} if url else {}


def worker_pids(server: Server) -> list[int]:
    """The uvicorn worker processes under the server's supervisor process."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def visit(url: str) -> tuple[str, list[str]]:
    """One visitor, each request on a new connection (so any worker may answer it): consent,
    change of mind, withdrawal. Returns the consent id and the two acknowledged event hashes."""
    with httpx.Client(base_url=url, headers={"Origin": url, "Connection": "close"}, timeout=60) as client:
        first = client.post("/api/demo/consent", json=CHOICE)
        assert first.status_code == 201, first.text
        auth = {"Authorization": f"Bearer {first.json()['token']}"}
        refused = {cid: cid in SITE.required_ids for cid in SITE.category_ids}
        second = client.post("/api/demo/consent", json={**CHOICE, "method": "reject_all",
                                                         "categories": refused}, headers=auth)
        assert second.status_code == 201, second.text
        assert second.json()["consent_id"] == first.json()["consent_id"]
        third = client.delete("/api/demo/consent", headers=auth)
        assert third.status_code == 200, third.text
    return first.json()["consent_id"], [first.json()["event_hash"], second.json()["event_hash"]]


def verify_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", "verify"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


async def test_two_workers_serve_concurrent_visitors_and_the_chain_verifies(
        backend: str, tmp_path: Path) -> None:
    server = start_server(tmp_path, backend_env(backend, tmp_path), args=("--workers", "2"))
    try:
        assert len(worker_pids(server)) == 2
        with ThreadPoolExecutor(8) as pool:
            visits = list(pool.map(lambda _: visit(server.url), range(30)))
    finally:
        stop_server(server)
    done = verify_cli(server.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo: ok, 90 events, chain intact" in done.stdout
    storage = open_storage(backend_settings(backend, tmp_path))
    await storage.open()
    try:
        logged = [s async for s in storage.events("demo")]
        assert [s.pos for s in logged] == list(range(1, 91))
        for consent_id, acked in visits:  # each step was acknowledged before the next was sent
            history = await storage.history("demo", consent_id)
            assert [s.event.kind for s in history] == ["given", "updated", "withdrawn"]
            assert [s.payload_hash for s in history[:2]] == acked
    finally:
        await storage.close()


APPENDER = """
import asyncio, sys, time
from server.settings import load_settings
from server.storage import Event, open_storage

async def main():
    storage = open_storage(load_settings({}))
    await storage.open()
    print("ready", flush=True)
    sys.stdin.readline()
    def event(i):
        return Event(site=("demo", "shop")[i % 2], consent_id=f"{sys.argv[1]}-{i}", kind="given",
                     categories={"necessary": True}, policy_version="1", method="accept_all",
                     language="en", gpc=False, user_agent="ua", ip_hash="ip", created_at=time.time())
    for start in range(0, 400, 50):  # bursts: batches of both processes interleave
        await asyncio.gather(*(storage.append(event(i)) for i in range(start, start + 50)))
    await storage.close()
    print("done", flush=True)

asyncio.run(main())
"""


async def test_writers_in_two_processes_keep_one_chain_per_site(backend: str, tmp_path: Path) -> None:
    settings = backend_settings(backend, tmp_path)
    env = {**os.environ, "CRUMB_DATA": str(tmp_path), "CRUMB_DATABASE_URL": settings.database_url}
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, name], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE) for name in ("p1", "p2")]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:  # both are connected before either writes
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0 and out.strip() == "done"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    storage = open_storage(settings)
    await storage.open()
    try:
        for site in ("demo", "shop"):
            result = await storage.verify(site)
            assert (result.ok, result.checked) == (True, 400), result
            writers = [s.event.consent_id.split("-")[0] async for s in storage.events(site)]
            assert writers.count("p1") == writers.count("p2") == 200
    finally:
        await storage.close()


async def test_sigkill_of_all_workers_loses_no_acknowledged_consent(backend: str, tmp_path: Path) -> None:
    server = start_server(tmp_path, backend_env(backend, tmp_path), args=("--workers", "2"))
    acknowledged: list[str] = []
    enough = threading.Event()

    def post_until_killed() -> None:
        with httpx.Client(headers={"Origin": server.url, "Connection": "close"}, timeout=60) as client:
            for _ in range(2000):  # bounded; the kill ends it much sooner
                try:
                    response = client.post(f"{server.url}/api/demo/consent", json=CHOICE)
                except httpx.HTTPError:
                    return
                if response.status_code != 201:
                    return
                acknowledged.append(response.json()["event_hash"])
                if len(acknowledged) >= 60:
                    enough.set()

    threads = [threading.Thread(target=post_until_killed) for _ in range(8)]
    try:
        assert len(worker_pids(server)) == 2
        for thread in threads:
            thread.start()
        assert enough.wait(120), "the server did not acknowledge 60 consents"
        for pid in [server.process.pid, *descendants(server.process.pid)]:
            os.kill(pid, signal.SIGKILL)  # mid-stream: requests are in flight in both workers
    finally:
        for thread in threads:
            thread.join(60)
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(10)
    assert server.process.returncode == -signal.SIGKILL
    storage = open_storage(backend_settings(backend, tmp_path))
    await storage.open()
    try:
        stored = {s.payload_hash async for s in storage.events("demo")}
        missing = [h for h in acknowledged if h not in stored]
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged consents were lost"
        result = await storage.verify("demo")
        assert result.ok and result.checked == len(stored) >= len(acknowledged), result
    finally:
        await storage.close()
    restarted = start_server(tmp_path, backend_env(backend, tmp_path), args=("--workers", "2"))
    try:
        visit(restarted.url)
    finally:
        stop_server(restarted)
    done = verify_cli(restarted.env)
    assert done.returncode == 0 and f"demo: ok, {len(stored) + 3} events" in done.stdout, done.stdout
