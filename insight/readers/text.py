"""Plain-text and Markdown field notes and transcripts.

Markdown (``.md``, ``.markdown``) is rendered to plain text first (:mod:`insight.readers.markup`):
the stored text is what a reader of the rendered notes sees, without ``**`` or ``#``.
"""

from __future__ import annotations

from pathlib import Path

from insight.errors import ReaderError
from insight.readers.base import IngestOptions, ParsedDocument, ReadResult, decode, register, title_from, turns_and_kind
from insight.readers.markup import markdown_to_text

MARKDOWN = (".md", ".markdown")


@register
class TextReader:
    name = "text"
    suffixes = (".txt", ".text", *MARKDOWN)

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        text, encoding, warning = decode(path, data)
        title = title_from(path)
        headings: set[tuple[int, int]] = set()
        if path.suffix.lower() in MARKDOWN:
            rendered = markdown_to_text(text)
            text, headings, title = rendered.text, rendered.headings, rendered.title or title
        else:
            title = next((line[2:].strip() for line in text.split("\n") if line.startswith("# ")), "") or title
        turns, kind = turns_and_kind(text, options.kind, headings)
        if not turns:
            raise ReaderError(path, "the file holds no text, only headings or blank lines.",
                              fix="Check that it is the right file.")
        document = ParsedDocument(title=title, text=text, turns=turns, kind=kind)
        return ReadResult(documents=[document], warnings=[warning] if warning else [], encoding=encoding)
