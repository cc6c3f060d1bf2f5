"""Keyboard and screen-reader use of the banner: focus in, order, trap, Escape, return; axe-core clean."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Route, expect

from server.builder import bundle
from server.sites import load_sites

from .helpers import BANNER, PREFS, banner, click_banner, prefs

SITES = Path(__file__).resolve().parents[2] / "sites"

# What has focus, as a visitor would name it: "crumb:<name>" inside the widget, "page:<name>" outside.
FOCUS = """() => {
  const host = document.querySelector('#crumb-host'), outer = document.activeElement;
  const el = outer === host ? host.shadowRoot.activeElement : outer;
  if (!el || el === document.body) return 'body';
  const name = el.getAttribute('aria-label') || el.textContent.trim().slice(0, 40) ||
    (el.labels && el.labels[0] && el.labels[0].textContent.trim()) || el.className;
  const where = outer !== host ? 'page' : el.closest('.crumb-prefs') ? 'prefs' : 'crumb';
  return where + ':' + (el.type === 'checkbox' ? 'switch ' : '') + name;
}"""


def focus(page: Page) -> str:
    return str(page.evaluate(FOCUS))


def tab(page: Page, times: int = 1, shift: bool = False) -> list[str]:
    seen = []
    for _ in range(times):
        page.keyboard.press("Shift+Tab" if shift else "Tab")
        seen.append(focus(page))
    return seen


def test_focus_moves_into_the_banner_then_follows_reading_order_without_a_trap(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    expect(banner(page)).to_be_visible()
    assert focus(page).startswith("crumb:Your privacy at Maison Lumière")  # the banner itself, announced
    assert tab(page, 4) == ["crumb:Privacy policy", "crumb:Accept all", "crumb:Reject all", "crumb:Customize"]
    # the first layer does not trap: Tab goes on to the page (past the browser's own stop)
    after = tab(page, 2)
    assert after[-1].startswith("page:"), after
    expect(banner(page)).to_be_visible()


def test_preferences_trap_focus_and_escape_returns_it_to_customize(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    tab(page, 4)
    page.keyboard.press("Enter")
    expect(prefs(page)).to_be_visible()
    assert focus(page).startswith("prefs:Cookie preferences")
    order = ["prefs:Close", "prefs:Services (2)", "prefs:switch Preferences", "prefs:switch Analytics",
             "prefs:Services (1)", "prefs:switch Marketing", "prefs:Services (2)", "prefs:Accept all",
             "prefs:Reject all", "prefs:Save choices"]
    assert tab(page, 12) == [*order, *order[:2]]
    assert tab(page, 2, shift=True) == ["prefs:Close", "prefs:Save choices"]
    page.keyboard.press("Escape")
    expect(prefs(page)).to_be_hidden()
    expect(banner(page)).to_be_visible()
    assert focus(page) == "crumb:Customize"


def test_opened_services_join_the_tab_order(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "prefs")
    page.locator(f'{PREFS} .crumb-cat:has([data-c="analytics"]) summary').focus()
    page.keyboard.press("Enter")
    assert tab(page, 1) == ["prefs:switch Shop analytics"]


def test_keyboard_only_accept_all(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    assert tab(page, 2)[-1] == "crumb:Accept all"
    page.keyboard.press("Enter")
    expect(banner(page)).to_be_hidden()
    assert page.evaluate("crumb.consent().m") == "accept_all"


def test_keyboard_only_customize_and_save(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    tab(page, 4)
    page.keyboard.press("Enter")
    assert tab(page, 4)[-1] == "prefs:switch Analytics"
    page.keyboard.press("Space")
    assert tab(page, 6)[-1] == "prefs:Save choices"
    page.keyboard.press("Enter")
    expect(prefs(page)).to_be_hidden()
    expect(banner(page)).to_be_hidden()
    assert page.evaluate("crumb.consent().c") == {"necessary": 1, "preferences": 0, "analytics": 1,
                                                  "marketing": 0}


@pytest.mark.parametrize("close", ["Escape", "save"])
def test_focus_returns_to_the_link_that_opened_the_preferences(server, page: Page, close: str) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "reject")
    link = page.locator("footer [data-crumb-open]")
    link.focus()
    page.keyboard.press("Enter")
    expect(prefs(page)).to_be_visible()
    assert focus(page).startswith("prefs:")
    if close == "Escape":
        page.keyboard.press("Escape")
    else:
        page.locator(f'{PREFS} [data-a="save"]').press("Enter")
    expect(prefs(page)).to_be_hidden()
    assert link.evaluate("a => a === document.activeElement")


def test_floating_button_is_named_and_gets_focus_back(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "accept")
    fab = page.get_by_role("button", name="Cookie settings")
    fab.focus()
    page.keyboard.press("Enter")
    expect(prefs(page)).to_be_visible()
    page.keyboard.press("Escape")
    assert focus(page) == "crumb:Cookie settings"


def test_keyboard_focus_is_visible(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    tab(page, 2)
    ring = page.locator(f'{BANNER} [data-a="accept"]').evaluate(
        "b => [getComputedStyle(b).outlineStyle, getComputedStyle(b).outlineWidth]")
    assert ring == ["solid", "3px"]
    tab(page, 2)
    page.keyboard.press("Enter")
    tab(page, 3)
    ring = page.locator(f'{PREFS} [data-c="preferences"]').evaluate(
        "b => [getComputedStyle(b).outlineStyle, getComputedStyle(b).outlineWidth]")
    assert ring == ["solid", "3px"]


def test_modal_option_keeps_focus_in_the_first_layer_until_a_choice(server, page: Page) -> None:
    site = load_sites(SITES)["demo"]
    modal = dataclasses.replace(site, ui=dataclasses.replace(site.ui, modal=True))
    script = bundle(modal)

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=script)

    page.route(f"{server.url}/widget/demo.js", serve)
    page.goto(f"{server.url}/demo/")
    expect(banner(page)).to_be_visible()
    assert tab(page, 6) == ["crumb:Privacy policy", "crumb:Accept all", "crumb:Reject all", "crumb:Customize",
                            "crumb:Privacy policy", "crumb:Accept all"]
    page.keyboard.press("Escape")
    expect(banner(page)).to_be_visible()
    # the preferences open on top of the modal banner and take the trap over
    tab(page, 2)
    page.keyboard.press("Enter")
    expect(prefs(page)).to_be_visible()
    assert tab(page, 11)[-2:] == ["prefs:Save choices", "prefs:Close"]
    page.keyboard.press("Escape")
    expect(prefs(page)).to_be_hidden()
    assert focus(page) == "crumb:Customize"
    assert tab(page, 2) == ["crumb:Privacy policy", "crumb:Accept all"]
    page.keyboard.press("Enter")
    expect(banner(page)).to_be_hidden()


# The axe rules that passed on nodes inside the widget's shadow root (targets there start with the host).
WIDGET_PASSES = """async () => (await axe.run(document, {resultTypes: ['passes']})).passes
  .filter(p => p.nodes.some(n => Array.isArray(n.target[0]) && n.target[0][0] === '#crumb-host'))
  .map(p => p.id)"""


def _no_violations(page: Page) -> list[str]:
    """Run axe-core on the whole page; returns the rules it checked and passed inside the widget."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    return list(page.evaluate(WIDGET_PASSES))


def test_axe_finds_no_violation_with_the_banner_open(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    expect(banner(page)).to_be_visible()
    passes = _no_violations(page)
    # axe-core walks open shadow roots: its passes prove it checked the banner's own controls
    assert "button-name" in passes and "color-contrast" in passes


def test_axe_finds_no_violation_with_the_preferences_open(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "prefs")
    expect(prefs(page)).to_be_visible()
    page.locator(f"{PREFS} details").evaluate_all("ds => ds.forEach(d => d.open = true)")
    passes = _no_violations(page)
    assert {"label", "summary-name", "color-contrast", "aria-allowed-role"} <= set(passes)


def test_axe_finds_no_violation_with_the_consent_record_shown(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "accept")
    page.wait_for_function("crumb.consent() && crumb.consent().id")
    _no_violations(page)  # the page with the floating button
    page.get_by_role("button", name="Cookie settings").click()
    expect(page.locator(f"{PREFS} .crumb-rec")).to_be_visible()
    _no_violations(page)
