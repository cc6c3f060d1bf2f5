"""Part 1, size: bytes a visitor downloads to see the banner, Crumb vs vanilla-cookieconsent 3.1."""

from __future__ import annotations

import gzip
from typing import Any

import brotli

from bench import vcc
from bench.common import PartResult, load_demo_site, ratio_row


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def _br(data: bytes) -> int:
    return len(brotli.compress(data, quality=11))


def _breakdown(site: Any) -> str:
    """gzip -9 bytes of each piece of the bundle on its own (they share context in the bundle, so
    they add up to more than the whole); empty when the builder's internals have moved."""
    try:
        from server import builder

        pieces = {
            "code": builder.minify(builder._sources(builder.WIDGET_DIR)).encode(),
            "config": builder._json(builder._widget_config(site)).encode(),
            "markup (all languages)": builder._json(builder._markup(site, builder.WIDGET_DIR)).encode(),
            "CSS": builder._json(builder._css(site, builder.WIDGET_DIR)).encode(),
        }
    except Exception:
        return ""
    return ", ".join(f"{name} {_gz(data):,} B" for name, data in pieces.items())


def _built_gz(widget: bytes) -> int:
    """Bytes of what the build writes to dist/demo.js.gz (it may use a stronger gzip encoder)."""
    try:
        from server import builder

        return len(builder._gzip(widget))
    except Exception:
        return _gz(widget)


def run(result: PartResult) -> None:
    from server.builder import bundle

    site = load_demo_site()
    widget = bundle(site)  # exactly what `python build.py` writes to dist/demo.js
    result.command("python -c 'server.builder.bundle(demo site)'  # the bytes `python build.py` writes")
    js, css = vcc.ensure(result)
    files = [js.read_bytes(), css.read_bytes()]
    anchor = f"vanilla-cookieconsent {vcc.version()}"
    cfg = vcc.run_script(site).encode()
    gz, br, served = _gz(widget), _br(widget), _built_gz(widget)
    a_gz, a_br = sum(_gz(f) for f in files), sum(_br(f) for f in files)
    result.rows += [
        ratio_row(f"gzip -9 bytes vs {anchor} umd.js + css", gz, a_gz, "{:,} B", "≤ 0.50", at_most=0.5),
        ratio_row(f"brotli (q11) bytes vs {anchor} umd.js + css", br, a_br, "{:,} B", "≤ 0.50", at_most=0.5),
        ratio_row("gzip -9 bytes vs the same + its config with the same texts", gz, a_gz + _gz(cfg),
                  "{:,} B", "report"),
        ratio_row("minified bytes (uncompressed)", len(widget), sum(len(f) for f in files), "{:,} B",
                  "report"),
    ]
    result.notes += [
        f"Crumb: the built demo widget demo.js ({len(site.texts)} languages, texts, config and "
        "CSS inlined: the only file a visitor downloads to see the banner); its size budget is "
        f"{site.size_budget:,} B gzip" + (" (OVER BUDGET: `python build.py` refuses it)"
                                          if served > site.size_budget else "") + ".",
        f"The server sends the build's own demo.js.gz of {served:,} B (both columns here use the same "
        "gzip -9 and brotli q11).",
        "Crumb's pieces, each gzipped alone: " + (_breakdown(site) or "(builder internals moved)") + ".",
        f"Anchor: dist/cookieconsent.umd.js + dist/cookieconsent.css of {anchor}, each compressed on "
        "its own (two downloads), before the site's texts (gzip without file names in the header, as a "
        "server sends it; `gzip -9` on the command line adds 39 B of names); the third row adds the "
        "CookieConsent.run() config with the demo's categories and texts, compressed on its own.",
    ]
