"""Health (no login), machine statistics and the models on offer."""

from __future__ import annotations

import asyncio
import time
from importlib.metadata import version

import psutil
from fastapi.responses import Response
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request

from orchestrator.api.deps import CurrentUser, RuntimeDep, SessionDep
from orchestrator.api.routing import ApiRouter
from orchestrator.db.models import Conversation, Message, Run, User
from orchestrator.llm.base import ModelInfo
from orchestrator.runtime import Runtime
from orchestrator.schemas.common import Page
from orchestrator.schemas.system import Counts, HealthOut, ResourceUsage, StatsOut

router = ApiRouter(prefix="/system", tags=["system"])
VERSION = version("ai-orchestrator")
SELECT_1 = text("SELECT 1")


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def health(runtime: RuntimeDep) -> Response:
    """Liveness and database reachability; needs no login."""
    return await check_health(runtime)


async def health_endpoint(request: Request) -> Response:
    """`health` as a plain Starlette route, which the app puts ahead of the API's routers
    (the route above stays for the OpenAPI schema). Monitors poll it, and FastAPI's walk
    through the included routers and its dependency solving cost about as much as the
    check itself; the middleware (request id, headers, rate limit, metrics) still runs."""
    return await check_health(request.state.runtime)


async def check_health(runtime: Runtime) -> Response:
    """200 when the database answers `SELECT 1` within 5 s, else 503 with the error."""
    # Monitors poll this: a pooled connection and one statement, no ORM session, and a
    # timeout scope rather than `wait_for` (which starts a task per call).
    try:
        async with asyncio.timeout(5), runtime.engine.connect() as conn:
            await conn.execute(SELECT_1)
        database = "ok"
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        database = f"error: {type(exc).__name__}"
    ok = database == "ok"
    body = HealthOut(status="ok" if ok else "degraded", version=VERSION, database=database)
    return Response(body.model_dump_json(), 200 if ok else 503, media_type="application/json")


def _usage(data_dir: str) -> ResourceUsage:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(data_dir)
    return ResourceUsage(
        cpu_percent=psutil.cpu_percent(interval=None),
        cpu_count=psutil.cpu_count() or 1,
        memory_total=memory.total,
        memory_used=memory.used,
        memory_percent=memory.percent,
        disk_total=disk.total,
        disk_used=disk.used,
        disk_percent=disk.percent,
        process_rss=psutil.Process().memory_info().rss,
    )


@router.get("/stats")
async def stats(user: CurrentUser, db: SessionDep, runtime: RuntimeDep) -> StatsOut:
    """CPU, memory, disk and uptime, with the caller's own counts (and users for admins)."""

    async def count(query: object) -> int:
        return await db.scalar(query) or 0  # type: ignore[call-overload]

    mine = Conversation.user_id == user.id
    counts = Counts(
        conversations=await count(select(func.count()).select_from(Conversation).where(mine)),
        messages=await count(
            select(func.count()).select_from(Message).join(Conversation).where(mine)
        ),
        runs=await count(select(func.count()).select_from(Run).where(Run.user_id == user.id)),
        users=await count(select(func.count()).select_from(User)) if user.role == "admin" else None,
    )
    usage = await asyncio.to_thread(_usage, str(runtime.settings.data_dir))
    return StatsOut(uptime_seconds=time.time() - runtime.started_at, system=usage, counts=counts)


@router.get("/models")
async def models(_: CurrentUser, runtime: RuntimeDep) -> Page[ModelInfo]:
    """Every model across providers, with its capabilities."""
    found = await runtime.models.list_models()
    return Page(data=found, count=len(found))
