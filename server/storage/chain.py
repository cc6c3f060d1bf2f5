"""The per-site hash chain, shared by every backend.

Each event stores `payload_hash` and `chain = H(previous chain ‖ payload hash)`; the first
event of a site links to GENESIS (or to the purge checkpoint once old events are removed).

Payload hash, format 2 (every event written since schema version 2): SHA-256 of the event's
canonical JSON (sorted keys, no spaces, UTF-8) in which the personal fields (user agent, IP
hash) are replaced by `"personal": personal_digest(event)`. Erasure nulls the personal fields
and keeps only their digest, so an erased event's remaining fields (kind, categories, times…)
are still recomputed and checked. Format 1 (schema version 1 rows) hashed the flat event;
such rows are checked with `legacy_payload_hash` and, once erased, by their chain link only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, fields

from . import Event, StoredEvent, VerifyResult

GENESIS = "0" * 64
HASH_VERSION = 2
PERSONAL_FIELDS = ("user_agent", "ip_hash")
_EVENT_FIELDS = tuple(f.name for f in fields(Event))
_PUBLIC_FIELDS = tuple(name for name in _EVENT_FIELDS if name not in PERSONAL_FIELDS)


@dataclass(frozen=True)
class Mark:
    """A fixed point of a site's chain: the head (last event written) or a purge checkpoint."""

    seq: int
    pos: int
    chain: str


def _canonical(data: dict[str, object]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def personal_digest(event: Event) -> str:
    """SHA-256 of the event's personal fields: all that is kept of them after erasure."""
    return hashlib.sha256(_canonical({"ip_hash": event.ip_hash, "user_agent": event.user_agent})).hexdigest()


def payload_hash(event: Event, personal: str | None = None) -> str:
    """The format-2 payload hash; `personal` is the stored digest once the event is erased."""
    data: dict[str, object] = {name: getattr(event, name) for name in _PUBLIC_FIELDS}
    data["personal"] = personal if personal is not None else personal_digest(event)
    return hashlib.sha256(_canonical(data)).hexdigest()


def legacy_payload_hash(event: Event) -> str:
    """The format-1 payload hash (schema version 1): the flat event, which had no actor."""
    data = {name: getattr(event, name) for name in _EVENT_FIELDS if name != "actor"}
    return hashlib.sha256(_canonical(data)).hexdigest()


def expected_hash(item: StoredEvent) -> str | None:
    """The payload hash recomputed from what is stored, or None when nothing is left to recompute."""
    if item.hash_version == 1:
        return None if item.erased else legacy_payload_hash(item.event)
    if item.erased:
        return payload_hash(item.event, item.personal_digest) if item.personal_digest else None
    return payload_hash(item.event)


def link(previous_chain: str, payload: str) -> str:
    return hashlib.sha256((previous_chain + payload).encode("ascii")).hexdigest()


async def check_chain(site: str, events: AsyncIterable[StoredEvent], start: Mark | None,
                      head: Mark | None) -> VerifyResult:
    """Walk a site's events in seq order from the purge checkpoint `start` and compare the end
    with the recorded chain `head`. Names the first event that was altered, removed or reordered,
    and a truncated end. Positions (`StoredEvent.pos`, 1-based per site) are checked when the
    backend stores them (pos > 0)."""
    previous, last_pos, last_seq = (start.chain, start.pos, start.seq) if start else (GENESIS, 0, 0)
    checked = 0
    stream = aiter(events)
    async for item in stream:
        checked += 1
        if item.pos and item.pos != last_pos + 1:
            return VerifyResult(site, False, checked, item.seq,
                                await _misplaced(item, last_pos, last_seq, stream))
        expected = expected_hash(item)
        if expected is not None and expected != item.payload_hash:
            return VerifyResult(site, False, checked, item.seq,
                                "altered: its content does not match its payload hash")
        if link(previous, item.payload_hash) != item.chain:
            return VerifyResult(site, False, checked, item.seq,
                                "chain broken: its chain hash does not follow from the event before "
                                "(an event was altered, removed, inserted or reordered)")
        if head and item.seq == head.seq and item.chain != head.chain:
            return VerifyResult(site, False, checked, item.seq,
                                "altered: its chain hash differs from the recorded chain head")
        previous, last_pos, last_seq = item.chain, item.pos or last_pos + 1, item.seq
    if head is None and checked:
        return VerifyResult(site, False, checked, last_seq,
                            "chain head missing: the site has events but no recorded head, so events "
                            "cut off the end could not be detected")
    if head and head.seq > last_seq:
        return VerifyResult(site, False, checked, head.seq,
                            f"truncated: the log ends at event {last_seq or 'none'} but the chain head "
                            f"records event {head.seq} (position {head.pos}); the events after it were "
                            "removed")
    return VerifyResult(site, True, checked)


async def _misplaced(item: StoredEvent, last_pos: int, last_seq: int,
                     rest: AsyncIterator[StoredEvent]) -> str:
    """Why `item` is not at position last_pos + 1: reordered, or events before it removed."""
    after = f"follows position {last_pos} (event {last_seq})" if last_seq else "starts the chain"
    if item.pos <= last_pos:
        return f"reordered: it holds chain position {item.pos} but {after}"
    following = await anext(rest, None)
    if following is not None and following.pos and following.pos < item.pos:
        return (f"reordered: it holds chain position {item.pos} but {after}, and position "
                f"{following.pos} comes after it (event {following.seq})")
    first, end = last_pos + 1, item.pos - 1
    gap = f"position {first}" if first == end else f"positions {first}-{end}"
    return f"removed: the event(s) at chain {gap}, just before it, are missing"
