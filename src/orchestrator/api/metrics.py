"""`GET /metrics` in Prometheus' text format: with METRICS_TOKEN, for callers that send it
as a bearer; without it, for loopback callers only."""

from __future__ import annotations

import hmac
import ipaddress

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from orchestrator.db.models import Run
from orchestrator.observability import render, set_active_runs
from orchestrator.runtime import Runtime
from orchestrator.usage._quotas import ACTIVE_STATUSES


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def metrics_endpoint(request: Request) -> Response:
    """The metrics of this process (of every process of the host in multi-process mode)."""
    runtime: Runtime = request.state.runtime
    settings = runtime.settings
    if not settings.metrics:
        return JSONResponse({"detail": "metrics are off (METRICS)", "code": "not_found"}, 404)
    if settings.metrics_token:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {settings.metrics_token}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            return JSONResponse(
                {"detail": "send METRICS_TOKEN as a bearer token", "code": "unauthorized"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif not _loopback(request):
        return JSONResponse(
            {
                "detail": "metrics are served to loopback callers (or set METRICS_TOKEN)",
                "code": "forbidden",
            },
            403,
        )
    async with runtime.sessions() as db:
        counts = dict(
            (
                await db.execute(
                    select(Run.status, func.count())
                    .where(Run.status.in_(ACTIVE_STATUSES))
                    .group_by(Run.status)
                )
            ).all()
        )
    set_active_runs(counts)
    body, media_type = render()
    return Response(body, media_type=media_type)
