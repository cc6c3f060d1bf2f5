"""Consent statistics for the admin dashboard, computed from the streamed log (memory stays flat)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from .errors import ApiError
from .storage import Storage

CHOICE_KINDS = ("given", "updated")
METHOD_LABELS = {"accept_all": "Accept all", "reject_all": "Reject all", "custom": "Custom"}
MAX_DAYS = 366
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class DayRange:
    """Whole UTC days, `first` to `last` inclusive."""

    first: date
    last: date

    @property
    def since(self) -> float:
        return datetime(self.first.year, self.first.month, self.first.day, tzinfo=UTC).timestamp()

    @property
    def until(self) -> float:
        after = self.last + timedelta(days=1)
        return datetime(after.year, after.month, after.day, tzinfo=UTC).timestamp()

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def _day(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid_date", f"{name}: expected a date like 2026-11-25, got {raw!r}") from None


def parse_range(raw_from: str | None, raw_to: str | None, today: date,
                max_days: int | None = MAX_DAYS, default_days: int = 30) -> DayRange:
    """The range the admin asked for (default: the last `default_days` days up to today)."""
    last = _day("to", raw_to) if raw_to else today
    first = _day("from", raw_from) if raw_from else last - timedelta(days=default_days - 1)
    if first > last:
        raise ApiError(400, "invalid_range", f"from ({first}) is after to ({last})")
    if max_days is not None and (last - first).days + 1 > max_days:
        raise ApiError(400, "range_too_long",
                       f"the dashboard shows at most {max_days} days at a time; export longer ranges")
    return DayRange(first, last)


def day_of(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


@dataclass
class Stats:
    site: str
    days: DayRange
    consents: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    gpc: int = 0
    opted_in: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    per_day: Counter[date] = field(default_factory=Counter)
    policy_versions: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)

    def choice_rows(self) -> list[tuple[str, int, str]]:
        """(label, count, share of consents) for each method, then GPC."""
        rows = [(label, self.methods[m], percent(self.methods[m], self.consents))
                for m, label in METHOD_LABELS.items()]
        rows += [(label, n, percent(n, self.consents))
                 for label, n in sorted(self.methods.items()) if label not in METHOD_LABELS]
        rows.append(("Global Privacy Control signal", self.gpc, percent(self.gpc, self.consents)))
        return rows

    def category_rows(self, configured: tuple[str, ...]) -> list[tuple[str, int, int, str]]:
        """(category, opted in, answered, opt-in rate): configured categories first."""
        order = [*configured, *sorted(c for c in self.answered if c not in configured)]
        return [(c, self.opted_in[c], self.answered[c], percent(self.opted_in[c], self.answered[c]))
                for c in order]

    def daily(self) -> list[tuple[date, int]]:
        return [(d, self.per_day[d]) for d in self.days.days()]

    @staticmethod
    def breakdown(counter: Counter[str]) -> list[tuple[str, int]]:
        return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


async def collect(storage: Storage, site: str, days: DayRange) -> Stats:
    """Count one site's events in `days`: choices (given/updated) by method, GPC, category, day,
    policy version and language; withdrawals and erasures by kind. The database does the counting
    (storage.tally: one GROUP BY), so a large log is not streamed through Python."""
    stats = Stats(site, days)
    for t in await storage.tally(site, days.since, days.until):
        stats.kinds[t.kind] += t.count
        if t.kind not in CHOICE_KINDS:
            continue
        stats.consents += t.count
        stats.methods[t.method] += t.count
        stats.gpc += t.count if t.gpc else 0
        for category, accepted in t.categories.items():
            stats.answered[category] += t.count
            stats.opted_in[category] += t.count if accepted else 0
        stats.per_day[EPOCH + timedelta(days=t.day)] += t.count
        stats.policy_versions[t.policy_version] += t.count
        stats.languages[t.language] += t.count
    return stats
