"""The per-site hash chain: payload hash of each event, chain = H(previous chain ‖ payload hash)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from . import Event

GENESIS = "0" * 64


def payload_hash(event: Event) -> str:
    """SHA-256 of the event's canonical JSON (sorted keys, no spaces)."""
    data = json.dumps(asdict(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def link(previous_chain: str, payload: str) -> str:
    return hashlib.sha256((previous_chain + payload).encode("ascii")).hexdigest()
