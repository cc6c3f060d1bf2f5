"""Landing page, a preview page per site and the health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ApiError


async def landing(request: Request) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, "landing.html", {"sites": sorted(request.app.state.sites),
                                  "demo": request.app.state.settings.demo})


async def preview(request: Request) -> Response:
    """A blank page embedding one site's widget: what a new site looks like before it is embedded."""
    site = request.app.state.sites.get(request.path_params["site"])
    if site is None:
        raise ApiError(404, "unknown_site", f"no site {request.path_params['site']!r} is configured")
    return request.app.state.templates.TemplateResponse(request, "preview.html", {"site": site})


async def healthz(request: Request) -> Response:
    try:
        await request.app.state.storage.ping()
    except Exception as exc:
        return JSONResponse({"status": "error", "detail": f"database: {exc}"}, status_code=503)
    return JSONResponse({"status": "ok"})


routes = [Route("/", landing), Route("/preview/{site}", preview), Route("/healthz", healthz)]
