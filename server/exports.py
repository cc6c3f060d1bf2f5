"""Streamed exports of the consent log (CSV for spreadsheets, NDJSON for exact proof).

Both read `storage.events` page by page and hand the response ~64 KiB chunks, so memory stays
flat whatever the range holds.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from .storage import Storage, StoredEvent

CHUNK = 64 * 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(item: StoredEvent) -> dict[str, Any]:
    """Every field of a stored event. The `Event` fields (created_at as UTC seconds) are exactly
    what `payload_hash` covers, so an auditor can recompute the chain from this record alone."""
    data: dict[str, Any] = {"seq": item.seq, **asdict(item.event),
                            "created_at_iso": iso(item.event.created_at)}
    data.update((f.name, getattr(item, f.name)) for f in fields(item) if f.name not in ("seq", "event"))
    return data


def _cell(value: str) -> str:
    """Free text that a spreadsheet would run as a formula gets a leading apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_header(categories: tuple[str, ...]) -> list[str]:
    return ["seq", "created_at", "site", "consent_id", "kind", "method", "policy_version", "language",
            "gpc", *(f"category:{c}" for c in categories), "services", "user_agent", "ip_hash",
            "erased", "actor", "payload_hash", "chain"]


def csv_row(item: StoredEvent, categories: tuple[str, ...]) -> list[object]:
    e = item.event
    return [item.seq, iso(e.created_at), e.site, e.consent_id, e.kind, e.method,
            _cell(e.policy_version), _cell(e.language), int(e.gpc),
            *("" if c not in e.categories else int(e.categories[c]) for c in categories),
            json.dumps(e.services, sort_keys=True, separators=(",", ":")), _cell(e.user_agent),
            e.ip_hash, int(item.erased), _cell(getattr(e, "actor", "")), item.payload_hash, item.chain]


async def csv_stream(storage: Storage, site: str, since: float, until: float,
                     categories: tuple[str, ...]) -> AsyncIterator[bytes]:
    """The site's events in [since, until) as CSV (UTF-8, header first), one column per category."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csv_header(categories))
    async for item in storage.events(site, since, until):
        writer.writerow(csv_row(item, categories))
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


async def ndjson_stream(storage: Storage, site: str, since: float, until: float) -> AsyncIterator[bytes]:
    """The site's events in [since, until) as one JSON object per line."""
    lines: list[str] = []
    size = 0
    async for item in storage.events(site, since, until):
        line = json.dumps(record(item), ensure_ascii=False, separators=(",", ":"))
        lines.append(line)
        size += len(line) + 1
        if size >= CHUNK:
            yield ("\n".join(lines) + "\n").encode("utf-8")
            lines, size = [], 0
    if lines:
        yield ("\n".join(lines) + "\n").encode("utf-8")
