"""What crosses the API for MCP servers: definitions, credentials, refresh results.

Limits (stated here, enforced at refresh): a server offers at most `MAX_TOOLS` tools;
each tool's input schema must be a valid JSON schema of an object, at most
`MAX_SCHEMA_BYTES` as JSON; descriptions are cut at `MAX_DESCRIPTION_CHARS`; a
registry name `SERVER__TOOL` is at most 64 characters of letters, digits, `_` and `-`.
Tools outside these limits are skipped, each with its reason, in the refresh result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_TOOLS = 100
MAX_LISTED_TOOLS = 2000  # tools read from a server at most (paginated listings included)
MAX_SCHEMA_BYTES = 32 * 1024
MAX_DESCRIPTION_CHARS = 2000
MAX_TOOL_NAME = 64
MASK = "********"  # what a stored secret value looks like from outside

ServerName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*(?:_[A-Za-z0-9-]+)*$"
    ),
]
Argument = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
EnvValue = Annotated[str, StringConstraints(max_length=8192, pattern=r"^[^\x00]*$")]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")]
HeaderValue = Annotated[str, StringConstraints(max_length=8192, pattern=r"^[^\r\n\x00]*$")]
HostPath = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^/[^\x00]*$")]
Risk = Literal["read", "write", "exec", "network"]
Transport = Literal["stdio", "http"]
Env = Annotated[dict[EnvName, EnvValue], Field(max_length=64)]
Headers = Annotated[dict[HeaderName, HeaderValue], Field(max_length=32)]

# Headers the transport owns; a definition or a credential must not set them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "accept",
        "accept-encoding",
        "mcp-session-id",
        "mcp-protocol-version",
        "last-event-id",
    }
)


def _check_headers(headers: dict[str, str] | None) -> None:
    for name in headers or {}:
        if name.lower() in RESERVED_HEADERS or name.lower().startswith("proxy-"):
            raise ValueError(f"the {name} header is set by the MCP client, not by definitions")


class McpServerIn(BaseModel):
    """A server definition as an admin writes it (POST, and PATCH merged over the stored one)."""

    model_config = ConfigDict(extra="forbid")

    name: ServerName
    transport: Transport
    command: Annotated[list[Argument], Field(min_length=1, max_length=64)] | None = None
    env: Env | None = None
    paths: Annotated[list[HostPath], Field(max_length=16)] = []
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    headers: Headers | None = None
    risk: Risk | None = None  # default: exec for stdio, network for http
    network: bool = False
    enabled: bool = True

    @model_validator(mode="after")
    def _transport_fields(self) -> McpServerIn:
        if self.transport == "stdio":
            if not self.command:
                raise ValueError("a stdio server needs `command`, a list of arguments")
            if self.url or self.headers:
                raise ValueError("`url` and `headers` are for http servers")
        else:
            if not self.url:
                raise ValueError("an http server needs `url`")
            if self.command or self.env or self.paths:
                raise ValueError("`command`, `env` and `paths` are for stdio servers")
        _check_headers(self.headers)
        if self.risk is None:
            self.risk = "exec" if self.transport == "stdio" else "network"
        return self


class McpServerUpdate(BaseModel):
    """A PATCH: the fields given replace the stored ones (a masked secret keeps its value)."""

    model_config = ConfigDict(extra="forbid")

    name: ServerName | None = None
    transport: Transport | None = None
    command: Annotated[list[Argument], Field(min_length=1, max_length=64)] | None = None
    env: Env | None = None
    paths: Annotated[list[HostPath], Field(max_length=16)] | None = None
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    headers: Headers | None = None
    risk: Risk | None = None
    network: bool | None = None
    enabled: bool | None = None


class McpCredentialsIn(BaseModel):
    """A user's own secret for one server; replaces what they stored before."""

    model_config = ConfigDict(extra="forbid")

    headers: Headers | None = None
    env: Env | None = None

    @model_validator(mode="after")
    def _reserved(self) -> McpCredentialsIn:
        _check_headers(self.headers)
        return self


class McpCredentialsOut(BaseModel):
    """Which names a user stored for a server; never the values."""

    server_id: str
    headers: list[str]
    env: list[str]
    updated_at: datetime | None


class McpToolInfo(BaseModel):
    """One discovered tool as the registry names it."""

    name: str  # SERVER__TOOL
    remote_name: str  # the server's own name for it
    description: str
    input_schema: dict[str, object]


class SkippedTool(BaseModel):
    """A tool the server listed that did not join the registry, and why."""

    name: str
    reason: str


class McpLimits(BaseModel):
    """The limits a refresh applies."""

    max_tools: int = MAX_TOOLS
    max_listed_tools: int = MAX_LISTED_TOOLS
    max_schema_bytes: int = MAX_SCHEMA_BYTES
    max_description_chars: int = MAX_DESCRIPTION_CHARS
    max_tool_name: int = MAX_TOOL_NAME


class McpServerOut(BaseModel):
    """A server as the API shows it: secret values masked."""

    id: str
    name: str
    transport: Transport
    command: list[str] | None
    env: dict[str, str]
    paths: list[str]
    url: str | None
    headers: dict[str, str]
    risk: Risk
    network: bool
    enabled: bool
    tools: list[str]
    refreshed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    has_credentials: bool = False  # whether the caller stored their own


class McpRefreshOut(McpServerOut):
    """A server after a refresh, with the tools it skipped and the limits applied."""

    tool_details: list[McpToolInfo]
    skipped: list[SkippedTool]
    skipped_count: int
    limits: McpLimits
