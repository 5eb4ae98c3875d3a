"""Knowledge as one agent turn sees it: the collections in scope, the passages handed to
the model numbered across the turn, and the citations its answer makes of them."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from orchestrator.core.errors import ToolError
from orchestrator.knowledge._store import KnowledgeBase, Passage

CITE_INSTRUCTION = (
    "Answer from these passages and cite each one you use as [n] right after the claim "
    "it supports. If they do not answer the question, say so."
)
PROMPT_SECTION = (
    "You can search the user's documents with the search_knowledge tool. When you use a "
    "passage it returns, cite it as [n] with the number it was given."
)
CITATION_TEXT = 2000  # characters of a passage kept with a citation
_CITE = re.compile(r"\[(\d{1,3})\]")


class Citation(BaseModel):
    """A passage an answer cites as `[n]` (what `complete` carries and messages keep)."""

    n: int
    document_id: str
    filename: str
    chunk_id: str
    page: int | None = None
    collection_id: str | None = None
    heading: str | None = None
    text: str = ""


@dataclass
class TurnKnowledge:
    """The knowledge base bound to one user and turn; `search_knowledge` goes through it."""

    base: KnowledgeBase
    user_id: int
    scope: list[str] | None = None  # the agent's and the chat's collections; None: all
    passages: dict[int, Citation] = field(default_factory=dict)

    async def search(self, query: str, collection: str | None, limit: int) -> dict[str, object]:
        """Numbered passages for the model (numbers go on across the turn)."""
        if collection is not None:
            owned = await self.base.owned_collection_ids(self.user_id, [collection])
            if not owned:
                raise ToolError(f"no knowledge collection with id {collection!r}")
            scope: list[str] | None = owned
        else:
            scope = self.scope
        found = await self.base.search(self.user_id, query, scope, limit=limit)
        if not found:
            return {"passages": [], "note": "No passage matches; say you found nothing."}
        start = max(self.passages, default=0) + 1
        numbered = [self._note(start + i, p) for i, p in enumerate(found)]
        return {
            "passages": [
                {
                    "n": c.n,
                    "filename": c.filename,
                    "page": c.page,
                    "heading": c.heading,
                    "text": passage.text,
                    "document_id": c.document_id,
                    "chunk_id": c.chunk_id,
                }
                for c, passage in zip(numbered, found, strict=True)
            ],
            "instruction": CITE_INSTRUCTION,
        }

    def _note(self, n: int, passage: Passage) -> Citation:
        citation = Citation(
            n=n,
            document_id=passage.document_id,
            filename=passage.filename,
            chunk_id=passage.chunk_id,
            page=passage.page,
            collection_id=passage.collection_id,
            heading=passage.heading,
            text=passage.text[:CITATION_TEXT],
        )
        self.passages[n] = citation
        return citation

    def observe(self, result: str | None) -> None:
        """Take in the passages of a `search_knowledge` result replayed after a restart."""
        try:
            data = json.loads(result or "")
            for item in data.get("passages", []):
                n = int(item["n"])
                self.passages.setdefault(
                    n,
                    Citation(
                        n=n,
                        document_id=item["document_id"],
                        filename=item["filename"],
                        chunk_id=item["chunk_id"],
                        page=item.get("page"),
                        heading=item.get("heading"),
                        text=str(item.get("text", ""))[:CITATION_TEXT],
                    ),
                )
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # not a result of ours: nothing to cite from it

    def citations(self, answer: str) -> list[Citation]:
        """The passages the answer cites as [n], in number order."""
        cited = {int(n) for n in _CITE.findall(answer)}
        return [self.passages[n] for n in sorted(cited) if n in self.passages]


def collection_scope(*sources: Sequence[str] | None) -> list[str] | None:
    """The union of the turn's collection lists, in order; None when none is given."""
    merged: dict[str, None] = {}
    given = False
    for ids in sources:
        if ids:
            given = True
            merged.update(dict.fromkeys(ids))
    return list(merged) if given else None
