"""Lab pages for the blocking-engine tests: HTML served at the real server's origin through
`page.route` (so `/widget/demo.js` and the consent API are the real ones), fake third-party
trackers on https hosts, and the page's requests in order."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route

from ..conftest import Server

WIDGET = '<script src="/widget/demo.js"{nonce}></script>'
GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


def tracker_js(name: str) -> str:
    """A fake tag: records that it ran (in order) and sets a first-party cookie named after it."""
    cookie = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return (f"(window.ran=window.ran||[]).push({json.dumps(name)});"
            f"document.cookie='{cookie}=1;path=/;max-age=600';")


@dataclass
class Lab:
    """Serves lab pages and fake assets; records every request the page makes."""

    page: Page
    server: Server
    pages: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    slow: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.route(f"{self.server.url}/lab/**", self._lab)
        self.page.route(re.compile(r"^https://"), self._third_party)

    def add(self, path: str, head: str = "", body: str = "", csp: str = "", nonce: str = "",
            lang: str = "en") -> str:
        """A page with the widget first in <head>; returns its URL."""
        widget = WIDGET.format(nonce=f' nonce="{nonce}"' if nonce else "")
        html = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">{widget}{head}</head>'
                f"<body>{body}</body></html>")
        headers = {"content-type": "text/html; charset=utf-8"}
        if csp:
            headers["content-security-policy"] = csp
        self.pages[f"/lab/{path}"] = (html, headers)
        return f"{self.server.url}/lab/{path}"

    def _lab(self, route: Route) -> None:
        path = urlsplit(route.request.url).path
        if path in self.pages:
            html, headers = self.pages[path]
            route.fulfill(status=200, headers=headers, body=html)
        elif path.startswith("/lab/t/"):
            name = path.removeprefix("/lab/t/")
            if name in self.slow:
                time.sleep(0.3)  # a slow sync script: the next inline one must still wait for it
            self._asset(route, name)
        else:
            route.fulfill(status=404, body="no such lab file")

    def _third_party(self, route: Route) -> None:
        parts = urlsplit(route.request.url)
        self._asset(route, parts.hostname + parts.path)  # type: ignore[operator]

    def _asset(self, route: Route, name: str) -> None:
        if name.endswith((".js", ".mjs")):
            route.fulfill(status=200, content_type="text/javascript", body=tracker_js(name))
        elif name.endswith(".css"):
            route.fulfill(status=200, content_type="text/css", body="body{outline:3px solid red}")
        elif name.endswith(".html"):
            route.fulfill(status=200, content_type="text/html", body=f"<p>{name}</p>")
        else:
            route.fulfill(status=200, content_type="image/gif", body=GIF)

    def hits(self, fragment: str) -> int:
        """How many requests the page made to URLs containing `fragment`."""
        return sum(fragment in url for url in self.requests)

    def wait_hits(self, fragment: str, count: int = 1) -> int:
        """Let the page work until it has requested `fragment` `count` times (or 5 s passed)."""
        for _ in range(50):
            if self.hits(fragment) >= count:
                break
            self.page.wait_for_timeout(100)
        return self.hits(fragment)

    def settled(self) -> None:
        """Wait until the server has acknowledged every choice and withdrawal the page made."""
        self.page.wait_for_function("!localStorage.getItem('crumb:demo')")

    def ran(self) -> list[str]:
        return list(self.page.evaluate("window.ran || []"))


def logged_events(server: Server, consent_id: str) -> list[dict[str, object]]:
    """The consent log's events for one consent id, read from the server's SQLite database."""
    with sqlite3.connect(f"file:{server.data / 'crumb.sqlite3'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT kind, categories, method, gpc FROM events WHERE consent_id = ? "
                          "ORDER BY seq", (consent_id,)).fetchall()
    return [{**dict(r), "categories": json.loads(r["categories"])} for r in rows]
