"""A visitor opens their consent receipt in the browser with nothing but the consent cookie: a
printable page with the controller, their choice per purpose and the hash-chained history."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, Response, expect

from .helpers import click_banner

RECEIPT = "/api/demo/consent/receipt?format=html"


def _choose(page: Page, action: str) -> dict[str, Any]:
    """Click a banner button and return the API's answer to the widget's POST."""
    def is_post(r: Response) -> bool:
        return r.url.endswith("/api/demo/consent") and r.request.method == "POST"

    with page.expect_response(is_post) as info:
        click_banner(page, action)
    assert info.value.status == 201
    return info.value.json()  # type: ignore[no-any-return]


def _fetch(page: Page, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call the consent API from the page, as the widget does (same origin, the cookie is sent)."""
    return page.evaluate(
        """async ([method, body]) => {
            const r = await fetch('/api/demo/consent', {method, credentials: 'include',
                headers: {'Content-Type': 'application/json'},
                body: body ? JSON.stringify(body) : undefined});
            return {status: r.status, body: await r.json()};
        }""", [method, body])


def test_receipt_page_shows_the_choice_and_its_hash_after_accepting(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    given = _choose(page, "accept")
    page.goto(f"{server.url}{RECEIPT}")
    expect(page.get_by_role("heading", name="Consent receipt")).to_be_visible()
    expect(page.locator('[data-field="consent_id"]')).to_have_text(given["consent_id"])
    expect(page.locator('[data-field="status"]')).to_have_text("active")
    expect(page.get_by_text("Maison Lumière Jewelry", exact=True)).to_be_visible()
    expect(page.get_by_text("privacy@maison-lumiere.example")).to_be_visible()
    for category in ("necessary", "preferences", "analytics", "marketing"):
        expect(page.locator(f'tr[data-category="{category}"] td.granted')).to_contain_text("granted")
    expect(page.locator('tr[data-event="given"]')).to_contain_text(given["event_hash"])
    expect(page.locator('tr[data-event="given"]')).to_contain_text("accept_all")
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_receipt_history_follows_an_update_and_withdrawal_clears_it(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    given = _choose(page, "reject")
    updated = _fetch(page, "POST", {
        "categories": {"necessary": True, "preferences": True, "analytics": False, "marketing": False},
        "policy_version": "2026-11-01", "language": "en", "method": "custom"})
    assert updated["status"] == 201 and updated["body"]["consent_id"] == given["consent_id"]

    page.goto(f"{server.url}{RECEIPT}")
    expect(page.locator("tr[data-event]")).to_have_count(2)
    expect(page.locator('tr[data-event="updated"]')).to_contain_text(updated["body"]["event_hash"])
    expect(page.locator('tr[data-category="preferences"] td').first).to_have_text("granted")
    expect(page.locator('tr[data-category="marketing"] td').first).to_have_text("refused")

    withdrawn = _fetch(page, "DELETE")
    assert withdrawn["status"] == 200
    assert [h["event"] for h in withdrawn["body"]["history"]] == ["given", "updated", "withdrawn"]
    response = page.goto(f"{server.url}{RECEIPT}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="No consent receipt")).to_be_visible()
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_receipt_prints_without_the_page_chrome(server, page: Page) -> None:
    page.goto(f"{server.url}/demo/")
    _choose(page, "accept")
    page.goto(f"{server.url}{RECEIPT}")
    expect(page.get_by_role("link", name="This receipt as JSON")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.get_by_role("link", name="This receipt as JSON")).to_be_hidden()
    expect(page.locator('[data-field="consent_id"]')).to_be_visible()
    pdf = page.pdf()
    assert pdf.startswith(b"%PDF")
