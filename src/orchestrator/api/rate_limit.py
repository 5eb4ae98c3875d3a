"""The API's rate limit, before any route runs: per user when the request carries a valid
credential, per client address otherwise; over it, 429 with `Retry-After`.

Cheap on the hot path: the user comes from the token's signature (no database query), an
API key counts under its own hash, and the limiter is one dict update, or one Redis call
when `REDIS_URL` makes every process share the limits.
"""

from __future__ import annotations

import json
import logging
import math
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.api.cookies import ACCESS_COOKIE
from orchestrator.auth import API_KEY_PREFIX
from orchestrator.core.errors import AuthError
from orchestrator.core.security import decode_access_token, digest

log = logging.getLogger(__name__)
LIMITED_PREFIXES = ("/api/", "/v1/", "/mcp")
# Health stays exempt: load balancers and monitors poll it, and it reads nothing private.
EXEMPT_PATHS = frozenset({"/api/v1/system/health"})
WS_RATE_LIMITED = 4429


def _credential(scope: Scope) -> str | None:
    headers = dict(scope.get("headers") or [])
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    cookie_header = headers.get(b"cookie")
    if cookie_header:
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(cookie_header.decode("latin-1"))
        except Exception:  # a malformed cookie header is the route's problem, not ours
            cookies = SimpleCookie()
        if ACCESS_COOKIE in cookies:
            return cookies[ACCESS_COOKIE].value
    if scope["type"] == "websocket":
        tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        if tokens:
            return tokens[0]
    return None


def client_key(scope: Scope, signing_key: str) -> str:
    """Whom a request counts against: `u:<id>`, `k:<key hash>` or `ip:<address>`."""
    credential = _credential(scope)
    if credential:
        if credential.startswith(API_KEY_PREFIX):
            return "k:" + digest(credential)[:32]
        try:
            return f"u:{decode_access_token(credential, signing_key).user_id}"
        except AuthError:
            pass  # an invalid token counts against its sender's address
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


class RateLimit:
    """Applies `runtime.rate_limiter` (none: no limit) to every API request and socket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        runtime = (scope.get("state") or {}).get("runtime")
        limiter = getattr(runtime, "rate_limiter", None)
        if (
            scope["type"] not in ("http", "websocket")
            or limiter is None
            or path in EXEMPT_PATHS
            or not path.startswith(LIMITED_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        key = client_key(scope, runtime.settings.signing_key())
        try:
            wait = await limiter.hit(key)
        except Exception:
            # The limiter's store (Redis) failing must not take the API down with it.
            log.warning("rate limiter unavailable; request let through", exc_info=True)
            wait = None
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": WS_RATE_LIMITED})
            return
        message = f"too many requests; try again in {retry_after} s"
        if path.startswith("/v1/"):  # OpenAI's clients read OpenAI's error shape
            payload: dict[str, object] = {
                "error": {"message": message, "type": "requests", "code": "rate_limit_exceeded"}
            }
        else:
            payload = {"detail": message, "code": "rate_limited"}
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
