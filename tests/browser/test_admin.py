"""The admin dashboard in Chromium: log in, read the numbers of consents this module recorded
through the real API, follow the chart, export both formats, erase a consent, log out."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from server.auth import hash_password

from ..conftest import ROOT, Server, start_server, stop_server
from ..test_admin import admin_sites

PASSWORD = "a long admin password for tests"
NONE = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}
ALL = dict.fromkeys(NONE, True)
CHOICES = [  # (method, categories, language, gpc)
    ("accept_all", ALL, "en", False),
    ("accept_all", ALL, "fr", False),
    ("accept_all", ALL, "en", False),
    ("reject_all", NONE, "en", True),
    ("reject_all", NONE, "de", False),
    ("custom", {**NONE, "analytics": True, "preferences": True}, "en", False),
]


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("crumb-admin")
    srv = start_server(tmp, extra_env={"CRUMB_ADMIN_PASSWORD_HASH": hash_password(PASSWORD),
                                       "CRUMB_ADMIN_LOGIN_FAILURES": "3",
                                       "CRUMB_SITES": str(admin_sites(tmp))})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def consent_ids(admin: Server) -> list[str]:
    """Record CHOICES through the consent API, as a visitor's browser would."""
    ids = []
    for method, categories, language, gpc in CHOICES:
        response = httpx.post(f"{admin.url}/api/demo/consent", headers={"Origin": admin.url},
                              json={"categories": categories, "policy_version": "2026-11-01",
                                    "method": method, "language": language, "gpc": gpc})
        assert response.status_code == 201, response.text
        ids.append(response.json()["consent_id"])
    return ids


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _thirty_days_ago() -> str:
    return (datetime.now(UTC).date() - timedelta(days=29)).isoformat()


def _login(page: Page, admin: Server, password: str = PASSWORD) -> None:
    page.goto(f"{admin.url}/admin/")
    expect(page).to_have_url(f"{admin.url}/admin/login?next=%2Fadmin%2F")
    page.get_by_label("Your name").fill("Dana")
    page.get_by_label("Admin password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _row(page: Page, table: str, name: str) -> list[str]:
    return page.locator(f"#{table} tr", has=page.get_by_role("rowheader", name=name, exact=True)) \
        .locator("td").all_inner_texts()


def test_wrong_password_keeps_the_admin_closed(page: Page, admin: Server) -> None:
    _login(page, admin, password="not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong password.")
    page.goto(f"{admin.url}/admin/")
    expect(page.get_by_role("heading", name="Log in to the Crumb admin")).to_be_visible()


def test_dashboard_shows_the_numbers_of_the_recorded_consents_and_the_chart_leads_to_a_day(
        page: Page, admin: Server, consent_ids: list[str]) -> None:
    _login(page, admin)
    expect(page.get_by_role("heading", name="Consent dashboard")).to_be_visible()
    page.get_by_label("Site", exact=True).select_option("demo")
    page.get_by_label("From (UTC)").fill("2026-01-01")
    page.get_by_label("To (UTC)").fill(_today())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#consent-count")).to_have_text("6")
    assert _row(page, "choices", "Accept all") == ["3", "50.0 %"]
    assert _row(page, "choices", "Reject all") == ["2", "33.3 %"]
    assert _row(page, "choices", "Custom") == ["1", "16.7 %"]
    assert _row(page, "choices", "Global Privacy Control signal") == ["1", "16.7 %"]
    assert _row(page, "categories", "analytics")[:2] == ["4 of 6", "66.7 %"]
    assert _row(page, "categories", "marketing")[:2] == ["3 of 6", "50.0 %"]
    assert _row(page, "versions", "2026-11-01") == ["6"]
    assert _row(page, "languages", "en") == ["4"]
    assert _row(page, "languages", "fr") == ["1"] and _row(page, "languages", "de") == ["1"]
    expect(page.locator("#chain-status")).to_have_text("intact")

    chart = page.locator("svg#per-day")
    expect(chart.locator("title").first).to_have_text(f"Consents per day, demo, 2026-01-01 to {_today()}")
    assert _row(page, "per-day-table", _today()) == ["6"]  # the same numbers, as a table
    assert _row(page, "per-day-table", "2026-01-01") == ["0"]
    assert Axe().run(page).violations_count == 0

    chart.get_by_role("link", name=f"{_today()}: 6 consents").click()
    expect(page).to_have_url(f"{admin.url}/admin/?site=demo&from={_today()}&to={_today()}")
    expect(page.locator("#consent-count")).to_have_text("6")
    expect(page.locator("svg#per-day .bar")).to_have_count(1)


def test_exports_download_as_csv_and_ndjson_with_every_recorded_consent(
        page: Page, admin: Server, consent_ids: list[str]) -> None:
    _login(page, admin)
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV", exact=True).click()
    download = info.value
    assert download.suggested_filename == f"crumb-demo-{_thirty_days_ago()}-{_today()}.csv"
    with Path(download.path()).open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "given"]
    assert [r["consent_id"] for r in rows] == consent_ids
    assert [r["method"] for r in rows] == [c[0] for c in CHOICES]
    assert [r["language"] for r in rows] == [c[2] for c in CHOICES]
    assert [r["category:analytics"] for r in rows] == ["1", "1", "1", "0", "0", "1"]

    with page.expect_download() as info:
        page.get_by_role("link", name="NDJSON", exact=True).click()
    lines = Path(info.value.path()).read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    given = [r for r in records if r["kind"] == "given"]
    assert [r["consent_id"] for r in given] == consent_ids
    assert [r["gpc"] for r in given] == [c[3] for c in CHOICES]
    assert all(r["payload_hash"] and r["chain"] for r in records)


