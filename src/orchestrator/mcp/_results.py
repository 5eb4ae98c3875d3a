"""A tool result as the text the model reads: text kept, everything else summarised.

Images, audio and binary resources are described (kind, media type, size), never
passed on and never dropped silently; text resources are shown with their URI. The
whole text is capped at `MAX_RESULT_CHARS`.
"""

from __future__ import annotations

import json
from typing import Any

MAX_RESULT_CHARS = 64_000


def _attr(item: Any, *names: str) -> Any:
    for name in names:
        value = getattr(item, name, None)
        if value is not None:
            return value
    return None


def _size(base64_text: str | None) -> str:
    if not base64_text:
        return "empty"
    size = len(base64_text) * 3 // 4
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"


def _render_item(item: Any) -> str:
    kind = getattr(item, "type", None)
    mime = _attr(item, "mime_type", "mimeType") or "unknown type"
    if kind == "text":
        return str(item.text)
    if kind in ("image", "audio"):
        return f"[{kind}: {mime}, {_size(_attr(item, 'data'))}; not shown to the model]"
    if kind == "resource_link":
        described = _attr(item, "description")
        text = f"[resource link: {_attr(item, 'name') or ''} {item.uri} ({mime})"
        return text + (f": {described}]" if described else "]")
    if kind == "resource":
        resource = item.resource
        rmime = _attr(resource, "mime_type", "mimeType") or "unknown type"
        text = _attr(resource, "text")
        if text is not None:
            return f"[resource {resource.uri} ({rmime})]\n{text}"
        return f"[binary resource {resource.uri}: {rmime}, {_size(_attr(resource, 'blob'))}]"
    return f"[content of type {kind!r} not shown]"


def render_result(result: Any) -> tuple[str, bool]:
    """(text for the model, whether the server flagged the result as an error)."""
    parts = [_render_item(item) for item in getattr(result, "content", None) or []]
    structured = _attr(result, "structured_content", "structuredContent")
    if structured is not None and not any(getattr(i, "type", "") == "text" for i in result.content):
        parts.append(json.dumps(structured, ensure_ascii=False, default=str))
    text = "\n".join(parts) if parts else "(the tool returned no content)"
    if len(text) > MAX_RESULT_CHARS:
        text = (
            text[:MAX_RESULT_CHARS]
            + f"\n[result truncated: only the first {MAX_RESULT_CHARS} characters are shown]"
        )
    is_error = bool(_attr(result, "is_error", "isError"))
    return text, is_error
