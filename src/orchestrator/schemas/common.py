"""Shapes shared by every domain."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A list answer: `{"data": [...], "count": n}`, the same across the API."""

    data: list[T]
    count: int = Field(ge=0)


class ErrorOut(BaseModel):
    """Every error answer."""

    detail: str | list[dict[str, object]]
    code: str | None = None


# Integers the database can hold: larger ones answer 422, never an overflow deep inside.
MAX_DB_INT = 2**63 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Seq = Annotated[int, Query(ge=0, le=MAX_DB_INT)]
