"""Serve built widgets: strong ETag, 304, precompressed br/gzip, short cache or immutable by hash."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..builder import read_manifest
from ..errors import ApiError

SHORT_CACHE = "public, max-age=300"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class WidgetFile:
    hash: str
    identity: bytes
    gzip: bytes
    brotli: bytes


def load_widgets(dist: Path) -> dict[str, WidgetFile]:
    """Read every built widget into memory once (they are a few KB each)."""
    files = {}
    for site_id, entry in read_manifest(dist).items():
        try:
            files[site_id] = WidgetFile(
                hash=entry["hash"],
                identity=(dist / f"{site_id}.js").read_bytes(),
                gzip=(dist / f"{site_id}.js.gz").read_bytes(),
                brotli=(dist / f"{site_id}.js.br").read_bytes(),
            )
        except (OSError, KeyError):
            continue
    return files


def _accepts(accept_encoding: str, coding: str) -> bool:
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == coding and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" matches "x"."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags or "*" in tags


def respond(name: str, accept_encoding: str, if_none_match: str, files: dict[str, WidgetFile],
            sites: Container[str]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body for GET /widget/<name>; ApiError 404 for an unknown widget."""
    stem = name.removesuffix(".js")
    site_id, _, wanted_hash = stem.partition(".")
    # Only configured sites: a dist folder may still hold a site whose config was removed.
    item = files.get(site_id) if site_id in sites else None
    if item is None or not name.endswith(".js") or (wanted_hash and wanted_hash != item.hash):
        raise ApiError(404, "unknown_widget", f"no widget {name!r} is built")
    if _accepts(accept_encoding, "br"):
        body, coding = item.brotli, "br"
    elif _accepts(accept_encoding, "gzip"):
        body, coding = item.gzip, "gzip"
    else:
        body, coding = item.identity, ""
    etag = f'"{item.hash}{"-" + coding if coding else ""}"'
    headers = [
        ("etag", etag),
        ("cache-control", IMMUTABLE if wanted_hash else SHORT_CACHE),
        ("vary", "Accept-Encoding"),
        ("access-control-allow-origin", "*"),
        ("cross-origin-resource-policy", "cross-origin"),
        ("x-content-type-options", "nosniff"),
    ]
    if _matches(if_none_match, etag):
        return 304, headers, b""
    if coding:
        headers.append(("content-encoding", coding))
    headers.append(("content-type", "text/javascript; charset=utf-8"))
    return 200, headers, body


async def widget(request: Request) -> Response:
    status, headers, body = respond(
        request.path_params["name"], request.headers.get("accept-encoding", ""),
        request.headers.get("if-none-match", ""), request.app.state.widgets, request.app.state.sites)
    response = Response(body, status_code=status)
    response.raw_headers = [(b"content-length", str(len(body)).encode())] if status == 200 else []
    response.raw_headers += [(k.encode(), v.encode()) for k, v in headers]
    return response


class WidgetFastPath:
    """Pure ASGI middleware answering GET/HEAD /widget/<name> before routing: the widget is the
    most requested URL, and Starlette's router, request and response objects would roughly
    double its server cost. Anything it does not find falls through to the router (404 JSON)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/widget/") or \
                scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        accept, inm = "", ""
        for key, value in scope["headers"]:
            if key == b"accept-encoding":
                accept = value.decode("latin-1")
            elif key == b"if-none-match":
                inm = value.decode("latin-1")
        state = scope["app"].state
        try:
            status, headers, body = respond(path[8:], accept, inm, state.widgets, state.sites)
        except ApiError:
            await self.app(scope, receive, send)
            return
        raw = [(k.encode(), v.encode()) for k, v in headers]
        if status == 200:
            raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


routes = [Route("/widget/{name}", widget, methods=["GET", "HEAD"])]
