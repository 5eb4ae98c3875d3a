"""A conversation's messages as a tree: each below its parent (None: a first message).

The conversation remembers the last message of its active branch; the branch is the
path from a first message down to it. Editing or regenerating starts a sibling branch
(a new message under the same parent), which becomes the active one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.core.errors import Conflict, NotFound
from orchestrator.db.models import Conversation, Message, Run

ACTIVE_STATUSES = ("queued", "running", "waiting")


@dataclass
class MessageTree:
    """Every message of one conversation, indexed by id and by parent."""

    messages: dict[int, Message]
    children: dict[int | None, list[int]]  # parent id -> child ids, oldest first

    @classmethod
    def of(cls, rows: Iterable[Message]) -> MessageTree:
        messages = {row.id: row for row in sorted(rows, key=lambda m: m.id)}
        children: dict[int | None, list[int]] = {}
        for message in messages.values():
            parent = message.parent_id if message.parent_id in messages else None
            children.setdefault(parent, []).append(message.id)
        return cls(messages, children)

    def parent(self, message_id: int) -> int | None:
        parent = self.messages[message_id].parent_id
        return parent if parent in self.messages else None

    def siblings(self, message_id: int) -> list[int]:
        """The other messages under the same parent, oldest first."""
        return [i for i in self.children.get(self.parent(message_id), []) if i != message_id]

    def path(self, message_id: int) -> list[Message]:
        """From a first message down to `message_id`."""
        path: list[Message] = []
        current: int | None = message_id
        seen: set[int] = set()
        while current is not None and current not in seen:  # a cycle cannot be stored; still
            seen.add(current)
            path.append(self.messages[current])
            current = self.parent(current)
        return path[::-1]

    def leaf_below(self, message_id: int | None) -> int | None:
        """The end of the branch through `message_id`, following the newest child."""
        current = message_id
        while self.children.get(current):
            current = self.children[current][-1]
        return current

    def subtree(self, message_id: int) -> list[int]:
        """`message_id` and everything below it."""
        found: list[int] = []
        stack = [message_id]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(self.children.get(current, []))
        return found

    def active_leaf(self, conversation: Conversation) -> int | None:
        """The end of the active branch (the newest branch if none is remembered)."""
        if conversation.active_message_id in self.messages:
            return conversation.active_message_id
        return self.leaf_below(None)

    def active_branch(self, conversation: Conversation) -> list[Message]:
        leaf = self.active_leaf(conversation)
        return [] if leaf is None else self.path(leaf)


async def load_tree(db: AsyncSession, conversation_id: str) -> MessageTree:
    """All the conversation's messages."""
    rows = await db.scalars(select(Message).where(Message.conversation_id == conversation_id))
    return MessageTree.of(rows)


async def resolve_parent(db: AsyncSession, conversation: Conversation, parent_id: int) -> int:
    """`parent_id` if it is a message of this conversation; `NotFound` otherwise."""
    found = await db.scalar(
        select(Message.id).where(
            Message.id == parent_id, Message.conversation_id == conversation.id
        )
    )
    if found is None:
        raise NotFound("message not found")
    return found


async def set_active(db: AsyncSession, conversation: Conversation, message_id: int) -> MessageTree:
    """Make the branch through `message_id` the active one (down to its newest end)."""
    tree = await load_tree(db, conversation.id)
    if message_id not in tree.messages:
        raise NotFound("message not found")
    conversation.active_message_id = tree.leaf_below(message_id)
    await db.commit()
    return tree


async def _refuse_active_runs(db: AsyncSession, run_ids: Sequence[str]) -> None:
    if not run_ids:
        return
    going = await db.scalar(
        select(Run.id).where(Run.id.in_(run_ids), Run.status.in_(ACTIVE_STATUSES)).limit(1)
    )
    if going is not None:
        raise Conflict("an answer of this branch is still being written: stop it first")


async def delete_runs(db: AsyncSession, run_ids: Sequence[str]) -> None:
    """Delete runs with everything hanging from them (events, tool calls, approvals, the
    records of the files they changed: the foreign keys cascade), and their nested runs."""
    pending = list(dict.fromkeys(run_ids))
    while pending:
        nested = list(await db.scalars(select(Run.id).where(Run.parent_run_id.in_(pending))))
        await db.execute(delete(Run).where(Run.id.in_(pending)))
        pending = nested


async def delete_branch(db: AsyncSession, conversation: Conversation, message_id: int) -> None:
    """Delete a message, everything below it and the runs that wrote them; the active
    branch moves to a sibling (or the parent) if it went through the deleted message."""
    tree = await load_tree(db, conversation.id)
    if message_id not in tree.messages:
        raise NotFound("message not found")
    doomed = tree.subtree(message_id)
    run_ids = [r for r in {tree.messages[i].run_id for i in doomed} if r is not None]
    await _refuse_active_runs(db, run_ids)
    if tree.active_leaf(conversation) in doomed:
        siblings = tree.siblings(message_id)
        conversation.active_message_id = (
            tree.leaf_below(siblings[-1]) if siblings else tree.parent(message_id)
        )
    # A kept message (the question of a deleted answer) no longer names the deleted run.
    await db.execute(
        update(Message)
        .where(Message.run_id.in_(run_ids), Message.id.not_in(doomed))
        .values(run_id=None)
    )
    # Children first, so that no foreign key ever points at a deleted row.
    for chunk_start in range(0, len(doomed), 500):
        chunk = doomed[::-1][chunk_start : chunk_start + 500]
        await db.execute(delete(Message).where(Message.id.in_(chunk)))
    await delete_runs(db, run_ids)
    await db.commit()


async def conversation_run_ids(db: AsyncSession, conversation_id: str) -> list[str]:
    """The runs of a conversation: those its messages name, and those that say so."""
    named = await db.scalars(
        select(Message.run_id).where(
            Message.conversation_id == conversation_id, Message.run_id.is_not(None)
        )
    )
    linked = await db.scalars(select(Run.id).where(Run.conversation_id == conversation_id))
    return list(dict.fromkeys([*(r for r in named if r), *linked]))


async def delete_conversation_tree(db: AsyncSession, conversation: Conversation) -> None:
    """Delete a conversation, its messages and its runs with what hangs from them."""
    run_ids = await conversation_run_ids(db, conversation.id)
    await _refuse_active_runs(db, run_ids)
    await delete_runs(db, run_ids)
    await db.delete(conversation)
    await db.commit()
