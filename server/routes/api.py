"""Consent API: record, read and withdraw a visitor's choice, and hand out receipts.

Every acknowledged event is committed before its response leaves (storage.append returns only
after the commit). Every check that can refuse a request runs before the append, so a refused
request writes nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..consent import Token, new_consent_id, now, parse_choice
from ..consent import ip_hash as hash_ip
from ..errors import ApiError, TokenError
from ..http import allowed_origin, client_ip, read_json, require_origin, site_or_404
from ..receipts import build_receipt, iso
from ..sites import SiteConfig
from ..storage import Event, StoredEvent

MAX_UA = 200
log = logging.getLogger("crumb")
Handler = Callable[[Request], Awaitable[Response]]
_NO_STORE = {"Cache-Control": "no-store"}


def _raw_token(request: Request, site: SiteConfig) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.cookies.get(site.cookie_name)


def _read_token(request: Request, site: SiteConfig) -> Token:
    return request.app.state.signer.read(_raw_token(request, site), site)


def _cors(response: Response, origin: str | None) -> Response:
    if origin:  # appended raw: the response has none of these headers yet
        response.raw_headers += [(b"access-control-allow-origin", origin.encode("latin-1")),
                                 (b"access-control-allow-credentials", b"true"), (b"vary", b"Origin")]
    return response


def _cors_on_errors(handler: Handler) -> Handler:
    """Errors stay typed exceptions rendered by the app; for an allowed origin they also carry the
    CORS headers, so a widget on another origin can read why it was refused."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            site = request.app.state.sites.get(request.path_params["site"])
            origin = allowed_origin(request, site) if site is not None else None
            if origin:
                exc.headers.update({"Access-Control-Allow-Origin": origin,
                                    "Access-Control-Allow-Credentials": "true", "Vary": "Origin"})
            raise

    return wrapped


def _set_cookie(response: Response, request: Request, site: SiteConfig, token: str) -> None:
    """Set-Cookie for the token, readable by the widget (not HttpOnly). Written directly: the
    token is URL-safe base64 and dots, so it needs no quoting (http.cookies is slow on the hot path)."""
    secure = "; Secure" if request.scope["scheme"] == "https" else ""
    response.raw_headers.append((b"set-cookie", (
        f"{site.cookie_name}={token}; Max-Age={site.lifetime_seconds}; Path=/; SameSite=lax{secure}"
    ).encode("latin-1")))


def _event(request: Request, site: SiteConfig, consent_id: str, kind: str, **fields: object) -> Event:
    settings = request.app.state.settings
    return Event(
        site=site.id, consent_id=consent_id, kind=kind,
        user_agent=request.headers.get("user-agent", "")[:MAX_UA],
        ip_hash=hash_ip(settings.signing_key, client_ip(request)),
        created_at=now(), **fields,  # type: ignore[arg-type]
    )


async def _append(request: Request, event: Event) -> StoredEvent:
    """Commit the event; a failing database is a 503 the client may retry (nothing acknowledged)."""
    try:
        stored: StoredEvent = await request.app.state.storage.append(event)
    except Exception:
        log.exception("could not record a %s event for site %s", event.kind, event.site)
        raise ApiError(503, "log_unavailable", "the consent log cannot record this now; nothing was "
                       "recorded, try again later", headers={"Retry-After": "5"}) from None
    return stored


async def post_consent(request: Request) -> Response:
    site = site_or_404(request)
    origin = require_origin(request, site)
    request.app.state.limiter.check(request)
    choice = parse_choice(await read_json(request), site)
    gpc = choice.gpc or request.headers.get("sec-gpc") == "1"
    try:
        previous: Token | None = _read_token(request, site)
    except TokenError:
        previous = None  # no, expired, foreign or forged token: a new consent id
    consent_id = previous.consent_id if previous else new_consent_id()
    event = _event(request, site, consent_id, "updated" if previous else "given",
                   categories=choice.categories, services=choice.services,
                   policy_version=choice.policy_version, method=choice.method,
                   language=choice.language, gpc=gpc)
    stored = await _append(request, event)
    issued = int(event.created_at)
    token = request.app.state.signer.sign(Token(
        consent_id=consent_id, site=site.id, categories=choice.categories,
        services=choice.services, policy_version=choice.policy_version, issued_at=issued,
        method=choice.method, gpc=gpc))
    response = JSONResponse({
        "consent_id": consent_id,
        "token": token,
        "kind": event.kind,
        "categories": choice.categories,
        "services": choice.services,
        "policy_version": choice.policy_version,
        "language": choice.language,
        "method": choice.method,
        "gpc": gpc,
        "issued_at": iso(event.created_at),
        "expires_at": iso(issued + site.lifetime_seconds),
        "event_hash": stored.payload_hash,
        "chain": stored.chain,
    }, status_code=201, headers=_NO_STORE)
    _set_cookie(response, request, site, token)
    return _cors(response, origin)


