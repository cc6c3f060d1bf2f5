"""Storage: one protocol for the append-only consent log, one module per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from ..settings import Settings

KINDS = ("given", "updated", "withdrawn", "erased")


@dataclass(frozen=True)
class Event:
    """A consent event as the API hands it to storage (before it is chained)."""

    site: str
    consent_id: str
    kind: str
    categories: dict[str, bool]
    policy_version: str
    method: str
    language: str
    gpc: bool
    user_agent: str
    ip_hash: str
    created_at: float
    services: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredEvent:
    """An event as it stands in the log, with its place in the site's hash chain."""

    seq: int
    event: Event
    payload_hash: str
    chain: str
    erased: bool = False


@dataclass(frozen=True)
class VerifyResult:
    site: str
    ok: bool
    checked: int
    bad_seq: int | None = None
    problem: str = ""


class Storage(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the database cannot answer."""

    async def append(self, event: Event) -> StoredEvent:
        """Chain and commit one event; returns only after the commit is durable."""

    async def history(self, site: str, consent_id: str) -> list[StoredEvent]: ...

    def events(self, site: str | None = None, since: float | None = None,
               until: float | None = None) -> AsyncIterator[StoredEvent]:
        """Every event in log order, streamed (memory stays flat)."""

    async def verify(self, site: str) -> VerifyResult: ...

    async def sites(self) -> list[str]: ...

    async def erase(self, site: str, consent_id: str, actor: str) -> int:
        """Remove the personal payload (user agent, IP hash) of every event of a consent id, keep
        each payload hash so the chain still verifies, and append an `erased` event naming
        `actor`. Returns how many events were erased."""

    async def purge(self, older_than: float, site: str | None = None) -> int:
        """Delete events created before `older_than` (UTC seconds), keeping a per-site checkpoint
        (the last removed seq and its chain) so `verify` continues from there."""


def open_storage(settings: Settings) -> Storage:
    """The backend the settings choose: PostgreSQL for a postgresql:// URL, else SQLite."""
    if settings.database_url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStorage

        return PostgresStorage(settings.database_url)
    from .sqlite import SqliteStorage

    return SqliteStorage(settings.db_path)
