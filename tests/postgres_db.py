"""Throw-away PostgreSQL schemas for tests: one random schema per test, dropped afterwards.

CRUMB_TEST_DATABASE_URL set (as `.ci/run` does): PostgreSQL tests always run, and an
unreachable server fails them. Unset: the local default is tried once and, when nothing
answers, PostgreSQL tests are skipped with a message saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
_T = TypeVar("_T")
_reachable: dict[str, str] = {}
_created: list[tuple[str, str]] = []
_SESSION = secrets.token_hex(3)


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
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _reachable[DEFAULT_URL] = f"{type(exc).__name__}: {exc}"
    if _reachable[DEFAULT_URL]:
        pytest.skip(f"PostgreSQL tests skipped: no PostgreSQL answers at {DEFAULT_URL} "
                    f"({_reachable[DEFAULT_URL]}) and CRUMB_TEST_DATABASE_URL is not set")
    return DEFAULT_URL


def schema_url(tmp: Path) -> str:
    """A URL whose search_path is this test's own schema (created by the storage on open): the
    same for the same `tmp` folder, distinct for every folder and every test session."""
    base = postgres_test_url()
    schema = f"crumb_test_{_SESSION}_{hashlib.sha256(str(tmp).encode()).hexdigest()[:10]}"
    if (base, schema) not in _created:
        _created.append((base, schema))
    return f"{base}{'&' if '?' in base else '?'}search_path={schema}"


def drop_test_schemas() -> None:
    """Drop every schema handed out by schema_url so far."""
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


def execute_sql(url: str, sql: str, *args: object) -> None:
    """Run one statement written with SQLite's `?` placeholders against the database at `url`,
    values inlined as literals (so untyped expressions like `? + ?` mean the same as in SQLite)."""
    parts = sql.split("?")
    if len(parts) != len(args) + 1:
        raise ValueError(f"{len(args)} values for {len(parts) - 1} placeholders in {sql!r}")
    text = parts[0] + "".join(_literal(value) + part for value, part in zip(args, parts[1:], strict=True))

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(text)
        finally:
            await conn.close()

    run_sync(run)


def _literal(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"no literal for {value!r}")
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)