async def get_consent(request: Request) -> Response:
    site = site_or_404(request)
    origin = allowed_origin(request, site)
    try:
        token = _read_token(request, site)
    except TokenError as exc:
        raise ApiError(404, exc.code, exc.detail) from None
    return _cors(JSONResponse({
        "consent_id": token.consent_id,
        "categories": token.categories,
        "services": token.services,
        "policy_version": token.policy_version,
        "current": token.policy_version == site.policy_version,
        "method": token.method,
        "gpc": token.gpc,
        "issued_at": iso(token.issued_at),
        "expires_at": iso(token.issued_at + site.lifetime_seconds),
    }, headers=_NO_STORE), origin)


async def delete_consent(request: Request) -> Response:
    """Withdraw: record a `withdrawn` event, clear the cookie, return the withdrawal receipt."""
    site = site_or_404(request)
    origin = require_origin(request, site)
    request.app.state.limiter.check(request)
    try:
        token = _read_token(request, site)
    except TokenError as exc:
        raise ApiError(404, exc.code, exc.detail) from None
    refused = {cid: cid in site.required_ids for cid in site.category_ids}
    event = _event(request, site, token.consent_id, "withdrawn", categories=refused,
                   services={}, policy_version=site.policy_version, method="withdraw",
                   language=site.default_language, gpc=request.headers.get("sec-gpc") == "1")
    await _append(request, event)
    history = await request.app.state.storage.history(site.id, token.consent_id)
    receipt = build_receipt(site, token, history, event.created_at)
    receipt["withdrawn_at"] = iso(event.created_at)
    response = JSONResponse(receipt, headers=_NO_STORE)
    response.delete_cookie(site.cookie_name, path="/", samesite="lax")
    return _cors(response, origin)


async def get_receipt(request: Request) -> Response:
    """The visitor's receipt for the token they hold (cookie or Bearer): JSON, or `?format=html`."""
    site = site_or_404(request)
    origin = allowed_origin(request, site)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "html"):
        raise ApiError(422, "invalid_field", f"format: expected json or html, got {fmt[:20]!r}")
    try:
        token = _read_token(request, site)
    except TokenError as exc:
        if fmt == "html":  # a visitor followed the widget's link: a page, not JSON
            return _html(request, {"r": None, "error": exc.code, "detail": exc.detail}, 404)
        raise ApiError(404, exc.code, exc.detail) from None
    history = await request.app.state.storage.history(site.id, token.consent_id)
    receipt = build_receipt(site, token, history, now())
    if fmt == "html":
        return _html(request, {"r": receipt}, 200)
    return _cors(JSONResponse(receipt, headers=_NO_STORE), origin)


def _html(request: Request, context: dict[str, object], status: int) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request, "receipt.html", context, status_code=status)
    response.headers.update({**_NO_STORE, "Referrer-Policy": "no-referrer",
                             "X-Content-Type-Options": "nosniff"})
    return response


async def preflight(request: Request) -> Response:
    site = site_or_404(request)
    origin = require_origin(request, site)
    response = Response(status_code=204, headers={
        "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Authorization",
        "Access-Control-Max-Age": "600",
    })
    return _cors(response, origin)


routes = [
    Route("/api/{site}/consent", _cors_on_errors(post_consent), methods=["POST"]),
    Route("/api/{site}/consent", _cors_on_errors(get_consent), methods=["GET"]),
    Route("/api/{site}/consent", _cors_on_errors(delete_consent), methods=["DELETE"]),
    Route("/api/{site}/consent", preflight, methods=["OPTIONS"]),
    Route("/api/{site}/consent/receipt", _cors_on_errors(get_receipt), methods=["GET"]),
    Route("/api/{site}/consent/receipt", preflight, methods=["OPTIONS"]),
]
