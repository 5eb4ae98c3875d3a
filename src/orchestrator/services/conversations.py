"""A user's conversations and their messages; every query is scoped to the owner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, case, func, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orchestrator.conversations import (
    Hit,
    MessageTree,
    delete_conversation_tree,
    highlight,
    load_tree,
    search,
)
from orchestrator.core.errors import NotFound
from orchestrator.db.models import Conversation, Message, utcnow
from orchestrator.db.session import read

APPEND: Any = object()  # `add_message`'s default parent: the end of the active branch

# A run's answer, on every chat turn: built once (building a statement cost more than
# running it).
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_INSERT_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)
_POINT_TO_ANSWER = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        # The answer ends the active branch unless the user moved to another meanwhile.
        active_message_id=case(
            (
                _CONVERSATIONS.c.active_message_id == bindparam("question_id"),
                bindparam("message_id"),
            ),
            else_=_CONVERSATIONS.c.active_message_id,
        ),
        updated_at=bindparam("now"),
    )
)
_POINT_TO = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(active_message_id=bindparam("message_id"), updated_at=bindparam("now"))
)
_EXISTS = select(_CONVERSATIONS.c.id).where(_CONVERSATIONS.c.id == bindparam("conversation_id"))


@dataclass
class Found:
    """A conversation a search found, and the marked text of its best match."""

    conversation: Conversation
    hit: Hit
    snippet: list[tuple[str, bool]]


async def search_conversations(
    db: AsyncSession, user_id: int, query: str, *, limit: int = 100, offset: int = 0
) -> tuple[list[Found], int]:
    """The user's conversations whose title or messages match `query`, best first."""
    hits = await search(db, user_id, query)
    page = hits[offset : offset + limit]
    ids = [hit.conversation_id for hit in page]
    rows = {
        c.id: c
        for c in await db.scalars(
            select(Conversation).where(Conversation.user_id == user_id, Conversation.id.in_(ids))
        )
    }
    message_ids = [hit.message_id for hit in page if hit.message_id is not None]
    found_texts = await db.execute(
        select(Message.id, Message.content).where(Message.id.in_(message_ids))
    )
    texts = {message_id: content for message_id, content in found_texts}
    found = [
        Found(
            rows[hit.conversation_id],
            hit,
            highlight(
                rows[hit.conversation_id].title
                if hit.message_id is None
                else texts.get(hit.message_id, ""),
                query,
            ),
        )
        for hit in page
        if hit.conversation_id in rows
    ]
    return found, len(hits)


# The list of a user's conversations, which the web app asks for on every page: built once,
# read as plain rows (on SQLite, on the event loop's thread: `db.session.read`).
_MINE = _CONVERSATIONS.c.user_id == bindparam("user_id")
_PAGE = (
    select(*_CONVERSATIONS.c, func.count().over().label("total"))
    .where(_MINE)
    .order_by(_CONVERSATIONS.c.updated_at.desc())
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_COUNT = select(func.count()).where(_MINE)


async def list_conversations(
    engine: AsyncEngine, user_id: int, *, limit: int = 100, offset: int = 0
) -> tuple[Sequence[Row[Any]], int]:
    """The user's conversations, most recently active first (rows of their columns), and
    how many there are. The page and the total in one statement (a window count)."""
    found = await read(engine, _PAGE, {"user_id": user_id, "limit": limit, "offset": offset})
    if found:
        return found, found[0].total
    # A page past the end carries no count: ask for it (0 when there is nothing at all).
    total = (await read(engine, _COUNT, {"user_id": user_id}))[0][0] if offset else 0
    return [], total


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
    """Delete the conversation, its messages, and its runs with their events and records."""
    conversation = await get_conversation(db, user_id, conversation_id)
    await delete_conversation_tree(db, conversation)


async def active_branch(
    db: AsyncSession, user_id: int, conversation_id: str
) -> tuple[list[Message], MessageTree]:
    """The conversation's active branch, first message first, and the whole tree."""
    conversation = await get_conversation(db, user_id, conversation_id)
    tree = await load_tree(db, conversation.id)
    return tree.active_branch(conversation), tree


def _message_row(
    conversation_id: str,
    parent_id: int | None,
    role: str,
    content: str,
    run_id: str,
    now: datetime,
    tools_used: list[Any] | None = None,
    citations: list[Any] | None = None,
) -> dict[str, Any]:
    """A `messages` row for `_INSERT_MESSAGE`."""
    return {
        "conversation_id": conversation_id,
        "parent_id": parent_id,
        "role": role,
        "content": content,
        "tools_used": tools_used or [],
        "citations": citations or None,
        "run_id": run_id,
        "created_at": now,
    }


def add_question(
    connection: Connection,
    conversation_id: str,
    content: str,
    *,
    parent_id: int | None,
    run_id: str,
) -> int:
    """Store the user's message below `parent_id` as the new end of the active branch, in
    `connection`'s transaction, with statements built once (every chat turn starts with
    one)."""
    now = utcnow()
    row = _message_row(conversation_id, parent_id, "user", content, run_id, now)
    message_id: int = connection.execute(_INSERT_MESSAGE, row).scalar_one()
    connection.execute(
        _POINT_TO, {"conversation_id": conversation_id, "message_id": message_id, "now": now}
    )
    return message_id


@dataclass(frozen=True)
class Answer:
    """A run's answer, to be stored below the user's message `question_id`."""

    conversation_id: str
    question_id: int
    content: str
    run_id: str
    tools_used: list[Any]
    citations: list[Any] | None = None


def add_answer(connection: Connection, answer: Answer) -> int | None:
    """Store a run's answer below its question; it ends the active branch if that message
    still does. Its id (None: the conversation is gone). The body of one transaction
    (`db.session.transact`: every chat turn stores one), with statements built once."""
    found = connection.execute(_EXISTS, {"conversation_id": answer.conversation_id}).first()
    if found is None:
        return None
    now = utcnow()
    row = _message_row(
        answer.conversation_id,
        answer.question_id,
        "assistant",
        answer.content,
        answer.run_id,
        now,
        answer.tools_used,
        answer.citations,
    )
    message_id: int = connection.execute(_INSERT_MESSAGE, row).scalar_one()
    connection.execute(
        _POINT_TO_ANSWER,
        {
            "conversation_id": answer.conversation_id,
            "question_id": answer.question_id,
            "message_id": message_id,
            "now": now,
        },
    )
    return message_id


async def add_message(
    db: AsyncSession,
    conversation: Conversation,
    role: str,
    content: str,
    *,
    tools_used: list[Any] | None = None,
    run_id: str | None = None,
    citations: list[Any] | None = None,
    parent_id: int | None = APPEND,
    activate: bool = True,
) -> Message:
    """Add a message below `parent_id` (by default, at the end of the active branch),
    make it the end of the active branch unless `activate` is false, and bump the
    conversation's activity time."""
    if parent_id is APPEND:
        parent_id = conversation.active_message_id
    message = Message(
        conversation_id=conversation.id,
        parent_id=parent_id,
        role=role,
        content=content,
        tools_used=tools_used or [],
        run_id=run_id,
        citations=citations or None,
    )
    db.add(message)
    await db.flush()
    if activate:
        conversation.active_message_id = message.id
    conversation.updated_at = utcnow()
    await db.commit()
    return message
