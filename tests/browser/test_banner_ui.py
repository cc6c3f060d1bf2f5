"""The banner and the preferences: every action, reopening, isolation from site CSS, no layout shift."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from server.builder import bundle
from server.sites import load_sites

from .helpers import BANNER, PREFS, banner, click_banner, prefs, serve_lab

ALL_ON = {"necessary": 1, "preferences": 1, "analytics": 1, "marketing": 1}
ALL_OFF = {"necessary": 1, "preferences": 0, "analytics": 0, "marketing": 0}
FAB = "#crumb-host .crumb-fab"
SITES = Path(__file__).resolve().parents[2] / "sites"


def consent(page: Page) -> Any:
    return page.evaluate("crumb.consent()")


def switch(page: Page, category: str) -> Any:
    return page.locator(f'{PREFS} [data-c="{category}"]')


def wait_consent_id(page: Page) -> str:
    page.wait_for_function("crumb.consent() && crumb.consent().id")
    return str(page.evaluate("crumb.consent().id"))


@pytest.mark.parametrize(("action", "method", "categories"), [
    ("accept", "accept_all", ALL_ON),
    ("reject", "reject_all", ALL_OFF),
])
def test_accept_all_and_reject_all_close_the_banner_with_that_choice(
        server, page: Page, action: str, method: str, categories: dict[str, int]) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, action)
    expect(banner(page)).to_be_hidden()
    choice = consent(page)
    assert (choice["m"], choice["c"]) == (method, categories)
    page.reload()
    expect(page.locator(FAB)).to_be_visible()
    expect(banner(page)).to_be_hidden()


def test_customize_opens_preferences_with_necessary_on_and_locked(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "prefs")
    dialog = prefs(page)
    expect(dialog).to_be_visible()
    expect(page.get_by_role("dialog", name="Cookie preferences")).to_be_visible()
    expect(dialog).to_have_attribute("aria-modal", "true")
    assert page.locator(f"{PREFS} h2#crumb-pt").inner_text() == "Cookie preferences"
    assert page.evaluate("document.querySelector('#crumb-host').shadowRoot.querySelector('dialog:modal')"
                         ".className") == "crumb-prefs"
    expect(switch(page, "necessary")).to_be_checked()
    expect(switch(page, "necessary")).to_be_disabled()
    for cat in ("preferences", "analytics", "marketing"):
        expect(switch(page, cat)).not_to_be_checked()
        expect(switch(page, cat)).to_be_enabled()
    # each switch is a labelled form control, as a screen reader announces it
    expect(page.get_by_role("switch", name="Analytics")).to_have_count(1)
    expect(page.locator(f"{PREFS} .crumb-rec")).to_be_hidden()  # no choice yet: nothing to show


def test_save_keeps_exactly_the_categories_switched_on(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "prefs")
    page.get_by_role("switch", name="Analytics").check()
    page.get_by_role("switch", name="Preferences").check()
    page.get_by_role("switch", name="Preferences").uncheck()
    page.locator(f'{PREFS} [data-a="save"]').click()
    expect(prefs(page)).to_be_hidden()
    expect(banner(page)).to_be_hidden()
    choice = consent(page)
    assert choice["m"] == "custom"
    assert choice["c"] == {**ALL_OFF, "analytics": 1}
    page.reload()
    page.locator("footer [data-crumb-open]").click()
    expect(switch(page, "analytics")).to_be_checked()
    expect(switch(page, "marketing")).not_to_be_checked()


def test_services_expand_inside_their_category_and_save_one_by_one(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "prefs")
    pixel = page.get_by_role("switch", name="Ad pixel")
    expect(pixel).to_be_hidden()
    page.locator(f'{PREFS} .crumb-cat:has([data-c="marketing"]) summary').click()
    expect(pixel).to_be_visible()
    page.get_by_role("switch", name="Marketing").check()  # a category switch sets all its services
    expect(pixel).to_be_checked()
    page.get_by_role("switch", name="Product videos").uncheck()
    expect(switch(page, "marketing")).to_be_checked()  # still on: one service remains
    page.locator(f'{PREFS} [data-a="save"]').click()
    choice = consent(page)
    assert choice["c"]["marketing"] == 1
    assert choice["x"]["pixel"] is True and choice["x"]["video"] is False
    wait_consent_id(page)
    page.reload()
    page.locator(FAB).click()
    page.locator(f'{PREFS} .crumb-cat:has([data-c="marketing"]) summary').click()
    expect(page.get_by_role("switch", name="Product videos")).not_to_be_checked()
    expect(page.get_by_role("switch", name="Ad pixel")).to_be_checked()


def test_accept_and_reject_look_identical_and_sit_side_by_side(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    props = ["font-size", "font-weight", "color", "background-color", "border-top-color",
             "border-top-width", "padding-top", "padding-left"]
    look = {}
    for action in ("accept", "reject", "prefs"):
        button = page.locator(f'{BANNER} [data-a="{action}"]')
        box = button.bounding_box()
        assert box is not None
        style = button.evaluate("(b, props) => props.map(p => getComputedStyle(b)[p])", props)
        look[action] = (style, round(box["width"]), round(box["height"]), round(box["y"]))
    assert look["accept"] == look["reject"]
    assert look["prefs"][0] != look["accept"][0]  # Customize may look different, and does


def test_preferences_show_the_consent_id_date_and_receipt_link(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "reject")
    consent_id = wait_consent_id(page)
    expect(page.locator(FAB)).to_be_visible()
    page.locator(FAB).click()
    expect(prefs(page)).to_be_visible()
    record = page.locator(f"{PREFS} .crumb-rec")
    expect(record).to_be_visible()
    expect(record.locator("code")).to_have_text(consent_id)
    given = page.evaluate("new Date(crumb.consent().t * 1000).toLocaleString('en')")
    expect(record.locator("time")).to_have_text(given)
    link = record.get_by_role("link", name="Your consent receipt")
    expect(link).to_have_attribute("href", f"{server.url}/api/demo/consent/receipt?format=html")
    with page.context.expect_page() as opened:
        link.click()
    receipt = opened.value
    receipt.wait_for_load_state()
    expect(receipt.locator("body")).to_contain_text(consent_id)


def test_withdraw_in_preferences_clears_the_choice_and_asks_again(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    click_banner(page, "accept")
    wait_consent_id(page)
    page.locator("header [data-crumb-open]").click()
    page.locator(f'{PREFS} [data-a="withdraw"]').click()
    expect(prefs(page)).to_be_hidden()
    expect(banner(page)).to_be_visible()
    expect(page.locator(FAB)).to_be_hidden()
    assert consent(page) is None
    page.reload()
    expect(banner(page)).to_be_visible()


@pytest.mark.parametrize("opener", ["fab", "data-crumb-open"])
def test_preferences_reopen_from_the_floating_button_and_any_data_crumb_open(
        server, page: Page, opener: str) -> None:
    page.goto(f"{server.url}/demo/")
    expect(page.locator(FAB)).to_be_hidden()  # not while the banner asks
    click_banner(page, "reject")
    if opener == "fab":
        page.locator(FAB).click()
    else:  # added after load: the listener is delegated
        page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend',"
                      "'<button data-crumb-open><span>Privacy choices</span></button>')")
        page.get_by_text("Privacy choices").click()
    expect(prefs(page)).to_be_visible()
    page.get_by_role("switch", name="Analytics").check()
    page.locator(f'{PREFS} [data-a="save"]').click()
    expect(prefs(page)).to_be_hidden()
    assert consent(page)["c"]["analytics"] == 1


def test_floating_button_sits_in_the_configured_corner(server, page: Page) -> None:
    page.set_viewport_size({"width": 1000, "height": 700})
    page.goto(f"{server.url}/demo/")
    click_banner(page, "accept")
    box = page.locator(FAB).bounding_box()
    assert box is not None
    assert box["x"] < 100 and box["y"] + box["height"] > 600  # demo.toml: floating_corner = "bottom-left"


@pytest.mark.parametrize(("floating_button", "corner"), [(True, "bottom-right"), (False, "bottom-left")])
def test_floating_button_follows_the_site_config(server, page: Page, floating_button: bool,
                                                 corner: str) -> None:
    site = load_sites(SITES)["demo"]
    ui = dataclasses.replace(site.ui, floating_button=floating_button, floating_corner=corner)
    script = bundle(dataclasses.replace(site, ui=ui))

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=script)

    page.route(f"{server.url}/widget/demo.js", serve)
    page.set_viewport_size({"width": 1000, "height": 700})
    page.goto(f"{server.url}/demo/")
    click_banner(page, "reject")
    if not floating_button:
        expect(page.locator(FAB)).to_be_hidden()
        page.locator("footer [data-crumb-open]").click()  # the site's own link still reopens
        expect(prefs(page)).to_be_visible()
        return
    box = page.locator(FAB).bounding_box()
    assert box is not None
    assert box["x"] > 900 and box["y"] + box["height"] > 600


HOSTILE = """<!doctype html><html lang="en"><head><script src="/widget/demo.js"></script>
<style>
body *, div, dialog, button, p, h2 { display: none !important; visibility: hidden !important;
  color: red !important; background: lime !important; font-size: 40px !important; }
