"""Segmentation: speaker turns first, then paragraphs or sentences.

Reads a document's text and its turns (spans from the reader); returns segments whose
``text[start:end]`` is exactly the segment's text. The unit is ``turn``, ``paragraph`` or
``sentence`` (spaCy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from insight.errors import InsightError

UNITS = ("turn", "paragraph", "sentence")


@dataclass
class Turn:
    """A span of the document text said by one speaker (or one paragraph, or one answer)."""

    start: int
    end: int
    speaker: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    field: str | None = None


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` without surrounding whitespace, as a span."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraphs(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the blank-line separated paragraphs in ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    spans = []
    pos = start
    for match in re.finditer(r"\n[ \t]*\n", text[start:end]):
        cut = start + match.start()
        spans.append((pos, cut))
        pos = start + match.end()
    spans.append((pos, end))
    out = []
    for a, b in spans:
        a, b = strip_span(text, a, b)
        if b > a:
            out.append((a, b))
    return out


@dataclass
class Segment:
    start: int
    end: int
    speaker: str | None
    start_ms: int | None
    end_ms: int | None
    field: str | None
    unit: str


def segment(text: str, turns: list[Turn], unit: str = "turn") -> list[Segment]:
    """Split ``turns`` of ``text`` into segments of ``unit``.

    >>> from insight.readers.base import Turn
    >>> text = "A: One. Two.\\n\\nThree."
    >>> [text[s.start:s.end] for s in segment(text, [Turn(3, len(text), "A")], "paragraph")]
    ['One. Two.', 'Three.']
    """
    if unit not in UNITS:
        raise InsightError(f"Unknown segmentation unit {unit!r}.", hint="Use one of: " + ", ".join(UNITS) + ".")
    out: list[Segment] = []
    for turn in turns:
        if unit == "turn":
            spans = [(turn.start, turn.end)]
        else:
            spans = paragraphs(text, turn.start, turn.end)
            if unit == "sentence":
                spans = [s for a, b in spans for s in _sentences(text, a, b)]
        for a, b in spans:
            out.append(Segment(a, b, turn.speaker, turn.start_ms, turn.end_ms, turn.field, unit))
    return out


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    from pipelines.nlp import get_nlp

    doc = get_nlp()(text[start:end])
    spans = []
    for sent in doc.sents:
        a, b = start + sent.start_char, start + sent.end_char
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            spans.append((a, b))
    return spans
