"""The admin routes: closed without a hash, refuse anonymous and forged sessions and missing CSRF
tokens on every URL, throttle failed logins, and report, export and erase what the log holds."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.auth import hash_password
from server.charts import Bar, bar_chart, nice_ceiling
from server.errors import StartupError
from server.settings import Settings
from server.storage import Event
from server.storage.chain import GENESIS, link, payload_hash
from tests.conftest import backend_settings

with warnings.catch_warnings():  # starlette 1.10 asks for httpx2 (a UserWarning); httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"
GETS = ["/admin/", "/admin/consent", "/admin/consent?site=demo&id=abc", "/admin/export.csv?site=demo",
        "/admin/export.ndjson?site=demo"]
POSTS = ["/admin/logout", "/admin/consent/erase"]
CATEGORIES = {"necessary": True, "preferences": False, "analytics": False, "marketing": False}


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One widget build folder for the module: each app skips the build when nothing changed."""
    return tmp_path_factory.mktemp("dist")


def admin_sites(tmp: Path) -> Path:
    """The demo site config with a roomy widget size budget: these tests are about the admin, and
    must not fail while the widget grows (its budget is tested with the widget)."""
    folder = tmp / "sites"
    folder.mkdir(exist_ok=True)
    text = re.sub(r"(?m)^size_budget *=.*$", "", (ROOT / "sites" / "demo.toml").read_text("utf-8"))
    (folder / "demo.toml").write_text(text.replace("[site]\n", "[site]\nsize_budget = 1000000\n", 1), "utf-8")
    return folder


def _settings(tmp: Path, password_hash: str, dist: Path, **changes: object) -> Settings:
    base = Settings(sites_dir=admin_sites(tmp), data_dir=tmp, dist_dir=dist,
                    db_path=tmp / "crumb.sqlite3", secret_keys=(SECRET,),
                    admin_password_hash=password_hash, rate_limit_per_minute=0)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path, password_hash: str, dist: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path, password_hash, dist)), follow_redirects=False) as c:
        yield c


@pytest.fixture
def data_client(backend: str, tmp_path: Path, password_hash: str, dist: Path) -> Iterator[TestClient]:
    """A client whose log is on each storage backend in turn (the reports, exports and erasure)."""
    settings = backend_settings(backend, tmp_path, sites_dir=admin_sites(tmp_path), dist_dir=dist,
                                admin_password_hash=password_hash)
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def _login_token(client: TestClient) -> str:
    page = client.get("/admin/login")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _login(client: TestClient, password: str = PASSWORD, name: str = "alice") -> str:
    """Log in and return the session's CSRF token (read from the logout form)."""
    response = client.post("/admin/login", data={"csrf": _login_token(client), "password": password,
                                                 "name": name, "next": "/admin/"})
    assert response.status_code == 303, response.text
    page = client.get("/admin/")
    match = re.search(r'action="/admin/logout">\s*<input type="hidden" name="csrf" value="([^"]+)"',
                      page.text)
    assert match
    return match.group(1)


def _consent(client: TestClient, method: str, categories: dict[str, bool] | None = None,
             language: str = "en", gpc: bool = False) -> str:
    body = {"categories": categories or CATEGORIES, "policy_version": "2026-11-01", "method": method,
            "language": language, "gpc": gpc}
    response = client.post("/api/demo/consent", json=body, headers={"Origin": "http://testserver"})
    assert response.status_code == 201, response.text
    client.cookies.delete("crumb_consent")
    return str(response.json()["consent_id"])


def _everything(client: TestClient) -> list[str]:
    everyone = {k: True for k in CATEGORIES}
    return [
        _consent(client, "accept_all", everyone),
        _consent(client, "accept_all", everyone, language="de"),
        _consent(client, "reject_all"),
        _consent(client, "custom", {**CATEGORIES, "analytics": True}, gpc=True),
    ]


# -- closed, anonymous, forged, CSRF --------------------------------------------------------------

def test_without_a_hash_every_admin_url_is_closed_and_says_how_to_open_it(tmp_path: Path, dist: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, "", dist)), follow_redirects=False) as client:
        for method, path in [("GET", p) for p in [*GETS, "/admin/login"]] + \
                            [("POST", p) for p in [*POSTS, "/admin/login"]]:
            response = client.request(method, path)
            assert response.status_code == 503, path
            assert response.json()["error"] == "admin_closed"
            assert "python -m server hash-password" in response.json()["detail"]
        page = client.get("/admin/", headers={"Accept": "text/html"})
        assert "CRUMB_ADMIN_PASSWORD_HASH" in page.text


