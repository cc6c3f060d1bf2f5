"""Landing page and health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def landing(request: Request) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, "landing.html", {"sites": sorted(request.app.state.sites)})


async def healthz(request: Request) -> Response:
    try:
        await request.app.state.storage.ping()
    except Exception as exc:
        return JSONResponse({"status": "error", "detail": f"database: {exc}"}, status_code=503)
    return JSONResponse({"status": "ok"})


routes = [Route("/", landing), Route("/healthz", healthz)]
