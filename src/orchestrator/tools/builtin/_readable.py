"""A fetched page as readable text: trafilatura for HTML's main content, pypdf for PDFs."""

from __future__ import annotations

import io
import re

from orchestrator.core.errors import ToolError

MAX_PDF_PAGES = 200
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def readable_text(raw: bytes, content_type: str, url: str) -> str:
    """Markdown for HTML (title first), text for PDFs and plain text; ToolError otherwise."""
    if content_type == "application/pdf" or raw.startswith(b"%PDF-"):
        return _pdf_text(raw)
    sniff = raw[:512].lstrip().lower()
    if content_type in _HTML_TYPES or sniff.startswith((b"<!doctype html", b"<html")):
        return _html_markdown(raw, url)
    if content_type.startswith("text/") or content_type in ("application/json", ""):
        return raw.decode("utf-8", errors="replace")
    raise ToolError(f"cannot read a {content_type or 'binary'} document as text")


def _html_markdown(raw: bytes, url: str) -> str:
    import trafilatura

    html = raw.decode("utf-8", errors="replace")
    body = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_links=True,
        include_tables=True,
        include_comments=False,
        favor_recall=True,
    )
    metadata = trafilatura.extract_metadata(html, default_url=url)
    title = metadata.title if metadata is not None else None
    if not body:
        body = _fallback_markdown(html)
    return f"# {title}\n\n{body}".strip() if title else body.strip()


def _fallback_markdown(html: str) -> str:
    """When trafilatura finds no main content: the whole body without scripts and chrome."""
    from markdownify import markdownify

    text = markdownify(html, strip=["script", "style", "nav", "footer", "header", "aside"])
    return re.sub(r"\n{3,}", "\n\n", text)


def _pdf_text(raw: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = []
        for number, page in enumerate(reader.pages[:MAX_PDF_PAGES], 1):
            pages.append(f"## Page {number}\n\n{(page.extract_text() or '').strip()}")
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ToolError(f"the PDF cannot be read: {exc}") from None
    title = reader.metadata.title if reader.metadata else None
    text = "\n\n".join(pages)
    return f"# {title}\n\n{text}" if title else text
