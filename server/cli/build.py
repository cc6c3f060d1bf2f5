"""`crumb build` (and `python build.py`): build every site's widget, print sizes and embed tags.

Each site config becomes one static, minified script in the output folder (plus .gz and .br
copies and manifest.json). Exit 1 when a build fails, 2 for an unknown site.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import CrumbError


def register(commands: Any) -> None:
    p = commands.add_parser("build", help="build the sites' widgets and print their <script> tags",
                            description=__doc__.splitlines()[0].split(": ", 1)[1])
    add_arguments(p)
    p.set_defaults(run=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--site", action="append", help="build only this site id (repeatable)")
    p.add_argument("--sites", type=Path, help="site config folder (CRUMB_SITES, default ./sites)")
    p.add_argument("--out", type=Path, help="output folder (CRUMB_DIST, default <data>/dist)")
    p.add_argument("--data", help="data folder (CRUMB_DATA, default ./data)")
    p.add_argument("--base-url", default="http://127.0.0.1:8000",
                   help="where the server is reachable, for the embed snippet")


def run(args: argparse.Namespace) -> int:
    from ..builder import budget_warning, build_all, embed_snippet
    from ..settings import load_settings
    from ..sites import load_sites

    try:
        settings = load_settings({"sites": args.sites and str(args.sites), "data": args.data,
                                  "dist": args.out and str(args.out)})
        sites = load_sites(settings.sites_dir)
        if args.site:
            unknown = sorted(set(args.site) - set(sites))
            if unknown:
                print(f"error: no site {unknown[0]!r} in {settings.sites_dir}", file=sys.stderr)
                return 2
            sites = {k: v for k, v in sites.items() if k in args.site}
        results = build_all(sites, settings.dist_dir)
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
    print(f"\nwrote {settings.dist_dir}")
    for r in results:
        print(f"\nEmbed {r.site} (first thing in <head>):\n  {embed_snippet(r, args.base_url)}")
    return 0
