"""Reading a log row back into a StoredEvent: both backends select the same columns in the same
order (each module's `_COLUMNS`), so one function serves both."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from . import Event, StoredEvent


def row_to_stored(row: Sequence[Any]) -> StoredEvent:
    event = Event(
        site=row[1], consent_id=row[2], kind=row[3], categories=json.loads(row[4]),
        services=json.loads(row[5]), policy_version=row[6], method=row[7], language=row[8],
        gpc=bool(row[9]), user_agent=row[10] or "", ip_hash=row[11] or "", created_at=row[12],
        actor=row[17],
    )
    return StoredEvent(seq=row[0], event=event, payload_hash=row[13], chain=row[14],
                       erased=bool(row[15]), pos=row[16], personal_digest=row[18] or "",
                       hash_version=row[19])


