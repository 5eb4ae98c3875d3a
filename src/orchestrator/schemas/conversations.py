"""Conversations and their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
AgentName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    model: ModelName | None = None
    agent: AgentName | None = None


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    model: ModelName | None = None
    agent: AgentName | None = None


class SearchHit(BaseModel):
    """A piece of matched text; `match` marks the words the query found."""

    text: str
    match: bool


class ConversationMatch(BaseModel):
    """Why a search found a conversation: its best match, cut and marked."""

    rank: float  # higher is better
    message_id: int | None  # the message that matched best (None: the title)
    snippet: list[SearchHit]


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    model: str | None
    agent: str | None
    created_at: datetime
    updated_at: datetime
    match: ConversationMatch | None = None  # set in search results


class FeedbackOut(BaseModel):
    """The caller's rating of an answer."""

    model_config = ConfigDict(from_attributes=True)

    rating: Literal[1, -1]
    comment: str | None = None


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: str
    parent_id: int | None = None
    sibling_ids: list[int] = Field(default_factory=list)  # the others under the same parent
    role: Literal["user", "assistant", "system"]
    content: str
    tools_used: list[Any]
    citations: list[Any] | None = None  # passages the answer cites as [n]
    run_id: str | None
    feedback: FeedbackOut | None = None  # the caller's rating, on answers
    created_at: datetime


MessageId = Annotated[int, Field(ge=1, le=2**31 - 1)]  # messages.id is a 32-bit integer
MessagePathId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ActiveBranchUpdate(BaseModel):
    """Switch to the branch through this message (down to its newest end)."""

    model_config = ConfigDict(extra="forbid")

    message_id: MessageId


class FeedbackIn(BaseModel):
    """A thumbs up (1) or down (-1) on an answer, with an optional comment."""

    model_config = ConfigDict(extra="forbid")

    rating: Literal[1, -1]
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class RatingTotalsOut(BaseModel):
    """Ratings of one agent's or one model's answers."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    up: int
    down: int


class FeedbackStats(BaseModel):
    """Everyone's ratings, per agent and per model."""

    by_agent: list[RatingTotalsOut]
    by_model: list[RatingTotalsOut]
