"""Helpers for browser tests: reach into the widget's shadow root the way a visitor sees it."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, Route

BANNER = "#crumb-host .crumb-banner"
PREFS = "#crumb-host .crumb-prefs"


def banner(page: Page) -> Locator:
    return page.locator(BANNER)


def prefs(page: Page) -> Locator:
    return page.locator(PREFS)


def serve_lab(page: Page, server, path: str, html: str,  # type: ignore[no-untyped-def]
              headers: dict[str, str] | None = None) -> str:
    """Serve `html` at `<server>/lab/<path>` (same origin as the real widget and API); returns the URL."""
    url = f"{server.url}/lab/{path}"

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, body=html,
                      headers={"content-type": "text/html; charset=utf-8", **(headers or {})})

    page.route(url, fulfil)
    return url


def click_banner(page: Page, action: str) -> None:
    """Click a first-layer button: accept, reject or prefs."""
    page.locator(f'{BANNER} [data-a="{action}"]').click()


def wait_hits(server, page: Page, **expected: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Poll the collect counter until it shows `expected` (or time out) and return it."""
    hits: dict[str, int] = {}
    for _ in range(50):
        hits = server.hits()
        if all(hits.get(k) == v for k, v in expected.items()):
            return hits
        page.wait_for_timeout(100)
    return hits
