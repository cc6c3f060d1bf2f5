"""HTTP helpers shared by the routes: JSON errors, bounded bodies, origins, client address."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .errors import ApiError
from .sites import SiteConfig

MAX_BODY = 4096


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status,
                        headers=exc.headers)


def site_or_404(request: Request) -> SiteConfig:
    site_id = request.path_params["site"]
    site = request.app.state.sites.get(site_id)
    if site is None:
        raise ApiError(404, "unknown_site", f"no site {site_id!r} is configured")
    return site


def own_origin(request: Request) -> str:
    """This server's origin as the client addressed it (scheme and Host header)."""
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server = scope.get("server") or ("", None)
        host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    return f"{scope['scheme']}://{host}"


def request_origin(request: Request) -> str | None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin.rstrip("/")
    referer = request.headers.get("referer")
    if referer:
        parts = referer.split("/")
        if len(parts) >= 3:
            return "/".join(parts[:3])
    return None


def allowed_origin(request: Request, site: SiteConfig) -> str | None:
    """The caller's origin when the site allows it (its own origins, or this server's own)."""
    origin = request_origin(request)
    if origin and (origin in site.origins or origin == own_origin(request)):
        return origin
    return None


def require_origin(request: Request, site: SiteConfig) -> str:
    origin = allowed_origin(request, site)
    if origin is None:
        seen = request_origin(request) or "none"
        raise ApiError(403, "origin_not_allowed",
                       f"origin {seen} is not allowed for site {site.id!r}")
    return origin


async def read_body(request: Request, media_type: str, limit: int) -> bytes:
    """The request body, bounded: 413 over `limit` bytes (declared or streamed), 415 for another
    media type. Shared by the consent API (JSON) and the admin forms."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the body is over {limit} bytes")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != media_type:
        raise ApiError(415, "unsupported_media_type", f"send the body as {media_type}")
    if declared and declared.isdigit():  # the server enforces the declared length: read it whole
        return await request.body()
    body = bytearray()  # chunked: stop reading as soon as the limit is passed
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise ApiError(413, "body_too_large", f"the body is over {limit} bytes")
    return bytes(body)


async def read_json(request: Request, limit: int = MAX_BODY) -> Any:
    """The request body as JSON: 413 over `limit` bytes, 415 not JSON, 400 malformed."""
    body = await read_body(request, "application/json", limit)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON ({exc})") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body is not valid JSON (nested too deeply)") from None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
