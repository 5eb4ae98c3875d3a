"""A user's conversations and their messages; every query is scoped to the owner."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.core.errors import NotFound
from orchestrator.db.models import Conversation, Message, utcnow


async def list_conversations(
    db: AsyncSession, user_id: int, *, search: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Conversation], int]:
    """The user's conversations, most recently active first."""
    query = select(Conversation).where(Conversation.user_id == user_id)
    if search:
        query = query.where(Conversation.title.icontains(search, autoescape=True))
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(
        query.order_by(Conversation.updated_at.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


async def get_conversation(db: AsyncSession, user_id: int, conversation_id: str) -> Conversation:
    """The conversation if it is the user's; otherwise `NotFound`, as for a missing one."""
    conversation = await db.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    if conversation is None:
        raise NotFound("conversation not found")
    return conversation


async def create_conversation(
    db: AsyncSession, user_id: int, *, title: str | None, model: str | None, agent: str | None
) -> Conversation:
    conversation = Conversation(
        user_id=user_id, title=title or "New conversation", model=model, agent=agent
    )
    db.add(conversation)
    await db.commit()
    return conversation


async def update_conversation(
    db: AsyncSession, user_id: int, conversation_id: str, changes: dict[str, Any]
) -> Conversation:
    conversation = await get_conversation(db, user_id, conversation_id)
    for name, value in changes.items():
        setattr(conversation, name, value)
    conversation.updated_at = utcnow()
    await db.commit()
    return conversation


async def delete_conversation(db: AsyncSession, user_id: int, conversation_id: str) -> None:
    conversation = await get_conversation(db, user_id, conversation_id)
    await db.delete(conversation)
    await db.commit()


async def list_messages(
    db: AsyncSession, user_id: int, conversation_id: str, *, limit: int = 500, offset: int = 0
) -> tuple[list[Message], int]:
    """The conversation's messages, oldest first."""
    await get_conversation(db, user_id, conversation_id)
    query = select(Message).where(Message.conversation_id == conversation_id)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(query.order_by(Message.id).limit(limit).offset(offset))
    return list(rows), total


async def add_message(
    db: AsyncSession,
    conversation: Conversation,
    role: str,
    content: str,
    *,
    tools_used: list[Any] | None = None,
    run_id: str | None = None,
    citations: list[Any] | None = None,
) -> Message:
    """Append a message and bump the conversation's activity time."""
    message = Message(
        conversation_id=conversation.id,
        role=role,
        content=content,
        tools_used=tools_used or [],
        run_id=run_id,
        citations=citations or None,
    )
    db.add(message)
    conversation.updated_at = utcnow()
    await db.commit()
    return message
