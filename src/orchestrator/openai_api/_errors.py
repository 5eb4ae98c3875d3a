"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with the
status the rest of the API would give (a bad key 401, an unknown model 404, over a
quota 429), so that OpenAI clients raise their usual exception classes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.core.errors import AuthError, OrchestratorError, QuotaExceeded, RateLimited
from orchestrator.openai_api._schemas import ErrorBody, ErrorResponse

log = logging.getLogger(__name__)

# OpenAI's `type` for each status it documents; anything else is a request error.
_TYPES = {
    401: "invalid_request_error",
    403: "permission_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}
_CODES = {"unauthorized": "invalid_api_key", "not_found": "not_found"}


def error_body(status: int, message: str, code: str | None, param: str | None = None) -> ErrorBody:
    """The `error` object for an answer with `status`."""
    kind = "insufficient_quota" if code == "quota_exceeded" else _TYPES.get(status)
    return ErrorBody(
        message=message,
        type=kind or ("server_error" if status >= 500 else "invalid_request_error"),
        param=param,
        code=_CODES.get(code or "", code),
    )


def error_response(
    status: int,
    message: str,
    code: str | None,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error answer in OpenAI's shape."""
    body = ErrorResponse(error=error_body(status, message, code, param))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OrchestratorError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    retry_after = exc.fields.get("retry_after")  # quotas may say when they reset
    if retry_after is not None and "Retry-After" not in headers:
        headers["Retry-After"] = str(retry_after)
    if type(exc) is AuthError:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, QuotaExceeded):  # OpenAI's shape, and when the quota frees
        body = ErrorResponse(error=error_body(exc.status_code, exc.message, exc.code))
        payload = body.model_dump()
        payload["error"]["reset_at"] = exc.fields.get("reset_at")
        return JSONResponse(payload, status_code=exc.status_code, headers=headers)
    return error_response(exc.status_code, exc.message, exc.code, headers=headers)


def _location(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    where = _location(first)
    # The location and reason, never the input: it may be huge or hostile.
    message = f"{where}: {first.get('msg', 'invalid request')}"
    return error_response(400, message, "invalid_request", param=where)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = "not_found" if exc.status_code == 404 else "http_error"
    headers = getattr(exc, "headers", None)
    return error_response(exc.status_code, str(exc.detail), code, headers=headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal server error", "internal")


def install(app: FastAPI) -> None:
    """Register the handlers on the `/v1` app."""
    app.add_exception_handler(OrchestratorError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
