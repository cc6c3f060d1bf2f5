"""Admin dashboard under /admin/: login, statistics, consent lookup and erasure, streamed exports.

Every route goes through `_public` or `_private`: the admin is closed without a password hash,
private routes need a valid session cookie (GET redirects to the login form, POST answers 401),
and every POST needs its CSRF token (403 without it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ..auth import AdminAuth, AuthError, Session, check_csrf, password_matches
from ..charts import Bar, bar_chart
from ..consent import ip_hash, now
from ..errors import ApiError
from ..exports import csv_stream, iso, ndjson_stream
from ..http import client_ip, read_body
from ..stats import Stats, collect, day_of, parse_range

COOKIE = "crumb_admin"
LOGIN_COOKIE = "crumb_admin_login"
MAX_FORM = 4096
_CONSENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_CLOSED = ("The admin is closed because no admin password is configured. To open it, run "
           "`python -m server hash-password`, set CRUMB_ADMIN_PASSWORD_HASH to the line it prints "
           "(in single quotes: it contains $ signs) and restart the server.")
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
log = logging.getLogger("crumb.admin")

Form = dict[str, str]
Public = Callable[[Request, Form | None], Awaitable[Response]]
Private = Callable[[Request, Session, Form | None], Awaitable[Response]]


def _auth(request: Request) -> AdminAuth:
    auth: AdminAuth = request.app.state.admin
    return auth


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    return request.app.state.templates.TemplateResponse(request, f"admin/{name}", context,
                                                        status_code=status_code)


def _refuse(request: Request, status: int, code: str, detail: str) -> Response:
    """HTML for a browser, JSON {"error", "detail"} for anything else."""
    if "text/html" in request.headers.get("accept", ""):
        return _render(request, "error.html", status, code=code, detail=detail, status=status)
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/admin", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def _forget(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/admin", httponly=True, samesite="strict")


async def _form(request: Request) -> Form:
    body = await read_body(request, "application/x-www-form-urlencoded", MAX_FORM)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "invalid_form", f"the form could not be read ({exc})") from None
    return dict(pairs)


def _field(form: Form | None, name: str) -> str:
    value = form.get(name) if form is not None else None
    return value if isinstance(value, str) else ""


async def _guard(request: Request, call: Callable[[Form | None], Awaitable[Response]]) -> Response:
    if _auth(request).password is None:
        return _refuse(request, 503, "admin_closed", _CLOSED)
    try:
        form = await _form(request) if request.method == "POST" else None
        response = await call(form)
    except ApiError as exc:
        response = _refuse(request, exc.status, exc.code, exc.detail)
    except AuthError as exc:
        status = {"csrf": 403, "throttled": 429}.get(exc.code, 401)
        response = _refuse(request, status, exc.code, exc.detail)
    response.headers.update(_HEADERS)
    return response


def _public(handler: Public) -> Callable[[Request], Awaitable[Response]]:
    async def view(request: Request) -> Response:
        return await _guard(request, lambda form: handler(request, form))

    return view


def _private(handler: Private) -> Callable[[Request], Awaitable[Response]]:
    """Needs a session; GET without one redirects to the login form, POST answers 401; every
    POST must carry the session's CSRF token (403)."""

    async def call(request: Request, form: Form | None) -> Response:
        try:
            session = _auth(request).sessions.read(request.cookies.get(COOKIE))
        except AuthError as exc:
            if request.method != "GET":
                raise AuthError(exc.code, f"no valid admin session ({exc.detail}); log in at /admin/login") \
                    from None
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response: Response = RedirectResponse(f"/admin/login?{urlencode({'next': target})}", 303)
            if COOKIE in request.cookies:
                _forget(response, COOKIE)
            return response
        if request.method == "POST":
            check_csrf(session, _field(form, "csrf"))
        return await handler(request, session, form)

    async def view(request: Request) -> Response:
        return await _guard(request, lambda form: call(request, form))

    return view


