"""The blocking engine: nothing non-essential runs or loads before consent; exactly the consented
scripts and embeds run after it, in order, with their attributes; auto-blocking holds tracker
inserts and leaves everything else alone; refused categories' cookies are cleaned up."""

from __future__ import annotations

import json
import tomllib

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from server.builder import _widget_config, default_hosts
from server.sites import _HOST_PATTERN, parse_site

from ..conftest import ROOT
from .helpers import banner
from .lab import Lab

MARKED = """
<script type="text/plain" data-category="analytics" data-service="local-analytics"
  src="/lab/t/a1.js"></script>
<script type="text/plain" data-category="analytics">window.ran.push('a2-inline-after-a1')</script>
<script type="text/plain" data-category="marketing" data-service="pixel" src="/lab/t/m1.js" async></script>
<script type="text/plain" data-category="marketing">(window.ran=window.ran||[]).push('m2-inline')</script>
<script type="text/plain" data-category="preferences" src="/lab/t/p1.js" defer crossorigin="anonymous"
  data-type="module" id="p1" data-extra="kept"></script>
<script type="text/plain" data-category="preferences" data-type="module">
  (window.ran=window.ran||[]).push('p2-module-' + (typeof import.meta))</script>
<script type="text/plain" data-category="necessary">(window.ran=window.ran||[]).push('n1-required')</script>
"""

EMBEDS = """
<iframe id="film" data-category="marketing" data-service="video" data-src="/lab/t/film.html"
  width="480" height="270" frameborder="0" title="film"></iframe>
<img id="pix" data-category="analytics" data-src="/lab/t/pixel.gif" alt="">
<video id="vid" data-category="marketing" data-src="/lab/t/clip.mp4"></video>
"""
STYLE = '<link id="css" rel="stylesheet" data-category="preferences" data-href="/lab/t/prefs.css">'


def test_marked_scripts_and_embeds_make_no_request_and_run_nothing_before_consent(
        server, page: Page, context: BrowserContext) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("marked", head=MARKED + STYLE, body=EMBEDS))
    expect(banner(page)).to_be_visible()  # goto waited for the load event: every unblocked load is done
    assert [u for u in lab.requests if "/lab/t/" in u] == []
    assert lab.ran() == ["n1-required"]  # a required category needs no consent
    assert [c["name"] for c in context.cookies()] == []
    expect(page.locator(".crumb-ph")).to_have_count(1)  # in place of the iframe


def test_accepting_one_category_runs_exactly_its_scripts_in_document_order(server, page: Page,
                                                                            context: BrowserContext) -> None:
    lab = Lab(page, server)
    lab.slow.add("a1.js")  # the inline script after it must wait for it all the same
    page.goto(lab.add("marked", head=MARKED, body=EMBEDS))
    expect(banner(page)).to_be_visible()
    page.evaluate("crumb.accept(['analytics'])")
    page.wait_for_function("(window.ran || []).length >= 3")
    assert lab.wait_hits("/lab/t/pixel.gif") == 1
    assert lab.ran() == ["n1-required", "a1.js", "a2-inline-after-a1"]
    assert lab.hits("/lab/t/a1.js") == 1
    assert lab.hits("/lab/t/m1.js") == lab.hits("/lab/t/p1.js") == 0
    assert lab.hits("/lab/t/pixel.gif") == 1 and lab.hits("/lab/t/film.html") == 0
    assert sorted(c["name"] for c in context.cookies() if c["name"] != "crumb_consent") == ["a1_js"]
    expect(banner(page)).to_be_hidden()


def test_released_scripts_keep_every_attribute_and_data_type_becomes_type(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("marked", head=MARKED))
    page.evaluate("crumb.acceptAll()")
    page.wait_for_function("(window.ran || []).length >= 7")
    ran = lab.ran()
    assert ran[:4] == ["n1-required", "a1.js", "a2-inline-after-a1", "m2-inline"]
    assert sorted(ran[4:]) == ["m1.js", "p1.js", "p2-module-object"]
    p1 = page.evaluate("""(() => { const s = document.getElementById('p1');
        return [s.type, s.defer, s.crossOrigin, s.dataset.extra, s.dataset.category]; })()""")
    assert p1 == ["module", True, "anonymous", "kept", "preferences"]
    assert page.evaluate("document.querySelector('script[src$=\"m1.js\"]').async") is True


def test_released_scripts_keep_their_nonce_under_a_strict_csp(server, page: Page) -> None:
    lab = Lab(page, server)
    nonce = "n0nce-4f9a1c"
    head = f"""
<script nonce="{nonce}">window.ran = []; window.violations = [];
  document.addEventListener('securitypolicyviolation', e => violations.push(e.blockedURI))</script>
<script type="text/plain" data-category="analytics" nonce="{nonce}" src="/lab/t/a1.js"></script>
<script type="text/plain" data-category="analytics" nonce="{nonce}">ran.push('inline-with-nonce')</script>
<script type="text/plain" data-category="analytics">ran.push('inline-without-nonce')</script>
"""
    csp = f"script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'"
    page.goto(lab.add("csp", head=head, csp=csp, nonce=nonce))
    expect(banner(page)).to_be_visible()
    page.evaluate("crumb.accept(['analytics'])")
    page.wait_for_function("() => window.violations.length >= 1")
    assert lab.ran() == ["a1.js", "inline-with-nonce"]
    assert page.evaluate("window.violations") == ["inline"]  # the CSP is real: no nonce, no run


