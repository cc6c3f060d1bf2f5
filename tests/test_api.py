"""The consent API as a site's widget and its visitors use it: every route, every refusal (with
nothing written), cookies, cross-site refusal, expiry, key rotation, updates and withdrawals."""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette 1.10 asks for httpx2 (a UserWarning); httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from server.app import create_app
from server.consent import Token, TokenSigner
from server.settings import load_settings
from server.storage.postgres import PostgresStorage
from server.storage.sqlite import SqliteStorage

from .conftest import ROOT, TEST_SECRET, backend_settings

SITE = "http://127.0.0.1:8000"  # an origin the demo site allows
OWN = "http://crumb.test"  # the server's own origin (the demo is served by the same server)
CHOICE = {"categories": {"necessary": True, "preferences": False, "analytics": True, "marketing": False},
          "policy_version": "2026-11-01", "language": "en", "method": "custom"}


@pytest.fixture(scope="session")
def sites_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo site and a second site, "shop", whose name needs HTML escaping."""
    folder = tmp_path_factory.mktemp("sites")
    demo = (ROOT / "sites" / "demo.toml").read_text().replace(
        "[site]\n", "[site]\nsize_budget = 100000  # these tests are about the API, not the widget\n", 1)
    (folder / "demo.toml").write_text(demo)
    shop = demo.replace('id = "demo"', 'id = "shop"', 1).replace(
        'name = "Maison Lumière Jewelry"', 'name = "Bijoux <b>Test</b> & Co"', 1).replace(
        'origins = ["http://127.0.0.1:8000", "http://localhost:8000"]',
        'origins = ["https://shop.example"]', 1)
    (folder / "shop.toml").write_text(shop)
    return folder


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dist")


def make_client(backend: str, tmp: Path, sites_dir: Path, dist_dir: Path, base_url: str = OWN,
                **overrides: Any) -> TestClient:
    settings = backend_settings(backend, tmp, sites_dir=sites_dir, dist_dir=dist_dir, **overrides)
    return TestClient(create_app(settings), base_url=base_url)


@pytest.fixture
def client(backend: str, tmp_path: Path, sites_dir: Path, dist_dir: Path) -> Iterator[TestClient]:
    with make_client(backend, tmp_path, sites_dir, dist_dir) as c:
        yield c


def rows(client: TestClient) -> int:
    """How many events the log holds (read through the app's own storage)."""
    storage = client.app.state.storage  # type: ignore[attr-defined]

    async def count() -> int:
        return len([e async for e in storage.events()])

    return int(client.portal.call(count))  # type: ignore[union-attr]


def post(client: TestClient, body: Any = None, site: str = "demo", origin: str = SITE,
         **headers: str) -> Any:
    return client.post(f"/api/{site}/consent", json=CHOICE if body is None else body,
                       headers={"Origin": origin, **headers})


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_post_records_consent_sets_a_readable_cookie_and_returns_the_choice(client: TestClient) -> None:
    r = post(client, **{"User-Agent": "Visitor/1.0"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["kind"] == "given" and body["categories"] == CHOICE["categories"]
    assert body["issued_at"].endswith("Z") and body["expires_at"] > body["issued_at"]
    assert r.headers["access-control-allow-origin"] == SITE
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"crumb_consent={body['token']};")
    for part in ("Max-Age=15552000", "Path=/", "SameSite=lax"):
        assert part in cookie
    assert "HttpOnly" not in cookie and "Secure" not in cookie
    assert payload(body["token"]) == {"s": "demo", "i": body["consent_id"], "c": {
        "necessary": 1, "preferences": 0, "analytics": 1, "marketing": 0}, "v": "2026-11-01",
        "t": payload(body["token"])["t"], "m": "custom", "g": 0}
    assert rows(client) == 1


def test_cookie_is_secure_over_https(backend: str, tmp_path: Path, sites_dir: Path, dist_dir: Path) -> None:
    with make_client(backend, tmp_path, sites_dir, dist_dir, base_url="https://crumb.test") as c:
        r = post(c, origin="https://crumb.test")
        assert r.status_code == 201 and "Secure" in r.headers["set-cookie"]


def test_get_reads_the_choice_from_the_cookie_or_a_bearer_token(client: TestClient) -> None:
    token = post(client).json()["token"]
    by_cookie = client.get("/api/demo/consent")
    assert by_cookie.status_code == 200 and by_cookie.json()["categories"] == CHOICE["categories"]
    client.cookies.clear()
    by_bearer = client.get("/api/demo/consent", headers={"Authorization": f"Bearer {token}"})
    assert by_bearer.json() == by_cookie.json()
    assert by_bearer.json()["current"] is True


def test_services_and_gpc_header_are_recorded(client: TestClient) -> None:
    r = post(client, {**CHOICE, "services": {"pixel": False, "local-analytics": True}}, **{"Sec-GPC": "1"})
    assert r.json()["gpc"] is True and r.json()["services"] == {"pixel": False, "local-analytics": True}
    assert payload(r.json()["token"])["x"] == {"pixel": 0, "local-analytics": 1}
    receipt = client.get("/api/demo/consent/receipt").json()
    assert receipt["gpc"] is True
    marketing = next(p for p in receipt["purposes"] if p["category"] == "marketing")
    assert {s["id"]: s["state"] for s in marketing["services"]} == {"pixel": "refused", "video": "refused"}


@pytest.mark.parametrize(("token", "code"), [
    (None, "no_consent"),
    ("garbage", "tampered"),
    ("eyJzIjoiZGVtbyJ9.ZZZZZZ.c2lnbmF0dXJl", "tampered"),
])
def test_get_without_a_valid_token_says_why(client: TestClient, token: str | None, code: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.get("/api/demo/consent", headers=headers)
    assert (r.status_code, r.json()["error"]) == (404, code)


def test_a_token_with_a_changed_payload_is_refused(client: TestClient) -> None:
    token = post(client).json()["token"]
    data = payload(token)
    data["c"]["marketing"] = 1
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    r = client.get("/api/demo/consent", headers={"Authorization": "Bearer " + ".".join(
        [forged, *token.split(".")[1:]])})
    assert (r.status_code, r.json()["error"]) == (404, "tampered")


def test_a_token_for_one_site_is_refused_on_another(client: TestClient) -> None:
    token = post(client).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = client.get("/api/shop/consent", headers=auth)
    assert (r.status_code, r.json()["error"]) == (404, "wrong_site")
    assert client.get("/api/shop/consent/receipt", headers=auth).json()["error"] == "wrong_site"
    d = client.delete("/api/shop/consent", headers={**auth, "Origin": "https://shop.example"})
    assert (d.status_code, d.json()["error"]) == (404, "wrong_site")
    second = post(client, site="shop", origin="https://shop.example", Authorization=f"Bearer {token}")
    assert second.json()["kind"] == "given" and second.json()["consent_id"] != payload(token)["i"]


def test_an_expired_token_is_refused(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 181 * 86400)
    old = TokenSigner((TEST_SECRET,)).sign(Token("old-id", "demo", {"necessary": True}, {}, "2026-11-01",
                                                  0, "accept_all", False))
    monkeypatch.undo()
    r = client.get("/api/demo/consent", headers={"Authorization": f"Bearer {old}"})
    assert (r.status_code, r.json()["error"]) == (404, "expired")
    assert "180 days" in r.json()["detail"]
    renewed = post(client, Authorization=f"Bearer {old}").json()
    assert renewed["kind"] == "given" and renewed["consent_id"] != "old-id"


def test_key_rotation_newest_key_signs_every_key_verifies(backend: str, tmp_path: Path,
                                                          sites_dir: Path, dist_dir: Path) -> None:
    old_key, new_key = "old-secret-key-0123456789", "new-secret-key-0123456789"
    keys = load_settings({}, environ={"CRUMB_SECRET_KEY": f"{old_key}, {new_key}"}).secret_keys
    assert keys == (old_key, new_key)
    old_token = TokenSigner((old_key,)).sign(Token("kept", "demo", {"necessary": True}, {}, "2026-11-01",
                                                    int(time.time()), "accept_all", False))
    with make_client(backend, tmp_path, sites_dir, dist_dir, secret_keys=keys) as c:
        r = c.get("/api/demo/consent", headers={"Authorization": f"Bearer {old_token}"})
        assert r.status_code == 200 and r.json()["consent_id"] == "kept"
        updated = post(c, Authorization=f"Bearer {old_token}").json()
    assert updated["consent_id"] == "kept" and updated["kind"] == "updated"
    demo = make_client(backend, tmp_path / "x", sites_dir, dist_dir).app.state.sites[  # type: ignore[attr-defined]
        "demo"]
    assert TokenSigner((new_key,)).read(updated["token"], demo).consent_id == "kept"
    with pytest.raises(Exception, match="tampered"):
        TokenSigner((old_key,)).read(updated["token"], demo)
    with make_client(backend, tmp_path / "retired", sites_dir, dist_dir, secret_keys=(new_key,)) as c:
        r = c.get("/api/demo/consent", headers={"Authorization": f"Bearer {old_token}"})
        assert (r.status_code, r.json()["error"]) == (404, "tampered")


def test_second_post_with_the_token_records_an_update_under_the_same_id(client: TestClient) -> None:
    first = post(client).json()
    second = post(client, {**CHOICE, "method": "reject_all", "categories": {
        "necessary": True, "preferences": False, "analytics": False, "marketing": False}}).json()
    assert second["consent_id"] == first["consent_id"] and second["kind"] == "updated"
    history = client.get("/api/demo/consent/receipt").json()["history"]
    assert [(h["event"], h["payload_hash"]) for h in history] == [
        ("given", first["event_hash"]), ("updated", second["event_hash"])]


def test_delete_withdraws_clears_the_cookie_and_returns_the_withdrawal_receipt(client: TestClient) -> None:
    given = post(client).json()
    r = client.delete("/api/demo/consent", headers={"Origin": SITE})
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["consent_id"] == given["consent_id"] and receipt["status"] == "withdrawn"
    assert [h["event"] for h in receipt["history"]] == ["given", "withdrawn"]
    assert receipt["history"][1]["categories"] == {
        "necessary": True, "preferences": False, "analytics": False, "marketing": False}
    assert {p["category"]: p["state"] for p in receipt["purposes"]} == {
        "necessary": "granted", "preferences": "refused", "analytics": "refused", "marketing": "refused"}
    assert 'crumb_consent=""' in r.headers["set-cookie"] and "Max-Age=0" in r.headers["set-cookie"]
    assert client.get("/api/demo/consent").json()["error"] == "no_consent"
    assert rows(client) == 2


def test_receipt_lists_controller_purposes_and_the_hash_chained_history(client: TestClient) -> None:
    given = post(client).json()
    receipt = client.get("/api/demo/consent/receipt").json()
    assert receipt["consent_id"] == given["consent_id"] and receipt["status"] == "active"
    assert receipt["controller"] == {"name": "Maison Lumière Jewelry", "policy_url": "/demo/privacy",
                                     "contact": "privacy@maison-lumiere.example"}
    assert receipt["policy_version"] == "2026-11-01" and receipt["method"] == "custom"
    assert receipt["consent_timestamp"] == given["issued_at"]
    assert {p["category"]: p["state"] for p in receipt["purposes"]} == {
        "necessary": "granted", "preferences": "refused", "analytics": "granted", "marketing": "refused"}
    assert receipt["history"][0]["payload_hash"] == given["event_hash"]
    assert receipt["history"][0]["chain"] == given["chain"]
    assert "Kantara Consent Receipt v1.1" in receipt["standards"]


def test_receipt_html_is_a_printable_escaped_page(client: TestClient) -> None:
    r = post(client, site="shop", origin="https://shop.example")
    page = client.get("/api/shop/consent/receipt?format=html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert r.json()["consent_id"] in page.text and r.json()["event_hash"] in page.text
    assert "Bijoux &lt;b&gt;Test&lt;/b&gt; &amp; Co" in page.text and "<b>Test</b>" not in page.text
    assert "@media print" in page.text and page.headers["cache-control"] == "no-store"


def test_receipt_without_consent_says_so(client: TestClient) -> None:
    r = client.get("/api/demo/consent/receipt")
    assert (r.status_code, r.json()["error"]) == (404, "no_consent")
    page = client.get("/api/demo/consent/receipt?format=html")
    assert page.status_code == 404 and "No consent receipt" in page.text
    bad = client.get("/api/demo/consent/receipt?format=pdf")
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid_field")
    assert bad.json()["detail"].startswith("format:")


def test_receipt_shows_an_erasure(client: TestClient) -> None:
    given = post(client).json()
    storage = client.app.state.storage  # type: ignore[attr-defined]
    assert client.portal.call(storage.erase, "demo", given["consent_id"], "admin:dpo") == 1  # type: ignore[union-attr]
    history = client.get("/api/demo/consent/receipt").json()["history"]
    assert [(h["event"], h["personal_data_erased"]) for h in history] == [("given", True), ("erased", False)]
    assert history[0]["payload_hash"] == given["event_hash"] and history[1]["actor"] == "admin:dpo"


def test_preflight_answers_allowed_origins_with_credentials(client: TestClient) -> None:
    headers = {"Origin": SITE, "Access-Control-Request-Method": "POST"}
    r = client.options("/api/demo/consent", headers=headers)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == SITE
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "Authorization" in r.headers["access-control-allow-headers"]
    denied = client.options("/api/demo/consent", headers={**headers, "Origin": "https://evil.example"})
    assert (denied.status_code, denied.json()["error"]) == (403, "origin_not_allowed")


@pytest.mark.parametrize(("headers", "allowed"), [
    ({"Origin": SITE}, True),
    ({"Origin": "http://localhost:8000"}, True),
    ({"Origin": OWN}, True),
    ({"Referer": f"{SITE}/demo/product/ring"}, True),
    ({"Origin": "https://evil.example"}, False),
    ({"Origin": "http://127.0.0.1:8001"}, False),
    ({"Referer": "https://evil.example/page"}, False),
    ({"Origin": "https://evil.example", "Referer": f"{SITE}/demo/"}, False),
    ({}, False),
])
def test_only_the_sites_origins_may_record_consent(client: TestClient, headers: dict[str, str],
                                                   allowed: bool) -> None:
    r = client.post("/api/demo/consent", json=CHOICE, headers=headers)
    if allowed:
        assert r.status_code == 201, r.text
        assert rows(client) == 1
    else:
        assert (r.status_code, r.json()["error"]) == (403, "origin_not_allowed")
        assert rows(client) == 0


def test_withdrawal_from_a_foreign_origin_is_refused(client: TestClient) -> None:
    post(client)
    r = client.delete("/api/demo/consent", headers={"Origin": "https://evil.example"})
    assert (r.status_code, r.json()["error"]) == (403, "origin_not_allowed")
    assert client.delete("/api/demo/consent", headers={}).status_code == 403
    assert rows(client) == 1 and client.get("/api/demo/consent").status_code == 200


def test_withdrawal_without_consent_writes_nothing(client: TestClient) -> None:
    r = client.delete("/api/demo/consent", headers={"Origin": SITE})
    assert (r.status_code, r.json()["error"]) == (404, "no_consent")
    assert rows(client) == 0


@pytest.mark.parametrize(("body", "field"), [
    ([1, 2], "body"),
    ("text", "body"),
    ({**CHOICE, "categories": None}, "categories"),
    ({k: v for k, v in CHOICE.items() if k != "categories"}, "categories"),
    ({**CHOICE, "categories": ["analytics"]}, "categories"),
    ({**CHOICE, "categories": {**CHOICE["categories"], "tracking": True}}, "categories.tracking"),
    ({**CHOICE, "categories": {"necessary": True, "analytics": True}}, "categories.preferences"),
    ({**CHOICE, "categories": {**CHOICE["categories"], "necessary": False}}, "categories.necessary"),
    ({**CHOICE, "categories": {**CHOICE["categories"], "analytics": "yes"}}, "categories.analytics"),
    ({**CHOICE, "categories": {**CHOICE["categories"], "analytics": 1}}, "categories.analytics"),
    ({**CHOICE, "services": ["pixel"]}, "services"),
    ({**CHOICE, "services": 0}, "services"),
    ({**CHOICE, "services": {"spyware": True}}, "services.spyware"),
    ({**CHOICE, "services": {"pixel": "no"}}, "services.pixel"),
    ({**CHOICE, "policy_version": 3}, "policy_version"),
    ({**CHOICE, "policy_version": "2020-01-01"}, "policy_version"),
    ({k: v for k, v in CHOICE.items() if k != "policy_version"}, "policy_version"),
    ({**CHOICE, "language": 7}, "language"),
    ({**CHOICE, "language": "<script>"}, "language"),
    ({**CHOICE, "method": "accept_some"}, "method"),
    ({k: v for k, v in CHOICE.items() if k != "method"}, "method"),
    ({**CHOICE, "gpc": "1"}, "gpc"),
    ({**CHOICE, "extra": 1}, "extra"),
])
def test_invalid_choices_are_refused_naming_the_field(client: TestClient, body: Any, field: str) -> None:
    r = post(client, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_field"
    assert r.json()["detail"].startswith(f"{field}:"), r.json()["detail"]
    assert rows(client) == 0


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 1000):
        yield data[i:i + 1000]


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"content": b'{"x": "' + b"a" * 5000 + b'"}', "headers": {"Content-Type": "application/json"}},
     413, "body_too_large"),
    ({"content": lambda: _chunks(b'{"x": "' + b"a" * 5000 + b'"}'),
      "headers": {"Content-Type": "application/json"}}, 413, "body_too_large"),
    ({"content": json.dumps(CHOICE).encode(), "headers": {"Content-Type": "text/plain"}},
     415, "unsupported_media_type"),
    ({"content": json.dumps(CHOICE).encode(), "headers": {}}, 415, "unsupported_media_type"),
    ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
    ({"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
    ({"content": b"[" * 2000 + b"]" * 2000, "headers": {"Content-Type": "application/json"}},
     400, "invalid_json"),
])
def test_bad_bodies_are_refused_and_nothing_is_written(client: TestClient, kwargs: dict[str, Any],
                                                       status: int, code: str) -> None:
    content = kwargs["content"]() if callable(kwargs["content"]) else kwargs["content"]  # chunked: no length
    r = client.post("/api/demo/consent", content=content, headers={**kwargs["headers"], "Origin": SITE})
    assert (r.status_code, r.json()["error"]) == (status, code), r.text
    assert r.json()["detail"]
    assert rows(client) == 0


@pytest.mark.parametrize("method", ["get", "post", "delete", "options"])
def test_unknown_site_is_404(client: TestClient, method: str) -> None:
    r = client.request(method.upper(), "/api/nope/consent", json=CHOICE, headers={"Origin": SITE})
    assert (r.status_code, r.json()["error"]) == (404, "unknown_site")
    assert client.get("/api/nope/consent/receipt").json()["error"] == "unknown_site"
    assert rows(client) == 0


def test_rate_limit_answers_429_with_retry_after(backend: str, tmp_path: Path, sites_dir: Path,
                                                 dist_dir: Path) -> None:
    with make_client(backend, tmp_path, sites_dir, dist_dir, rate_limit_per_minute=3) as c:
        for _ in range(3):
            assert post(c).status_code == 201
        r = post(c)
        assert (r.status_code, r.json()["error"]) == (429, "rate_limited")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert c.delete("/api/demo/consent", headers={"Origin": SITE}).status_code == 429
        assert rows(c) == 3
        assert c.get("/api/demo/consent").status_code == 200  # reading is not limited


def test_refusals_tell_an_allowed_cross_origin_widget_why(client: TestClient) -> None:
    r = post(client, {**CHOICE, "method": "maybe"})
    assert (r.status_code, r.headers["access-control-allow-origin"]) == (422, SITE)
    missing = client.get("/api/demo/consent", headers={"Origin": SITE})
    assert (missing.status_code, missing.headers["access-control-allow-origin"]) == (404, SITE)
    foreign = post(client, origin="https://evil.example")
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers


def _break_log(client: TestClient, broken: bool) -> None:
    """Make the log refuse writes (SQLite: read-only pragma; PostgreSQL: the table is renamed away)."""
    storage = client.app.state.storage  # type: ignore[attr-defined]
    if isinstance(storage, PostgresStorage):
        names = ("events", "events_gone") if broken else ("events_gone", "events")
        client.portal.call(storage.pool.execute, "ALTER TABLE {} RENAME TO {}".format(*names))
    else:
        assert isinstance(storage, SqliteStorage)
        client.portal.call(storage._writer.execute, f"PRAGMA query_only={int(broken)}")  # type: ignore[union-attr]


def test_a_failing_log_answers_503_and_acknowledges_nothing(client: TestClient) -> None:
    _break_log(client, True)
    r = post(client)
    assert (r.status_code, r.json()["error"]) == (503, "log_unavailable")
    assert r.headers["retry-after"] == "5" and "set-cookie" not in r.headers
    _break_log(client, False)
    assert rows(client) == 0
    assert post(client).status_code == 201
