"""The agents users can pick; admins add, change and remove custom ones."""

from __future__ import annotations

from fastapi import Response, status

from orchestrator.agents import AgentSpec, AgentUpdate
from orchestrator.api.deps import AdminUser, CurrentUser, RuntimeDep
from orchestrator.api.routing import ApiRouter
from orchestrator.core.errors import InvalidInput
from orchestrator.schemas.common import Page

router = ApiRouter(prefix="/agents", tags=["agents"])


async def _check_tools(spec_tools: list[str] | None, runtime: RuntimeDep) -> None:
    """Every named tool exists: a built-in or a discovered MCP tool (`SERVER__TOOL`)."""
    registry = await runtime.tool_registry()
    unknown = sorted(set(spec_tools or ()) - {t.name for t in registry})
    if unknown:
        raise InvalidInput(f"unknown tools: {', '.join(unknown)}")


async def _check_knowledge(ids: list[str] | None, user_id: int, runtime: RuntimeDep) -> None:
    """An agent carries only collections of the admin who sets them."""
    if ids:
        owned = await runtime.knowledge.owned_collection_ids(user_id, ids)
        unknown = sorted(set(ids) - set(owned))
        if unknown:
            raise InvalidInput(f"unknown knowledge collections: {', '.join(unknown)}")


@router.get("")
async def list_agents(_: CurrentUser, runtime: RuntimeDep) -> Page[AgentSpec]:
    """Every agent, built-in ones first."""
    agents = await runtime.agents.list()
    return Page(data=agents, count=len(agents))


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_agent(body: AgentSpec, user: AdminUser, runtime: RuntimeDep) -> AgentSpec:
    """Add a custom agent (admins)."""
    await _check_tools(body.tools, runtime)
    await _check_knowledge(body.knowledge, user.id, runtime)
    return await runtime.agents.create(body, created_by=user.id)


@router.get("/{name}")
async def get_agent(name: str, _: CurrentUser, runtime: RuntimeDep) -> AgentSpec:
    """One agent."""
    return await runtime.agents.get(name)


@router.patch("/{name}")
async def update_agent(
    name: str, body: AgentUpdate, user: AdminUser, runtime: RuntimeDep
) -> AgentSpec:
    """Change a custom agent (admins); built-ins are read-only."""
    await _check_tools(body.tools, runtime)
    await _check_knowledge(body.knowledge, user.id, runtime)
    return await runtime.agents.update(name, body.model_dump(exclude_unset=True))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(name: str, _: AdminUser, runtime: RuntimeDep) -> Response:
    """Remove a custom agent (admins)."""
    await runtime.agents.delete(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
