"""A user's conversations: their message trees, search, export and import."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Request, Response, status

from orchestrator.api.deps import CurrentUser, RuntimeDep, SessionDep
from orchestrator.api.routing import ApiRouter
from orchestrator.conversations import (
    MAX_FILE_BYTES,
    MessageTree,
    delete_branch,
    export_conversation,
    import_conversation,
    parse_file,
    ratings_of,
    set_active,
    to_markdown,
)
from orchestrator.core.errors import PayloadTooLarge
from orchestrator.db.models import Message
from orchestrator.schemas.common import Offset, Page
from orchestrator.schemas.conversations import (
    ActiveBranchUpdate,
    ConversationCreate,
    ConversationMatch,
    ConversationOut,
    ConversationUpdate,
    FeedbackOut,
    MessageOut,
    MessagePathId,
    SearchHit,
)
from orchestrator.services import conversations as service

router = ApiRouter(prefix="/conversations", tags=["conversations"])

Limit = Annotated[int, Query(ge=1, le=1000)]
SearchText = Annotated[str | None, Query(max_length=200)]


@router.get("")
async def list_conversations(
    user: CurrentUser,
    runtime: RuntimeDep,
    db: SessionDep,
    query: SearchText = None,
    search: SearchText = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ConversationOut]:
    """The user's conversations, most recent first; with `query` (or `search`), those
    whose title or messages hold its words, best match first, with the matched text."""
    text = (query or search or "").strip()
    if not text:
        rows, total = await service.list_conversations(
            runtime.engine, user.id, limit=limit, offset=offset
        )
        return Page(data=[ConversationOut.model_validate(c) for c in rows], count=total)
    found, total = await service.search_conversations(db, user.id, text, limit=limit, offset=offset)
    data = [
        ConversationOut.model_validate(f.conversation).model_copy(
            update={
                "match": ConversationMatch(
                    rank=f.hit.rank,
                    message_id=f.hit.message_id,
                    snippet=[SearchHit(text=t, match=m) for t, m in f.snippet],
                )
            }
        )
        for f in found
    ]
    return Page(data=data, count=total)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_conversation(
    body: ConversationCreate, user: CurrentUser, db: SessionDep
) -> ConversationOut:
    """Start an empty conversation."""
    conversation = await service.create_conversation(
        db, user.id, title=body.title, model=body.model, agent=body.agent
    )
    return ConversationOut.model_validate(conversation)


async def _body(request: Request, cap: int) -> bytes:
    """The request body, refused as soon as it passes `cap` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"the file is over {cap // (1024 * 1024)} MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"the file is over {cap // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/import", status_code=status.HTTP_201_CREATED)
async def import_conversation_file(
    request: Request, user: CurrentUser, db: SessionDep
) -> ConversationOut:
    """A new conversation of the caller's from a JSON export (body: the file), with new
    ids; a file that is not a valid export is refused with the reason."""
    file = parse_file(await _body(request, MAX_FILE_BYTES))
    conversation = await import_conversation(db, user.id, file)
    return ConversationOut.model_validate(conversation)


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: str, user: CurrentUser, db: SessionDep
) -> ConversationOut:
    """One conversation."""
    return ConversationOut.model_validate(
        await service.get_conversation(db, user.id, conversation_id)
    )


@router.patch("/{conversation_id}")
async def update_conversation(
    conversation_id: str, body: ConversationUpdate, user: CurrentUser, db: SessionDep
) -> ConversationOut:
    """Rename a conversation or change its model or agent."""
    conversation = await service.update_conversation(
        db, user.id, conversation_id, body.model_dump(exclude_unset=True, exclude_none=True)
    )
    return ConversationOut.model_validate(conversation)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(conversation_id: str, user: CurrentUser, db: SessionDep) -> Response:
    """Delete a conversation, its messages, and its runs with their events and records
    (409 while one of its runs is going)."""
    await service.delete_conversation(db, user.id, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _branch_out(
    db: SessionDep, user_id: int, branch: list[Message], tree: MessageTree
) -> list[MessageOut]:
    ratings = await ratings_of(db, user_id, [m.id for m in branch if m.role == "assistant"])
    return [
        MessageOut.model_validate(m).model_copy(
            update={
                "parent_id": tree.parent(m.id),
                "sibling_ids": tree.siblings(m.id),
                "feedback": FeedbackOut.model_validate(ratings[m.id]) if m.id in ratings else None,
            }
        )
        for m in branch
    ]


@router.get("/{conversation_id}/messages")
async def list_messages(
    conversation_id: str, user: CurrentUser, db: SessionDep, limit: Limit = 500, offset: Offset = 0
) -> Page[MessageOut]:
    """The active branch, first message first: each message with its parent, the other
    versions beside it (`sibling_ids`), the tools it used and the caller's rating."""
    branch, tree = await service.active_branch(db, user.id, conversation_id)
    page = branch[offset : offset + limit]
    return Page(data=await _branch_out(db, user.id, page, tree), count=len(branch))


@router.put("/{conversation_id}/active")
async def switch_branch(
    conversation_id: str, body: ActiveBranchUpdate, user: CurrentUser, db: SessionDep
) -> Page[MessageOut]:
    """Make the branch through `message_id` the active one (down to its newest end);
    answers the new active branch."""
    conversation = await service.get_conversation(db, user.id, conversation_id)
    tree = await set_active(db, conversation, body.message_id)
    branch = tree.active_branch(conversation)
    return Page(data=await _branch_out(db, user.id, branch, tree), count=len(branch))


@router.delete("/{conversation_id}/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_message_branch(
    conversation_id: str, message_id: MessagePathId, user: CurrentUser, db: SessionDep
) -> Response:
    """Delete a message and everything below it, with the runs that wrote them (their
    events and records); 409 while one of them is going."""
    conversation = await service.get_conversation(db, user.id, conversation_id)
    await delete_branch(db, conversation, message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{conversation_id}/export",
    responses={200: {"content": {"application/json": {}, "text/markdown": {}}}},
)
async def export(
    conversation_id: str,
    user: CurrentUser,
    db: SessionDep,
    format: Literal["json", "markdown"] = "json",
) -> Response:
    """The conversation as JSON (every branch, tools, citations; `POST /conversations/
    import` takes it back) or as Markdown (the active branch), as a download."""
    conversation = await service.get_conversation(db, user.id, conversation_id)
    file = await export_conversation(db, conversation)
    stem = "".join(
        c if (c.isascii() and c.isalnum()) or c in "-_" else "-" for c in conversation.title
    )[:60]
    stem = stem.strip("-") or "conversation"
    if format == "markdown":
        body, media, suffix = to_markdown(file), "text/markdown; charset=utf-8", "md"
    else:
        body, media, suffix = file.model_dump_json(indent=2), "application/json", "json"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{stem}.{suffix}"'},
    )
