"""All routes of the API; `orchestrator.app` mounts them under `API_PREFIX`."""

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

API_PREFIX = "/api/v1"
# No prefix here: the app gives it when it includes this router. FastAPI checks every
# route of a router included without a prefix, building each one more time (about a
# fifth of a second of start-up).
api_router = APIRouter()
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
