"""Ratings of answers: the user's own, and (for admins) everyone's totals and export."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import Response, status
from fastapi.responses import StreamingResponse

from orchestrator.api.deps import AdminUser, CurrentUser, RuntimeDep, SessionDep
from orchestrator.api.routing import ApiRouter
from orchestrator.conversations import rate, rated_exchanges, totals, unrate
from orchestrator.schemas.conversations import (
    FeedbackIn,
    FeedbackOut,
    FeedbackStats,
    MessagePathId,
    RatingTotalsOut,
)

router = ApiRouter(tags=["feedback"])


@router.post("/messages/{message_id}/feedback")
async def rate_answer(
    message_id: MessagePathId, body: FeedbackIn, user: CurrentUser, db: SessionDep
) -> FeedbackOut:
    """Rate one of your answers (1 or -1, with an optional comment); again replaces it."""
    feedback = await rate(db, user.id, message_id, body.rating, body.comment)
    return FeedbackOut.model_validate(feedback)


@router.delete("/messages/{message_id}/feedback", status_code=status.HTTP_204_NO_CONTENT)
async def unrate_answer(message_id: MessagePathId, user: CurrentUser, db: SessionDep) -> Response:
    """Take back your rating of an answer."""
    await unrate(db, user.id, message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/feedback/stats")
async def feedback_stats(_: AdminUser, db: SessionDep) -> FeedbackStats:
    """Everyone's ratings per agent and per model (admins)."""
    by_agent, by_model = await totals(db)
    return FeedbackStats(
        by_agent=[RatingTotalsOut.model_validate(t) for t in by_agent],
        by_model=[RatingTotalsOut.model_validate(t) for t in by_model],
    )


@router.get(
    "/feedback/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def export_feedback(_: AdminUser, runtime: RuntimeDep) -> StreamingResponse:
    """Every rated answer as JSON lines `{prompt, answer, rating, comment, agent, model,
    ...}`, for fine-tuning (admins)."""

    async def lines() -> AsyncIterator[bytes]:
        async with runtime.sessions() as db:  # the request's session ends before the body
            async for row in rated_exchanges(db):
                yield (json.dumps(row, ensure_ascii=False) + "\n").encode()

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="feedback.jsonl"'},
    )
