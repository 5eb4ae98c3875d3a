"""Documents made on the spot for the knowledge tests: real PDFs (fpdf2), an encrypted
PDF (pypdf), a DOCX (python-docx), HTML, Markdown and CSV."""

from __future__ import annotations

import io


def pdf(pages: list[str]) -> bytes:
    """A PDF with one page per text (fpdf2's core font: Latin-1 text)."""
    from fpdf import FPDF

    document = FPDF()
    document.set_font("Helvetica", size=11)
    for text in pages:
        document.add_page()
        document.multi_cell(0, 6, text)
    return bytes(document.output())


def encrypted_pdf(text: str, password: str = "s3cret-pw") -> bytes:
    """A PDF that opens only with a password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf([text]))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(paragraphs: list[tuple[str | None, str]]) -> bytes:
    """A DOCX document of (style, text) paragraphs; style None is body text."""
    import docx as python_docx

    document = python_docx.Document()
    for style, text in paragraphs:
        if style and style.startswith("Heading"):
            document.add_heading(text, level=int(style.split()[-1]))
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


HTML = b"""<!doctype html><html><head><title>Tide tables</title></head><body>
<nav>Home | About | Contact</nav>
<article><h1>Tides of Saint-Malo</h1>
<p>Saint-Malo has some of the largest tidal ranges in Europe, reaching thirteen metres
during spring tides. The old town is cut off from Fort National at high water, and
walkers must check the tide tables before crossing the sand.</p>
<p>The tidal power station on the Rance estuary, opened in 1966, was the first of its
kind in the world and still produces about 500 gigawatt-hours a year.</p></article>
<footer>Copyright example</footer></body></html>"""

MARKDOWN = b"""# Field guide

## Owls

The barn owl hunts by sound alone and can find a vole under snow.

## Herons

The grey heron stands still for minutes before it strikes at a fish.
"""

CSV = b"""city,country,population
Reykjavik,Iceland,139000
Tromso,Norway,77000
Rovaniemi,Finland,64000
"""


# 400 short paragraphs: passages enough for several embedding batches.
HARBOUR_LOG = "\n\n".join(
    f"Paragraph {n}: the harbour master logged {n} boats, a westerly wind and rain."
    for n in range(400)
).encode()
