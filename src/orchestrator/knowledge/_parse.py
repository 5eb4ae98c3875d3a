"""Reading a document into sections of text that remember their page and heading.

Each format has a well-kept library: pypdf (page by page), python-docx (headings from
paragraph styles, tables as rows), trafilatura (an HTML page's main content as
Markdown); Markdown and text are read as they are (a form feed starts a new page), CSV
as one line per row that repeats the column names. Libraries load on first use.

A document that cannot be read raises `DocumentUnreadable` with a reason a person
understands; the ingestion job stores it on the failed document.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator.knowledge._formats import DocumentKind

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


class DocumentUnreadable(Exception):
    """The document's bytes cannot be turned into text; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Section:
    """A run of text under one heading, on one page (None when the format has no pages)."""

    text: str
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True)
class ParsedDocument:
    """A document's sections, in reading order, and its page count (if it has pages)."""

    sections: list[Section]
    pages: int | None = None


def parse(kind: DocumentKind, data: bytes) -> ParsedDocument:
    """The sections of `data`, read as `kind`; `DocumentUnreadable` if it cannot be."""
    if kind is DocumentKind.PDF:
        parsed = _pdf(data)
    elif kind is DocumentKind.DOCX:
        parsed = ParsedDocument(list(markdown_sections(_docx(data))))
    elif kind is DocumentKind.HTML:
        parsed = ParsedDocument(list(markdown_sections(_html(_text(data)))))
    elif kind is DocumentKind.CSV:
        parsed = ParsedDocument(list(_csv(_text(data))))
    else:
        parsed = _paged_text(_text(data), markdown=kind is DocumentKind.MARKDOWN)
    if not any(section.text.strip() for section in parsed.sections):
        raise DocumentUnreadable("no text found in the document (is it empty, or scanned images?)")
    return parsed


def _text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentUnreadable(f"the file is not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        raise DocumentUnreadable("the file is binary, not text")
    return text


def _paged_text(text: str, *, markdown: bool) -> ParsedDocument:
    pages = text.split("\f")
    if len(pages) == 1:
        return ParsedDocument(list(markdown_sections(text)) if markdown else [Section(text)])
    sections: list[Section] = []
    heading: str | None = None
    for number, page in enumerate(pages, start=1):
        for section in markdown_sections(page, heading) if markdown else [Section(page)]:
            heading = section.heading
            sections.append(Section(section.text, number, section.heading))
    return ParsedDocument(sections, len(pages))


def markdown_sections(text: str, heading: str | None = None) -> Iterator[Section]:
    """Split Markdown at its headings; each section keeps its heading path ("A > B")."""
    path: list[tuple[int, str]] = []
    if heading:
        path = [(1, heading)]
    lines: list[str] = []
    fenced = False

    def flush() -> Iterator[Section]:
        body = "\n".join(lines).strip()
        if body:
            yield Section(body, None, " > ".join(title for _, title in path) or None)
        lines.clear()

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        found = None if fenced else _HEADING.match(line)
        if found is None:
            lines.append(line)
            continue
        yield from flush()
        level, title = len(found.group(1)), found.group(2).strip()
        path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title[:200])]
    yield from flush()


def _pdf(data: bytes) -> ParsedDocument:
    from pypdf import PdfReader  # here: a process that never ingests a PDF does not load it
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("")  # an empty user password opens many PDFs
            except DependencyError:
                reason = "the PDF is encrypted with a cipher this server cannot open"
                raise DocumentUnreadable(reason) from None
            except (FileNotDecryptedError, NotImplementedError, PyPdfError) as exc:
                reason = f"the PDF is encrypted and cannot be opened ({exc})"
                raise DocumentUnreadable(reason) from None
            if not unlocked:
                raise DocumentUnreadable("the PDF is encrypted with a password")
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                sections.append(Section(text, number))
        return ParsedDocument(sections, len(reader.pages))
    except DocumentUnreadable:
        raise
    except FileNotDecryptedError:
        raise DocumentUnreadable("the PDF is encrypted with a password") from None
    except (PyPdfError, PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DocumentUnreadable(f"the PDF is damaged and cannot be read ({exc})") from None
    except RecursionError:
        raise DocumentUnreadable("the PDF is damaged (its structure nests without end)") from None


def _docx(data: bytes) -> str:
    import zipfile

    import docx  # python-docx, loaded on first use
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentUnreadable(f"the DOCX document is damaged ({exc})") from None
    out: list[str] = []
    for paragraph in document.paragraphs:
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        text = paragraph.text.strip()
        if not text:
            continue
        level = re.match(r"Heading (\d)", style)
        if style == "Title":
            out.append(f"# {text}")
        elif level:
            out.append(f"{'#' * min(6, int(level.group(1)))} {text}")
        else:
            out.append(text)
    for table in document.tables:
        for row in table.rows:
            out.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(out)


def _html(html: str) -> str:
    import trafilatura  # loaded on first use: it brings lxml and more

    text = trafilatura.extract(
        html, output_format="markdown", include_tables=True, include_comments=False
    )
    if not text:
        raise DocumentUnreadable("no readable content found in the HTML page")
    title = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    if title and title.group(1).strip() and not text.lstrip().startswith("#"):
        text = f"# {' '.join(title.group(1).split())}\n\n{text}"
    return text


def _csv(text: str) -> Iterator[Section]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    rows = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(rows, None)
        if header is None:
            return
        names = [name.strip() or f"column {i + 1}" for i, name in enumerate(header)]
        for number, row in enumerate(rows, start=2):
            cells = [
                f"{names[i] if i < len(names) else f'column {i + 1}'}: {value.strip()}"
                for i, value in enumerate(row)
                if value.strip()
            ]
            if cells:
                yield Section(f"row {number}: " + "; ".join(cells))
    except csv.Error as exc:
        raise DocumentUnreadable(f"the CSV file is malformed ({exc})") from None
