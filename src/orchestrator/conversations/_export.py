"""A conversation out and back in: the complete JSON (every branch, tool calls,
citations) and a readable Markdown of the active branch.

An imported file is validated whole before anything is stored (`ConversationFile`): its
size, the number of messages, the depth of nested values, and that every parent is an
earlier message of the file (so the tree has no cycle). Nothing in it is trusted as an
id: the conversation and its messages get new ids and belong to the caller, and runs
are not imported.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.conversations._tree import MessageTree
from orchestrator.core.errors import InvalidInput, PayloadTooLarge
from orchestrator.db.models import Conversation, Message, Run, utcnow

FORMAT: Literal["orchestrator.conversation"] = "orchestrator.conversation"
VERSION: Literal[1] = 1
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_MESSAGES = 5000
MAX_DEPTH = 12  # nesting of a tool call's parameters
MAX_NODES = 10_000  # values in one tool call's parameters

Text = Annotated[str, StringConstraints(max_length=200_000)]
Short = Annotated[str, StringConstraints(max_length=200)]
LocalId = Annotated[int, Field(ge=1, le=2**31 - 1)]


def _bounded(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Refuse values nested deeper than MAX_DEPTH or with more than MAX_NODES parts."""
    stack: list[tuple[object, int]] = [(value, 1)]
    nodes = 0
    while stack:
        current, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        if nodes > MAX_NODES:
            raise ValueError(f"more than {MAX_NODES} values")
        if isinstance(current, dict):
            stack.extend((v, depth + 1) for v in current.values())
        elif isinstance(current, list):
            stack.extend((v, depth + 1) for v in current)
    return value


class ToolCallRecord(BaseModel):
    """A tool call an answer made, as stored with it."""

    model_config = ConfigDict(extra="ignore")

    call_id: Short = ""
    name: Short
    params: Annotated[dict[str, JsonValue], AfterValidator(_bounded)] = Field(default_factory=dict)
    status: Short = "finished"
    result: Text | None = None
    duration_ms: float | None = None


class CitationRecord(BaseModel):
    """A passage an answer cites as [n]."""

    model_config = ConfigDict(extra="ignore")

    n: int = Field(ge=0, le=10_000)
    document_id: Short
    filename: Short
    chunk_id: Short
    page: int | None = Field(None, ge=0, le=1_000_000)
    collection_id: Short | None = None
    heading: Annotated[str, StringConstraints(max_length=2000)] | None = None
    text: Annotated[str, StringConstraints(max_length=20_000)] = ""


class MessageRecord(BaseModel):
    """One message of the tree; `id` and `parent_id` are local to the file."""

    model_config = ConfigDict(extra="forbid")

    id: LocalId
    parent_id: LocalId | None = None
    role: Literal["user", "assistant", "system"]
    content: Text
    tools_used: list[ToolCallRecord] = Field(default_factory=list, max_length=200)
    citations: list[CitationRecord] = Field(default_factory=list, max_length=200)
    agent: Short | None = None  # who answered (exported for reading; not imported as a run)
    model: Short | None = None
    created_at: datetime


