"""Request ids: every HTTP answer carries `X-Request-ID` (the caller's, when it is a sane
one, else a new one), and every log line written while the request is handled (and by
the runs it starts in this process) names it. The same middleware times and counts the
requests for `/metrics`: no I/O, a few dictionary look-ups per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.observability import _metrics

log = logging.getLogger("orchestrator.access")
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
HEADER = b"x-request-id"
_SANE = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestObservation:
    """Pure-ASGI middleware: the request id, and (with `metrics`) the request metrics."""

    def __init__(self, app: ASGIApp, *, metrics: bool = True) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        rid = given.decode() if given is not None and _SANE.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        if scope["type"] == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                request_id.reset(token)
            return
        started = time.perf_counter()
        status = 500
        header = (HEADER, rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            if log.isEnabledFor(logging.INFO):  # the access line, with its request id
                query = scope.get("query_string", b"")
                target = scope["path"] + (f"?{query.decode('latin-1')}" if query else "")
                log.info("%s %s %d %.1f ms", scope["method"], target, status, seconds * 1000)
            request_id.reset(token)
            if self.metrics:
                label = route_label(scope)
                method = scope["method"]
                _metrics.HTTP_REQUESTS.labels(method, label, str(status)).inc()
                _metrics.HTTP_SECONDS.labels(method, label).observe(seconds)


def route_label(scope: Scope) -> str:
    """The request's path with its parameters as `{name}` (a bounded label), or
    `unmatched` for paths no route took (404s, the web app's files)."""
    if scope.get("route") is None:
        return "unmatched"
    path: str = scope["path"]
    params = scope.get("path_params") or {}
    if not params:
        return path
    for name, value in sorted(params.items(), key=lambda p: -len(str(p[1]))):
        if str(value):  # `{path:path}` values hold slashes: replace the whole value
            path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path
