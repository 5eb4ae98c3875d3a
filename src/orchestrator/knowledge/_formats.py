"""What an upload is: a supported kind decided by its name (or declared type) and
confirmed by its bytes, and a safe display name.

The bytes are never trusted to be what the name says: a `.pdf` must start like a PDF,
a `.docx` like a zip, and text must decode as UTF-8 without NUL bytes.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath

from orchestrator.core.errors import InvalidInput, UnsupportedMedia

MAX_FILENAME = 200


class DocumentKind(StrEnum):
    """The formats ingestion reads."""

    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    HTML = "text/html"
    MARKDOWN = "text/markdown"
    TEXT = "text/plain"
    CSV = "text/csv"


_BY_SUFFIX = {
    ".pdf": DocumentKind.PDF,
    ".docx": DocumentKind.DOCX,
    ".html": DocumentKind.HTML,
    ".htm": DocumentKind.HTML,
    ".md": DocumentKind.MARKDOWN,
    ".markdown": DocumentKind.MARKDOWN,
    ".txt": DocumentKind.TEXT,
    ".text": DocumentKind.TEXT,
    ".csv": DocumentKind.CSV,
}
_BY_TYPE = {kind.value: kind for kind in DocumentKind} | {
    "application/xhtml+xml": DocumentKind.HTML
}
SUPPORTED = "PDF, DOCX, HTML, Markdown, text or CSV"


def safe_filename(raw: str | None) -> str:
    """The last component of an uploaded name, printable and bounded (`../../x` -> `x`)."""
    name = PureWindowsPath(PurePosixPath(raw or "").name).name  # both separators
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    name = name.lstrip(".").strip() or "document"
    if len(name) > MAX_FILENAME:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[: MAX_FILENAME - len(suffix) - 1] + dot + suffix) if dot else name
        name = name[:MAX_FILENAME]
    return name


def detect_kind(filename: str, declared: str | None, head: bytes) -> DocumentKind:
    """The kind of an upload, or `UnsupportedMedia` saying why it cannot be read."""
    suffix = PurePosixPath(filename).suffix.lower()
    declared_type = (declared or "").split(";", 1)[0].strip().lower()
    kind = _BY_SUFFIX.get(suffix) or _BY_TYPE.get(declared_type)
    if kind is None:
        what = f"'{suffix}' files" if suffix else f"files of type {declared_type or 'unknown'}"
        raise UnsupportedMedia(f"{what} are not supported: upload {SUPPORTED}")
    if kind is DocumentKind.PDF and not head.lstrip()[:5].startswith(b"%PDF-"):
        raise UnsupportedMedia(f"{filename} is not a PDF (it does not start with %PDF-)")
    if kind is DocumentKind.DOCX and not head.startswith(b"PK\x03\x04"):
        raise UnsupportedMedia(f"{filename} is not a DOCX document (not a zip archive)")
    if kind not in (DocumentKind.PDF, DocumentKind.DOCX) and b"\x00" in head:
        raise UnsupportedMedia(f"{filename} is binary, not {kind.name.lower()} text")
    return kind


def check_not_empty(size: int) -> None:
    """A 0-byte upload is refused at once."""
    if size == 0:
        raise InvalidInput("the file is empty (0 bytes)")
