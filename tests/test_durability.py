"""No data lost: the real server is SIGKILLed while clients POST consents concurrently, restarted
on the same data folder, and every consent event it acknowledged is in the log, which still verifies.
Each client keeps its cookie, so the log holds first consents and updates of the same ids."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from .conftest import ROOT, backend_settings, start_server, stop_server

CLIENTS = 8
KILL_AFTER = 300  # acknowledged consents before the kill
CHOICE = {"categories": {"necessary": True, "preferences": True, "analytics": False, "marketing": False},
          "policy_version": "2026-11-01", "language": "en", "method": "custom"}


def _sites(tmp: Path) -> tuple[str, ...]:
    """The demo site with a size budget that cannot fail the start (the widget is not tested here)."""
    folder = tmp / "sites"
    folder.mkdir()
    (folder / "demo.toml").write_text((ROOT / "sites" / "demo.toml").read_text().replace(
        "[site]\n", "[site]\nsize_budget = 100000\n", 1))
    return ("--sites", str(folder))


def test_every_acknowledged_consent_survives_a_sigkill(backend: str, tmp_path: Path) -> None:
    args = _sites(tmp_path)
    env = {"CRUMB_DATABASE_URL": backend_settings(backend, tmp_path).database_url}  # empty: SQLite
    server = start_server(tmp_path, env, args=args)
    acked: list[tuple[str, str, str]] = []  # consent id, token, event hash
    ended_by_error: list[str] = []
    lock = threading.Lock()

    def visitor() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while True:
                try:
                    r = client.post("/api/demo/consent", json=CHOICE, headers={"Origin": server.url})
                except httpx.HTTPError as exc:  # the server is gone: this request was never acknowledged
                    with lock:
                        ended_by_error.append(type(exc).__name__)
                    return
                assert r.status_code == 201, r.text
                with lock:
                    acked.append((r.json()["consent_id"], r.json()["token"], r.json()["event_hash"]))

    threads = [threading.Thread(target=visitor, daemon=True) for _ in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(acked) >= KILL_AFTER, f"only {len(acked)} consents acknowledged before the deadline"
        server.process.kill()  # SIGKILL: no shutdown, no flush, mid-load
        server.process.wait(10)
    finally:
        if server.process.poll() is None:
            stop_server(server)
        for t in threads:
            t.join(30)
    assert len(ended_by_error) == CLIENTS  # every client was still posting when the server died

    restarted = start_server(tmp_path, env, args=args)
    try:
        missing = []
        with httpx.Client(base_url=restarted.url, timeout=10) as client:
            for consent_id, token, event_hash in acked:
                r = client.get("/api/demo/consent/receipt", headers={"Authorization": f"Bearer {token}"})
                history = r.json().get("history", []) if r.status_code == 200 else []
                if event_hash not in {h["payload_hash"] for h in history}:
                    missing.append(consent_id)
            after = client.post("/api/demo/consent", json=CHOICE, headers={"Origin": restarted.url})
            assert after.status_code == 201
    finally:
        stop_server(restarted)
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged consents are not in the log"

    check = subprocess.run([sys.executable, "-m", "server", "verify"], cwd=ROOT, env=restarted.env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("demo: ok, ")
