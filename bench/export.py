"""Part 5, export memory: runs bench/export_memory.py (written with the admin exports) and reads
its peak RSS figure.

That script owns the measurement; this part only runs it and finds, in what it prints, either a
`BENCH {json}` line with `peak_rss_mb` (and optionally `events`, `baseline_rss_mb`, `format`)
or a line such as "peak RSS: 42.1 MB".
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from bench.common import BENCH, ROOT, BenchError, PartResult, Row, stop

SCRIPT = BENCH / "export_memory.py"
TARGET_MB = 100.0
_PEAK = re.compile(r"peak[ _-]*rss\D{0,20}?([\d][\d,]*(?:\.\d+)?)\s*(MB|MiB|KB|KiB|kB)?", re.IGNORECASE)


def _parse(text: str) -> tuple[float | None, dict[str, object]]:
    for line in reversed(text.splitlines()):
        if line.startswith("BENCH "):
            try:
                data = json.loads(line[6:])
            except ValueError:
                continue
            if isinstance(data, dict) and "peak_rss_mb" in data:
                return float(data["peak_rss_mb"]), data
    for line in reversed(text.splitlines()):
        found = _PEAK.search(line)
        if found:
            value = float(found.group(1).replace(",", ""))
            unit = (found.group(2) or "MB").lower()
            return (value / 1024 if unit.startswith("k") else value), {}
    return None, {}


def run(result: PartResult) -> None:
    if not SCRIPT.exists():
        raise BenchError("bench/export_memory.py does not exist yet (it comes with the admin exports)")
    argv = [sys.executable, str(SCRIPT.relative_to(ROOT))]
    result.command(argv)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group: the server it starts goes too
    try:
        stdout, stderr = proc.communicate(timeout=1800)
    except subprocess.TimeoutExpired:
        raise BenchError("bench/export_memory.py ran over 30 minutes and was stopped") from None
    finally:
        stop(proc)
    if proc.returncode != 0:
        text = (stdout + stderr).strip()[-400:]
        raise BenchError(f"bench/export_memory.py exited {proc.returncode}: {text}")
    peak, data = _parse(stdout)
    result.notes += [f"export_memory.py: {line}" for line in stdout.strip().splitlines()[-6:]]
    if peak is None:
        raise BenchError("bench/export_memory.py printed no peak RSS figure")
    events = data.get("events")
    what = f"{events:,} events" if isinstance(events, int) else "one million events"
    base = data.get("baseline_rss_mb")
    result.rows.append(Row(
        f"peak RSS exporting {what} as {data.get('format', 'CSV')}", f"{peak:.1f} MB",
        f"{float(base):.1f} MB before" if isinstance(base, int | float) else "",
        peak / float(base) if isinstance(base, int | float) and base else None,
        f"< {TARGET_MB:.0f} MB, flat", peak < TARGET_MB))
