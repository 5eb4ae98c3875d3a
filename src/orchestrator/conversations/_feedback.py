"""Ratings of answers: a user's thumbs up or down (with a comment) on their own
conversations' answers; totals per agent and per model, and the rated exchanges as JSONL
(prompt, answer, rating, comment) for fine-tuning."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from orchestrator.core.errors import InvalidInput, NotFound
from orchestrator.db.models import Conversation, Message, MessageFeedback, Run, utcnow

UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class RatingTotals:
    """Ratings of one agent's or one model's answers."""

    name: str
    up: int
    down: int


async def rate(
    db: AsyncSession, user_id: int, message_id: int, rating: int, comment: str | None
) -> MessageFeedback:
    """Rate one of the user's answers (again: the new rating replaces the old)."""
    row = await db.execute(
        select(Message.role)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.id == message_id, Conversation.user_id == user_id)
    )
    role = row.scalar()
    if role is None:
        raise NotFound("message not found")
    if role != "assistant":
        raise InvalidInput("only answers can be rated")
    feedback = await db.scalar(
        select(MessageFeedback).where(
            MessageFeedback.message_id == message_id, MessageFeedback.user_id == user_id
        )
    )
    if feedback is None:
        feedback = MessageFeedback(message_id=message_id, user_id=user_id)
        db.add(feedback)
    feedback.rating = rating
    feedback.comment = comment or None
    feedback.updated_at = utcnow()
    await db.commit()
    return feedback


async def unrate(db: AsyncSession, user_id: int, message_id: int) -> None:
    """Take back the user's rating of an answer (`NotFound` if there is none)."""
    feedback = await db.scalar(
        select(MessageFeedback).where(
            MessageFeedback.message_id == message_id, MessageFeedback.user_id == user_id
        )
    )
    if feedback is None:
        raise NotFound("feedback not found")
    await db.delete(feedback)
    await db.commit()


async def ratings_of(
    db: AsyncSession, user_id: int, message_ids: Sequence[int]
) -> dict[int, MessageFeedback]:
    """The user's ratings of these messages."""
    if not message_ids:
        return {}
    rows = await db.scalars(
        select(MessageFeedback).where(
            MessageFeedback.user_id == user_id, MessageFeedback.message_id.in_(message_ids)
        )
    )
    return {row.message_id: row for row in rows}


def _rated() -> tuple[Any, Any]:
    """Who answered: the run's agent and model, else the conversation's."""
    agent = func.coalesce(Run.agent, Conversation.agent, UNKNOWN)
    model = func.coalesce(Run.model, Conversation.model, UNKNOWN)
    return agent, model


async def totals(db: AsyncSession) -> tuple[list[RatingTotals], list[RatingTotals]]:
    """Everyone's ratings, per agent and per model, most rated first."""
    agent, model = _rated()
    up = func.sum(case((MessageFeedback.rating > 0, 1), else_=0))
    down = func.sum(case((MessageFeedback.rating < 0, 1), else_=0))

    async def grouped(key: Any) -> list[RatingTotals]:
        rows = await db.execute(
            select(key, up, down)
            .select_from(MessageFeedback)
            .join(Message, Message.id == MessageFeedback.message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .outerjoin(Run, Run.id == Message.run_id)
            .group_by(key)
        )
        found = [RatingTotals(str(name), int(u or 0), int(d or 0)) for name, u, d in rows]
        return sorted(found, key=lambda t: (-(t.up + t.down), t.name))

    return await grouped(agent), await grouped(model)


async def rated_exchanges(db: AsyncSession, batch: int = 500) -> AsyncIterator[dict[str, object]]:
    """Every rated answer with the question it answered, oldest rating first."""
    agent, model = _rated()
    question = aliased(Message)
    query = (
        select(
            MessageFeedback.id,
            MessageFeedback.rating,
            MessageFeedback.comment,
            MessageFeedback.updated_at,
            Message.id,
            Message.content,
            question.content,
            agent,
            model,
        )
        .join(Message, Message.id == MessageFeedback.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(question, question.id == Message.parent_id)
        .outerjoin(Run, Run.id == Message.run_id)
        .order_by(MessageFeedback.updated_at, MessageFeedback.id)
    )
    offset = 0
    while True:
        rows = (await db.execute(query.limit(batch).offset(offset))).all()
        for (
            _,
            rating,
            comment,
            rated_at,
            message_id,
            answer,
            prompt,
            agent_name,
            model_name,
        ) in rows:
            yield {
                "prompt": prompt or "",
                "answer": answer,
                "rating": rating,
                "comment": comment,
                "agent": agent_name,
                "model": model_name,
                "message_id": message_id,
                "rated_at": rated_at.isoformat(),
            }
        if len(rows) < batch:
            return
        offset += batch
