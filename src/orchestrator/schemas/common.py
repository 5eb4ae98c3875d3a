"""Shapes shared by every domain."""

from __future__ import annotations

from typing import Generic, TypeVar

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
