"""The one place where domain errors become HTTP answers: `{"detail": ..., "code": ...}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator.core.errors import AuthError, OrchestratorError, QuotaExceeded, RateLimited

log = logging.getLogger(__name__)


def _validation_detail(errors: Any) -> list[dict[str, Any]]:
    # Echoing the input back would reflect huge or hostile payloads; location and reason suffice.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in errors
    ]


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OrchestratorError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if type(exc) is AuthError:
        headers["WWW-Authenticate"] = "Bearer"
    body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
    if isinstance(exc, QuotaExceeded):
        body["reset_at"] = exc.fields.get("reset_at")
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"detail": _validation_detail(exc.errors()), "code": "invalid_input"}, status_code=422
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail, "code": "http_error"},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": "internal server error", "code": "internal"}, status_code=500)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(OrchestratorError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
