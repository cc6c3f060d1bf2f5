"""Build site widgets: `python build.py [--site ID] [--sites DIR] [--out DIR]`.

Each site config in sites/ becomes one static, minified script in dist/ (plus .gz and .br
copies and dist/manifest.json); prints a size table and the embed snippet.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.builder import budget_warning, build_all, embed_snippet
from server.errors import CrumbError
from server.settings import ROOT
from server.sites import load_sites


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", action="append", help="build only this site id (repeatable)")
    parser.add_argument("--sites", type=Path, default=ROOT / "sites", help="site config folder")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000",
                        help="where the server is reachable, for the embed snippet")
    args = parser.parse_args(argv)
    try:
        sites = load_sites(args.sites)
        if args.site:
            unknown = sorted(set(args.site) - set(sites))
            if unknown:
                print(f"error: no site {unknown[0]!r} in {args.sites}", file=sys.stderr)
                return 2
            sites = {k: v for k, v in sites.items() if k in args.site}
        results = build_all(sites, args.out)
    except CrumbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{'site':<16}{'raw':>9}{'gzip':>9}{'brotli':>9}  budget")
    for r in results:
        budget = sites[r.site].size_budget
        print(f"{r.site:<16}{r.raw:>9,}{r.gzip:>9,}{r.brotli:>9,}  {r.gzip / budget:.0%} of {budget:,}")
    for r in results:
        warning = budget_warning(sites[r.site], r)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    for r in results:
        print(f"\nEmbed {r.site} (first thing in <head>):\n  {embed_snippet(r, args.base_url)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
