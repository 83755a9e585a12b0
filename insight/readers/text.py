"""Plain-text and Markdown field notes and transcripts."""

from __future__ import annotations

from pathlib import Path

from insight.readers.base import IngestOptions, ParsedDocument, ReadResult, decode, register, title_from, turns_and_kind


@register
class TextReader:
    name = "text"
    suffixes = (".txt", ".md", ".markdown", ".text")

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        text, encoding, warning = decode(path, data)
        turns, kind = turns_and_kind(text, options.kind)
        if not turns:
            from insight.errors import ReaderError

            raise ReaderError(path, "the file holds no text, only headings or blank lines.",
                              fix="Check that it is the right file.")
        title = title_from(path)
        for line in text.split("\n"):
            if line.startswith("# "):
                title = line[2:].strip() or title
                break
        document = ParsedDocument(title=title, text=text, turns=turns, kind=kind)
        return ReadResult(documents=[document], warnings=[warning] if warning else [], encoding=encoding)
