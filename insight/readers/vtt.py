"""WebVTT captions (Zoom, Teams, Otter, Whisper): cues merged into speaker turns."""

from __future__ import annotations

import re
from pathlib import Path

from insight.errors import ReaderError
from insight.readers.base import IngestOptions, ParsedDocument, ReadResult, decode, register, render_turns, title_from

_VOICE = re.compile(r"<v(?:\.[\w.-]+)?[ \t]+([^>]+)>")
_TAG = re.compile(r"</?[^>]+>")
_TIMING = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s+-->\s+((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_PREFIX = re.compile(r"^\s*(?:\[([^\]]{1,40})\]|([A-Z][\w'’.\-]*(?: [A-Z][\w'’.\-]*){0,3}))\s*:\s+")


def parse_timestamp(value: str) -> int:
    value = value.replace(",", ".")
    parts = value.split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2])
    hours = int(parts[-3]) if len(parts) > 2 else 0
    return int(round((hours * 3600 + minutes * 60 + seconds) * 1000))


def split_speaker(text: str) -> tuple[str | None, str]:
    """``'<v Ann>Hi'``, ``'Ann: Hi'``, ``'[Ann]: Hi'`` -> ``('Ann', 'Hi')``."""
    voice = _VOICE.search(text)
    if voice:
        speaker = voice.group(1).strip()
        return speaker, " ".join(_TAG.sub("", text).split())
    clean = " ".join(_TAG.sub("", text).split())
    prefix = _PREFIX.match(clean)
    if prefix:
        speaker = (prefix.group(1) or prefix.group(2)).strip()
        return speaker, clean[prefix.end():].strip()
    return None, clean


def merge_cues(cues: list[tuple[int, int, str]]) -> list[tuple[str | None, str, int, int]]:
    """Consecutive cues of one speaker become one turn; a cue with no speaker continues the last."""
    turns: list[list] = []
    for start, end, raw in cues:
        speaker, body = split_speaker(raw)
        if not body:
            continue
        if turns and (speaker is None or speaker == turns[-1][0]):
            turns[-1][1] += " " + body
            turns[-1][3] = end
        else:
            turns.append([speaker, body, start, end])
    return [tuple(t) for t in turns]


def render(path: Path, cues, kind: str | None) -> ParsedDocument:
    pieces = merge_cues(cues)
    if not pieces:
        raise ReaderError(path, "the captions hold no spoken text.", fix="Check that it is the right file.")
    text, turns = render_turns(pieces)
    return ParsedDocument(title=title_from(path), text=text, turns=turns, kind=kind or "interview",
                          metadata={"cues": len(cues)})


@register
class VttReader:
    name = "vtt"
    suffixes = (".vtt",)

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        text, encoding, warning = decode(path, data)
        lines = text.split("\n")
        if not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
            raise ReaderError(path, "not a WebVTT file: the first line must be 'WEBVTT'.", line=1,
                              fix="Export the captions again as .vtt, or rename an SRT file to .srt.")
        cues: list[tuple[int, int, str]] = []
        i = 1
        while i < len(lines):
            match = _TIMING.match(lines[i])
            if match:
                try:
                    start, end = parse_timestamp(match.group(1)), parse_timestamp(match.group(2))
                except ValueError:
                    raise ReaderError(path, f"bad cue timing {lines[i].strip()!r}.", line=i + 1,
                                      fix="Timings look like 00:01:02.500 --> 00:01:04.000.") from None
                body = []
                i += 1
                while i < len(lines) and lines[i].strip():
                    body.append(lines[i])
                    i += 1
                cues.append((start, end, "\n".join(body)))
            elif "-->" in lines[i]:
                raise ReaderError(path, f"bad cue timing {lines[i].strip()!r}.", line=i + 1,
                                  fix="Timings look like 00:01:02.500 --> 00:01:04.000.")
            else:
                i += 1
        if not cues:
            raise ReaderError(path, "no cues found.", fix="Check that the export finished.")
        return ReadResult(documents=[render(path, cues, options.kind)], warnings=[warning] if warning else [],
                          encoding=encoding)
