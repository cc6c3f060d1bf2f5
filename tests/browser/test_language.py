"""The banner speaks the page's language, else the browser's, else the site default; RTL renders RTL."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from server.builder import bundle
from server.sites import load_sites

from .helpers import BANNER, banner, click_banner, serve_lab

SITES = Path(__file__).resolve().parents[2] / "sites"
TITLES = {
    "en": "Your privacy at Maison Lumière",
    "zh": "您在 Maison Lumière 的隐私",
    "de": "Ihre Privatsphäre bei Maison Lumière",
}


def lab_html(lang: str | None) -> str:
    attr = f' lang="{lang}"' if lang is not None else ""
    return (f'<!doctype html><html{attr}><head><meta charset="utf-8"><script src="/widget/demo.js"></script>'
            f"</head><body><main><h1>Lab</h1></main></body></html>")


def shown_language(page: Page) -> tuple[str, str]:
    title = page.locator(f"{BANNER} h2").inner_text()
    lang = page.locator("#crumb-host .crumb").get_attribute("lang") or ""
    return title, lang


@pytest.mark.parametrize(("html_lang", "expected"), [
    ("en", "en"), ("zh", "zh"), ("de", "de"),
    ("de-AT", "de"), ("zh-Hans-CN", "zh"),  # a regional tag falls back to its language
])
def test_language_comes_from_the_page_html_lang(server, page: Page, html_lang: str, expected: str) -> None:
    page.goto(serve_lab(page, server, f"lang-{html_lang}", lab_html(html_lang)))
    expect(banner(page)).to_be_visible()
    assert shown_language(page) == (TITLES[expected], expected)
    assert page.locator("#crumb-host .crumb").get_attribute("dir") == "ltr"


@pytest.mark.parametrize(("locale", "expected"), [("de-DE", "de"), ("zh-CN", "zh"), ("en-GB", "en")])
def test_without_html_lang_the_browser_language_decides(server, browser: Browser, locale: str,
                                                        expected: str) -> None:
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.goto(serve_lab(page, server, "no-lang", lab_html(None)))
    assert shown_language(page) == (TITLES[expected], expected)
    context.close()


def test_page_language_wins_over_the_browser_language(server, browser: Browser) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(serve_lab(page, server, "de-page", lab_html("de")))
    assert shown_language(page) == (TITLES["de"], "de")
    context.close()


def test_unsupported_page_and_browser_languages_fall_back_to_the_site_default(server,
                                                                            browser: Browser) -> None:
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(serve_lab(page, server, "fr-page", lab_html("fr")))
    assert page.evaluate("navigator.languages") == ["fr-FR"]
    assert shown_language(page) == (TITLES["en"], "en")  # demo.toml: default_language = "en"
    context.close()


def test_the_language_shown_is_the_language_recorded(server, page: Page) -> None:
    page.goto(serve_lab(page, server, "de-record", lab_html("de")))
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/demo/consent")) as sent:
        page.locator(f'{BANNER} [data-a="reject"]').click()
    assert json.loads(sent.value.post_data or "{}")["language"] == "de"
    expect(page.get_by_role("button", name="Cookie-Einstellungen")).to_be_visible()


ARABIC = {
    "title": "خصوصيتك", "body": "نستخدم ملفات تعريف الارتباط.", "accept_all": "قبول الكل",
    "reject_all": "رفض الكل", "customize": "تخصيص", "save": "حفظ", "close": "إغلاق",
    "preferences_title": "تفضيلات ملفات تعريف الارتباط", "preferences_body": "اختر.",
    "policy_link": "سياسة الخصوصية", "placeholder": "{service} {category}",
    "placeholder_button": "{category}",
    "gpc_notice": "GPC", "consent_id": "معرف الموافقة", "consent_date": "التاريخ", "receipt_link": "الإيصال",
    "withdraw": "سحب الموافقة", "reopen": "إعدادات ملفات تعريف الارتباط", "always_on": "دائما",
    "services": "الخدمات",
}


def test_right_to_left_language_renders_right_to_left(server, page: Page) -> None:
    site = load_sites(SITES)["demo"]
    cats = {c: {"title": f"فئة {c}", "description": "وصف"} for c in site.category_ids}
    with_arabic = dataclasses.replace(site, texts={**site.texts, "ar": {**ARABIC, "categories": cats}})
    script = bundle(with_arabic)

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=script)

    page.route(f"{server.url}/widget/demo.js", serve)
    page.goto(serve_lab(page, server, "ar", lab_html("ar")))
    expect(banner(page)).to_be_visible()
    assert shown_language(page) == ("خصوصيتك", "ar")
    assert page.locator(f"{BANNER} p").first.evaluate("p => getComputedStyle(p).direction") == "rtl"
    # buttons run right to left: Accept all is the rightmost of the first row
    accept = page.locator(f'{BANNER} [data-a="accept"]').bounding_box()
    reject = page.locator(f'{BANNER} [data-a="reject"]').bounding_box()
    assert accept is not None and reject is not None and accept["x"] > reject["x"]
    click_banner(page, "prefs")
    expect(page.get_by_role("switch", name="فئة analytics")).to_be_visible()