def _safe_next(raw: str) -> str:
    if raw.startswith("/admin/") and "//" not in raw and "\\" not in raw:
        return raw
    return "/admin/"


def _login_page(request: Request, status: int = 200, error: str = "", notice: str = "",
                next_url: str = "/admin/") -> Response:
    auth = _auth(request)
    token = auth.sessions.login_token()
    response = _render(request, "login.html", status, csrf=token, error=error, notice=notice,
                       next_url=next_url)
    _cookie(response, request, LOGIN_COOKIE, token, auth.sessions.lifetime)
    return response


@_public
async def login_form(request: Request, form: Form | None) -> Response:
    next_url = _safe_next(request.query_params.get("next", ""))
    try:
        _auth(request).sessions.read(request.cookies.get(COOKIE))
    except AuthError:
        notice = "You are logged out." if request.query_params.get("out") else ""
        return _login_page(request, notice=notice, next_url=next_url)
    return RedirectResponse(next_url, 303)


@_public
async def login(request: Request, form: Form | None) -> Response:
    auth = _auth(request)
    assert auth.password is not None
    next_url = _safe_next(_field(form, "next"))
    key = ip_hash(auth.ip_secret, client_ip(request))
    try:
        auth.throttle.check(key)
        auth.sessions.check_login_token(request.cookies.get(LOGIN_COOKIE), _field(form, "csrf"))
    except AuthError as exc:
        status = 429 if exc.code == "throttled" else 403
        return _login_page(request, status, f"{exc.detail[0].upper()}{exc.detail[1:]}.", next_url=next_url)
    auth.throttle.failed(key)  # counted before the slow check, so parallel guesses cannot slip past
    if not await run_in_threadpool(password_matches, _field(form, "password"), auth.password):
        return _login_page(request, 401, "Wrong password.", next_url=next_url)
    auth.throttle.succeeded(key)
    name = re.sub(r"[^\w .@-]", "", _field(form, "name")).strip()[:60] or "admin"
    session, raw = auth.sessions.new(name)
    log.info("admin %r logged in", session.actor)
    response = RedirectResponse(next_url, 303)
    _cookie(response, request, COOKIE, raw, auth.sessions.lifetime)
    _forget(response, LOGIN_COOKIE)
    return response


@_private
async def logout(request: Request, session: Session, form: Form | None) -> Response:
    _auth(request).sessions.revoke(session)
    response = RedirectResponse("/admin/login?out=1", 303)
    _forget(response, COOKIE)
    return response


async def _known_sites(request: Request) -> list[str]:
    return sorted(set(request.app.state.sites) | set(await request.app.state.storage.sites()))


async def _site(request: Request, raw: str) -> str:
    known = await _known_sites(request)
    if raw not in known:
        raise ApiError(404, "unknown_site", f"no site {raw!r} is configured or logged")
    return raw


def _dashboard_url(site: str, first: object, last: object) -> str:
    return "/admin/?" + urlencode({"site": site, "from": str(first), "to": str(last)})


def _chart(stats: Stats) -> Any:
    daily = stats.daily()
    bars = [Bar(d.strftime("%b %d"), n, _dashboard_url(stats.site, d, d),
                f"{d.isoformat()}: {n} consent{'' if n == 1 else 's'}") for d, n in daily]
    busiest = max(daily, key=lambda dn: dn[1]) if daily else None
    desc = f"{stats.consents} consents in {len(daily)} days"
    if busiest and busiest[1]:
        desc += f"; the busiest day was {busiest[0].isoformat()} with {busiest[1]}"
    return bar_chart(bars, f"Consents per day, {stats.site}, {stats.days.first} to {stats.days.last}",
                     desc + ". Each bar links to that day.", "per-day")


