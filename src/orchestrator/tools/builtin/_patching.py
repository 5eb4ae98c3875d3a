"""Unified diffs: parsed by `unidiff`, applied in memory, hunk by hunk, all or nothing.

A hunk is placed where its context and removed lines match exactly, at the line the
header names or, failing that, at the nearest place they match (models often get the
line numbers wrong but the context right). Nothing is written unless every hunk of
every file applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from orchestrator.core.errors import ToolArgumentError

MAX_FILES = 50


@dataclass
class FilePatch:
    """What one file of a patch does: its old and new path, and its hunks."""

    source: str | None  # None: the file is created
    target: str | None  # None: the file is deleted
    hunks: list[tuple[int, list[str], list[str]]]  # (old start, old lines, new lines)


def _strip(path: str) -> str | None:
    if path == "/dev/null":
        return None
    for prefix in ("a/", "b/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def parse_patch(text: str) -> list[FilePatch]:
    """The files of a unified diff; a clear error when it is not one."""
    if not text.endswith("\n"):
        text += "\n"
    try:
        patch = PatchSet(text)
    except UnidiffParseError as exc:
        raise ToolArgumentError(
            f"the patch is not a valid unified diff ({exc}); give '--- a/PATH' and '+++ b/PATH' "
            "headers, then '@@ -start,count +start,count @@' hunks with accurate line counts"
        ) from None
    if not patch:
        raise ToolArgumentError(
            "the patch has no file in it; a unified diff starts with '--- a/PATH' and "
            "'+++ b/PATH' lines"
        )
    if len(patch) > MAX_FILES:
        raise ToolArgumentError(f"the patch changes {len(patch)} files; at most {MAX_FILES}")
    files: list[FilePatch] = []
    for patched in patch:
        source = None if patched.is_added_file else _strip(patched.source_file)
        target = None if patched.is_removed_file else _strip(patched.target_file)
        hunks = []
        for hunk in patched:
            old = [line.value for line in hunk if line.is_context or line.is_removed]
            new = [line.value for line in hunk if line.is_context or line.is_added]
            hunks.append((hunk.source_start, old, new))
        files.append(FilePatch(source=source, target=target, hunks=hunks))
    return files


def _find(lines: list[str], block: list[str], hint: int) -> int | None:
    """The index nearest to `hint` where `block` matches `lines` exactly."""
    if not block:
        return min(max(hint, 0), len(lines))
    last = len(lines) - len(block)
    if last < 0:
        return None
    for distance in range(0, max(hint, last) + 1):
        for at in (hint - distance, hint + distance) if distance else (hint,):
            if 0 <= at <= last and lines[at : at + len(block)] == block:
                return at
        if hint - distance < 0 and hint + distance > last:
            break
    return None


def apply_hunks(path: str, text: str, hunks: list[tuple[int, list[str], list[str]]]) -> str:
    """The new text, or a ToolArgumentError naming the first hunk that does not apply."""
    lines = text.splitlines(keepends=True)
    offset = 0
    for number, (start, old, new) in enumerate(hunks, 1):
        hint = max(start - 1, 0) + offset
        at = _find(lines, old, hint)
        if at is None:
            expected = "".join(old[:6]) or "(nothing)"
            actual = "".join(lines[max(hint, 0) : max(hint, 0) + 6]) or "(end of file)"
            raise ToolArgumentError(
                f"hunk {number} of {path!r} does not apply: its context and removed lines are "
                f"not in the file.\nExpected near line {start}:\n{expected}\nThe file has "
                f"there:\n{actual}\nNothing was changed; read the file and send a corrected patch."
            )
        lines[at : at + len(old)] = new
        offset += len(new) - len(old)
    return "".join(lines)
