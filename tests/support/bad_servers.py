"""Servers that are not model servers, on 127.0.0.1: what an admin's wrong URL meets.

with serve_in_thread(html_site()) as url: ...          # a web page on every path
with serve_in_thread(locked_api()) as url: ...         # 401 on every path
with silent_server() as url: ...                       # accepts, never answers
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

PAGE = "<!doctype html><html><head><title>Router</title></head><body>Welcome</body></html>"


def html_site() -> Starlette:
    """A web site that answers every path with an HTML page (status 200)."""

    async def page(_: Request) -> Response:
        return HTMLResponse(PAGE)

    return Starlette(routes=[Route("/{path:path}", page, methods=["GET", "POST"])])


def locked_api(key: str = "right-key") -> Starlette:
    """An API that wants `Authorization: Bearer KEY` on every path, and lists one model."""

    async def guarded(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {key}":
            return JSONResponse(
                {"error": {"message": "Invalid API key", "type": "invalid_request_error"}}, 401
            )
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": "locked-model", "object": "model", "created": 0, "owned_by": "test"}
                ],
            }
        )

    return Starlette(routes=[Route("/{path:path}", guarded, methods=["GET", "POST"])])


@contextmanager
def silent_server() -> Iterator[str]:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
