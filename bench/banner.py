"""Part 2, time to banner: the same static page in headless Chromium with Crumb's demo widget,
with vanilla-cookieconsent 3.1 (same categories and texts) and, as the floor, with the banner
written into the HTML; loaded alternately from a local server, a fresh browser context each time.

An inline probe, first in <head>, checks on every animation frame whether the "Accept all"
button is laid out, `visibility: visible` and opaque (the product of its ancestors' opacity,
across the shadow root); it records the frame's timestamp (ms since navigation start) when the
button first has opacity > 0 and when it is fully opaque (any fade-in is over). Main-thread
cost: Chromium's own ScriptDuration/TaskDuration (CDP Performance.getMetrics) once the banner
is fully shown and the page has loaded.
"""

from __future__ import annotations

import functools
import statistics
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import vcc
from bench.common import LOOPBACK, BenchError, PartResult, load_demo_site, ratio_row, remove, temp_dir

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync", "--disable-quic", "--disable-default-apps", "--mute-audio"]

FIND = {
    "crumb": "var h=document.getElementById('crumb-host');"
             "return h&&h.shadowRoot&&h.shadowRoot.querySelector('.crumb-banner [data-a=accept]');",
    "vcc": "return document.querySelector('#cc-main .cm__btn[data-role=all]');",
    "floor": "return document.querySelector('#floor [data-a=accept]');",
}

PROBE = """<script>(function(){var B=window.__bench={first:0,full:0};
function find(){%s}
function op(e){var o=1;while(e){if(e.nodeType==1)o*=+getComputedStyle(e).opacity;
e=e.parentNode||e.host;}return o;}
function tick(ts){var e=find();if(e){var r=e.getBoundingClientRect();
if(r.width>0&&r.height>0&&getComputedStyle(e).visibility=='visible'){var o=op(e);
if(o>0&&!B.first)B.first=ts;if(o>=0.99){B.full=ts;return;}}}requestAnimationFrame(tick);}
requestAnimationFrame(tick);})();</script>"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{probe}{head}<title>Maison Lumière: rings</title>
<style>body{{font:16px/1.6 Georgia,serif;max-width:46em;margin:0 auto;padding:1em 1.5em;color:#222}}
h1{{font-weight:400}}.item{{border-bottom:1px solid #ddd;padding:.8em 0}}</style>
</head><body>
<header><h1>Maison Lumière</h1><nav>Rings · Necklaces · Earrings · About</nav></header>
<main>{items}</main>
<footer><p>© Maison Lumière. <a href="/privacy">Privacy policy</a></p></footer>
{body_end}</body></html>
"""

FLOOR = """<div id="floor" style="position:fixed;left:0;right:0;bottom:0;max-width:46em;margin:0 auto 1em;
padding:1em;background:#fff;box-shadow:0 4px 24px rgba(0,0,0,.25);font:15px/1.5 system-ui">
<h2>{title}</h2><p>{body}</p><button type="button" data-a="accept">{accept}</button>
<button type="button" data-a="reject">{reject}</button></div>"""


@dataclass(frozen=True)
class Options:
    loads: int = 32
    warmup: int = 2


@dataclass(frozen=True)
class Load:
    first: float
    full: float
    script_ms: float
    task_ms: float


