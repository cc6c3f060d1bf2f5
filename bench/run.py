"""Crumb benchmarks, each figure a ratio against its baseline measured side by side in one run.

    python bench/run.py                      # every part, one table, bench/RESULTS.md rewritten
    python bench/run.py size banner          # only these parts (their rows in RESULTS.md updated)

Parts: size (gzip/brotli vs vanilla-cookieconsent 3.1), banner (time to banner in headless
Chromium), throughput (wrk vs a bare Starlette app; PostgreSQL 2 workers when reachable),
durability (SIGKILL mid-load, acknowledged consents missing, verify), export (peak RSS of a
one-million-event CSV export, via bench/export_memory.py when it exists).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import banner, durability, export, report, size, throughput
from bench.common import ROOT, BenchError, PartResult

PARTS: dict[str, tuple[str, Callable[[PartResult, argparse.Namespace], None]]] = {
    "size": ("widget size vs vanilla-cookieconsent 3.1", lambda r, a: size.run(r)),
    "banner": ("time to banner in headless Chromium",
               lambda r, a: banner.run(r, banner.Options(loads=a.loads))),
    "throughput": ("consent POST and widget GET throughput vs bare Starlette",
                   lambda r, a: throughput.run(r, throughput.Options(
                       seconds=a.seconds, rounds=a.rounds, profile=a.profile))),
    "durability": ("acknowledged consents after SIGKILL mid-load",
                   lambda r, a: durability.run(r, durability.Options(runs=a.runs))),
    "export": ("peak RSS of a one-million-event CSV export", lambda r, a: export.run(r)),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0])
    p.add_argument("parts", nargs="*", metavar="part", help=f"any of {', '.join(PARTS)} (default: all)")
    p.add_argument("--loads", type=int, default=32, help="banner: page loads per variant (default 32)")
    p.add_argument("--seconds", type=float, default=8.0, help="throughput: seconds per wrk run (default 8)")
    p.add_argument("--rounds", type=int, default=2, help="throughput: measured rounds per case (default 2)")
    p.add_argument("--runs", type=int, default=5, help="durability: kill-and-restart runs (default 5)")
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                   help="throughput: sample the server with py-spy (default: only when a target is missed)")
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = p.parse_args(argv)
    unknown = [name for name in args.parts if name not in PARTS]
    if unknown:
        p.error(f"unknown part {unknown[0]!r} (choose from {', '.join(PARTS)})")
    chosen = args.parts or list(PARTS)
    results: list[PartResult] = []
    failed = False
    for name in chosen:
        title, fn = PARTS[name]
        result = PartResult(part=name, title=title, when=report.now())
        print(f"== {name}: {title}", flush=True)
        started = time.monotonic()
        try:
            fn(result, args)
        except BenchError as exc:
            failed = True
            result.notes.append(f"could not run: {exc}")
        except KeyboardInterrupt:
            print("interrupted; every process this bench started has been stopped", file=sys.stderr)
            return 130
        except Exception:
            failed = True
            result.notes.append("crashed: " + traceback.format_exc().strip().splitlines()[-1])
            traceback.print_exc()
        result.seconds = time.monotonic() - started
        for note in result.notes:
            print(f"   {note}")
        results.append(result)
    print()
    print(report.table(results))
    if not args.no_write:
        report.save(results, list(PARTS), argv)
        print(f"\nwrote {report.RESULTS_MD.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
