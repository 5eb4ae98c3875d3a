"""One validated `Settings` object, read from the environment or `.env`.

Created once at start-up (`Settings()`), then passed down; nothing deep in the code
reads the environment itself.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SECRET_FILE = "secret_key"  # noqa: S105 - a file name
MIN_SECRET_LENGTH = 32
RISK_CLASSES = frozenset({"safe", "read", "write", "exec", "network"})
_PLACEHOLDER_SECRETS = {
    "changethis",
    "changeme",
    "secret",
    "your-secret-key",
    "secret_key",
    "default",
}


class Registration(StrEnum):
    """Who may sign up after the first (admin) account."""

    APPROVAL = "approval"  # created inactive, an admin activates
    OPEN = "open"
    CLOSED = "closed"


class SandboxMode(StrEnum):
    """How `execute_command` isolates commands."""

    AUTO = "auto"  # bubblewrap when present, otherwise refuse commands
    BWRAP = "bwrap"  # bubblewrap or refuse to start commands
    NONE = "none"  # explicit opt-out: plain subprocess (admin's choice, not recommended)


_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One HTTP_ALLOWLIST entry: a host name or an IP network, and maybe one port."""

    host: str | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    port: int | None  # None: any port


def parse_allow_entry(entry: str) -> AllowEntry:
    """`host`, `host:port`, `IP`, `IP:port`, `CIDR`, `[IPv6]:port`; ValueError says why not."""
    text = entry.strip().lower()
    if "://" in text:
        raise ValueError(f"HTTP_ALLOWLIST entry {entry!r}: write host or host:port, not a URL")
    port: int | None = None
    if text.startswith("["):  # [IPv6] or [IPv6]:port
        inside, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"HTTP_ALLOWLIST entry {entry!r} is not [IPv6]:port")
            port = _port(entry, rest[1:])
        return AllowEntry(None, _network(entry, inside), port)
    if text.count(":") == 1:
        text, raw_port = text.split(":")
        port = _port(entry, raw_port)
    text = text.rstrip(".")
    try:
        return AllowEntry(None, ipaddress.ip_network(text, strict=False), port)
    except ValueError:
        pass
    if not _HOST_NAME.match(text) or text.replace(".", "").isdigit():
        raise ValueError(
            f"HTTP_ALLOWLIST entry {entry!r} is not a host name, IP address or network "
            "(CIDR), optionally followed by :port"
        )
    return AllowEntry(text, None, port)


def _port(entry: str, raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"HTTP_ALLOWLIST entry {entry!r}: the port must be 1-65535")
    return int(raw)


