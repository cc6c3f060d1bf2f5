"""Serve built widgets: strong ETag, 304, precompressed br/gzip, short cache or immutable by hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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


def _accepts(request: Request, coding: str) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == coding and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" matches "x"."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags or "*" in tags


async def widget(request: Request) -> Response:
    name: str = request.path_params["name"]
    stem = name.removesuffix(".js")
    site_id, _, wanted_hash = stem.partition(".")
    files: dict[str, WidgetFile] = request.app.state.widgets
    # Only configured sites: a dist folder may still hold a site whose config was removed.
    item = files.get(site_id) if site_id in request.app.state.sites else None
    if item is None or not name.endswith(".js") or (wanted_hash and wanted_hash != item.hash):
        raise ApiError(404, "unknown_widget", f"no widget {name!r} is built")
    if _accepts(request, "br"):
        body, coding = item.brotli, "br"
    elif _accepts(request, "gzip"):
        body, coding = item.gzip, "gzip"
    else:
        body, coding = item.identity, ""
    etag = f'"{item.hash}{"-" + coding if coding else ""}"'
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE if wanted_hash else SHORT_CACHE,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    if coding:
        headers["Content-Encoding"] = coding
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


routes = [Route("/widget/{name}", widget, methods=["GET", "HEAD"])]
