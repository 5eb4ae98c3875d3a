"""The user's memories: list, search by meaning, add, edit, forget."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response, status

from orchestrator.api.deps import CurrentUser, RuntimeDep
from orchestrator.api.routing import ApiRouter
from orchestrator.memory import MAX_QUERY, NewMemory
from orchestrator.schemas.common import Page
from orchestrator.schemas.memory import MemoryCreate, MemoryOut, MemoryUpdate

router = ApiRouter(prefix="/memory", tags=["memory"])


@router.get("")
async def list_memories(
    user: CurrentUser,
    runtime: RuntimeDep,
    query: Annotated[str | None, Query(min_length=1, max_length=MAX_QUERY)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[MemoryOut]:
    """With `query`, the memories nearest in meaning (best first); without, newest first."""
    if query is not None:
        found = await runtime.memory.search(user.id, query, limit=min(limit, 100))
        data = [
            MemoryOut.model_validate(item.memory).model_copy(update={"score": item.score})
            for item in found
        ]
        return Page(data=data, count=len(data))
    rows, total = await runtime.memory.recent(user.id, limit=limit, offset=offset)
    return Page(data=[MemoryOut.model_validate(m) for m in rows], count=total)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_memory(body: MemoryCreate, user: CurrentUser, runtime: RuntimeDep) -> MemoryOut:
    """Keep a memory."""
    memory = await runtime.memory.add(user.id, NewMemory(body.content, body.tags, body.source))
    return MemoryOut.model_validate(memory)


@router.get("/{memory_id}")
async def get_memory(memory_id: str, user: CurrentUser, runtime: RuntimeDep) -> MemoryOut:
    """One memory."""
    return MemoryOut.model_validate(await runtime.memory.get(user.id, memory_id))


@router.patch("/{memory_id}")
async def update_memory(
    memory_id: str, body: MemoryUpdate, user: CurrentUser, runtime: RuntimeDep
) -> MemoryOut:
    """Change a memory's text (it is re-embedded) or its tags."""
    memory = await runtime.memory.update(user.id, memory_id, content=body.content, tags=body.tags)
    return MemoryOut.model_validate(memory)


@router.delete("/{memory_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_memory(memory_id: str, user: CurrentUser, runtime: RuntimeDep) -> Response:
    """Forget a memory: gone from the list and from every search."""
    await runtime.memory.delete(user.id, memory_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
