"""Model connections (admins): Ollama and OpenAI-compatible servers, their health, the
settings of each model, and pulling Ollama models with streamed progress."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Response
from fastapi.responses import StreamingResponse

from orchestrator.api.deps import AdminUser, RuntimeDep
from orchestrator.api.routing import ApiRouter
from orchestrator.core.errors import Conflict, InvalidInput
from orchestrator.llm.connections import (
    ConnectionIn,
    ConnectionOut,
    ConnectionSpec,
    ConnectionUpdate,
    ModelSettingsIn,
    ModelSettingsOut,
    PullIn,
    PullProgress,
    start_pull,
)
from orchestrator.runtime import Runtime
from orchestrator.schemas.common import Page

router = ApiRouter(prefix="/models", tags=["models"])


async def _with_health(runtime: Runtime, connections: list[ConnectionOut]) -> list[ConnectionOut]:
    await runtime.models.list_models()  # cached; a dead connection costs nothing here
    health = await runtime.models.connection_health()
    return [c.model_copy(update={"health": health.get(c.id, c.health)}) for c in connections]


async def _checked(runtime: Runtime, connection: ConnectionOut) -> ConnectionOut:
    return connection.model_copy(update={"health": await runtime.models.check(connection.id)})


@router.get("/connections")
async def list_connections(_: AdminUser, runtime: RuntimeDep) -> Page[ConnectionOut]:
    """Every connection in answering order, with its health (admins)."""
    found = await _with_health(runtime, await runtime.connections.list_all())
    return Page(data=found, count=len(found))


@router.post("/connections", status_code=201)
async def create_connection(body: ConnectionIn, _: AdminUser, runtime: RuntimeDep) -> ConnectionOut:
    """Add a connection; the answer says at once whether it answers, and if not why."""
    return await _checked(runtime, await runtime.connections.create(body))


@router.get("/connections/{connection_id}")
async def get_connection(connection_id: str, _: AdminUser, runtime: RuntimeDep) -> ConnectionOut:
    """One connection with its health."""
    found = await _with_health(runtime, [await runtime.connections.get(connection_id)])
    return found[0]


@router.patch("/connections/{connection_id}")
async def update_connection(
    connection_id: str, body: ConnectionUpdate, _: AdminUser, runtime: RuntimeDep
) -> ConnectionOut:
    """Change a connection (`api_key: null` forgets the key); it is checked again."""
    return await _checked(runtime, await runtime.connections.update(connection_id, body))


@router.delete("/connections/{connection_id}", status_code=204)
async def delete_connection(connection_id: str, _: AdminUser, runtime: RuntimeDep) -> Response:
    """Remove a connection and its models' settings."""
    await runtime.connections.delete(connection_id)
    return Response(status_code=204)


@router.post("/connections/{connection_id}/check")
async def check_connection(connection_id: str, _: AdminUser, runtime: RuntimeDep) -> ConnectionOut:
    """List the connection's models now and answer its health."""
    return await _checked(runtime, await runtime.connections.get(connection_id))


@router.get("/settings")
async def list_model_settings(_: AdminUser, runtime: RuntimeDep) -> Page[ModelSettingsOut]:
    """Every model's stored settings (models without any use the defaults)."""
    found = await runtime.connections.model_settings()
    return Page(data=found, count=len(found))


@router.put("/settings")
async def set_model_settings(
    body: ModelSettingsIn, _: AdminUser, runtime: RuntimeDep
) -> ModelSettingsOut:
    """Set one model's `native_tools`, context length, temperature and vision."""
    return await runtime.connections.set_model_settings(body)


@router.post(
    "/pull",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "model": PullProgress}},
)
async def pull_model(body: PullIn, _: AdminUser, runtime: RuntimeDep) -> StreamingResponse:
    """Pull a model onto an Ollama connection: NDJSON `PullProgress` lines, the last with
    status "success" or "error". A model the registry lacks is a 404 before any line."""
    connection = await runtime.connections.get(body.connection_id)
    if connection.kind != "ollama":
        raise InvalidInput(f"{connection.name} is not an Ollama connection: only Ollama pulls")
    if not connection.enabled:
        raise Conflict(f"{connection.name} is disabled")
    spec = await runtime.connections.spec(connection.id)
    pull = await start_pull(spec, body.model)
    return StreamingResponse(
        _ndjson(runtime, spec, pull.lines()), media_type="application/x-ndjson"
    )


async def _ndjson(
    runtime: Runtime, spec: ConnectionSpec, lines: AsyncIterator[PullProgress]
) -> AsyncIterator[str]:
    async for line in lines:
        if line.status == "success":
            runtime.models.forget_models(spec.id)
        yield line.model_dump_json(exclude_none=True) + "\n"
