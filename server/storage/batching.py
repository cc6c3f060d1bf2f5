"""Group-commit plumbing shared by the backends: a queue of (item, future) pairs that one writer
task drains in batches, acknowledging each future only after its batch committed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

MAX_BATCH = 512

Pair = tuple[Any, "asyncio.Future[Any]"]


async def next_batch(queue: asyncio.Queue[Any], limit: int = MAX_BATCH) -> list[Any]:
    """Wait for one queued pair, then take whatever else is already waiting (up to `limit`)."""
    batch = [await queue.get()]
    while len(batch) < limit and not queue.empty():
        batch.append(queue.get_nowait())
    return batch


def settle(pairs: Sequence[Pair], results: Sequence[Any] | None = None,
           error: BaseException | None = None) -> None:
    """Resolve each pair's future with its result, or all of them with `error`."""
    for i, (_, future) in enumerate(pairs):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            assert results is not None
            future.set_result(results[i])


def fail_queued(queue: asyncio.Queue[Any]) -> None:
    """On close: nothing still queued was written, so nothing is acknowledged."""
    while not queue.empty():
        _, future = queue.get_nowait()
        if not future.done():
            future.set_exception(RuntimeError("storage closed before the event was written"))
