"""A user's conversations and their messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from orchestrator.api.deps import CurrentUser, SessionDep
from orchestrator.schemas.common import Offset, Page
from orchestrator.schemas.conversations import (
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    MessageOut,
)
from orchestrator.services import conversations as service

router = APIRouter(prefix="/conversations", tags=["conversations"])

Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("")
async def list_conversations(
    user: CurrentUser,
    db: SessionDep,
    search: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ConversationOut]:
    """The user's conversations, most recent first; `search` filters titles."""
    rows, total = await service.list_conversations(
        db, user.id, search=search, limit=limit, offset=offset
    )
    return Page(data=[ConversationOut.model_validate(c) for c in rows], count=total)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_conversation(
    body: ConversationCreate, user: CurrentUser, db: SessionDep
) -> ConversationOut:
    """Start an empty conversation."""
    conversation = await service.create_conversation(
        db, user.id, title=body.title, model=body.model, agent=body.agent
    )
    return ConversationOut.model_validate(conversation)


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: str, user: CurrentUser, db: SessionDep
) -> ConversationOut:
    """One conversation."""
    return ConversationOut.model_validate(
        await service.get_conversation(db, user.id, conversation_id)
    )


@router.patch("/{conversation_id}")
async def update_conversation(
    conversation_id: str, body: ConversationUpdate, user: CurrentUser, db: SessionDep
) -> ConversationOut:
    """Rename a conversation or change its model or agent."""
    conversation = await service.update_conversation(
        db, user.id, conversation_id, body.model_dump(exclude_unset=True, exclude_none=True)
    )
    return ConversationOut.model_validate(conversation)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(conversation_id: str, user: CurrentUser, db: SessionDep) -> Response:
    """Delete a conversation and its messages."""
    await service.delete_conversation(db, user.id, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/messages")
async def list_messages(
    conversation_id: str, user: CurrentUser, db: SessionDep, limit: Limit = 500, offset: Offset = 0
) -> Page[MessageOut]:
    """The conversation's messages, oldest first, with the tools each answer used."""
    rows, total = await service.list_messages(
        db, user.id, conversation_id, limit=limit, offset=offset
    )
    return Page(data=[MessageOut.model_validate(m) for m in rows], count=total)
