"""The tables. Every user-owned row carries `user_id`; queries filter on it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class JSONText(TypeDecorator[str]):
    """A JSON column's value already serialised (by pydantic, once): bound as it is, where
    `JSON` would serialise it again. For writes only; reads go through the column's type."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    """An account. Ids are never reused (AUTOINCREMENT on SQLite, a sequence on Postgres):
    a token, workspace or vector collection named by a deleted user's id stays dead."""

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped by logout-everywhere, password and role changes, deactivation: every token
    # carries the version it was issued under, and an older one is refused.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The web app's language and the agents' default for answers ("en", "fr"); None: the
    # browser's (the agents then go by the language the user writes in).
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Usernames are unique regardless of case ("Alice" and "alice" are one account).
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="New conversation")
    model: Mapped[str | None] = mapped_column(String(200))
    agent: Mapped[str | None] = mapped_column(String(64))
    # The last message of the branch shown and continued (messages form a tree).
    active_message_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One message of a conversation's tree: below `parent_id` (None: a first message)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_parent", "parent_id"),
        {"sqlite_autoincrement": True},  # message ids are named by events and paths
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    tools_used: Mapped[list[Any]] = mapped_column(default=list)
    citations: Mapped[list[Any] | None] = mapped_column()  # passages the answer cites as [n]
    run_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageFeedback(Base):
    """A user's rating of an answer (1 or -1) with an optional comment; one per message."""

    __tablename__ = "message_feedback"
    __table_args__ = (
        Index("ix_message_feedback_message_user", "message_id", "user_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    """A chat turn or an autonomous workflow; its `RunEvent` rows are its history."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_user_created", "user_id", "created_at"),
        Index("ix_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="chat")  # chat | workflow
    goal: Mapped[str] = mapped_column(Text)
    agent: Mapped[str] = mapped_column(String(64), default="assistant")
    model: Mapped[str | None] = mapped_column(String(200))
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    knowledge: Mapped[list[Any] | None] = mapped_column()  # collection ids the chat asked for
    parent_run_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    phase: Mapped[str | None] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    checkpoint: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The untrusted content the run has read ({tool, source}); None while it has read none.
    tainted_by: Mapped[dict[str, Any] | None] = mapped_column()
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    # Stored, so a cancel holds even when the process that held the run dies before it acts.
    cancel_requested_at: Mapped[datetime | None] = mapped_column()
    # What started it when no person did: "schedule:<id>" or "trigger:<id>".
    origin: Mapped[str | None] = mapped_column(String(80), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class RunEvent(Base):
    """One entry of a run's append-only log; `seq` starts at 1 and has no gaps."""

    __tablename__ = "run_events"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ToolCallRecord(Base):
    """A tool call, recorded before and after it runs: the audit log and the resume point."""

    __tablename__ = "tool_calls"
    __table_args__ = (
        Index("ix_tool_calls_run", "run_id"),
        Index("ix_tool_calls_tool_created", "tool", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    call_key: Mapped[str] = mapped_column(String(128))  # stable within a run: step + call index
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tool: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="started")
    decision: Mapped[str] = mapped_column(String(16), default="auto")
    result: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class Approval(Base):
    """A risky tool call waiting for its user's decision."""

    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tool: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    risk: Mapped[str] = mapped_column(String(16))
    tainted_by: Mapped[dict[str, Any] | None] = mapped_column()  # why a safe-by-policy call asks
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class ToolSetting(Base):
    """An admin's choice for one tool (absent row: enabled)."""

    __tablename__ = "tool_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomAgent(Base):
    """An agent an admin added; the built-ins live in code (`orchestrator.agents`)."""

    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)  # an AgentSpec, as JSON
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Memory(Base):
    """Something the user (or an agent for them) asked to keep; its vector lives in the
    vector index under the same id, made by `embedder`."""

    __tablename__ = "memories"
    __table_args__ = (Index("ix_memories_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(String(200), default="user")
    embedder: Mapped[str | None] = mapped_column(String(200), index=True)  # None: no vector yet
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class McpServer(Base):
    """An MCP server an admin registered; its discovered tools join the registry."""

    __tablename__ = "mcp_servers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    transport: Mapped[str] = mapped_column(String(8))  # stdio | http
    command: Mapped[list[Any]] = mapped_column(default=list)
    url: Mapped[str | None] = mapped_column(String(2048))
    paths: Mapped[list[Any]] = mapped_column(default=list)
    secrets: Mapped[str | None] = mapped_column(Text)  # env and headers, encrypted
    secret_names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"env": [], "headers": []}
    risk: Mapped[str] = mapped_column(String(16))
    network: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tools: Mapped[list[Any]] = mapped_column(default=list)  # discovered at the last refresh
    refreshed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class McpCredential(Base):
    """One user's own secret for one MCP server (headers, env), encrypted."""

    __tablename__ = "mcp_credentials"

    server_id: Mapped[str] = mapped_column(
        ForeignKey("mcp_servers.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    secret: Mapped[str] = mapped_column(Text)
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"env": [], "headers": []}
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkspaceChange(Base):
    """One path a run changed in its user's workspace: how it was before the run's first
    change to it (content kept in the blob store by sha256) and after its last one."""

    __tablename__ = "workspace_changes"
    __table_args__ = (
        Index("ix_workspace_changes_run_path", "run_id", "path", unique=True),
        Index("ix_workspace_changes_user_path", "user_id", "path"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    before_kind: Mapped[str | None] = mapped_column(String(8))  # file | dir | None: absent
    before_size: Mapped[int | None] = mapped_column(Integer)
    before_sha: Mapped[str | None] = mapped_column(String(64))
    after_kind: Mapped[str | None] = mapped_column(String(8))
    after_size: Mapped[int | None] = mapped_column(Integer)
    after_sha: Mapped[str | None] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(64))  # the last tool that changed it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    reverted_at: Mapped[datetime | None] = mapped_column()


class ApiKey(Base):
    """A credential for programs (`orch_...`), used as a bearer token; only its SHA-256 is kept."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class RefreshToken(Base):
    """One refresh token of a session; rotating it marks it used and issues the next one of
    the same family. A used token presented again revokes the whole family (it was stolen)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_version: Mapped[int] = mapped_column(Integer)  # the user's, when issued
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class KnowledgeCollection(Base):
    """A user's set of documents to search (a knowledge base)."""

    __tablename__ = "knowledge_collections"
    __table_args__ = (Index("ix_knowledge_collections_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeDocument(Base):
    """An uploaded file of a collection; its bytes are kept under DATA_DIR until ingested
    (and after, so that a change of embedder can re-read it)."""

    __tablename__ = "knowledge_documents"
    __table_args__ = (
        Index("ix_knowledge_documents_collection", "collection_id", "created_at"),
        Index("ix_knowledge_documents_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    collection_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_collections.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int | None] = mapped_column(Integer)
    embedder: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeChunk(Base):
    """One passage of a document: its text is searched by keywords (full-text index) and
    its vector, under the same id, by meaning."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (Index("ix_knowledge_chunks_document", "document_id", "seq"),)

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<document id>:<seq>"
    document_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_documents.id", ondelete="CASCADE")
    )
    collection_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    heading: Mapped[str | None] = mapped_column(String(500))
    page: Mapped[int | None] = mapped_column(Integer)


class Schedule(Base):
    """A run started on a cron timetable in a time zone. `next_run_at` is the next due time
    (None while disabled); a process starts the run by moving it on atomically."""

    __tablename__ = "schedules"
    __table_args__ = (
        Index("ix_schedules_user_created", "user_id", "created_at"),
        Index("ix_schedules_due", "enabled", "next_run_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    goal: Mapped[str] = mapped_column(Text)
    agent: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    misfire: Mapped[str] = mapped_column(String(16), default="run_once")  # run_once | skip
    next_run_at: Mapped[datetime | None] = mapped_column()
    last_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Trigger(Base):
    """A webhook that starts a run: `POST /api/v1/hooks/{id}`, signed with its secret
    (kept sealed with AES-GCM: checking a signature needs the secret itself)."""

    __tablename__ = "triggers"
    __table_args__ = (Index("ix_triggers_user_created", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    agent: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    goal_template: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)  # sealed
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriggerDelivery(Base):
    """A signature a trigger accepted, kept while its timestamp is fresh: the same request
    sent again is a replay (the primary key makes the check atomic across processes)."""

    __tablename__ = "trigger_deliveries"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger_id: Mapped[str] = mapped_column(ForeignKey("triggers.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ModelEval(Base):
    """A model's latest scores on one version of the evaluation suite (see `evals`)."""

    __tablename__ = "model_evals"
    __table_args__ = (
        UniqueConstraint("model", "suite_version", name="uq_model_evals_model_suite"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model: Mapped[str] = mapped_column(String(200))
    suite_version: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|succeeded|failed
    retrieval: Mapped[bool] = mapped_column(Boolean, default=True)
    repair: Mapped[bool] = mapped_column(Boolean, default=True)
    tasks: Mapped[int] = mapped_column(Integer, default=0)
    valid_calls: Mapped[float | None] = mapped_column(Float)
    right_tool: Mapped[float | None] = mapped_column(Float)
    right_args: Mapped[float | None] = mapped_column(Float)
    task_success: Mapped[float | None] = mapped_column(Float)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    results: Mapped[list[Any]] = mapped_column(default=list)  # per task
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class ModelConnection(Base):
    """A model server an admin connected (Ollama, OpenAI-compatible) or the bundled model."""

    __tablename__ = "model_connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # ollama | openai | embedded
    name: Mapped[str] = mapped_column(String(64), unique=True)
    base_url: Mapped[str] = mapped_column(String(2048), default="")
    api_key: Mapped[str | None] = mapped_column(Text)  # encrypted; never shown back
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # who answers a shared name first
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelConnectionSeed(Base):
    """A connection the environment (OLLAMA_URL, OPENAI_BASE_URL, the bundled model) made
    once: a seed is applied one time, so a connection an admin removed stays removed."""

    __tablename__ = "model_connection_seeds"

    key: Mapped[str] = mapped_column(String(2100), primary_key=True)  # "kind:base_url"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelSetting(Base):
    """An admin's settings for one model of one connection (None: the probe or default)."""

    __tablename__ = "model_settings"

    connection_id: Mapped[str] = mapped_column(
        ForeignKey("model_connections.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    native_tools: Mapped[str] = mapped_column(String(8), default="auto")  # auto | on | off
    context_length: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Float)
    vision: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelUsage(Base):
    """One model call: tokens in and out and seconds, against its run, user, agent and
    model. Written in the transaction of the run's `usage` event, so it is never lost
    or counted twice. A call outside any run (an evaluation) has no run and no event:
    `eval_id` says which evaluation made it."""

    __tablename__ = "model_usage"
    __table_args__ = (
        Index("ix_model_usage_user_created", "user_id", "created_at"),
        Index("ix_model_usage_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int | None] = mapped_column(Integer)  # the `usage` event that reported it
    eval_id: Mapped[str | None] = mapped_column(ForeignKey("model_evals.id", ondelete="SET NULL"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserQuota(Base):
    """An admin's quota for one user; a None field falls back to the role's setting."""

    __tablename__ = "user_quotas"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    tokens_per_day: Mapped[int | None] = mapped_column(Integer)
    runs_per_day: Mapped[int | None] = mapped_column(Integer)
    concurrent_runs: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
