"""A page with a strict Content-Security-Policy: the widget works with no violation and no eval."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .helpers import BANNER, PREFS, banner, click_banner, prefs, serve_lab

NONCE = "c3RyaWN0LWxhYg"
STRICT = (f"default-src 'self'; script-src 'self' 'nonce-{NONCE}'; style-src 'self'; img-src 'self'; "
          "object-src 'none'; base-uri 'none'")
PAGE = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<script nonce="{NONCE}">window.violations = [];
document.addEventListener('securitypolicyviolation', function (e) {{
  window.violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
}});</script>
<script src="/widget/demo.js"></script>
<link rel="stylesheet" href="/static/demo/shop.css">
<script type="text/plain" data-category="analytics" data-service="local-analytics" nonce="{NONCE}"
  src="/static/trackers/analytics.js"></script>
<script type="text/plain" data-category="analytics" data-service="local-analytics" nonce="{NONCE}">
window.inlineRan = true;</script>
</head><body><header><a href="#" data-crumb-open>Cookie settings</a></header>
<main><h1>Strict shop</h1></main></body></html>"""


def wait_true(page: Page, expression: str) -> None:
    """Poll from the test side: Playwright's wait_for_function evaluates strings in the page, which this
    page's CSP (no 'unsafe-eval') rightly refuses."""
    for _ in range(100):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"still false: {expression}")


def test_strict_csp_page_runs_the_whole_widget_without_a_violation(server, page: Page) -> None:
    url = serve_lab(page, server, "strict", PAGE, {"content-security-policy": STRICT})
    page.goto(url)
    expect(banner(page)).to_be_visible()
    # styled through a constructed stylesheet, which style-src 'self' allows
    accept = page.locator(f'{BANNER} [data-a="accept"]')
    assert accept.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(122, 75, 18)"
    click_banner(page, "prefs")
    page.get_by_role("switch", name="Preferences").check()
    page.locator(f'{PREFS} [data-a="save"]').click()
    expect(prefs(page)).to_be_hidden()
    wait_true(page, "!!crumb.consent().id")
    page.locator("header [data-crumb-open]").click()
    expect(page.locator(f"{PREFS} .crumb-rec")).to_be_visible()
    page.locator(f'{PREFS} [data-a="accept"]').click()
    wait_true(page, "window.inlineRan === true && !!window.crumbAnalytics")
    page.locator("#crumb-host .crumb-fab").click()
    page.keyboard.press("Escape")
    assert page.evaluate("window.violations") == []

    # the listener does catch violations: an inline style attribute is refused on this page
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")
    wait_true(page, "window.violations.length > 0")
    assert page.evaluate("window.violations")[0].startswith("style-src-attr")


def test_widget_source_has_no_eval_or_function_constructor(server, page: Page) -> None:
    body = page.request.get(f"{server.url}/widget/demo.js").text()
    assert "crumb-host" in body
    for banned in ("eval(", "new Function", "Function(", "setTimeout('", 'setTimeout("'):
        assert banned not in body
