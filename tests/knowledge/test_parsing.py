"""Each format is read into sections that keep their pages and headings, and cut into
passages that never cross a page or a heading."""

from __future__ import annotations

import pytest

from orchestrator.core.errors import InvalidInput, UnsupportedMedia
from orchestrator.knowledge import (
    DocumentKind,
    DocumentUnreadable,
    Section,
    check_not_empty,
    chunk_sections,
    detect_kind,
    parse,
    safe_filename,
)
from tests.knowledge import samples


def test_pdf_is_read_page_by_page_with_page_numbers() -> None:
    parsed = parse(DocumentKind.PDF, samples.pdf(["The first page talks of apples.", "", "Pears."]))
    assert parsed.pages == 3
    assert [(s.page, s.text.strip()) for s in parsed.sections] == [
        (1, "The first page talks of apples."),
        (3, "Pears."),
    ]


def test_encrypted_and_corrupt_pdfs_fail_with_a_reason() -> None:
    with pytest.raises(DocumentUnreadable, match="encrypted"):
        parse(DocumentKind.PDF, samples.encrypted_pdf("secret plans"))
    with pytest.raises(DocumentUnreadable, match="damaged"):
        parse(DocumentKind.PDF, b"%PDF-1.7\n1 0 obj <</Type /Catalog /Pages 9 0 R>>\ngarbage")
    with pytest.raises(DocumentUnreadable, match="no text"):
        parse(DocumentKind.PDF, samples.pdf([""]))


def test_docx_headings_become_section_headings() -> None:
    data = samples.docx(
        [
            ("Heading 1", "Handbook"),
            (None, "Welcome to the team."),
            ("Heading 2", "Holidays"),
            (None, "Everyone gets 25 days of paid leave."),
        ]
    )
    sections = parse(DocumentKind.DOCX, data).sections
    assert [(s.heading, s.text) for s in sections] == [
        ("Handbook", "Welcome to the team."),
        ("Handbook > Holidays", "Everyone gets 25 days of paid leave."),
    ]


def test_html_keeps_the_main_content_and_drops_the_navigation() -> None:
    sections = parse(DocumentKind.HTML, samples.HTML).sections
    text = "\n".join(s.text for s in sections)
    assert "thirteen metres" in text and "Rance estuary" in text
    assert "Home | About" not in text and "Copyright" not in text
    assert any(s.heading and "Saint-Malo" in s.heading for s in sections)


def test_markdown_sections_and_csv_rows() -> None:
    sections = parse(DocumentKind.MARKDOWN, samples.MARKDOWN).sections
    assert [s.heading for s in sections] == ["Field guide > Owls", "Field guide > Herons"]
    rows = parse(DocumentKind.CSV, samples.CSV).sections
    assert rows[0].text == "row 2: city: Reykjavik; country: Iceland; population: 139000"
    assert len(rows) == 3


def test_text_with_form_feeds_has_pages() -> None:
    parsed = parse(DocumentKind.TEXT, b"one\ftwo\fthree")
    assert parsed.pages == 3 and [s.page for s in parsed.sections] == [1, 2, 3]


def test_chunks_never_cross_pages_or_headings_and_stay_bounded() -> None:
    long = " ".join(f"Sentence number {i} is about rivers." for i in range(300))
    sections = [
        Section(long, page=1, heading="Rivers"),
        Section("Short one.", page=2, heading="Rivers"),
        Section("Another short.", page=2, heading="Lakes"),
    ]
    chunks = list(chunk_sections(sections, limit=1000))
    assert all(len(c.text) <= 1000 for c in chunks)
    assert {c.page for c in chunks if c.heading == "Lakes"} == {2}
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert chunks[-2].text == "Short one." and chunks[-1].text == "Another short."
    assert chunks[0].indexed_text.startswith("Rivers\n")
    assert len(list(chunk_sections(sections, limit=3))) == 4  # one over: the caller refuses


def test_uploads_are_recognised_by_name_and_bytes() -> None:
    assert detect_kind("a.pdf", None, b"%PDF-1.4 ...") is DocumentKind.PDF
    assert detect_kind("notes", "text/plain", b"hello") is DocumentKind.TEXT
    with pytest.raises(UnsupportedMedia, match="not a PDF"):
        detect_kind("a.pdf", "application/pdf", b"\x89PNG\r\n")
    with pytest.raises(UnsupportedMedia, match="not supported"):
        detect_kind("photo.png", "image/png", b"\x89PNG\r\n")
    with pytest.raises(UnsupportedMedia, match="binary"):
        detect_kind("a.txt", "text/plain", b"MZ\x00\x00")
    with pytest.raises(InvalidInput, match="empty"):
        check_not_empty(0)


def test_uploaded_names_lose_their_folders_and_control_characters() -> None:
    assert safe_filename("../../x") == "x"
    assert safe_filename("..\\..\\evil.txt") == "evil.txt"
    assert safe_filename("/etc/passwd") == "passwd"
    assert safe_filename("a\x00b\n.md") == "ab.md"
    assert safe_filename("..") == "document"
    assert len(safe_filename("x" * 500 + ".pdf")) == 200
    assert safe_filename("x" * 500 + ".pdf").endswith(".pdf")
