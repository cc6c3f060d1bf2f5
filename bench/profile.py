"""Sample a running server with py-spy and say where its time goes (per thread, per area)."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.common import CACHE, ROOT

RATE = 200  # samples per second

# Where a main-thread sample is spent: the first matching (innermost) frame's file names it.
_AREAS = (
    ("uvloop C code (sockets, callbacks)", ("Runner.run (asyncio/runners.py",)),
    ("aiosqlite thread hop / result delivery", ("aiosqlite/",)),
    ("SQLite storage (server/storage)", ("server/storage/",)),
    ("consent token signing (itsdangerous)", ("itsdangerous/",)),
    ("consent validation/domain (server/consent.py)", ("server/consent.py",)),
    ("request parsing helpers (server/http.py)", ("server/http.py",)),
    ("consent route (server/routes/api.py)", ("server/routes/",)),
    ("JSON encode/decode", ("json/",)),
    ("Starlette routing/requests/responses", ("starlette/",)),
    ("uvicorn protocol (httptools)", ("uvicorn/",)),
    ("asyncio machinery", ("asyncio/",)),
)


def available() -> bool:
    return shutil.which("py-spy") is not None


def command(pid: int, seconds: float, out: str) -> list[str]:
    return ["py-spy", "record", "--pid", str(pid), "--duration", f"{max(1, int(seconds))}",
            "--rate", str(RATE), "--format", "raw", "--threads", "--nonblocking",
            "-o", out]


def record_during(pid: int, seconds: float, load: Callable[[], object]) -> Path:
    """Record `pid` while `load()` runs; returns the collapsed-stack file."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"profile-{pid}.txt"
    with out.with_suffix(".log").open("wb") as log:
        spy = subprocess.Popen(command(pid, seconds, str(out)), cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT)
    worker = threading.Thread(target=load)
    worker.start()
    worker.join()
    try:
        spy.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
    return out


def summarise(path: Path) -> list[str]:
    """Lines for the report: each thread's busy share (py-spy records only samples where a thread
    is active), and where the main thread spends its busy time."""
    busy: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    try:
        text = path.read_text(errors="replace")
        log = path.with_suffix(".log").read_text(errors="replace")
    except OSError:
        return ["profile: py-spy wrote nothing (is ptrace allowed?)"]
    found = re.search(r"Samples: (\d+)", log)
    samples = int(found.group(1)) if found else 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        name = frames[0].split(": ", 1)[-1]
        busy[name] += count
        if name != "MainThread":
            continue
        areas[next((area for frame in reversed(frames) for area, marks in _AREAS
                    if any(m in frame for m in marks)), "other")] += count
        leaves[frames[-1]] += count
    main = busy.get("MainThread", 0)
    if not samples or not main:
        return ["profile: no samples"]
    shares = ", ".join(f"{name} {n / samples:.0%}" for name, n in busy.most_common(4))
    top = ", ".join(f"{name} {n / main:.0%}" for name, n in areas.most_common(7))
    hot = ", ".join(f"{leaf} {n / main:.0%}" for leaf, n in leaves.most_common(5))
    return [f"profile (py-spy, {samples} samples at {RATE} Hz during a consent POST run): threads "
            f"active {shares}",
            f"profile: main-thread active time by area (innermost match): {top}",
            f"profile: hottest main-thread lines (self): {hot}"]
