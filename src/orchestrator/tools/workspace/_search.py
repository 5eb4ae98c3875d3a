"""search_files' walk: by name, optionally by content, bounded in entries, bytes and depth."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from orchestrator.core.errors import ToolArgumentError
from orchestrator.tools.workspace._fs import DIR_FLAGS, FILE_FLAGS, kind, read_at_most

MAX_SEARCH_DEPTH = 32
Matcher = Callable[[str, str], bool]  # (name, relative path) -> matches?


@dataclass
class SearchBudget:
    """How much one search may look at before it stops and says it was cut short."""

    entries: int = 20_000
    content_bytes: int = 64 * 1024 * 1024

    @property
    def spent(self) -> bool:
        return self.entries <= 0 or self.content_bytes <= 0


def name_matcher(pattern: str) -> Matcher:
    """A glob when the pattern has wildcards, otherwise a case-insensitive substring test."""
    if not pattern.strip():
        raise ToolArgumentError("the search pattern is empty")
    lowered = pattern.lower()
    if any(ch in pattern for ch in "*?["):
        if "/" in pattern:
            return lambda _name, rel: fnmatch.fnmatchcase(rel.lower(), lowered)
        return lambda name, _rel: fnmatch.fnmatchcase(name.lower(), lowered)
    return lambda name, _rel: lowered in name.lower()


def walk_tree(
    dir_fd: int, rel_dir: str, budget: SearchBudget, depth: int = 0
) -> Iterator[tuple[str, Literal["file", "dir"], int, str]]:
    """(relative path, kind, fd of its directory, name) for every file and directory.

    Links and special files are skipped; a directory is entered with O_NOFOLLOW from its
    parent's fd, so a link swapped in meanwhile cannot lead the walk outside. Depth-first,
    so at most MAX_SEARCH_DEPTH directory fds are open at once.
    """
    with os.scandir(dir_fd) as it:
        entries = sorted(it, key=lambda e: e.name)
    for item in entries:
        budget.entries -= 1
        if budget.spent:
            return
        what = kind(item.stat(follow_symlinks=False).st_mode)
        if what != "file" and what != "dir":  # links and special files are never entered
            continue
        rel = item.name if rel_dir == "." else f"{rel_dir}/{item.name}"
        yield rel, what, dir_fd, item.name
        if what == "dir" and depth < MAX_SEARCH_DEPTH:
            try:
                child = os.open(item.name, DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # vanished, or replaced by a link, meanwhile
            try:
                yield from walk_tree(child, rel, budget, depth + 1)
            finally:
                os.close(child)


def find_in_file(
    dir_fd: int, name: str, needle: bytes, limit: int, budget: SearchBudget
) -> tuple[int, str] | None:
    """(line number, line) of the first case-insensitive occurrence; None if absent."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            return None
        data = read_at_most(fd, min(limit, budget.content_bytes))[:limit]
    finally:
        os.close(fd)
    budget.content_bytes -= len(data)
    if b"\x00" in data[:8192]:
        return None
    index = data.lower().find(needle)
    if index < 0:
        return None
    start = data.rfind(b"\n", 0, index) + 1
    end = data.find(b"\n", index)
    line = data[start : end if end >= 0 else len(data)]
    return data.count(b"\n", 0, index) + 1, line.decode("utf-8", errors="replace").strip()[:200]
