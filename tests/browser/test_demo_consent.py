"""The demo shop keeps every tracker off until the visitor agrees, and honours the choice."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from ..conftest import tracker_cookies
from .helpers import banner, click_banner, wait_hits


def test_first_visit_shows_banner_and_runs_no_tracker(server, page: Page, context: BrowserContext,
                                                     tracker_requests: list[str]) -> None:
    server.reset_hits()
    page.goto(f"{server.url}/demo/")
    expect(banner(page)).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert tracker_requests == []
    assert tracker_cookies(context) == []
    assert server.hits() == {"analytics": 0, "marketing": 0, "preferences": 0, "video": 0}


def test_accept_all_runs_each_tracker_once_and_again_after_reload(
        server, page: Page, context: BrowserContext) -> None:
    server.reset_hits()
    page.goto(f"{server.url}/demo/")
    click_banner(page, "accept")
    expect(banner(page)).to_be_hidden()
    hits = wait_hits(server, page, analytics=1, marketing=1, preferences=1)
    assert hits == {"analytics": 1, "marketing": 1, "preferences": 1, "video": 0}
    assert {"_ga", "_fbp", "lumiere_prefs"} <= set(tracker_cookies(context))

    page.reload()
    hits = wait_hits(server, page, analytics=2, marketing=2, preferences=2)
    assert hits == {"analytics": 2, "marketing": 2, "preferences": 2, "video": 0}
    expect(banner(page)).to_be_hidden()


def test_reject_all_runs_no_tracker(server, page: Page, context: BrowserContext,
                                    tracker_requests: list[str]) -> None:
    server.reset_hits()
    page.goto(f"{server.url}/demo/")
    click_banner(page, "reject")
    expect(banner(page)).to_be_hidden()
    page.reload()
    page.wait_for_load_state("networkidle")
    expect(banner(page)).to_be_hidden()
    assert tracker_requests == []
    assert tracker_cookies(context) == []
    assert server.hits()["analytics"] == 0