#crumb-host { opacity: 0; }
</style></head><body><main><h1>Hostile shop</h1><p>Text</p></main></body></html>"""


def test_site_css_outside_the_shadow_root_cannot_hide_or_restyle_the_banner(server, page: Page) -> None:
    page.goto(serve_lab(page, server, "hostile", HOSTILE))
    expect(page.locator("main")).to_be_hidden()  # the site's CSS does apply to the site
    accept = page.locator(f'{BANNER} [data-a="accept"]')
    expect(accept).to_be_visible()
    style = accept.evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).fontSize]")
    assert style == ["rgb(122, 75, 18)", "15px"]  # demo accent colour, the widget's own size
    accept.click()
    expect(banner(page)).to_be_hidden()
    assert consent(page)["m"] == "accept_all"


def test_usable_at_360_pixels_wide(server, page: Page) -> None:
    page.set_viewport_size({"width": 360, "height": 640})
    page.goto(f"{server.url}/demo/")
    for action in ("accept", "reject", "prefs"):
        box = page.locator(f'{BANNER} [data-a="{action}"]').bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["y"] + box["height"] <= 640
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    click_banner(page, "prefs")
    box = prefs(page).bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["height"] <= 640
    save = page.locator(f'{PREFS} [data-a="save"]')
    save.scroll_into_view_if_needed()
    save.click()
    expect(prefs(page)).to_be_hidden()
    assert consent(page)["m"] == "custom"


CLS = """() => new Promise(done => {
  let sum = 0, n = 0;
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) { n += 1; if (!e.hadRecentInput) sum += e.value; }
  }).observe({type: 'layout-shift', buffered: true});
  requestAnimationFrame(() => requestAnimationFrame(() => done([sum, n])));
})"""


def test_banner_preferences_and_floating_button_cause_no_layout_shift(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    expect(banner(page)).to_be_visible()
    page.wait_for_load_state("load")
    assert page.evaluate(CLS) == [0, 0]
    click_banner(page, "prefs")
    page.keyboard.press("Escape")
    page.locator(f'{BANNER} [data-a="reject"]').click()
    expect(page.locator(FAB)).to_be_visible()
    page.wait_for_timeout(100)  # let a late shift, if any, be recorded before reading the total
    assert page.evaluate(CLS) == [0, 0]


@pytest.mark.parametrize("gpc", [True, False])
def test_banner_says_when_global_privacy_control_is_honoured(server, page: Page, gpc: bool) -> None:
    if gpc:
        page.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})")
    page.goto(f"{server.url}/demo/")
    notice = page.locator(f"{BANNER} .crumb-gpc")
    if gpc:
        expect(notice).to_be_visible()
        expect(notice).to_have_text("Your browser sends Global Privacy Control: marketing is off.")
    else:
        expect(notice).to_be_hidden()
