"""Shared fixtures: a real Crumb server (uvicorn, free port, temporary data folder) per session,
and pytest-playwright pointed at Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from server.storage import Storage, open_storage
from tests.postgres_db import drop_test_schemas, postgres_test_url, schema_url

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CRUMB_CHROMIUM", "/usr/bin/chromium")
TRACKER_PATHS = ("/static/trackers/", "/demo/collect?")
TEST_SECRET = "test-secret-key-0123456789abcdef"
BACKENDS = ("sqlite", "postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    data: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def hits(self) -> dict[str, int]:
        return httpx.get(f"{self.url}/demo/collect/stats").json()

    def reset_hits(self) -> None:
        httpx.delete(f"{self.url}/demo/collect/stats")


def start_server(tmp: Path, extra_env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> Server:
    """Start `python -m server` on a free port and wait until /healthz answers."""
    port = free_port()
    env = {
        **os.environ,
        "CRUMB_DATA": str(tmp),
        "CRUMB_DIST": str(tmp / "dist"),
        "CRUMB_SECRET_KEY": TEST_SECRET,
        "CRUMB_RATE_LIMIT": "1000000",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # several workers on a busy 2-core machine start slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(tmp / 'server.log').read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, tmp, process, env)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not answer /healthz: {(tmp / 'server.log').read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def backend_settings(backend: str, tmp: Path, **overrides: object) -> Settings:
    """Settings for a storage backend on a fresh, empty database under `tmp` (for PostgreSQL: a
    schema of its own, the same for the same `tmp`, dropped when the test ends)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown storage backend {backend!r}")
    values: dict[str, object] = {
        "data_dir": tmp, "dist_dir": tmp / "dist", "db_path": tmp / "crumb.sqlite3",
        "database_url": schema_url(tmp) if backend == "postgres" else "",
        "secret_keys": (TEST_SECRET,), "rate_limit_per_minute": 0, **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The storage backend under test; storage and API tests run once per backend. PostgreSQL
    is skipped with a message only when none answers and CRUMB_TEST_DATABASE_URL is unset."""
    if request.param == "postgres":
        postgres_test_url()
    yield str(request.param)
    drop_test_schemas()


@pytest.fixture
async def storage(backend: str, tmp_path: Path) -> AsyncIterator[Storage]:
    """An opened, empty Storage of the backend under test."""
    store = open_storage(backend_settings(backend, tmp_path))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("crumb"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with "
                    "`apt-get install -y chromium` (or set CRUMB_CHROMIUM)", pytrace=False)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"],
    }


@pytest.fixture
def tracker_requests(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every request the page makes to a fake tracker URL, in order."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if any(p in r.url for p in TRACKER_PATHS) else None)
    return seen


def tracker_cookies(context) -> list[str]:  # type: ignore[no-untyped-def]
    names = ("_ga", "_fbp", "lumiere_prefs")
    return [c["name"] for c in context.cookies() if c["name"].startswith(names)]


@pytest.fixture(scope="session", autouse=True)
def _no_stray_dist() -> Iterator[None]:
    yield
    shutil.rmtree(ROOT / ".pytest-tmp", ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, which pytest-asyncio tests cannot share."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))
