"""Integrations: Google Consent Mode v2 commands in dataLayer (before any tag, on every choice and
on every page view with a stored choice) and Global Privacy Control."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from .helpers import BANNER, PREFS, banner, click_banner
from .lab import Lab, logged_events
from .test_consent_state import store_token

# Runs right after the widget, like a tag would: what has the widget queued by then, and how?
SNAPSHOT = """<script>window.seen = dataLayer.map(a =>
  [Object.prototype.toString.call(a)].concat(Array.prototype.slice.call(a)))</script>"""
DENIED = {"ad_storage": "denied", "ad_user_data": "denied", "ad_personalization": "denied",
          "analytics_storage": "denied", "functionality_storage": "denied",
          "personalization_storage": "denied"}
GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"


def commands(page: Page) -> list[list[object]]:
    return list(page.evaluate("""dataLayer.map(a =>
        [Object.prototype.toString.call(a)].concat(Array.prototype.slice.call(a)))"""))


def test_consent_mode_default_is_queued_before_any_tag_with_all_seven_signals(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("cm", head=SNAPSHOT))
    default = {**DENIED, "security_storage": "granted", "wait_for_update": 500}
    assert page.evaluate("window.seen") == [["[object Arguments]", "consent", "default", default]]
    expect(banner(page)).to_be_visible()
    assert len(commands(page)) == 1  # no update until the visitor decides


def test_each_choice_pushes_a_consent_update_by_the_configured_map(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("cm"))
    page.evaluate("crumb.accept(['analytics'])")
    page.evaluate("crumb.accept(['marketing', 'preferences'])")
    page.evaluate("crumb.withdraw()")
    updates = commands(page)[1:]
    assert updates == [
        ["[object Arguments]", "consent", "update", {**DENIED, "analytics_storage": "granted"}],
        ["[object Arguments]", "consent", "update", {
            **DENIED, "ad_storage": "granted", "ad_user_data": "granted", "ad_personalization": "granted",
            "functionality_storage": "granted", "personalization_storage": "granted"}],
        ["[object Arguments]", "consent", "update", DENIED],
    ]


def test_a_stored_choice_pushes_its_update_before_any_tag_on_every_page_view(
        server, page: Page, context: BrowserContext) -> None:
    store_token(context, server)  # analytics and marketing granted, preferences refused
    lab = Lab(page, server)
    url = lab.add("cm", head=SNAPSHOT)
    for _ in range(2):
        page.goto(url)
        seen = page.evaluate("window.seen")
        assert [s[:3] for s in seen] == [["[object Arguments]", "consent", "default"],
                                         ["[object Arguments]", "consent", "update"]]
        assert seen[1][3] == {**DENIED, "analytics_storage": "granted", "ad_storage": "granted",
                              "ad_user_data": "granted", "ad_personalization": "granted"}


def test_gpc_starts_marketing_refused_and_the_banner_says_the_signal_is_honoured(
        server, page: Page, context: BrowserContext) -> None:
    # An outdated choice that had granted marketing: GPC still starts it refused.
    store_token(context, server, policy_version="2025-01-15")
    page.add_init_script(GPC)
    lab = Lab(page, server)
    page.goto(lab.add("gpc"))
    expect(page.locator(f"{BANNER} .crumb-gpc")).to_be_visible()
    expect(page.locator(f"{BANNER} .crumb-gpc")).to_contain_text("Global Privacy Control")
    click_banner(page, "prefs")
    expect(page.locator(f'{PREFS} [data-c="marketing"]')).not_to_be_checked()
    expect(page.locator(f'{PREFS} [data-c="analytics"]')).to_be_checked()


def test_without_gpc_the_banner_shows_no_gpc_notice(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("gpc"))
    expect(banner(page)).to_be_visible()
    expect(page.locator(f"{BANNER} .crumb-gpc")).to_be_hidden()


def test_an_explicit_choice_wins_over_gpc_and_is_logged_with_the_gpc_flag(server, page: Page) -> None:
    page.add_init_script(GPC)
    lab = Lab(page, server)
    page.goto(lab.add("gpc"))
    click_banner(page, "accept")
    lab.settled()
    choice = page.evaluate("crumb.consent()")
    assert choice["c"]["marketing"] is True and choice["g"] == 1
    assert logged_events(server, choice["id"]) == [{
        "kind": "given", "method": "accept_all", "gpc": 1,
        "categories": {"necessary": True, "preferences": True, "analytics": True, "marketing": True}}]
