"""Per-client rate limit for the consent API (fixed one-minute windows, keyed by IP hash)."""

from __future__ import annotations

import time

from starlette.requests import Request

from .consent import ip_hash
from .errors import ApiError
from .http import client_ip


class RateLimiter:
    """In-process counter: each worker process limits on its own (see README, deployment)."""

    def __init__(self, per_minute: int, secret: str) -> None:
        self.per_minute = per_minute
        self.secret = secret
        self._window = 0
        self._counts: dict[str, int] = {}

    def check(self, request: Request) -> None:
        if self.per_minute <= 0:
            return
        window = int(time.time() // 60)
        if window != self._window:
            self._window, self._counts = window, {}
        key = ip_hash(self.secret, client_ip(request))
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count > self.per_minute:
            retry = str(60 - int(time.time() % 60))
            raise ApiError(429, "rate_limited",
                           f"more than {self.per_minute} requests a minute; retry in {retry} s",
                           headers={"Retry-After": retry})
