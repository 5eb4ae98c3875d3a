"""Memories as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orchestrator.memory import MAX_CONTENT, MAX_TAG, MAX_TAGS

Content = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CONTENT)
]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class MemoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Content
    tags: Tags = []
    source: Source = "user"


class MemoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: Content | None = None
    tags: Tags | None = None


class MemoryOut(BaseModel):
    """A memory; `score` (cosine similarity) only in answers to a search."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    content: str
    tags: list[str]
    source: str
    created_at: datetime
    updated_at: datetime
    score: float | None = None
