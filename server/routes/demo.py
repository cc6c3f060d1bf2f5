"""The demo jewelry shop under /demo/, with local fake trackers and a hit counter for tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ApiError

POLICY = (Path(__file__).resolve().parent.parent / "templates" / "demo" / "policy.txt")
SITE_ID = "demo"
KINDS = ("analytics", "marketing", "preferences", "video")


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    blurb: str
    price: int


PRODUCTS = (
    Product("ring", "Solstice gold ring", "18k gold band with a single brilliant-cut stone.", 890),
    Product("necklace", "Moonlight silver necklace", "Sterling silver chain, hand-polished.", 420),
    Product("earrings", "Rosé drop earrings", "Rose-gold drops with freshwater pearls.", 560),
)


def _render(request: Request, name: str, page_name: str, **context: object) -> Response:
    site = request.app.state.sites.get(SITE_ID)
    if site is None:
        raise ApiError(404, "no_demo_site", "the demo site (sites/demo.toml) is not configured")
    return request.app.state.templates.TemplateResponse(
        request, name, {"site": site, "page_name": page_name, **context})


async def catalog(request: Request) -> Response:
    return _render(request, "demo/catalog.html", "catalog", products=PRODUCTS)


def _product(slug: str) -> Product:
    for p in PRODUCTS:
        if p.slug == slug:
            return p
    raise ApiError(404, "unknown_product", f"no product {slug!r}")


async def product(request: Request) -> Response:
    item = _product(request.path_params["slug"])
    return _render(request, "demo/product.html", f"product/{item.slug}", product=item)


async def video(request: Request) -> Response:
    item = _product(request.path_params["slug"])
    request.app.state.hits["video"] += 1
    return request.app.state.templates.TemplateResponse(request, "demo/video.html", {"product": item})


async def privacy(request: Request) -> Response:
    return _render(request, "demo/privacy.html", "privacy", policy=POLICY.read_text("utf-8"))


async def collect(request: Request) -> Response:
    kind = request.query_params.get("k", "")
    if kind not in KINDS:
        raise ApiError(400, "unknown_kind", f"k must be one of {', '.join(KINDS)}")
    request.app.state.hits[kind] += 1
    return Response(status_code=204)


async def collect_stats(request: Request) -> Response:
    hits: Counter[str] = request.app.state.hits
    if request.method == "DELETE":
        hits.clear()
    return JSONResponse({k: hits[k] for k in KINDS})


routes = [
    Route("/demo/", catalog),
    Route("/demo/product/{slug}", product),
    Route("/demo/video/{slug}", video),
    Route("/demo/privacy", privacy),
    Route("/demo/collect", collect, methods=["GET", "POST"]),
    Route("/demo/collect/stats", collect_stats, methods=["GET", "DELETE"]),
]
