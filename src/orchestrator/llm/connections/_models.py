"""What crosses the API for model connections: definitions, health, per-model settings,
pull requests and their progress; and the plain records the gateway is built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ConnectionKind = Literal["ollama", "openai", "embedded"]
NativeTools = Literal["auto", "on", "off"]
HealthStatus = Literal[
    "ok", "unreachable", "unauthorized", "not_api", "error", "disabled", "unknown"
]

# No "@": a model is picked on one connection as "NAME@CONNECTION".
ConnectionName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
ModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=300, pattern=r"^[A-Za-z0-9][\w.:/@+-]*$")
]
ApiKey = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\r\n\x00]*$")]


def _check_base_url(value: str) -> str:
    """An http(s) URL with a host, no credentials in it (they belong in `api_key`)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("base_url must not carry credentials; put the key in api_key")
    if parts.query or parts.fragment:
        raise ValueError("base_url must not have a query or a fragment")
    return value.rstrip("/")


BaseUrl = Annotated[
    str, StringConstraints(min_length=8, max_length=2048), AfterValidator(_check_base_url)
]


class ConnectionIn(BaseModel):
    """A connection as an admin writes it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ollama", "openai"]
    name: ConnectionName
    base_url: BaseUrl
    api_key: ApiKey | None = None  # write-only: stored encrypted, never shown back
    enabled: bool = True


class ConnectionUpdate(BaseModel):
    """Fields to change; `api_key: null` forgets the stored key, leaving it out keeps it."""

    model_config = ConfigDict(extra="forbid")

    name: ConnectionName | None = None
    base_url: BaseUrl | None = None
    api_key: ApiKey | None = None
    enabled: bool | None = None


class ConnectionHealth(BaseModel):
    """Whether the connection answered its last model listing, and why not."""

    status: HealthStatus
    detail: str = ""
    checked_at: datetime | None = None
    models: int | None = None  # how many models it listed


class ConnectionOut(BaseModel):
    """A connection as the API shows it (the key only as `has_api_key`)."""

    id: str
    kind: ConnectionKind
    name: str
    base_url: str
    has_api_key: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime
    health: ConnectionHealth = ConnectionHealth(status="unknown")


class ModelSettingsIn(BaseModel):
    """An admin's settings for one model of one connection; None leaves the probe's
    answer (capabilities) or the server's default (context length, temperature)."""

    model_config = ConfigDict(extra="forbid")

    connection_id: str = Field(min_length=1, max_length=36)
    model: ModelName
    native_tools: NativeTools = "auto"
    context_length: int | None = Field(None, ge=256, le=1_048_576)
    temperature: float | None = Field(None, ge=0, le=2)
    vision: bool | None = None


class ModelSettingsOut(ModelSettingsIn):
    updated_at: datetime


class PullIn(BaseModel):
    """`POST /models/pull`: a model for an Ollama connection to download."""

    model_config = ConfigDict(extra="forbid")

    connection_id: str = Field(min_length=1, max_length=36)
    model: ModelName


class PullProgress(BaseModel):
    """One line of a pull's NDJSON stream; the last has status "success" or "error"."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class ConnectionSpec:
    """What the gateway needs to serve one connection (the key in clear, in memory only)."""

    id: str
    kind: ConnectionKind
    name: str
    base_url: str = ""
    api_key: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class ModelSettings:
    """Per-model settings as the gateway applies them."""

    native_tools: NativeTools = "auto"
    context_length: int | None = None
    temperature: float | None = None
    vision: bool | None = None
