"""Plain-text and Markdown field notes and transcripts."""

from __future__ import annotations

from pathlib import Path

from insight.readers.base import IngestOptions, ParsedDocument, ReadResult, decode, find_turns, register, title_from


@register
class TextReader:
    name = "text"
    suffixes = (".txt", ".md", ".markdown", ".text")

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        text, encoding, warning = decode(path, data)
        turns = find_turns(text)
        if not turns:
            from insight.errors import ReaderError

            raise ReaderError(path, "the file holds no text, only headings or blank lines.",
                              fix="Check that it is the right file.")
        kind = options.kind or ("interview" if any(t.speaker for t in turns) else "fieldnotes")
        title = title_from(path)
        for line in text.split("\n"):
            if line.startswith("# "):
                title = line[2:].strip() or title
                break
        document = ParsedDocument(title=title, text=text, turns=turns, kind=kind)
        return ReadResult(documents=[document], warnings=[warning] if warning else [], encoding=encoding)
