"""Creating, finding and listing runs; every query is scoped to the owner."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.core.errors import NotFound
from orchestrator.db.models import Conversation, Message, Run
from orchestrator.services.conversations import add_message, get_conversation

TITLE_LENGTH = 60
DEFAULT_TITLE = "New conversation"


def title_from(message: str) -> str:
    """A conversation title from its first message."""
    line = " ".join(message.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


async def start_chat_turn(
    db: AsyncSession,
    user_id: int,
    message: str,
    *,
    conversation_id: str | None,
    model: str | None,
    agent: str | None,
) -> tuple[Run, Conversation, Message]:
    """Store the user's message and a queued chat run for it (a new conversation if none)."""
    if conversation_id is None:
        conversation = Conversation(
            user_id=user_id, title=title_from(message), model=model, agent=agent
        )
        db.add(conversation)
        await db.flush()
    else:
        conversation = await get_conversation(db, user_id, conversation_id)
        if conversation.title == DEFAULT_TITLE:
            conversation.title = title_from(message)
    run = Run(
        user_id=user_id,
        kind="chat",
        goal=message,
        agent=agent or conversation.agent or "assistant",
        model=model or conversation.model,
        conversation_id=conversation.id,
    )
    db.add(run)
    await db.flush()
    user_message = await add_message(db, conversation, "user", message, run_id=run.id)
    return run, conversation, user_message


async def create_run(
    db: AsyncSession, user_id: int, goal: str, *, agent: str, model: str | None, kind: str
) -> Run:
    run = Run(user_id=user_id, kind=kind, goal=goal, agent=agent, model=model)
    db.add(run)
    await db.commit()
    return run


async def get_run(db: AsyncSession, user_id: int, run_id: str) -> Run:
    """The run if it is the user's; otherwise `NotFound`, as for a missing one."""
    run = await db.scalar(select(Run).where(Run.id == run_id, Run.user_id == user_id))
    if run is None:
        raise NotFound("run not found")
    return run


async def list_runs(
    db: AsyncSession,
    user_id: int,
    *,
    status: str | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Run], int]:
    """The user's runs, newest first."""
    query = select(Run).where(Run.user_id == user_id)
    if status:
        query = query.where(Run.status == status)
    if kind:
        query = query.where(Run.kind == kind)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(query.order_by(Run.created_at.desc()).limit(limit).offset(offset))
    return list(rows), total
