"""Consent state in the page: a stored current choice applies at once without a banner; an outdated
one brings the banner back pre-filled and releases nothing; a choice applies at once and reaches
the consent log even when the API was down when it was made."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from server.consent import Token, TokenSigner

from ..conftest import TEST_SECRET
from .helpers import PREFS, banner, click_banner
from .lab import Lab, logged_events
from .test_blocking import MARKED

CURRENT = Token(consent_id="lab-consent-1", site="demo", policy_version="2026-11-01",
                categories={"necessary": True, "preferences": False, "analytics": True, "marketing": True},
                services={}, issued_at=int(time.time()), method="custom", gpc=False)


def store_token(context: BrowserContext, server, **changes: object) -> None:  # type: ignore[no-untyped-def]
    """Give the browser a consent cookie signed with the test server's key."""
    token = TokenSigner((TEST_SECRET,)).sign(replace(CURRENT, **changes))  # type: ignore[arg-type]
    context.add_cookies([{"name": "crumb_consent", "value": token, "url": server.url}])


def checked(page: Page) -> dict[str, bool]:
    return {c: page.locator(f'{PREFS} [data-c="{c}"]').is_checked()
            for c in ("necessary", "preferences", "analytics", "marketing")}


def test_a_stored_current_choice_shows_no_banner_and_releases_at_once(server, page: Page,
                                                                      context: BrowserContext) -> None:
    store_token(context, server)
    lab = Lab(page, server)
    page.goto(lab.add("marked", head=MARKED))
    page.wait_for_function("(window.ran || []).length >= 5")
    ran = lab.ran()  # document order; m1.js is async and may come anywhere
    assert [r for r in ran if r != "m1.js"] == ["a1.js", "a2-inline-after-a1", "m2-inline", "n1-required"]
    assert "m1.js" in ran
    assert lab.hits("/lab/t/p1.js") == 0  # preferences was refused
    expect(banner(page)).to_be_hidden()
    assert page.evaluate("crumb.consent().id") == "lab-consent-1"
    assert lab.hits("/api/demo/consent") == 0  # nothing to send again


@pytest.mark.parametrize("changes", [
    {"policy_version": "2025-01-15"},
    {"issued_at": int(time.time()) - 181 * 86400},
], ids=["older-policy-version", "older-than-lifetime"])
def test_an_outdated_choice_brings_the_banner_back_prefilled_and_releases_nothing(
        server, page: Page, context: BrowserContext, changes: dict[str, object]) -> None:
    store_token(context, server, **changes)
    lab = Lab(page, server)
    page.goto(lab.add("marked", head=MARKED))
    expect(banner(page)).to_be_visible()
    assert lab.ran() == ["n1-required"]
    assert page.evaluate("crumb.consent()") is None
    click_banner(page, "prefs")
    assert checked(page) == {"necessary": True, "preferences": False, "analytics": True, "marketing": True}
    page.locator(f'{PREFS} [data-a="save"]').click()
    page.wait_for_function("(window.ran || []).length >= 5")
    assert lab.hits("/lab/t/a1.js") == 1 and lab.hits("/lab/t/p1.js") == 0


def test_a_pending_choice_under_a_replaced_policy_is_not_resent(server, page: Page) -> None:
    old = {"choice": {"id": "", "c": {"necessary": True, "preferences": True, "analytics": True,
                                      "marketing": False},
                      "v": "2025-01-15", "t": int(time.time()) - 3600, "m": "custom", "g": 0},
           "lang": "en", "k": 0.5}
    page.add_init_script(f"localStorage.setItem('crumb:demo', {json.dumps(json.dumps(old))})")
    lab = Lab(page, server)
    page.goto(lab.add("marked", head=MARKED))
    expect(banner(page)).to_be_visible()
    assert lab.ran() == ["n1-required"]
    assert lab.hits("/api/demo/consent") == 0
    click_banner(page, "prefs")
    assert checked(page) == {"necessary": True, "preferences": True, "analytics": True, "marketing": False}


@pytest.mark.parametrize("outage", ["unreachable", "server-error"])
def test_a_choice_applies_while_the_api_is_down_and_reaches_the_log_on_a_later_view(
        server, page: Page, context: BrowserContext, outage: str) -> None:
    lab = Lab(page, server)
    api = f"{server.url}/api/demo/consent"

    def down(route: Route) -> None:
        if outage == "unreachable":
            route.abort("connectionrefused")
        else:
            route.fulfill(status=503, json={"error": "unavailable", "detail": "down for the test"})

    page.route(api, down)
    url = lab.add("marked", head=MARKED)
    page.goto(url)
    click_banner(page, "accept")
    page.wait_for_function("(window.ran || []).length >= 7")  # applied at once, API or not
    lab.wait_hits("/api/demo/consent")
    pending = json.loads(page.evaluate("localStorage.getItem('crumb:demo')"))
    assert pending["choice"]["m"] == "accept_all" and pending["choice"]["id"] == ""
    assert "crumb_consent" not in [c["name"] for c in context.cookies()]

    page.goto(url)  # still down: kept, applied, sent again
    page.wait_for_function("(window.ran || []).length >= 7")
    assert lab.wait_hits("/api/demo/consent", 2) == 2
    expect(banner(page)).to_be_hidden()

    page.unroute(api, down)
    page.goto(url)
    lab.settled()
    consent_id = page.evaluate("crumb.consent().id")
    assert consent_id and "crumb_consent" in [c["name"] for c in context.cookies()]
    assert logged_events(server, consent_id) == [{
        "kind": "given", "method": "accept_all", "gpc": 0,
        "categories": {"necessary": True, "preferences": True, "analytics": True, "marketing": True}}]
