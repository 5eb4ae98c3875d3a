"""Knowledge collections, documents and search results as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""


class CollectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None


class CollectionOut(BaseModel):
    id: str
    name: str
    description: str
    created_at: datetime
    document_count: int


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    collection_id: str
    filename: str
    media_type: str
    size: int
    status: Literal["queued", "processing", "ready", "failed"]
    chunks: int
    pages: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class PassageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    document_id: str
    filename: str
    chunk_id: str
    text: str
    score: float
    page: int | None
    heading: str | None
