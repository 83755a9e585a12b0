"""Word documents: paragraphs (and table rows) with speaker detection; comments become codings.

Researchers often code in Word by selecting a passage and adding a comment whose text is the code.
Each comment becomes a coding of its author over exactly the commented characters; a comment that
lists several codes separated by ``;`` becomes one coding per code.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path

from insight.errors import ReaderError
from insight.readers.base import (
    Coding,
    IngestOptions,
    ParsedDocument,
    ReadResult,
    check_zip,
    register,
    title_from,
    turns_and_kind,
)

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _paragraph_pieces(p_element):
    """Text of one ``w:p`` in document order, with comment range marks as ``(kind, id)``."""
    for el in p_element.iter():
        tag = el.tag
        if tag == W + "t":
            yield "text", el.text or ""
        elif tag in (W + "tab", W + "ptab"):
            yield "text", "\t"
        elif tag in (W + "br", W + "cr"):
            yield "text", "\n"
        elif tag == W + "commentRangeStart":
            yield "start", el.get(W + "id")
        elif tag == W + "commentRangeEnd":
            yield "end", el.get(W + "id")


def comment_codes(text: str) -> list[str]:
    """The codes a Word comment applies: its text, split where researchers list several codes in
    one comment (``serenity; beauty; ambiguity``), whitespace collapsed, each once, in order.

    >>> comment_codes("serenity;  beauty ;  ambiguity; beauty")
    ['serenity', 'beauty', 'ambiguity']
    >>> comment_codes("Damp and mould")
    ['Damp and mould']
    """
    codes = (" ".join(part.split()) for part in text.split(";"))
    return list(dict.fromkeys(code for code in codes if code))


@register
class DocxReader:
    name = "docx"
    suffixes = (".docx",)

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        import docx
        from docx.opc.exceptions import PackageNotFoundError

        if not data.strip():
            raise ReaderError(path, "the file is empty.", fix="Check that the export finished.")
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ReaderError(
                path,
                "this is not a valid .docx (a .docx is a ZIP archive and this file is not one; "
                "it may be damaged, truncated, or an old .doc renamed).",
                fix="Open it in Word or LibreOffice and save it again as .docx.",
            )
        check_zip(path, data, ".docx")
        try:
            document = docx.Document(io.BytesIO(data))
        except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
            raise ReaderError(path, f"the .docx is damaged ({exc.__class__.__name__}: {exc}).",
                              fix="Open it in Word or LibreOffice and save it again as .docx.") from None
        except Exception as exc:  # lxml syntax errors and the like from a broken package
            raise ReaderError(path, f"the .docx is damaged ({exc.__class__.__name__}).",
                              fix="Open it in Word or LibreOffice and save it again as .docx.") from None

        parts: list[str] = []
        pos = 0
        starts: dict[str, int] = {}
        ranges: list[tuple[str, int, int]] = []

        def add_block(pieces):
            nonlocal pos
            block = []
            for kind, value in pieces:
                if kind == "text":
                    block.append(value)
                    pos += len(value)
                elif kind == "start":
                    starts[value] = pos
                elif kind == "end" and value in starts:
                    ranges.append((value, starts.pop(value), pos))
            return "".join(block)

        body = document.element.body
        if body is None:
            raise ReaderError(path, "the .docx has no document body.",
                              fix="Open it in Word or LibreOffice and save it again as .docx.")
        for child in body.iterchildren():
            if child.tag == W + "p":
                blocks = [child]
            elif child.tag == W + "tbl":
                blocks = list(child.iter(W + "tr"))
            else:
                continue
            for block in blocks:
                if parts:
                    parts.append("\n\n")
                    pos += 2
                if block.tag == W + "tr":
                    cells = []
                    for i, cell in enumerate(block.iter(W + "tc")):
                        if i:
                            sep = ": " if i == 1 else " | "
                            cells.append(sep)
                            pos += len(sep)
                        for j, p in enumerate(cell.iter(W + "p")):
                            if j:
                                cells.append(" ")
                                pos += 1
                            cells.append(add_block(_paragraph_pieces(p)))
                    parts.append("".join(cells))
                else:
                    parts.append(add_block(_paragraph_pieces(block)))
        text = "".join(parts).strip("\n")
        # strip("\n") only removed leading/trailing separators; shift offsets for leading ones
        lead = len("".join(parts)) - len("".join(parts).lstrip("\n"))
        text += "\n"
        if not text.strip():
            raise ReaderError(path, "the document has no text.", fix="Check that it is the right file.")

        codings: list[Coding] = []
        warnings: list[str] = []
        if ranges:
            comments = {}
            try:
                for comment in document.comments:
                    comments[str(comment.comment_id)] = comment
            except Exception:  # no comments part
                comments = {}
            for cid, a, b in ranges:
                comment = comments.get(str(cid))
                if comment is None:
                    continue
                codes = comment_codes(comment.text)
                a, b = a - lead, b - lead
                if not codes or b <= a:
                    warnings.append(f"{path}: comment {cid} is empty or marks no text; skipped.")
                    continue
                created = comment.timestamp if isinstance(comment.timestamp, datetime) else None
                for code in codes:
                    codings.append(Coding(a, b, code, (comment.author or "unknown").strip(), created))

        turns, kind = turns_and_kind(text, options.kind)
        try:
            title = (document.core_properties.title or "").strip()
        except Exception:  # a damaged docProps/core.xml: the file name will do
            title = ""
        title = title or title_from(path)
        doc = ParsedDocument(title=title, text=text, turns=turns, kind=kind, codings=codings)
        return ReadResult(documents=[doc], warnings=warnings)
