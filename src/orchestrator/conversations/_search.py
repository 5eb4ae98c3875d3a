"""Full-text search over a user's conversation titles and messages, ranked, accents
folded ("résumé" finds "resume" and the reverse).

SQLite: an FTS5 table (`unicode61 remove_diacritics 2`) kept by triggers (migration
0005_chat), ranked by BM25. Postgres: `to_tsvector('simple', orch_fold(text))` with
expression indexes, ranked by `ts_rank` over the log of the length (as BM25 weighs
length); `orch_fold` is `unaccent` where the server has it, a translation of the Latin
letters otherwise. Queries are reduced to word tokens,
each a prefix, all required: user text never reaches either query language as syntax.
The matched text is cut and marked here (`highlight`), the same way on both.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

MAX_TERMS = 16
MAX_HITS = 2000  # matching rows looked at, best first
TITLE_WEIGHT = 2.0  # a match in the title counts as much as two in a message
SNIPPET_WORDS = 24
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Hit:
    """The best match of one conversation."""

    conversation_id: str
    message_id: int | None  # None: the title
    rank: float  # higher is better


def fold(word: str) -> str:
    """Lowercase, without diacritics."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def terms(query: str) -> list[str]:
    """The distinct word tokens of a query, at most MAX_TERMS."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query):
        seen.setdefault(word[:64], None)
    return list(seen)[:MAX_TERMS]


async def search(db: AsyncSession, user_id: int, query: str) -> list[Hit]:
    """The user's conversations matching every word of the query, best first."""
    words = terms(query)
    if not words:
        return []
    if db.get_bind().dialect.name == "sqlite":
        statement = text(
            "SELECT conversation_id, message_id, bm25(conversation_fts) AS score "
            "FROM conversation_fts WHERE conversation_fts MATCH :match "
            "AND CAST(user_id AS INTEGER) = :user_id ORDER BY score LIMIT :limit"
        )
        match = " ".join(f'"{word}"*' for word in words)
        rows = (
            await db.execute(statement, {"match": match, "user_id": user_id, "limit": MAX_HITS})
        ).all()
        scored = [
            (
                str(c),
                int(m) if m is not None else None,
                -float(s) * (TITLE_WEIGHT if m is None else 1),
            )
            for c, m, s in rows
        ]
    else:
        statement = text(
            "WITH q AS (SELECT to_tsquery('simple', orch_fold(:match)) AS q) "
            "SELECT m.conversation_id, m.id, "
            "ts_rank(to_tsvector('simple', orch_fold(m.content)), q.q, 1) AS score "
            "FROM messages m JOIN conversations c ON c.id = m.conversation_id, q "
            "WHERE c.user_id = :user_id AND to_tsvector('simple', orch_fold(m.content)) @@ q.q "
            "UNION ALL "
            "SELECT c.id, NULL, "
            "ts_rank(to_tsvector('simple', orch_fold(c.title)), q.q, 1) * :weight "
            "FROM conversations c, q "
            "WHERE c.user_id = :user_id AND to_tsvector('simple', orch_fold(c.title)) @@ q.q "
            "ORDER BY score DESC LIMIT :limit"
        )
        match = " & ".join(f"{word}:*" for word in words)
        params = {"match": match, "user_id": user_id, "limit": MAX_HITS, "weight": TITLE_WEIGHT}
        rows = (await db.execute(statement, params)).all()
        scored = [(str(c), int(m) if m is not None else None, float(s)) for c, m, s in rows]
    best: dict[str, Hit] = {}
    for conversation_id, message_id, rank in scored:
        known = best.get(conversation_id)
        if known is None or rank > known.rank:
            best[conversation_id] = Hit(conversation_id, message_id, rank)
    return sorted(best.values(), key=lambda hit: hit.rank, reverse=True)


def highlight(content: str, query: str, *, words: int = SNIPPET_WORDS) -> list[tuple[str, bool]]:
    """A passage of `content` around its first match, cut in pieces; True marks the
    words that match a query term (accents and case aside, as prefixes)."""
    wanted = [fold(t) for t in terms(query)]
    tokens = list(_WORD.finditer(content))
    matches = [
        i for i, t in enumerate(tokens) if any(fold(t.group()).startswith(w) for w in wanted)
    ]
    if not tokens:
        return [(content[:200], False)] if content else []
    first = matches[0] if matches else 0
    start_index = max(0, first - words // 3)
    end_index = min(len(tokens), start_index + words)
    start = 0 if start_index == 0 else tokens[start_index].start()
    end = len(content) if end_index == len(tokens) else tokens[end_index - 1].end()
    marked = set(matches)
    pieces: list[tuple[str, bool]] = [("…", False)] if start > 0 else []
    position = start
    for index in range(start_index, end_index):
        token = tokens[index]
        if index in marked:
            if token.start() > position:
                pieces.append((content[position : token.start()], False))
            pieces.append((token.group(), True))
            position = token.end()
    if end > position:
        pieces.append((content[position:end], False))
    if end < len(content):
        pieces.append(("…", False))
    return _merged(pieces)


def _merged(pieces: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Adjacent plain pieces joined, newlines as spaces."""
    out: list[tuple[str, bool]] = []
    for piece, match in pieces:
        piece = " ".join(piece.split("\n"))
        if out and not match and not out[-1][1]:
            out[-1] = (out[-1][0] + piece, False)
        else:
            out.append((piece, match))
    return out
