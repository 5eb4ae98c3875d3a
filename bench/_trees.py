"""Workspace trees for the benchmarks that measure file tools against their size."""

from __future__ import annotations

from pathlib import Path

SIZES = (100, 1_000, 10_000)


def populate(root: Path, count: int) -> None:
    """`count` small files under `root`, 100 to a folder."""
    for i in range(count):
        folder = root / f"dir{i // 100:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"file{i:05d}.txt").write_text(f"content of file {i}\n" * 4)
