"""One user's memories as an agent turn sees them: the tools' handle, and the memories
offered in the system prompt at the start of a turn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.db.models import Memory
from orchestrator.memory._store import MemoryStore, NewMemory, Recollection

# Tool-neutral: agents with a tool allowlist may lack recall/forget.
RECALL_HEADER = (
    "Things you remember about this user from earlier conversations, with their ids "
    "(use them only when they help):"
)


@dataclass(frozen=True)
class UserMemory:
    """A `MemoryStore` bound to one user and to where new memories come from."""

    store: MemoryStore
    user_id: int
    source: str  # "conversation:<id>" or "run:<id>"

    async def remember(self, content: str, tags: Sequence[str] = ()) -> Memory:
        """Keep a memory for this user."""
        return await self.store.add(self.user_id, NewMemory(content, tags, self.source))

    async def recall(self, query: str, limit: int = 5) -> list[Recollection]:
        """This user's memories nearest in meaning to `query`."""
        return await self.store.search(self.user_id, query, limit=limit)

    async def forget(self, memory_id: str) -> None:
        """Delete one of this user's memories (`NotFound` otherwise)."""
        await self.store.delete(self.user_id, memory_id)

    async def prompt_for(self, message: str, *, limit: int, chars: int) -> str | None:
        """The memories relevant to `message`, as a system-prompt section within `chars`."""
        if not message.strip() or not await self.store.has_any(self.user_id):
            return None  # spares embedding the message for users who keep nothing
        found = await self.recall(message, limit)
        return render_recollections(found, chars)


def render_recollections(found: Sequence[Recollection], chars: int) -> str | None:
    """A bulleted section, best first, cut to `chars` (None when nothing fits)."""
    lines: list[str] = []
    budget = chars - len(RECALL_HEADER)
    for item in found:
        tags = f" [{', '.join(item.memory.tags)}]" if item.memory.tags else ""
        line = f"- ({item.memory.id}) {item.memory.content}{tags}"
        if len(line) + 1 > budget:
            break
        budget -= len(line) + 1
        lines.append(line)
    return "\n".join([RECALL_HEADER, *lines]) if lines else None
