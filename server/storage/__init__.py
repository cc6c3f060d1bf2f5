"""Storage: one protocol for the append-only consent log, one module per backend.

Rules every backend keeps (the SQLite backend is the reference; tests/test_storage.py runs
against each backend through the `storage` fixture):
- Hashes come from `chain.py` only: `payload_hash` on append, `personal_digest` on erasure,
  `link` for the chain, and `check_chain` walks a site's events in `verify`.
- Each site has a chain head (last seq, position and chain) updated in the same transaction as
  the events, and at most one purge checkpoint (the last purged seq, position and chain).
- `seq` grows in chain order within a site; `pos` counts a site's events from 1 without gaps.
- Personal fields are `chain.PERSONAL_FIELDS` (user agent, IP hash); nothing else is erased.
"""

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
    actor: str = ""  # who erased the consent id (kind "erased" only)


@dataclass(frozen=True)
class StoredEvent:
    """An event as it stands in the log, with its place in the site's hash chain."""

    seq: int
    event: Event
    payload_hash: str
    chain: str
    erased: bool = False
    pos: int = 0  # 1-based position in the site's chain (0: the backend does not store it)
    personal_digest: str = ""  # chain.personal_digest of the erased personal fields
    hash_version: int = 2  # chain.HASH_VERSION the payload hash was computed with


@dataclass(frozen=True)
class Tally:
    """How many events of one site share a UTC day and every field the dashboard breaks down by."""

    day: int  # days since 1970-01-01, UTC
    kind: str
    method: str
    gpc: bool
    policy_version: str
    language: str
    categories: dict[str, bool]
    count: int


@dataclass(frozen=True)
class VerifyResult:
    """`bad_seq` names the first event that is altered, missing after, or out of order."""

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
        """Chain and commit one event; returns only after the commit is durable. Concurrent
        appends share transactions (group commit). Raises when the event was not committed."""

    async def history(self, site: str, consent_id: str) -> list[StoredEvent]: ...

    def events(self, site: str | None = None, since: float | None = None,
               until: float | None = None) -> AsyncIterator[StoredEvent]:
        """Every event in log order, streamed (memory stays flat)."""

    async def verify(self, site: str) -> VerifyResult:
        """Recompute the site's chain from its checkpoint with `chain.check_chain`, on one
        consistent snapshot, comparing the end with the site's chain head."""

    async def sites(self) -> list[str]:
        """Every site that has a chain (events, a head or a checkpoint), sorted."""

    async def tally(self, site: str, since: float, until: float) -> list[Tally]:
        """One site's events in [since, until) counted in the database (one GROUP BY), so the
        dashboard never streams the log itself."""

    async def erase(self, site: str, consent_id: str, actor: str) -> int:
        """Remove the personal payload (user agent, IP hash) of every event of a consent id, keep
        each payload hash so the chain still verifies, and append an `erased` event naming
        `actor` (chained like any event, in the same transaction). Returns how many events were
        erased; when there is nothing left to erase, returns 0 and appends nothing."""

    async def purge(self, older_than: float, site: str | None = None) -> int:
        """Delete events created before `older_than` (UTC seconds), keeping a per-site checkpoint
        (the last removed seq and its chain) so `verify` continues from there. Only a prefix of
        each site's chain is removed: the events before the site's first event at or after
        `older_than`. Returns how many events were removed."""


def open_storage(settings: Settings) -> Storage:
    """The backend the settings choose: PostgreSQL for a postgresql:// URL, else SQLite."""
    if settings.database_url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStorage

        return PostgresStorage(settings.database_url)
    from .sqlite import SqliteStorage

    return SqliteStorage(settings.db_path)
