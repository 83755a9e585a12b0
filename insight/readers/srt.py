"""SubRip subtitles: cues merged into speaker turns (speaker from a ``Name:`` or ``[Name]:`` prefix)."""

from __future__ import annotations

from pathlib import Path

from insight.errors import ReaderError
from insight.readers.base import IngestOptions, ReadResult, decode, register
from insight.readers.vtt import render


@register
class SrtReader:
    name = "srt"
    suffixes = (".srt",)

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        import srt

        text, encoding, warning = decode(path, data)
        try:
            subtitles = list(srt.parse(text))
        except srt.SRTParseError as exc:
            line = text[: exc.expected_start].count("\n") + 1
            raise ReaderError(path, "not a valid SubRip file: unexpected text where a numbered cue should start.",
                              line=line, fix="Each cue is a number, a timing line like "
                              "00:00:01,000 --> 00:00:04,500, the text, and a blank line.") from None
        if not subtitles:
            raise ReaderError(path, "no cues found.", fix="Check that the export finished.")
        cues = [
            (int(s.start.total_seconds() * 1000), int(s.end.total_seconds() * 1000), s.content)
            for s in subtitles
        ]
        return ReadResult(documents=[render(path, cues, options.kind)], warnings=[warning] if warning else [],
                          encoding=encoding)
