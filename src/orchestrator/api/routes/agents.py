"""The agents users can pick."""

from __future__ import annotations

from fastapi import APIRouter

from orchestrator.agents import BUILTIN_AGENTS, AgentSpec
from orchestrator.api.deps import CurrentUser
from orchestrator.runtime import find_agent
from orchestrator.schemas.common import Page

router = APIRouter(prefix="/agents", tags=["agents"])


@router.get("")
async def list_agents(_: CurrentUser) -> Page[AgentSpec]:
    """Every agent, built-in ones first."""
    return Page(data=list(BUILTIN_AGENTS), count=len(BUILTIN_AGENTS))


@router.get("/{name}")
async def get_agent(name: str, _: CurrentUser) -> AgentSpec:
    """One agent."""
    return await find_agent(name)