@_private
async def dashboard(request: Request, session: Session, form: Form | None) -> Response:
    storage = request.app.state.storage
    sites = await _known_sites(request)
    if not sites:
        return _render(request, "dashboard.html", session=session, sites=[], site="")
    params = request.query_params
    site = await _site(request, params.get("site") or sites[0])
    days = parse_range(params.get("from"), params.get("to"), day_of(now()))
    stats = await collect(storage, site, days)
    config = request.app.state.sites.get(site)
    range_query = urlencode({"site": site, "from": str(days.first), "to": str(days.last)})
    return _render(
        request, "dashboard.html", session=session, sites=sites, site=site, days=days, stats=stats,
        categories=stats.category_rows(config.category_ids if config else ()),
        required=set(config.required_ids if config else ()), chart=_chart(stats),
        verify=await storage.verify(site), range_query=range_query,
    )


def _consent_id(raw: str) -> str:
    if not _CONSENT_ID.match(raw):
        raise ApiError(400, "invalid_consent_id",
                       "a consent id is 1-64 letters, digits, - or _ (as shown on the visitor's receipt)")
    return raw


@_private
async def lookup(request: Request, session: Session, form: Form | None) -> Response:
    params = request.query_params
    sites = await _known_sites(request)
    if not params.get("id"):
        return _render(request, "consent.html", session=session, sites=sites,
                       site=params.get("site") or (sites[0] if sites else ""), consent_id="", history=None)
    site = await _site(request, params.get("site", ""))
    consent_id = _consent_id(params.get("id", "").strip())
    storage = request.app.state.storage
    history = await storage.history(site, consent_id)
    erased = params.get("erased", "")
    return _render(request, "consent.html", 200 if history else 404, session=session, sites=sites,
                   site=site, consent_id=consent_id, history=history, iso=iso,
                   erased=int(erased) if erased.isdigit() else None,
                   verify=await storage.verify(site) if history else None)


@_private
async def erase(request: Request, session: Session, form: Form | None) -> Response:
    site = await _site(request, _field(form, "site"))
    consent_id = _consent_id(_field(form, "consent_id").strip())
    try:
        count = await request.app.state.storage.erase(site, consent_id, session.actor)
    except NotImplementedError:
        raise ApiError(501, "erase_unsupported", "this storage backend cannot erase events yet") from None
    if not count and not await request.app.state.storage.history(site, consent_id):
        raise ApiError(404, "unknown_consent", f"site {site!r} has no events for consent id {consent_id!r}")
    log.info("%s erased %d events of consent %s on site %s", session.actor, count, consent_id, site)
    query = urlencode({"site": site, "id": consent_id, "erased": count})
    return RedirectResponse(f"/admin/consent?{query}", 303)


def _export(kind: str) -> Callable[[Request], Awaitable[Response]]:
    @_private
    async def export(request: Request, session: Session, form: Form | None) -> Response:
        params = request.query_params
        site = await _site(request, params.get("site", ""))
        days = parse_range(params.get("from"), params.get("to"), day_of(now()), max_days=None)
        storage = request.app.state.storage
        name = f"crumb-{site if _SAFE_NAME.match(site) else 'export'}-{days.first}-{days.last}.{kind}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if kind == "csv":
            config = request.app.state.sites.get(site)
            body = csv_stream(storage, site, days.since, days.until, config.category_ids if config else ())
            return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)
        return StreamingResponse(ndjson_stream(storage, site, days.since, days.until),
                                 media_type="application/x-ndjson", headers=headers)

    return export


async def _to_dashboard(request: Request) -> Response:
    return RedirectResponse("/admin/", 307)


routes = [
    Route("/admin", _to_dashboard),
    Route("/admin/", dashboard),
    Route("/admin/login", login_form, methods=["GET"]),
    Route("/admin/login", login, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/consent", lookup, methods=["GET"]),
    Route("/admin/consent/erase", erase, methods=["POST"]),
    Route("/admin/export.csv", _export("csv"), methods=["GET"]),
    Route("/admin/export.ndjson", _export("ndjson"), methods=["GET"]),
]
