"""window.crumb: consent(), acceptAll(), rejectAll(), accept(ids), withdraw(), show(), on(event, fn)
and the crumb:consent DOM event, as a site's own scripts use them."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, Route, expect

from .helpers import banner, prefs
from .lab import Lab, logged_events

LISTEN = """<script>window.events = [];
['consent', 'change', 'withdraw'].forEach(n => {
  crumb.on(n, d => events.push(['on:' + n, d && d.m]));
  document.addEventListener('crumb:' + n, e => events.push(['dom:' + n, e.detail && e.detail.m]));
});</script>"""


def test_consent_is_null_before_a_choice_and_the_choice_after(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("api"))
    assert page.evaluate("crumb.consent()") is None
    page.evaluate("crumb.rejectAll()")
    choice = page.evaluate("crumb.consent()")
    assert choice["c"] == {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
    assert (choice["m"], choice["v"], choice["g"]) == ("reject_all", "2026-11-01", 0)
    expect(banner(page)).to_be_hidden()
    page.evaluate("crumb.acceptAll()")
    assert all(page.evaluate("crumb.consent().c").values())


def test_accept_grants_exactly_the_given_categories_and_the_required_ones(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("api"))
    page.evaluate("crumb.accept('preferences')")
    assert page.evaluate("crumb.consent().c") == {"necessary": True, "preferences": True,
                                                  "analytics": False, "marketing": False}
    page.evaluate("crumb.accept(['analytics'], 'custom', {'local-analytics': false})")
    lab.settled()
    assert page.evaluate("crumb.consent().x") == {"local-analytics": False}
    assert logged_events(server, page.evaluate("crumb.consent().id"))[-1]["categories"]["analytics"] is True


def test_on_and_the_dom_event_report_consent_change_and_withdraw(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("api", head=LISTEN))
    page.evaluate("crumb.rejectAll()")
    page.evaluate("crumb.acceptAll()")
    page.evaluate("crumb.withdraw()")
    assert page.evaluate("window.events") == [
        ["on:consent", "reject_all"], ["dom:consent", "reject_all"],
        ["on:change", "accept_all"], ["dom:change", "accept_all"],
        ["on:consent", "accept_all"], ["dom:consent", "accept_all"],
        ["on:withdraw", None], ["dom:withdraw", None],
    ]


def test_the_consent_event_fires_on_every_page_view_with_a_stored_choice(server, page: Page) -> None:
    lab = Lab(page, server)
    url = lab.add("api", head=LISTEN)
    page.goto(url)
    page.evaluate("crumb.accept(['analytics'])")
    lab.settled()
    page.goto(url)
    page.wait_for_function("window.events.length == 2")
    assert page.evaluate("window.events") == [["on:consent", "custom"], ["dom:consent", "custom"]]


def test_withdraw_forgets_the_choice_shows_the_banner_and_logs_the_withdrawal(
        server, page: Page, context: BrowserContext) -> None:
    lab = Lab(page, server)
    url = lab.add("api")
    page.goto(url)
    page.evaluate("crumb.acceptAll()")
    lab.settled()
    consent_id = page.evaluate("crumb.consent().id")
    page.evaluate("crumb.withdraw()")
    assert page.evaluate("crumb.consent()") is None
    expect(banner(page)).to_be_visible()
    lab.settled()
    assert "crumb_consent" not in [c["name"] for c in context.cookies()]
    assert [e["kind"] for e in logged_events(server, consent_id)] == ["given", "withdrawn"]
    page.goto(url)
    expect(banner(page)).to_be_visible()


def test_a_withdrawal_made_while_the_api_is_down_reaches_the_log_on_a_later_view(
        server, page: Page, context: BrowserContext) -> None:
    lab = Lab(page, server)
    url = lab.add("api")
    page.goto(url)
    page.evaluate("crumb.acceptAll()")
    lab.settled()
    consent_id = page.evaluate("crumb.consent().id")

    def down(route: Route) -> None:
        route.abort("connectionrefused")

    api = f"{server.url}/api/demo/consent"
    page.route(api, down)
    page.evaluate("crumb.withdraw()")
    assert lab.wait_hits("/api/demo/consent", 2) == 2
    assert "crumb_consent" not in [c["name"] for c in context.cookies()]
    page.unroute(api, down)
    page.goto(url)
    expect(banner(page)).to_be_visible()  # still withdrawn here
    lab.settled()
    assert [e["kind"] for e in logged_events(server, consent_id)] == ["given", "withdrawn"]


def test_show_opens_the_preferences(server, page: Page) -> None:
    lab = Lab(page, server)
    page.goto(lab.add("api"))
    page.evaluate("crumb.rejectAll()")
    expect(prefs(page)).to_be_hidden()
    page.evaluate("crumb.show()")
    expect(prefs(page)).to_be_visible()
