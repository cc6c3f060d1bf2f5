"""create_app: the Starlette application (widget, consent API, demo shop, admin)."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import sitefolder
from .auth import AdminAuth
from .builder import budget_warning, build_all
from .consent import TokenSigner
from .errors import ApiError
from .http import error_response
from .ratelimit import RateLimiter
from .resources import STATIC_DIR, TEMPLATES_DIR
from .routes import admin, api, demo, pages, widget
from .settings import Settings, ensure_secret, load_settings
from .storage import open_storage

log = logging.getLogger("crumb")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": code, "detail": str(exc.detail)}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal", "detail": "unexpected server error (logged)"},
                        status_code=500)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = ensure_secret(settings or load_settings({}))
    sites = sitefolder.load(settings)
    for result in build_all(sites, settings.dist_dir, only_changed=True):
        warning = budget_warning(sites[result.site], result)
        if warning:
            log.warning("%s", warning)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        storage = open_storage(settings)
        await storage.open()
        app.state.storage = storage
        try:
            yield
        finally:
            await storage.close()

    routes: list[BaseRoute] = [*pages.routes, *widget.routes, *api.routes, *admin.routes]
    if settings.demo:
        routes += demo.routes
    routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected},
        middleware=[Middleware(widget.WidgetFastPath)],
    )
    app.state.settings = settings
    app.state.sites = sites
    app.state.widgets = widget.load_widgets(settings.dist_dir)
    app.state.signer = TokenSigner(settings.secret_keys)
    app.state.limiter = RateLimiter(settings.rate_limit_per_minute, settings.signing_key)
    app.state.admin = AdminAuth(settings)
    app.state.templates = Jinja2Templates(directory=TEMPLATES_DIR)
    app.state.hits = Counter()
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn workers: settings come from the CRUMB_* variables the parent set."""
    return create_app(load_settings({}))
