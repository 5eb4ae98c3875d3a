"""Cutting sections into passages of a searchable size, never across a page or heading.

semantic-text-splitter (Rust) cuts at the largest semantic boundary that fits
(paragraphs, then sentences, then words); small neighbouring sections under the same
heading and page are packed together first, so CSV rows or short paragraphs do not
become one passage each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from orchestrator.knowledge._parse import Section

MIN_CHARS = 400
MAX_CHARS = 1000  # about 250 tokens: e5 reads 512 at most


@dataclass(frozen=True)
class Chunk:
    """One passage: its text, and where it sits in the document."""

    seq: int
    text: str
    page: int | None
    heading: str | None

    @property
    def indexed_text(self) -> str:
        """What the keyword and vector indexes see: the heading gives the passage context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@lru_cache(maxsize=1)
def _splitter() -> Any:
    from semantic_text_splitter import MarkdownSplitter  # native code, loaded on first use

    return MarkdownSplitter((MIN_CHARS, MAX_CHARS), trim=True)


def _packed(sections: Iterable[Section]) -> Iterator[Section]:
    """Neighbouring sections of one page and heading, joined up to MAX_CHARS."""
    pending: Section | None = None
    for section in sections:
        text = section.text.strip()
        if not text:
            continue
        if (
            pending is not None
            and (pending.page, pending.heading) == (section.page, section.heading)
            and len(pending.text) + len(text) + 1 <= MAX_CHARS
        ):
            pending = Section(f"{pending.text}\n{text}", section.page, section.heading)
            continue
        if pending is not None:
            yield pending
        pending = Section(text, section.page, section.heading)
    if pending is not None:
        yield pending


def chunk_sections(sections: Iterable[Section], *, limit: int) -> Iterator[Chunk]:
    """The passages of a document, numbered from 0; stops after `limit` + 1 passages so
    that a caller can tell a document is over the limit without cutting it all."""
    seq = 0
    for section in _packed(sections):
        pieces = (
            [section.text] if len(section.text) <= MAX_CHARS else _splitter().chunks(section.text)
        )
        for piece in pieces:
            if not piece.strip():
                continue
            yield Chunk(seq, piece, section.page, section.heading)
            seq += 1
            if seq > limit:
                return
