"""Throw-away PostgreSQL schemas for tests: one random schema per test, dropped afterwards.

CRUMB_TEST_DATABASE_URL set (as `.ci/run` does): PostgreSQL tests always run, and an
unreachable server fails them. Unset: the local default is tried once and, when nothing
answers, PostgreSQL tests are skipped with a message saying so.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
_T = TypeVar("_T")
_reachable: dict[str, str] = {}
_created: list[tuple[str, str]] = []


def run_sync(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion in its own thread and loop (safe inside pytest-asyncio)."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_call(factory))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


async def _call(factory: Callable[[], Awaitable[_T]]) -> _T:
    return await factory()


def postgres_test_url() -> str:
    """The test server's URL, or pytest.skip when none is configured and none answers locally."""
    configured = os.environ.get("CRUMB_TEST_DATABASE_URL", "").strip()
    if configured:
        return configured
    if DEFAULT_URL not in _reachable:
        async def probe() -> str:
            conn = await asyncpg.connect(DEFAULT_URL, timeout=3)
            await conn.close()
            return ""
        try:
            _reachable[DEFAULT_URL] = run_sync(probe)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            _reachable[DEFAULT_URL] = f"{type(exc).__name__}: {exc}"
    if _reachable[DEFAULT_URL]:
        pytest.skip(f"PostgreSQL tests skipped: no PostgreSQL answers at {DEFAULT_URL} "
                    f"({_reachable[DEFAULT_URL]}) and CRUMB_TEST_DATABASE_URL is not set")
    return DEFAULT_URL


def new_schema_url() -> str:
    """A URL whose search_path is a fresh, random schema (created by the storage on open)."""
    base = postgres_test_url()
    schema = f"crumb_test_{secrets.token_hex(6)}"
    _created.append((base, schema))
    return f"{base}{'&' if '?' in base else '?'}search_path={schema}"


def drop_test_schemas() -> None:
    """Drop every schema handed out by new_schema_url so far."""
    while _created:
        _drop_schema(*_created.pop())


def _drop_schema(base: str, schema: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    run_sync(drop)
