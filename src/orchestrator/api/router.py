"""All routes under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from orchestrator.api.routes import (
    agents,
    auth,
    changes,
    chat,
    connections,
    conversations,
    evals,
    feedback,
    knowledge,
    mcp,
    memory,
    runs,
    schedules,
    system,
    tools,
    triggers,
    usage,
    users,
    workspace,
)

api_router = APIRouter(prefix="/api/v1")
for module in (
    auth,
    users,
    conversations,
    feedback,
    chat,
    runs,
    changes,
    agents,
    tools,
    memory,
    workspace,
    mcp,
    knowledge,
    schedules,
    triggers,
    evals,
    connections,
    system,
    usage,
):
    api_router.include_router(module.router)
