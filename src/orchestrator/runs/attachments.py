"""Chat attachments: workspace files the user handed over with a message.

The stored user message carries a note naming each file (so the agent, the history and
the UI all see the same text); the newest user message's images also travel to the model
as images (`ChatMessage.images`), and the gateway replaces them with a note for a model
that has no vision.
"""

from __future__ import annotations

import base64
import mimetypes
import re

from orchestrator.core.errors import InvalidInput, OrchestratorError
from orchestrator.llm.base import ImagePart
from orchestrator.tools.workspace import Workspace

MAX_ATTACHMENTS = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
NOTE_START = "[Attached files, in your workspace: "
NOTE_END = ". Read them with your file tools.]"
_NOTE = re.compile(re.escape(NOTE_START) + r"(.*?)" + re.escape(NOTE_END) + r"\s*$", re.S)
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def with_note(workspace: Workspace, message: str, paths: list[str]) -> str:
    """`message` followed by the note naming the attached files; each must be a file."""
    if len(paths) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments per message")
    shown: list[str] = []
    for path in dict.fromkeys(paths):
        info = workspace.info(path)
        if info.type != "file":
            raise InvalidInput(f"the attachment {info.path!r} is not a file")
        if "`" in info.path or "\n" in info.path:
            raise InvalidInput(f"the attachment {info.path!r} has an unusable name")
        shown.append(f"`{info.path}`")
    if not shown:
        return message
    return f"{message}\n\n{NOTE_START}{', '.join(shown)}{NOTE_END}"


def attached_paths(message: str) -> list[str]:
    """The paths named by a message's attachment note (none without one)."""
    found = _NOTE.search(message)
    if found is None:
        return []
    return re.findall(r"`([^`]+)`", found.group(1))


def load_images(workspace: Workspace, paths: list[str]) -> list[ImagePart]:
    """The attached images (PNG, JPEG, GIF, WebP up to 10 MB) that still exist."""
    images: list[ImagePart] = []
    for path in paths:
        media_type = mimetypes.guess_type(path)[0] or ""
        if media_type not in IMAGE_TYPES:
            continue
        try:
            opened = workspace.open_file(path)
        except OrchestratorError:  # removed or replaced since: the note still names it
            continue
        try:
            if opened.size > MAX_IMAGE_BYTES:
                continue
            data = b"".join(opened.chunks())
        finally:
            opened.close()
        images.append(
            ImagePart(path=path, media_type=media_type, data=base64.b64encode(data).decode())
        )
    return images