def test_embeds_load_only_after_their_category_is_granted(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("embeds", head=STYLE, body=EMBEDS))
    expect(banner(page)).to_be_visible()
    page.evaluate("crumb.accept(['analytics', 'preferences'])")
    assert lab.wait_hits("/lab/t/pixel.gif") == 1 and lab.wait_hits("/lab/t/prefs.css") == 1
    assert lab.hits("/lab/t/film.html") == lab.hits("/lab/t/clip.mp4") == 0
    page.evaluate("crumb.acceptAll()")
    expect(page.frame_locator("#film").locator("p")).to_have_text("film.html")
    page.wait_for_function("document.getElementById('vid').currentSrc != ''")
    assert lab.hits("/lab/t/film.html") == 1 and lab.hits("/lab/t/clip.mp4") >= 1


def test_iframe_placeholder_names_provider_and_category_and_grants_only_that(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("embeds", body=EMBEDS))
    box = page.locator(".crumb-ph")
    expect(box).to_have_count(1)
    expect(box).to_contain_text("This content from Product videos needs your consent "
                                "for Marketing.")
    size = box.bounding_box()
    assert size is not None and (size["width"], size["height"]) == (480, 270)
    expect(page.locator("#film")).to_be_hidden()
    box.get_by_role("button", name="Allow Marketing").click()
    expect(page.frame_locator("#film").locator("p")).to_have_text("film.html")
    expect(box).to_have_count(0)
    assert page.evaluate("crumb.consent().c") == {"necessary": True, "preferences": False,
                                                  "analytics": False, "marketing": True}
    assert lab.hits("/lab/t/pixel.gif") == 0  # analytics stays refused
    expect(banner(page)).to_be_hidden()


def test_placeholder_text_follows_the_page_language(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("embeds-de", body=EMBEDS, lang="de"))
    expect(page.locator(".crumb-ph")).to_contain_text("Dieser Inhalt von Product videos "
                                                      "benötigt Ihre Einwilligung für Marketing.")


DYNAMIC = """<script>
window.loaded = [];
function add(tag, url, how) {
  const el = document.createElement(tag);
  el.onload = () => loaded.push(url);
  if (how == 'attr') el.setAttribute('src', url); else el.src = url;
  document.body.appendChild(el);
}
add('script', 'https://www.google-analytics.com/analytics.js');
add('script', 'https://connect.facebook.net/en_US/fbevents.js', 'attr');
add('iframe', 'https://www.googletagmanager.com/ns.html');
new Image().src = 'https://www.facebook.com/tr?id=1&ev=PageView';
document.body.insertAdjacentHTML('beforeend', '<div><img src="https://bat.bing.com/action/0?ti=1"></div>');
add('script', 'https://cdn.example.org/lib.js');
add('script', 'https://google-analytics.com.example.org/lookalike.js', 'attr');
add('script', 'https://notgoogle-analytics.com/lookalike.js');
add('iframe', 'https://maps.example.org/embed.html');
new Image().src = 'https://www.facebook.com/plugins/like.gif';
</script>"""
HELD = ("www.google-analytics.com", "connect.facebook.net", "www.googletagmanager.com",
        "www.facebook.com/tr", "bat.bing.com")
UNTOUCHED = ("cdn.example.org", "google-analytics.com.example.org", "notgoogle-analytics.com",
             "maps.example.org", "www.facebook.com/plugins")


def test_auto_block_holds_dynamic_tracker_inserts_until_consent_then_releases_them(server,
                                                                                   page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("dynamic", body=DYNAMIC))
    expect(banner(page)).to_be_visible()
    page.wait_for_function("window.loaded.length >= 4")  # the unmatched ones have loaded meanwhile
    assert {h: lab.hits(h) for h in HELD} == dict.fromkeys(HELD, 0)
    page.evaluate("crumb.acceptAll()")
    assert {h: lab.wait_hits(h) for h in HELD} == dict.fromkeys(HELD, 1)
    page.wait_for_function("window.loaded.length >= 7")
    # The same elements load: handlers the page set on them still fire.
    loaded = page.evaluate("window.loaded")
    assert "https://www.google-analytics.com/analytics.js" in loaded
    assert "https://connect.facebook.net/en_US/fbevents.js" in loaded


def test_auto_block_releases_only_the_consented_category(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("dynamic", body=DYNAMIC))
    page.evaluate("crumb.accept(['analytics'])")
    page.wait_for_function("window.loaded.includes('https://www.googletagmanager.com/ns.html')")
    assert lab.wait_hits("www.google-analytics.com") == lab.hits("www.googletagmanager.com") == 1
    assert [lab.hits(h) for h in ("connect.facebook.net", "www.facebook.com/tr", "bat.bing.com")] == [0, 0, 0]