def test_a_plain_password_in_the_hash_setting_stops_the_server(tmp_path: Path, dist: Path) -> None:
    with pytest.raises(StartupError, match="never put the plain password there"):
        create_app(_settings(tmp_path, PASSWORD, dist))


@pytest.mark.parametrize("path", GETS)
def test_anonymous_get_redirects_to_the_login_form(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=%2Fadmin%2F")


@pytest.mark.parametrize("path", POSTS)
def test_anonymous_post_is_refused_with_401(client: TestClient, path: str) -> None:
    response = client.post(path, data={"csrf": "anything", "site": "demo", "consent_id": "abc"})
    assert response.status_code == 401
    assert response.json()["error"] == "no_session"


def _tampered(client: TestClient) -> None:
    _login(client)
    raw = client.cookies["crumb_admin"]
    client.cookies.delete("crumb_admin")
    client.cookies.set("crumb_admin", raw[:-3] + ("xyz" if not raw.endswith("xyz") else "abc"),
                       domain="testserver.local", path="/admin")


@pytest.mark.parametrize("path", GETS)
def test_tampered_session_get_redirects_to_login_and_drops_the_cookie(client: TestClient, path: str) -> None:
    _tampered(client)
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")
    assert 'crumb_admin=""' in response.headers["set-cookie"]


@pytest.mark.parametrize("path", POSTS)
def test_tampered_session_post_is_refused_with_401(client: TestClient, path: str) -> None:
    _tampered(client)
    response = client.post(path, data={"csrf": "anything", "site": "demo", "consent_id": "abc"})
    assert response.status_code == 401
    assert response.json()["error"] == "tampered"


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_post_without_the_sessions_csrf_token_is_refused_with_403(
        client: TestClient, path: str, token: str | None) -> None:
    consent_id = _consent(client, "accept_all")
    _login(client)
    data = {"site": "demo", "consent_id": consent_id}
    if token is not None:
        data["csrf"] = token
    response = client.post(path, data=data)
    assert response.status_code == 403
    assert response.json() == {"error": "csrf", "detail": "the form's CSRF token is missing or does not "
                                                          "match this session"}
    assert client.get("/admin/").status_code == 200  # still logged in: nothing happened
    history = client.get(f"/admin/consent?site=demo&id={consent_id}").text
    assert "erased" not in history.split('id="history"')[1].split("</table>")[0]


def test_login_without_its_csrf_token_is_refused_with_403(client: TestClient) -> None:
    _login_token(client)
    response = client.post("/admin/login", data={"password": PASSWORD})
    assert response.status_code == 403
    assert "CSRF token is missing" in response.text
    assert "crumb_admin=" not in response.headers.get("set-cookie", "").replace("crumb_admin_login", "")


def test_login_sets_a_strict_httponly_cookie_with_a_lifetime(client: TestClient) -> None:
    response = client.post("/admin/login", data={"csrf": _login_token(client), "password": PASSWORD})
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("crumb_admin="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert "Max-Age=28800" in cookie


def test_login_redirects_back_only_inside_the_admin(client: TestClient) -> None:
    for target, expected in (("/admin/consent?site=demo", "/admin/consent?site=demo"),
                             ("https://evil.example/", "/admin/"), ("/admin//evil.example", "/admin/")):
        response = client.post("/admin/login", data={"csrf": _login_token(client), "password": PASSWORD,
                                                     "next": target})
        assert response.headers["location"] == expected
        client.cookies.clear()


def test_wrong_password_is_refused_and_logs_nobody_in(client: TestClient) -> None:
    response = client.post("/admin/login", data={"csrf": _login_token(client), "password": "nope"})
    assert response.status_code == 401
    assert "Wrong password." in response.text
    assert client.get("/admin/").status_code == 303


def test_failed_logins_are_limited_per_address_with_a_clear_message(tmp_path: Path, password_hash: str,
                                                                     dist: Path) -> None:
    app = create_app(_settings(tmp_path, password_hash, dist, admin_login_failures=3))
    with TestClient(app, follow_redirects=False) as client:
        for _ in range(3):
            assert client.post("/admin/login", data={"csrf": _login_token(client),
                                                     "password": "guess"}).status_code == 401
        for password in ("guess", PASSWORD):  # even the right password waits
            response = client.post("/admin/login", data={"csrf": _login_token(client), "password": password})
            assert response.status_code == 429
            assert "Too many failed logins from your address (3 in 15 minutes); try again in 15 minutes." \
                in response.text
        assert client.get("/admin/").status_code == 303


async def test_parallel_wrong_logins_cannot_slip_past_the_limit(tmp_path: Path, password_hash: str,
                                                                 dist: Path) -> None:
    app = create_app(_settings(tmp_path, password_hash, dist, admin_login_failures=3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        page = await c.get("/admin/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        answers = await asyncio.gather(*(c.post("/admin/login", data={"csrf": token.group(1),
                                                                      "password": f"guess {i}"})
                                         for i in range(8)))
    assert sorted(r.status_code for r in answers) == [401] * 3 + [429] * 5


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf = _login(client)
    raw = client.cookies["crumb_admin"]
    response = client.post("/admin/logout", data={"csrf": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/admin/login?out=1"
    assert client.get("/admin/").status_code == 303
    client.cookies.set("crumb_admin", raw, domain="testserver.local", path="/admin")  # replayed
    assert client.get("/admin/").status_code == 303


def test_admin_pages_forbid_framing_and_caching(client: TestClient) -> None:
    _login(client)
    response = client.get("/admin/")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# -- dashboard, exports, erasure -------------------------------------------------------------------

def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _cell(html: str, table: str, row: str) -> list[str]:
    body = html.split(f'id="{table}"')[1].split("</table>")[0]
    match = re.search(rf"<th scope=\"row\">{re.escape(row)}.*?</th>(.*?)</tr>", body, re.S)
    assert match, (table, row)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]


def test_dashboard_counts_the_events_the_api_recorded(data_client: TestClient) -> None:
    client = data_client
    _everything(client)
    _login(client)
    html = client.get(f"/admin/?site=demo&from={_today()}&to={_today()}").text
    assert re.search(r'id="consent-count">4<', html)
    assert _cell(html, "choices", "Accept all") == ["2", "50.0 %"]
    assert _cell(html, "choices", "Reject all") == ["1", "25.0 %"]
    assert _cell(html, "choices", "Custom") == ["1", "25.0 %"]
    assert _cell(html, "choices", "Global Privacy Control signal") == ["1", "25.0 %"]
    assert _cell(html, "categories", "analytics")[:2] == ["3 of 4", "75.0 %"]
    assert _cell(html, "categories", "marketing")[:2] == ["2 of 4", "50.0 %"]
    assert _cell(html, "versions", "2026-11-01") == ["4"]
    assert _cell(html, "languages", "en") == ["3"] and _cell(html, "languages", "de") == ["1"]
    assert _cell(html, "per-day-table", _today()) == ["4"]
    assert re.search(r'id="chain-status">intact<', html)
    svg = html.split("<svg")[1].split("</svg>")[0]
    assert f"<title>{_today()}: 4 consents</title>" in svg
    assert f'href="/admin/?site=demo&amp;from={_today()}&amp;to={_today()}"' in svg


@pytest.mark.parametrize(("query", "status", "code"), [
    ("site=demo&from=yesterday", 400, "invalid_date"),
    ("site=demo&from=2026-11-20&to=2026-11-01", 400, "invalid_range"),
    ("site=demo&from=2020-01-01&to=2026-01-01", 400, "range_too_long"),
    ("site=nope", 404, "unknown_site"),
])
def test_dashboard_names_a_bad_filter(client: TestClient, query: str, status: int, code: str) -> None:
    _login(client)
    response = client.get(f"/admin/?{query}")
    assert response.status_code == status
    assert response.json()["error"] == code
    page = client.get(f"/admin/?{query}", headers={"Accept": "text/html"})
    assert page.status_code == status and f'data-code="{code}"' in page.text


def test_csv_export_has_one_row_per_event_and_neutralises_formulas(data_client: TestClient) -> None:
    client = data_client
    ids = _everything(client)
    client.post("/api/demo/consent", headers={"Origin": "http://testserver", "User-Agent": "=HYPERLINK(1)"},
                json={"categories": CATEGORIES, "policy_version": "2026-11-01", "method": "reject_all"})
    _login(client)
    response = client.get(f"/admin/export.csv?site=demo&from={_today()}&to={_today()}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == \
        f'attachment; filename="crumb-demo-{_today()}-{_today()}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["consent_id"] for r in rows[:4]] == ids
    assert [r["method"] for r in rows[:4]] == ["accept_all", "accept_all", "reject_all", "custom"]
    assert rows[3]["category:analytics"] == "1" and rows[3]["category:marketing"] == "0"
    assert rows[3]["gpc"] == "1"
    assert rows[4]["user_agent"] == "'=HYPERLINK(1)"


def test_ndjson_export_lets_an_auditor_recompute_the_chain(data_client: TestClient) -> None:
    client = data_client
    ids = _everything(client)
    _login(client)
    response = client.get(f"/admin/export.ndjson?site=demo&from={_today()}&to={_today()}")
    assert response.headers["content-type"] == "application/x-ndjson"
    records = [json.loads(line) for line in response.text.splitlines()]
    assert [r["consent_id"] for r in records] == ids
    previous = GENESIS
    for record in records:
        event = Event(**{f.name: record[f.name] for f in fields(Event)})
        assert payload_hash(event) == record["payload_hash"]
        assert link(previous, record["payload_hash"]) == record["chain"]
        previous = record["chain"]


def test_export_of_an_empty_range_is_just_the_header(data_client: TestClient) -> None:
    client = data_client
    _everything(client)
    _login(client)
    text = client.get("/admin/export.csv?site=demo&from=2020-01-01&to=2020-01-31").text
    assert text.splitlines()[0].startswith("seq,created_at,site,consent_id")
    assert len(text.splitlines()) == 1
    assert client.get("/admin/export.ndjson?site=demo&from=2020-01-01&to=2020-01-31").text == ""


def test_erasing_a_consent_records_who_did_it_and_the_chain_still_verifies(data_client: TestClient) -> None:
    client = data_client
    ids = _everything(client)
    csrf = _login(client, name="Alice Admin")
    response = client.post("/admin/consent/erase", data={"csrf": csrf, "site": "demo", "consent_id": ids[2]})
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/consent?site=demo&id={ids[2]}&erased=1"
    page = client.get(response.headers["location"]).text
    assert "Erased the personal data of 1 event;" in page
    assert 'data-kind="erased"' in page and "by admin:Alice Admin" in page
    assert re.search(r'id="chain-status">intact<', page)
    records = [json.loads(line) for line in client.get("/admin/export.ndjson?site=demo").text.splitlines()]
    erased = [r for r in records if r["consent_id"] == ids[2]]
    assert erased[0]["user_agent"] == "" and erased[0]["ip_hash"] == "" and erased[0]["erased"] is True
    assert erased[-1]["kind"] == "erased" and erased[-1]["actor"] == "admin:Alice Admin"
    assert all(r["user_agent"] for r in records if r["consent_id"] != ids[2])
    again = client.post("/admin/consent/erase", data={"csrf": csrf, "site": "demo", "consent_id": ids[2]})
    assert "Nothing left to erase" in client.get(again.headers["location"]).text


def test_erasing_an_unknown_consent_is_a_404_naming_it(data_client: TestClient) -> None:
    client = data_client
    csrf = _login(client)
    response = client.post("/admin/consent/erase",
                           data={"csrf": csrf, "site": "demo", "consent_id": "nobody"})
    assert response.status_code == 404
    assert response.json() == {"error": "unknown_consent",
                               "detail": "site 'demo' has no events for consent id 'nobody'"}
    bad = client.post("/admin/consent/erase", data={"csrf": csrf, "site": "demo", "consent_id": "<x>"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_consent_id"


def test_lookup_shows_a_consents_history(data_client: TestClient) -> None:
    client = data_client
    ids = _everything(client)
    _login(client)
    page = client.get(f"/admin/consent?site=demo&id={ids[3]}")
    assert page.status_code == 200
    assert page.text.count('data-kind="given"') == 1 and "custom, GPC" in page.text
    assert client.get("/admin/consent?site=demo&id=unknown").status_code == 404


# -- the chart -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (12, 20), (250, 500)])
def test_chart_axis_rounds_up_to_a_readable_number(value: int, ceiling: int) -> None:
    assert nice_ceiling(value) == ceiling


def test_chart_escapes_text_and_scales_bars_to_the_axis() -> None:
    svg = str(bar_chart([Bar("a<b", 5, "/x?a=1&b=2", "five"), Bar("c", 10, "/y", "ten")], "T&T", "D"))
    assert "<title id=\"chart-title\">T&amp;T</title>" in svg and "a&lt;b" in svg and "a=1&amp;b=2" in svg
    heights = [float(h) for h in re.findall(
        r'class="bar" data-value="\d+" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', svg)]
    assert len(heights) == 2 and heights[1] == pytest.approx(2 * heights[0])
