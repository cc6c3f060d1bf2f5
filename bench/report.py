"""The table on the terminal, and bench/RESULTS.md (always written by the script, never by hand)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import BENCH, ROOT, PartResult, Row

RESULTS_MD = BENCH / "RESULTS.md"
RESULTS_JSON = BENCH / "results.json"
HEAD = ("part", "measure", "Crumb", "baseline", "ratio", "target", "met")


def _cells(part: str, row: Row) -> tuple[str, ...]:
    ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
    met = {True: "yes", False: "NO", None: ""}[row.met]
    measure = row.measure + (f" ({row.note})" if row.note else "")
    return (part, measure, row.crumb, row.baseline, ratio, row.target, met)


def table(results: list[PartResult]) -> str:
    rows = [HEAD] + [_cells(r.part, row) for r in results for row in r.rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _run(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).strip().splitlines()
    return next((line for line in text if re.search(r"\d+\.\d+", line)), text[0] if text else "unknown")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    cpu = "unknown"
    mem = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
        kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "chromium": _run(["/usr/bin/chromium", "--version"]),
        "wrk": _run(["wrk", "-v"]).split(" [")[0],
        "node / npm": f"{_run(['node', '--version'])} / {_run(['npm', '--version'])}",
        "uvicorn / starlette / aiosqlite": " / ".join(
            _version(p) for p in ("uvicorn", "starlette", "aiosqlite")),
        "uvloop / httptools": " / ".join(_version(p) for p in ("uvloop", "httptools")),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def _load_previous() -> dict[str, Any]:
    try:
        data = json.loads(RESULTS_JSON.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(results: list[PartResult], order: list[str], argv: list[str]) -> None:
    """Merge these parts into results.json (latest run of each part) and rewrite RESULTS.md."""
    data = _load_previous()
    parts: dict[str, Any] = data.get("parts", {})
    info = machine()
    for r in results:
        parts[r.part] = {**asdict(r), "machine": info, "argv": argv}
    data = {"parts": {p: parts[p] for p in order if p in parts}}
    RESULTS_JSON.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    RESULTS_MD.write_text(_markdown(data["parts"]))


def _markdown(parts: dict[str, Any]) -> str:
    fields = set(PartResult.__dataclass_fields__)
    loaded = [PartResult(**{k: v for k, v in p.items() if k in fields and k != "rows"},
                         rows=[Row(**row) for row in p["rows"]]) for p in parts.values()]
    whens = sorted({p["when"] for p in parts.values()})
    out = [
        "# Crumb benchmark results",
        "",
        "Written by `python bench/run.py` (never by hand); each part keeps its latest run. Every",
        "ratio is Crumb ÷ its baseline, both measured side by side in the same run of that part.",
        "The load generators (wrk, Chromium) share the machine with the server; nothing is pinned.",
        "",
        f"Runs: {', '.join(whens)}",
        "",
        "| " + " | ".join(HEAD) + " |",
        "| " + " | ".join("---" for _ in HEAD) + " |",
    ]
    for r in loaded:
        for row in r.rows:
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r.part, row)) + " |")
    for p in parts.values():
        command = " ".join(["python", "bench/run.py", *p["argv"]])
        out += ["", f"## {p['part']}: {p['title']}", "",
                f"Run {p['when']} in {p['seconds']:.0f} s with `{command}`.", ""]
        out += [f"- {note}" for note in p["notes"]]
        if p["commands"]:
            out += ["", "Commands (as run; ports and temp folders vary):", "", "```"]
            out += p["commands"]
            out += ["```"]
        out += ["", "Machine: " + "; ".join(f"{k}: {v}" for k, v in p["machine"].items())]
    return "\n".join(out) + "\n"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