def test_erasing_a_consent_keeps_the_chain_verifiable(page: Page, admin: Server,
                                                      consent_ids: list[str]) -> None:
    target = consent_ids[3]
    _login(page, admin)
    page.get_by_label("Consent id (from the visitor's receipt)").fill(target)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("heading", name=f"History of {target} on demo")).to_be_visible()
    expect(page.locator("#history tbody tr")).to_have_count(1)
    expect(page.locator("#history")).to_contain_text("python-httpx")  # the user agent, before erasure

    page.get_by_role("button", name="Erase personal data").click()
    expect(page.locator("#erase-result")).to_have_text(
        "Erased the personal data of 1 event; the erasure is recorded in the log below.")
    expect(page.locator("#history")).not_to_contain_text("python-httpx")
    expect(page.locator('#history tr[data-kind="erased"]')).to_contain_text("by admin:Dana")
    expect(page.locator("#chain-status")).to_have_text("intact")

    result = subprocess.run([sys.executable, "-m", "server", "verify", "--site", "demo",
                             "--db", str(admin.data / "crumb.sqlite3")],
                            cwd=ROOT, env=admin.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo: ok" in result.stdout


def test_logout_ends_the_session(page: Page, admin: Server) -> None:
    _login(page, admin)
    expect(page.get_by_text("Signed in as Dana")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    page.goto(f"{admin.url}/admin/export.csv?site=demo")
    expect(page.get_by_role("heading", name="Log in to the Crumb admin")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "crumb_admin"]


def test_without_a_password_hash_the_admin_says_how_to_open_it(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/admin/")
    expect(page.get_by_role("heading", name="The admin is closed")).to_be_visible()
    expect(page.locator("main")).to_contain_text("python -m server hash-password")
    expect(page.locator("main")).to_contain_text("CRUMB_ADMIN_PASSWORD_HASH")


def test_repeated_wrong_passwords_lock_the_login_with_a_clear_message(page: Page, admin: Server) -> None:
    """Last in this module: it leaves this test client's address locked out for 15 minutes."""
    for _ in range(3):
        _login(page, admin, password="still not the password")
        expect(page.get_by_role("alert")).to_have_text("Wrong password.")
    _login(page, admin)  # the right password, too late
    expect(page.get_by_role("alert")).to_have_text(
        "Too many failed logins from your address (3 in 15 minutes); try again in 15 minutes.")
    page.goto(f"{admin.url}/admin/")
    expect(page.get_by_role("heading", name="Log in to the Crumb admin")).to_be_visible()
