"""The ceiling for throughput: a bare Starlette hello-world, served exactly as `python -m server`
serves Crumb (`uvicorn.run(app, host, port, log_level="warning")`: 1 worker, uvloop, httptools).

`python bench/bare_app.py PORT`. POST reads the body, so wrk's POST load is comparable.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


async def hello(request: Request) -> Response:
    if request.method == "POST":
        await request.body()
    return PlainTextResponse("Hello, world!")


app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