def _network(entry: str, text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"HTTP_ALLOWLIST entry {entry!r}: {text!r} is no IP address") from None


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the product; names as in DESIGN.md."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    host: str = "127.0.0.1"
    port: int = Field(8001, ge=1, le=65535)
    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    access_token_expire_minutes: int = Field(15, ge=1)
    refresh_token_expire_days: int = Field(7, ge=1)
    ollama_url: str = "http://localhost:11434"
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    default_model: str | None = None
    embedding_model: str | None = None
    chroma_url: str | None = None  # a Chroma server (http://host:8000); unset: DATA_DIR/memory
    memory_recall: bool = True  # offer the user's relevant memories at the start of a turn
    memory_recall_limit: int = Field(5, ge=1, le=50)  # at most this many memories
    memory_recall_chars: int = Field(2000, ge=100, le=20_000)  # and at most this much text
    max_iterations: int = Field(10, ge=1, le=100)
    context_chars: int = Field(24_000, ge=1000)  # history sent to the model, newest first
    turn_seconds: float = Field(600.0, gt=0)  # wall-clock budget of one agent turn
    cors_origins: Annotated[list[str], NoDecode] = []
    registration: Registration = Registration.APPROVAL
    command_timeout: float = Field(30.0, gt=0, le=3600)
    sandbox: SandboxMode = SandboxMode.AUTO
    http_allowlist: Annotated[list[str], NoDecode] = []
    max_request_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    login_max_failures: int = Field(5, ge=1)
    login_lockout_seconds: int = Field(300, ge=1)
    login_max_client_failures: int = Field(20, ge=1)  # per client address, any username
    password_hash_slots: int = Field(2, ge=1, le=64)  # threads that run argon2
    rate_limit_per_minute: int = Field(600, ge=0)  # per user or client address; 0: no limit
    rate_limit_burst: int = Field(60, ge=1)  # requests allowed at once above the steady rate
    approval_timeout: float = Field(300.0, gt=0)
    approval_risks: Annotated[list[str], NoDecode] = ["exec", "network"]
    user_refused_risks: Annotated[list[str], NoDecode] = []  # never run for non-admins
    run_max_seconds: float = Field(3600.0, gt=0)  # wall-clock budget of a whole run
    turn_max_tokens: int | None = Field(None, ge=1)  # model tokens one agent turn may use
    quota_concurrent_runs: int | None = Field(20, ge=1)  # active runs per user (role user)
    quota_tokens_per_day: int | None = Field(None, ge=1)  # model tokens per UTC day (role user)
    quota_runs_per_day: int | None = Field(None, ge=1)  # runs started per UTC day (role user)
    usage_accounting: bool = True  # each model call recorded (off: benchmarks' baseline)
    metrics: bool = True  # /metrics and the counters behind it
    metrics_token: str | None = None  # /metrics wants it as a bearer; unset: loopback only
    tracing: bool = True  # OpenTelemetry spans (exported when OTEL_EXPORTER_OTLP_ENDPOINT is set)
    otel_exporter_otlp_endpoint: str | None = None
    log_format: Literal["text", "json"] = "text"
    max_delegation_depth: int = Field(2, ge=0, le=5)  # nested runs below a top-level run
    run_lease_seconds: float = Field(30.0, ge=1)  # a vanished holder's runs resume after this
    db_pool_size: int = Field(10, ge=1, le=500)  # Postgres connections kept per process
    db_max_overflow: int = Field(10, ge=0, le=500)  # extra connections under load, per process
    worker_concurrency: int = Field(4, ge=1, le=256)  # runs one `orchestrator worker` executes
    sse_keepalive_seconds: float = Field(15.0, gt=0, le=300)  # `/v1` streams: comment every N s
    max_upload_mb: int = Field(50, ge=1, le=100_000)  # one upload to the workspace over HTTP
    workspace_quota_mb: int = Field(1024, ge=1)  # a user's workspace: uploads and agents' writes
    mcp_call_timeout: float = Field(60.0, gt=0, le=3600)  # an MCP tool call's answer, at most
    mcp_connect_timeout: float = Field(30.0, gt=0, le=600)  # starting an MCP server, at most
    mcp_idle_seconds: float = Field(300.0, gt=0)  # an unused MCP server connection stops after
    search_provider: Literal["searxng", "duckduckgo"] | None = None  # web_search's backend
    search_url: str | None = None  # SearXNG's base URL (reachable even on a private address)
    change_max_file_bytes: int = Field(1024 * 1024, ge=0)  # larger files: changes not revertible
    knowledge_max_chunks: int = Field(5000, ge=1, le=1_000_000)  # passages of one document
    knowledge_parse_seconds: float = Field(300.0, gt=0)  # reading one document, at most
    schedule_poll_seconds: float = Field(10.0, gt=0, le=300)  # how often due schedules start
    # An ingestion whose process vanished is taken up again (by any process) after this.
    knowledge_lease_seconds: float = Field(30.0, ge=1)
    # An agent with more tools than this is offered, each step, only the nearest top k
    # (by embedding similarity to the task) and those it has used this turn.
    tool_retrieval_threshold: int = Field(12, ge=0, le=10_000)
    tool_retrieval_top_k: int = Field(6, ge=1, le=100)
    verifier_model: str | None = None  # judges a workflow's VERIFY (default: the run's model)
    max_repair_cycles: int = Field(2, ge=0, le=10)  # REPAIR -> EXECUTE -> VERIFY, at most

    @field_validator(
        "cors_origins", "http_allowlist", "approval_risks", "user_refused_risks", mode="before"
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("http_allowlist")
    @classmethod
    def _parseable_allowlist(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_allow_entry(entry)  # raises, naming the entry it cannot read
        return value

    @field_validator("approval_risks", "user_refused_risks")
    @classmethod
    def _known_risks(cls, value: list[str]) -> list[str]:
        unknown = set(value) - RISK_CLASSES
        if unknown:
            raise ValueError(f"unknown risk classes {sorted(unknown)}; use {sorted(RISK_CLASSES)}")
        return value

    @field_validator("secret_key")
    @classmethod
    def _refuse_weak_secret(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.lower() in _PLACEHOLDER_SECRETS or len(value) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"SECRET_KEY is too weak: use at least {MIN_SECRET_LENGTH} random characters "
                "(for instance `python -c 'import secrets; print(secrets.token_urlsafe(48))'`), "
                "or leave it unset to have one generated and kept in DATA_DIR"
            )
        return value

    @model_validator(mode="after")
    def _resolve_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside DATA_DIR."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'orchestrator.db'}"

    @property
    def workspaces_dir(self) -> Path:
        return self.data_dir / "workspaces"

    @property
    def max_upload_bytes(self) -> int:
        """MAX_UPLOAD_MB in bytes."""
        return self.max_upload_mb * 1024 * 1024

    @property
    def workspace_quota_bytes(self) -> int:
        """WORKSPACE_QUOTA_MB in bytes."""
        return self.workspace_quota_mb * 1024 * 1024

    def ensure_data_dir(self) -> None:
        """Create DATA_DIR (private to this user) if needed."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def signing_key(self) -> str:
        """SECRET_KEY, or the generated key kept in DATA_DIR (created with mode 0600)."""
        if self.secret_key:
            return self.secret_key
        self.ensure_data_dir()
        path = self.data_dir / SECRET_FILE
        try:
            key = path.read_text().strip()
        except FileNotFoundError:
            key = secrets.token_urlsafe(48)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process won the race; use its key
                return path.read_text().strip()
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(key)
        self.secret_key = key
        return key
