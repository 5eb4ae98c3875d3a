"""Accounts as the API shows and accepts them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Username = Annotated[
    str, StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Role = Literal["admin", "user"]
Language = Literal["en", "fr"]  # the web app's languages (orchestrator.language)


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    email: Email | None = None


class LoginRequest(BaseModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    # The web app asks for its session in HttpOnly cookies (and gets no refresh token in
    # the body); programs take the tokens from the answer.
    cookie: bool = False


class RefreshRequest(BaseModel):
    """A program's refresh token; the web app sends none and uses its cookie."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str | None
    role: Role
    is_active: bool
    language: Language | None = None  # None: the browser's
    created_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int  # seconds the access token lives
    refresh_token: str | None = None  # for programs; the web app's lives in a cookie
    user: UserOut


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool | None = None
    role: Role | None = None


class ProfileUpdate(BaseModel):
    """What a user changes of their own account (`PATCH /auth/me`)."""

    model_config = ConfigDict(extra="forbid")

    language: Language | None  # null: follow the browser's


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new: Password


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    expires_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class ApiKeyOut(BaseModel):
    """A key as lists show it: never the secret."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A key just created, with its secret: shown this once, stored only as a hash."""

    key: str