class _Quiet(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _pages(root: Path, site: Any) -> None:
    from server.builder import bundle

    texts = site.texts[site.default_language]
    items = "".join(f'<div class="item"><h2>Ring no. {i}</h2><p>Hand-finished 18k gold, '
                    f'{i + 1} mm band, made to order in our workshop.</p></div>' for i in range(12))
    (root / "crumb").mkdir()
    (root / "crumb" / "demo.js").write_bytes(bundle(site))
    (root / "vcc").mkdir()
    js, css = vcc.JS, vcc.CSS
    (root / "vcc" / js.name).write_bytes(js.read_bytes())
    (root / "vcc" / css.name).write_bytes(css.read_bytes())
    variants = {
        # Each embedded the way its docs say: Crumb first in <head>; the UMD bundle and its
        # run() call at the end of <body>, its stylesheet in <head>.
        "crumb": ('<script src="/crumb/demo.js"></script>', ""),
        "vcc": (f'<link rel="stylesheet" href="/vcc/{css.name}">',
                f'<script src="/vcc/{js.name}"></script><script>{vcc.run_script(site)}</script>'),
        "floor": ("", FLOOR.format(title=texts["title"], body=texts["body"],
                                   accept=texts["accept_all"], reject=texts["reject_all"])),
    }
    for name, (head, body_end) in variants.items():
        page = PAGE.format(probe=PROBE % FIND[name], head=head, items=items, body_end=body_end)
        (root / f"{name}.html").write_text(page, encoding="utf-8")


def _load(browser: Any, url: str) -> Load | str:
    """One page load in a fresh context: its marks, or why the banner never showed."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(url, wait_until="load", timeout=20_000)
        try:
            page.wait_for_function("window.__bench.full > 0", timeout=10_000)
        except Exception:
            return "banner not shown within 10 s" + (f" (page error: {errors[0][:160]})" if errors else "")
        marks = page.evaluate("window.__bench")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return Load(first=marks["first"], full=marks["full"],
                    script_ms=metrics.get("ScriptDuration", 0.0) * 1000,
                    task_ms=metrics.get("TaskDuration", 0.0) * 1000)
    finally:
        context.close()


def run(result: PartResult, opts: Options = Options()) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BenchError("playwright is missing: pip install -e '.[test]'") from None
    if not Path(CHROMIUM).exists():
        raise BenchError(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    site = load_demo_site()
    vcc.ensure(result)
    root = temp_dir("banner")
    _pages(root, site)
    httpd = ThreadingHTTPServer((LOOPBACK, 0), functools.partial(_Quiet, directory=str(root)))
    server = threading.Thread(target=httpd.serve_forever, daemon=True)
    server.start()
    base = f"http://{LOOPBACK}:{httpd.server_address[1]}"
    names = list(FIND)
    loads: dict[str, list[Load]] = {n: [] for n in names}
    failures: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            version = browser.version
            try:
                for i in range(opts.warmup + opts.loads):
                    for name in names[i % 3:] + names[:i % 3]:  # rotate the order each round
                        load = _load(browser, f"{base}/{name}.html")
                        if isinstance(load, str):
                            failures.append(f"{name}: {load}")
                        elif i >= opts.warmup:
                            loads[name].append(load)
                    if len(failures) > max(3, opts.loads // 10):
                        raise BenchError("too many page loads failed: " + "; ".join(failures[:3]))
            finally:
                browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        remove(root)
    result.command(f"{CHROMIUM} (Playwright, headless) {' '.join(ARGS)}")
    if failures:
        result.notes.append(f"{len(failures)} loads failed and were left out: " + "; ".join(failures[:3]))
    result.rows += _rows(loads)
    med = {n: statistics.median(x.full for x in loads[n]) for n in names}
    first = {n: statistics.median(x.first for x in loads[n]) for n in names}
    result.notes += [
        f"{opts.loads} loads of each page (after {opts.warmup} warm-up rounds), alternating, order "
        f"rotated each round, a fresh browser context per load; Chromium {version} headless; "
        "pages and scripts served uncompressed by a local Python HTTP server (no-store).",
        "Same page for all three; Crumb's widget first in <head> (its embed snippet); "
        "vanilla-cookieconsent's CSS in <head>, UMD bundle + CookieConsent.run() with the demo's "
        "categories, services and texts (hideFromBots: false, bar at the bottom) at the end of <body>, "
        "as its docs show; floor = the same banner written into the HTML, no script.",
        "Shown = laid out, visibility visible, opacity 1 through every ancestor (first frame with "
        "opacity > 0, medians ms: " + ", ".join(f"{n} {first[n]:.0f}" for n in names) + "; "
        "vanilla-cookieconsent keeps its bar visibility:hidden until a timer adds its animation "
        "class). Medians of shown, ms: " + ", ".join(f"{n} {med[n]:.0f}" for n in names) + ".",
    ]


def _rows(loads: dict[str, list[Load]]) -> list[Any]:
    def med(name: str, attr: str) -> float:
        return float(statistics.median(getattr(x, attr) for x in loads[name]))

    return [
        ratio_row("time to banner shown vs vanilla-cookieconsent", med("crumb", "full"),
                  med("vcc", "full"), "{:.0f} ms", "≤ 0.50", at_most=0.5),
        ratio_row("time to banner vs floor (banner in the HTML)", med("crumb", "full"),
                  med("floor", "full"), "{:.0f} ms", "report"),
        ratio_row("main-thread script time (CDP ScriptDuration) vs vanilla-cookieconsent",
                  med("crumb", "script_ms"), med("vcc", "script_ms"), "{:.1f} ms", "≤ 0.50", at_most=0.5,
                  note=f"floor page {med('floor', 'script_ms'):.1f} ms"),
        ratio_row("main-thread task time (CDP TaskDuration) vs vanilla-cookieconsent",
                  med("crumb", "task_ms"), med("vcc", "task_ms"), "{:.1f} ms", "report",
                  note=f"floor page {med('floor', 'task_ms'):.1f} ms"),
    ]
