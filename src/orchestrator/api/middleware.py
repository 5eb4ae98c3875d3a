"""Pure-ASGI middleware: security headers on every answer and a request body cap."""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline or remote scripts: model output rendered in the app can never run code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The API docs pages start Swagger UI / ReDoc with an inline script; they show no user
# content, so they alone may run one.
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-inline'"
).replace("img-src 'self' data: blob:", "img-src 'self' data: blob: https://fastapi.tiangolo.com")
DOCS_PATHS = frozenset({"/docs", "/redoc"})
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
]


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        docs = scope["path"] in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if docs:
                    headers.append(
                        (b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode())
                    )
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True)
class UploadLimit:
    """A larger body limit for uploads: `method` requests under `prefix` (ending with
    `suffix`) may carry up to `max_bytes` (their route enforces the exact limit itself)."""

    prefix: str
    max_bytes: int
    message: str
    method: str = "PUT"
    suffix: str = ""

    def covers(self, method: str, path: str) -> bool:
        """Whether a request is one of these uploads."""
        return method == self.method and path.startswith(self.prefix) and path.endswith(self.suffix)


class BodySizeLimit:
    """Answers 413 to a request body over `max_bytes`, declared or streamed."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        upload: UploadLimit | None = None,
        uploads: tuple[UploadLimit, ...] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = (upload, *uploads) if upload is not None else uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        upload = next((u for u in self.uploads if u.covers(scope["method"], scope["path"])), None)
        if upload is not None:
            if declared is not None and (
                not declared.isdigit() or int(declared) > upload.max_bytes
            ):
                await self._too_large(scope, send, upload.message)
            else:  # streamed to disk by the route, which counts every byte
                await self.app(scope, receive, send)
            return
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._too_large(scope, send)
            else:  # the server stops reading at the declared length
                await self.app(scope, receive, send)
            return
        # A streamed body of unknown length: read it all (it is small) before the app runs.
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send, message: str | None = None) -> None:
        detail = message or f"request body over {self.max_bytes} bytes"
        payload: dict[str, object]
        if scope["path"].startswith("/v1/"):  # OpenAI's clients read OpenAI's error shape
            payload = {
                "error": {
                    "message": detail,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "request_too_large",
                }
            }
        else:
            payload = {"detail": detail, "code": "too_large"}
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
