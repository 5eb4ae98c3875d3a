"""Chat with an agent: a whole answer over HTTP, or streamed over a WebSocket."""

from __future__ import annotations

from fastapi import Query, WebSocket
from fastapi.responses import JSONResponse

from orchestrator.api.deps import CurrentUser, RuntimeDep, get_runtime
from orchestrator.api.routing import ApiRouter
from orchestrator.api.ws import RunSocket, authenticate
from orchestrator.core.errors import status_for_code
from orchestrator.engine.events import CompleteEvent, ErrorData, ErrorEvent
from orchestrator.schemas.runs import ChatRequest, ChatResponse
from orchestrator.usage import next_reset

router = ApiRouter(prefix="/chat", tags=["chat"])


@router.post("", response_model=ChatResponse)
async def chat(body: ChatRequest, user: CurrentUser, runtime: RuntimeDep) -> JSONResponse:
    """Send a message and wait for the agent's whole answer."""
    run = await runtime.runs.start_chat(user.id, body)
    error: ErrorData | None = None
    async for event in runtime.runs.follow(run.id):
        if isinstance(event, ErrorEvent):
            error = event.data
        if isinstance(event, CompleteEvent):
            data = event.data
            status = (
                (status_for_code(error.code) or (500 if error.code == "internal" else None))
                if error
                else None
            )
            if error is not None and status is not None:
                return JSONResponse(
                    {
                        "detail": error.message,
                        "code": error.code,
                        "run_id": run.id,
                        "conversation_id": data.conversation_id,
                        # A turn stopped by the token quota: it frees at the next UTC day.
                        **(
                            {"reset_at": next_reset().isoformat()}
                            if error.code == "quota_exceeded"
                            else {}
                        ),
                    },
                    status_code=status,
                )
            answer = ChatResponse(
                content=data.content,
                status=data.status,
                conversation_id=data.conversation_id or "",
                message_id=data.message_id,
                run_id=run.id,
                tools_used=data.tools_used,
                citations=data.citations,
                error=error.model_dump() if error else None,
            )
            return JSONResponse(answer.model_dump())
    raise AssertionError("a run's log always ends with complete")


@router.websocket("/ws")
async def chat_socket(websocket: WebSocket, token: str | None = Query(None)) -> None:
    """Streaming chat; protocol in DESIGN.md."""
    runtime = await get_runtime(websocket)
    user = await authenticate(websocket, runtime, token)
    if user is not None:
        await RunSocket(websocket, runtime, user).serve(chat=True)
