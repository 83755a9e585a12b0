"""Shared fixtures: fresh workspaces and small files made by the tests themselves."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture
def ws(tmp_path):
    from insight import Workspace

    workspace = Workspace(tmp_path / "test.duckdb")
    yield workspace
    workspace.close()


def make_docx(path: Path, paragraphs: list[str], comments: list[tuple[int, str, str]] = ()) -> Path:
    """A .docx with one paragraph per item; ``comments`` are (paragraph index, author, text)."""
    import docx

    document = docx.Document()
    made = []
    for text in paragraphs:
        made.append(document.add_paragraph(text))
    for index, author, text in comments:
        document.add_comment(made[index].runs, text=text, author=author, initials=author[:2])
    document.save(path)
    return path


def make_pdf(path: Path, lines: list[str]) -> Path:
    """A one-page PDF with a real text layer (Helvetica), written by hand."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    path.write_bytes(out.getvalue())
    return path


def make_blank_pdf(path: Path) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def check_offsets(ws) -> int:
    """Every segment's text is exactly its span of the document text; returns segments checked."""
    rows = ws.con.execute(
        'SELECT d.text, g.start, g."end", g.text FROM segments g JOIN documents d USING (document_id)').fetchall()
    for doc_text, start, end, text in rows:
        assert doc_text[start:end] == text
        assert text == text.strip() and text
    return len(rows)