def test_auto_block_leaves_unmatched_urls_alone(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("dynamic", body=DYNAMIC))
    expect(banner(page)).to_be_visible()
    page.wait_for_function("window.loaded.length >= 4")
    assert {h: lab.wait_hits(h) for h in UNTOUCHED} == dict.fromkeys(UNTOUCHED, 1)
    assert sorted(lab.ran()) == ["cdn.example.org/lib.js", "google-analytics.com.example.org/lookalike.js",
                                 "notgoogle-analytics.com/lookalike.js"]
    attrs = page.evaluate("""[...document.querySelectorAll('[src*="example.org"]')]
        .map(e => e.getAttribute('data-category'))""")
    assert attrs == [None, None, None]


def test_parser_inserted_tracker_script_does_not_run_before_consent(server, page: Page) -> None:
    lab = Lab(page, server)
    head = ('<script src="https://connect.facebook.net/en_US/fbevents.js"></script>'
            '<script>window.ranInline = (window.ran || []).slice()</script>')
    page.goto(lab.add("parsed", head=head))
    expect(banner(page)).to_be_visible()
    assert page.evaluate("window.ranInline") == [] and lab.ran() == []
    page.evaluate("crumb.acceptAll()")
    page.wait_for_function("(window.ran || []).length == 1")
    assert lab.ran() == ["connect.facebook.net/en_US/fbevents.js"]


def test_refusing_a_category_deletes_its_cookies_on_the_host_and_every_parent_domain(
        server, page: Page, context: BrowserContext) -> None:
    lab = Lab(page, server)
    host = "www.shop.crumb.localhost"  # Chromium resolves *.localhost to this machine
    origin = server.url.replace("127.0.0.1", host)
    page.route(f"{origin}/lab/**", lab._lab)
    page.goto(lab.add("cookies").replace(server.url, origin))
    page.evaluate("crumb.acceptAll()")
    page.wait_for_function("document.cookie.includes('crumb_consent')")
    # A host-only cookie, a domain cookie on the host itself, on its parent and on its grandparent.
    jar = [("_ga", host), ("_ga_X1", f".{host}"), ("_ga_DEMO", ".shop.crumb.localhost"),
           ("_gid", ".crumb.localhost"), ("_fbp", host), ("lumiere_prefs", host),
           ("other", ".crumb.localhost")]
    context.add_cookies([{"name": n, "value": "1", "path": "/", "domain": d} for n, d in jar])
    assert len(context.cookies()) == len(jar) + 1
    page.evaluate("crumb.accept(['preferences', 'marketing'])")
    assert sorted(c["name"] for c in context.cookies()) == ["_fbp", "crumb_consent", "lumiere_prefs", "other"]
    page.evaluate("crumb.withdraw()")
    lab.settled()
    assert sorted(c["name"] for c in context.cookies()) == ["other"]


def test_a_stored_refusal_cleans_up_cookies_on_every_page_view(server, page: Page,
                                                                context: BrowserContext) -> None:
    lab = Lab(page, server)
    url = lab.add("cookies")
    page.goto(url)
    page.evaluate("crumb.rejectAll()")
    page.wait_for_function("document.cookie.includes('crumb_consent')")
    context.add_cookies([{"name": "_ga_LATE", "value": "1", "domain": "127.0.0.1", "path": "/"}])
    page.reload()
    page.wait_for_function("!document.cookie.includes('_ga_LATE')")
    assert "_ga_LATE" not in [c["name"] for c in context.cookies()]


def test_default_tracker_map_has_only_valid_host_patterns() -> None:
    data = json.loads((ROOT / "widget" / "trackers.json").read_text())
    assert set(data) == {"analytics", "marketing"}
    patterns = [p for providers in data.values() for hosts in providers.values() for p in hosts]
    assert len(patterns) == len(set(patterns)) >= 15
    assert [p for p in patterns if not _HOST_PATTERN.match(p)] == []


@pytest.mark.parametrize(("integrations", "has_shipped", "has_own"), [
    ({}, True, True),
    ({"default_hosts": False}, False, True),
    ({"auto_block": False}, False, False),
])
def test_site_config_extends_or_switches_off_the_default_tracker_map(
        integrations: dict[str, bool], has_shipped: bool, has_own: bool) -> None:
    raw = tomllib.loads((ROOT / "sites" / "demo.toml").read_text())
    raw["integrations"] = {**raw["integrations"], **integrations}
    analytics = next(c for c in raw["categories"] if c["id"] == "analytics")
    analytics["hosts"] = ["stats.shop.example"]
    analytics["services"][0]["hosts"] = ["www.google-analytics.com"]
    cfg = next(c for c in _widget_config(parse_site(raw, "demo.toml"))["c"] if c["id"] == "analytics")
    assert ("stats.shop.example" in cfg["h"]) is has_own
    assert ("www.google-analytics.com" in cfg["sv"][0]["h"]) is has_own
    # The widget matches subdomains of every pattern, so the builder drops a leading "*.".
    shipped = {p.removeprefix("*.") for p in default_hosts()["analytics"]}
    assert (shipped <= set(cfg["h"])) is has_shipped
