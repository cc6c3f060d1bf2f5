"""A page embedding the widget with its SRI integrity sees the banner (and a tampered hash does
not run); config texts that look like markup show as text, never as elements."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from ..conftest import ROOT, Server, start_server, stop_server
from .helpers import banner, serve_lab

SCRIPT = "<script>window.crumbPwned=1</script>"
IMG = '"><img src=x onerror="window.crumbPwned=1">'


def page_with(src: str, integrity: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<script src="{src}" integrity="{integrity}" crossorigin="anonymous"></script>'
            f"<title>SRI lab</title></head><body><p>Shop</p></body></html>")


def built(server: Server, site: str) -> dict[str, str]:
    entry: dict[str, str] = json.loads((server.data / "dist" / "manifest.json").read_text())[site]
    return entry


def test_a_page_embedding_the_widget_with_its_integrity_sees_the_banner(server: Server, page: Page) -> None:
    entry = built(server, "demo")
    url = serve_lab(page, server, "sri.html",
                    page_with(f"{server.url}/widget/{entry['hashed_file']}", entry["integrity"]))
    page.goto(url)
    expect(banner(page)).to_be_visible()
    expect(page.locator("#crumb-host #crumb-t")).to_have_text("Your privacy at Maison Lumière")


def test_a_widget_that_does_not_match_its_integrity_never_runs(server: Server, page: Page) -> None:
    entry = built(server, "demo")
    digest = entry["integrity"].removeprefix("sha384-")
    tampered = "sha384-" + ("A" if digest[0] != "A" else "B") + digest[1:]
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "integrity" in m.text else None)
    url = serve_lab(page, server, "sri-bad.html",
                    page_with(f"{server.url}/widget/{entry['hashed_file']}", tampered))
    page.goto(url)
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.crumb") == "undefined"
    assert page.locator("#crumb-host").count() == 0
    assert blocked, "Chromium should report the integrity mismatch"


@pytest.fixture(scope="module")
def evil_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose only site has texts that look like markup."""
    tmp = tmp_path_factory.mktemp("evil")
    demo = (ROOT / "sites" / "demo.toml").read_text(encoding="utf-8")
    text = (demo.replace('id = "demo"', 'id = "evil"', 1)
            .replace("lifetime_days = 180", "lifetime_days = 180\nsize_budget = 50000")
            .replace('title = "Your privacy at Maison Lumière"', f"title = '{SCRIPT}'")
            .replace('accept_all = "Accept all"', f"accept_all = '{IMG}'")
            .replace('reopen = "Cookie settings"', f"reopen = '{IMG}'"))
    sites = tmp / "sites"
    sites.mkdir()
    (sites / "evil.toml").write_text(text, encoding="utf-8")
    srv = start_server(tmp, args=("--sites", str(sites)))
    yield srv
    stop_server(srv)


def test_config_text_that_looks_like_markup_shows_as_text(evil_server: Server, page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    entry = built(evil_server, "evil")
    url = serve_lab(page, evil_server, "escape.html",
                    page_with(f"{evil_server.url}/widget/{entry['hashed_file']}", entry["integrity"]))
    page.goto(url)
    expect(banner(page)).to_be_visible()
    expect(page.locator("#crumb-host #crumb-t")).to_have_text(SCRIPT)
    expect(page.locator('#crumb-host .crumb-banner [data-a="accept"]')).to_have_text(IMG)
    expect(page.locator("#crumb-host .crumb-fab")).to_have_attribute("aria-label", IMG)
    page.wait_for_load_state("load")
    injected = page.evaluate("""() => {
        const root = document.getElementById('crumb-host').shadowRoot;
        return {img: root.querySelectorAll('img').length, script: root.querySelectorAll('script').length,
                onerror: root.querySelectorAll('[onerror]').length, pwned: window.crumbPwned || 0};
    }""")
    assert injected == {"img": 0, "script": 0, "onerror": 0, "pwned": 0}
    assert dialogs == []