class ConversationFile(BaseModel):
    """The JSON export, and what an import must be."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["orchestrator.conversation"] = FORMAT
    version: Literal[1] = VERSION
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    model: Short | None = None
    agent: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] | None = None
    created_at: datetime
    exported_at: datetime | None = None
    active_message_id: LocalId | None = None
    messages: list[MessageRecord] = Field(max_length=MAX_MESSAGES)

    @model_validator(mode="after")
    def _a_tree(self) -> ConversationFile:
        """Unique ids; every parent an earlier message (no cycle); the active one known."""
        seen: set[int] = set()
        for index, message in enumerate(self.messages):
            if message.id in seen:
                raise ValueError(f"messages[{index}]: id {message.id} appears twice")
            if message.parent_id is not None and message.parent_id not in seen:
                raise ValueError(
                    f"messages[{index}]: parent_id {message.parent_id} is not an earlier message"
                )
            seen.add(message.id)
        if self.active_message_id is not None and self.active_message_id not in seen:
            raise ValueError(f"active_message_id {self.active_message_id} is not a message")
        return self


def parse_file(raw: bytes) -> ConversationFile:
    """The file, validated; `InvalidInput` or `PayloadTooLarge` say why not."""
    if len(raw) > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"the file is over {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        return ConversationFile.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        count = exc.error_count()
        more = f" (and {count - 1} more problems)" if count > 1 else ""
        raise InvalidInput(
            f"not a conversation export: {where + ': ' if where else ''}{first['msg']}{more}"
        ) from None


async def export_conversation(db: AsyncSession, conversation: Conversation) -> ConversationFile:
    """Every message of the conversation (all branches) with its tools and citations."""
    rows = list(
        await db.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )
    tree = MessageTree.of(rows)
    run_ids = {m.run_id for m in rows if m.run_id}
    runs = {
        r.id: (r.agent, r.model)
        for r in await db.execute(select(Run.id, Run.agent, Run.model).where(Run.id.in_(run_ids)))
    }
    messages = []
    for row in rows:
        agent, model = (
            runs.get(row.run_id or "", (None, None)) if row.role == "assistant" else (None, None)
        )
        messages.append(
            MessageRecord(
                id=row.id,
                parent_id=tree.parent(row.id),
                role=row.role,
                content=row.content,
                tools_used=[
                    ToolCallRecord.model_validate(c)
                    for c in row.tools_used or []
                    if isinstance(c, dict)
                ],
                citations=[
                    CitationRecord.model_validate(c)
                    for c in row.citations or []
                    if isinstance(c, dict)
                ],
                agent=agent,
                model=model,
                created_at=row.created_at,
            )
        )
    return ConversationFile(
        title=conversation.title,
        model=conversation.model,
        agent=conversation.agent,
        created_at=conversation.created_at,
        exported_at=datetime.now(UTC),
        active_message_id=tree.active_leaf(conversation),
        messages=messages,
    )


async def import_conversation(
    db: AsyncSession, user_id: int, file: ConversationFile
) -> Conversation:
    """A new conversation of the caller's holding the file's tree, with new ids."""
    conversation = Conversation(
        user_id=user_id,
        title=file.title,
        model=file.model,
        agent=file.agent,
        created_at=file.created_at,
        updated_at=utcnow(),
    )
    db.add(conversation)
    await db.flush()
    new_ids: dict[int, int] = {}
    for record in file.messages:
        message = Message(
            conversation_id=conversation.id,
            parent_id=new_ids[record.parent_id] if record.parent_id is not None else None,
            role=record.role,
            content=record.content,
            tools_used=[c.model_dump(mode="json") for c in record.tools_used],
            citations=[c.model_dump(mode="json", exclude_none=True) for c in record.citations]
            or None,
            run_id=None,
            created_at=record.created_at,
        )
        db.add(message)
        await db.flush()
        new_ids[record.id] = message.id
    if file.active_message_id is not None:
        conversation.active_message_id = new_ids[file.active_message_id]
    else:
        conversation.active_message_id = MessageTree.of(
            await db.scalars(select(Message).where(Message.conversation_id == conversation.id))
        ).leaf_below(None)
    await db.commit()
    return conversation


def _fence(text: str, info: str = "") -> str:
    """`text` in a code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_markdown(file: ConversationFile) -> str:
    """The active branch as readable Markdown; tool calls fold into `<details>` blocks."""
    by_id = {m.id: m for m in file.messages}
    branch: list[MessageRecord] = []
    current = file.active_message_id
    while current is not None and current in by_id:
        branch.append(by_id[current])
        current = by_id[current].parent_id
    branch.reverse()
    lines = [f"# {file.title}", ""]
    about = [f"Exported {(file.exported_at or datetime.now(UTC)).strftime('%Y-%m-%d %H:%M UTC')}"]
    if file.agent:
        about.append(f"agent {file.agent}")
    if file.model:
        about.append(f"model {file.model}")
    lines += [f"*{' · '.join(about)}*", ""]
    names = {"user": "You", "assistant": "Assistant", "system": "System"}
    for message in branch:
        heading = names[message.role]
        if message.role == "assistant" and (message.agent or message.model):
            heading += f" ({', '.join(x for x in (message.agent, message.model) if x)})"
        lines += [f"## {heading}", ""]
        for call in message.tools_used:
            params = json.dumps(call.params, ensure_ascii=False, indent=2)
            summary = f"Tool call: {_escape_html(call.name)} ({_escape_html(call.status)})"
            lines += [
                "<details>",
                f"<summary>{summary}</summary>",
                "",
                _fence(params, "json"),
                "",
            ]
            if call.result is not None:
                lines += ["Result:", "", _fence(call.result), ""]
            lines += ["</details>", ""]
        lines += [message.content, ""]
        if message.citations:
            lines += ["Sources:", ""]
            for citation in message.citations:
                page = f", page {citation.page}" if citation.page is not None else ""
                lines.append(f"{citation.n}. {citation.filename}{page}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
