"""All routes under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from orchestrator.api.routes import (
    agents,
    auth,
    changes,
    chat,
    conversations,
    knowledge,
    mcp,
    memory,
    runs,
    system,
    tools,
    users,
    workspace,
)

api_router = APIRouter(prefix="/api/v1")
for module in (
    auth,
    users,
    conversations,
    chat,
    runs,
    changes,
    agents,
    tools,
    memory,
    workspace,
    mcp,
    knowledge,
    system,
):
    api_router.include_router(module.router)
