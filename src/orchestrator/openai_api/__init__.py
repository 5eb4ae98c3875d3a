"""The OpenAI-compatible API at `/v1`: `models` and `chat/completions`, streamed or not.

A completion runs one agent turn on the messages given, stored as a conversation (the
`X-Conversation-Id` header continues one and is echoed back). Model ids are `agent/NAME`
for every agent, plus the raw model names (answered by the default agent). Errors have
OpenAI's shape. `create_openai_app()` builds the app that `orchestrator.app` mounts.
"""

from __future__ import annotations

from fastapi import FastAPI

from orchestrator.openai_api import _errors
from orchestrator.openai_api._routes import CONVERSATION_HEADER, router
from orchestrator.openai_api._service import AGENT_PREFIX, CompletionService

__all__ = ["AGENT_PREFIX", "CONVERSATION_HEADER", "CompletionService", "create_openai_app"]


def create_openai_app() -> FastAPI:
    """The `/v1` app: its own error shape, the runtime from the parent app's lifespan."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    _errors.install(app)
    app.include_router(router)
    return app
