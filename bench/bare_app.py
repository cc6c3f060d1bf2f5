"""The ceiling for throughput: a bare Starlette hello-world, served exactly as `python -m server`
serves Crumb (`uvicorn.run(app, host, port, log_level="warning")`: 1 worker, uvloop, httptools).

`python bench/bare_app.py PORT [FILE]`. POST reads the body, so wrk's POST load is comparable;
with FILE, `GET /file` answers its bytes from memory (as brotli), the ceiling for a response of
the widget's size.
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


async def file(request: Request) -> Response:
    return Response(request.app.state.body, media_type="text/javascript; charset=utf-8",
                    headers={"Content-Encoding": "br"})


app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"]), Route("/file", file)])
app.state.body = b""

if __name__ == "__main__":
    if len(sys.argv) > 2:
        with open(sys.argv[2], "rb") as f:
            app.state.body = f.read()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
