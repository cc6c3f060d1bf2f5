"""GET /widget/<id>.js: precompressed br/gzip by Accept-Encoding, strong ETag and 304, a short
cache for the plain URL and an immutable one for the hashed URL, 404 JSON for anything else."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from starlette.applications import Starlette

with warnings.catch_warnings():  # starlette 1.10 asks for httpx2 (a UserWarning); httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from server.app import create_app
from server.builder import read_manifest
from server.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    """One built site for the whole module: building (zopfli) takes a second."""
    tmp_path = tmp_path_factory.mktemp("serving")
    sites = tmp_path / "sites"
    sites.mkdir()
    demo = (ROOT / "sites" / "demo.toml").read_text(encoding="utf-8")
    (sites / "shop.toml").write_text(demo.replace('id = "demo"', 'id = "shop"', 1).replace(
        "lifetime_days = 180", "lifetime_days = 180\nsize_budget = 50000"), encoding="utf-8")
    settings = load_settings({"sites": str(sites), "data": str(tmp_path / "data"),
                              "dist": str(tmp_path / "dist")}, environ={"CRUMB_SECRET_KEY": "x" * 32})
    return create_app(settings)


@pytest.fixture
def client(app: Starlette) -> TestClient:
    # Sync on purpose: the widget route needs no lifespan, and a sync client runs beside the
    # browser tests' event loop in the same session.
    return TestClient(app, base_url="http://crumb.test")


def dist(client: TestClient) -> Path:
    return Path(client.app.state.settings.dist_dir)  # type: ignore[attr-defined]


def fetch(client: TestClient, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the body exactly as sent (not decompressed)."""
    with client.stream("GET", url, headers=headers) as response:
        return response.status_code, dict(response.headers), b"".join(response.iter_raw())


@pytest.mark.parametrize(("accept", "coding", "suffix"), [
    ("gzip, deflate, br, zstd", "br", ".br"),
    ("gzip, deflate", "gzip", ".gz"),
    ("br;q=0, gzip", "gzip", ".gz"),
    ("identity", None, ""),
])
def test_serves_the_precompressed_file_the_browser_accepts(client: TestClient, accept: str,
                                                           coding: str | None, suffix: str) -> None:
    status, headers, body = fetch(client, "/widget/shop.js", **{"Accept-Encoding": accept})
    assert status == 200
    assert body == (dist(client) / f"shop.js{suffix}").read_bytes()  # the built file, not recompressed
    assert headers.get("content-encoding") == coding
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["vary"] == "Accept-Encoding"
    assert headers["cache-control"] == "public, max-age=300"
    content_hash = read_manifest(dist(client))["shop"]["hash"]
    assert headers["etag"] == (f'"{content_hash}-{coding}"' if coding else f'"{content_hash}"')
    assert not headers["etag"].startswith("W/")  # strong: byte-identical per representation


@pytest.mark.parametrize("accept", ["br", "gzip", "identity"])
def test_a_matching_etag_gets_304_without_a_body(client: TestClient, accept: str) -> None:
    _, first, _ = fetch(client, "/widget/shop.js", **{"Accept-Encoding": accept})
    for tag in (first["etag"], "W/" + first["etag"], f'"other", {first["etag"]}', "*"):
        status, headers, body = fetch(client, "/widget/shop.js",
                                      **{"Accept-Encoding": accept, "If-None-Match": tag})
        assert (status, body) == (304, b""), tag
        assert headers["etag"] == first["etag"]
        assert headers["cache-control"] == "public, max-age=300"
        assert "content-encoding" not in headers


def test_an_etag_of_another_encoding_or_build_gets_the_file(client: TestClient) -> None:
    _, br, _ = fetch(client, "/widget/shop.js", **{"Accept-Encoding": "br"})
    status, headers, _ = fetch(client, "/widget/shop.js",
                               **{"Accept-Encoding": "gzip", "If-None-Match": br["etag"]})
    assert (status, headers["content-encoding"]) == (200, "gzip")
    status, _, _ = fetch(client, "/widget/shop.js",
                               **{"Accept-Encoding": "br", "If-None-Match": '"0ld"'})
    assert status == 200


def test_the_hashed_url_serves_the_same_bytes_immutable_for_a_year(client: TestClient) -> None:
    entry = read_manifest(dist(client))["shop"]
    hashed = f"/widget/{entry['hashed_file']}"
    status, headers, body = fetch(client, hashed, **{"Accept-Encoding": "br"})
    assert status == 200
    assert body == (dist(client) / "shop.js.br").read_bytes()
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["etag"] == f'"{entry["hash"]}-br"'
    status, headers, _ = fetch(client, f"/widget/{entry['hashed_file']}",
                               **{"Accept-Encoding": "br", "If-None-Match": headers["etag"]})
    assert (status, headers["cache-control"]) == (304, "public, max-age=31536000, immutable")


def test_the_widget_can_be_loaded_cross_origin_with_sri(client: TestClient) -> None:
    _, headers, _ = fetch(client, "/widget/shop.js", Origin="https://shop.example")
    assert headers["access-control-allow-origin"] == "*"
    assert headers["cross-origin-resource-policy"] == "cross-origin"
    assert headers["x-content-type-options"] == "nosniff"


def test_head_gives_the_headers(client: TestClient) -> None:
    response = client.head("/widget/shop.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["etag"].endswith('-gzip"')


@pytest.mark.parametrize("name", [
    "nope.js",            # no such site
    "shop.0123456789ab.js",  # a hash that is not the current build
    "shop",               # not a script name
    "shop.css",
    "demo.js",            # built in another run, but not a configured site here
])
def test_anything_else_is_a_404_json_error(client: TestClient, name: str) -> None:
    if name == "demo.js":
        for suffix in ("", ".gz", ".br"):
            (dist(client) / f"demo.js{suffix}").write_bytes(b"stale")
    response = client.get(f"/widget/{name}")
    assert response.status_code == 404
    assert response.json() == {"error": "unknown_widget", "detail": f"no widget {name!r} is built"}
