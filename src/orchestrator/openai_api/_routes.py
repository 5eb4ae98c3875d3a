"""`/v1/models` and `/v1/chat/completions`: thin routes over `CompletionService`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from orchestrator.api.deps import CurrentUser, RuntimeDep
from orchestrator.openai_api._errors import error_response
from orchestrator.openai_api._schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from orchestrator.openai_api._service import CompletionService
from orchestrator.openai_api._translate import RunFailure

router = APIRouter()
CONVERSATION_HEADER = "X-Conversation-Id"
RUN_HEADER = "X-Run-Id"
ConversationHeader = Annotated[
    str | None, Header(alias=CONVERSATION_HEADER, min_length=1, max_length=64)
]


@router.get("/models")
async def list_models(user: CurrentUser, runtime: RuntimeDep) -> ModelList:
    """Every model id a completion may name: `agent/NAME` and the raw model names."""
    return await CompletionService(runtime).models()


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, user: CurrentUser, runtime: RuntimeDep) -> ModelCard:
    """One model id, or 404."""
    return await CompletionService(runtime).model(model_id)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}},
)
async def chat_completions(
    body: ChatCompletionRequest,
    user: CurrentUser,
    runtime: RuntimeDep,
    conversation_id: ConversationHeader = None,
) -> Any:
    """Run one agent turn on the messages; the whole answer, or SSE chunks with `stream`."""
    service = CompletionService(runtime)
    run = await service.start(user.id, body, conversation_id)
    headers = {CONVERSATION_HEADER: run.conversation_id or "", RUN_HEADER: run.id}
    if body.stream:
        return EventSourceResponse(
            _events(service.stream(run, body)),
            ping=runtime.settings.sse_keepalive_seconds,
            headers=headers,
        )
    result = await service.answer(run, body)
    if isinstance(result, RunFailure):
        return error_response(
            result.status, result.error.message, result.error.code, headers=headers
        )
    return JSONResponse(result.model_dump(exclude_none=True), headers=headers)


async def _events(chunks: AsyncIterator[Any]) -> AsyncIterator[ServerSentEvent]:
    """Chunks as SSE `data:` lines, an error as OpenAI streams one, then `[DONE]`."""
    async for chunk in chunks:
        if isinstance(chunk, RunFailure):
            yield ServerSentEvent(data=f'{{"error": {chunk.error.model_dump_json()}}}')
            break
        yield ServerSentEvent(data=chunk.model_dump_json(exclude_none=True))
    yield ServerSentEvent(data="[DONE]")
