"""Positions in a REFI-QDA project: which counting convention its tool used (code points or UTF-16
units; how line breaks count), chosen by how often selections land on word boundaries, and the
mapping of positions onto the stored text (see :mod:`insight.readers.qdpx`)."""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field

from insight.refi import iter_names

UNITS = {"codepoints": "Unicode code points (the REFI-QDA standard)",
         "utf16": "UTF-16 code units (characters such as emoji count twice)"}
NEWLINES = {"stored": "over the text as stored", "lf": "with each line break counted as one character",
            "crlf": "with each line break counted as two (\\r\\n)"}
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


class Offsets:
    """Positions of one text under one convention, mapped onto the text with ``\\n`` line ends.

    >>> o = Offsets("a😀b\\r\\nc", "utf16", "stored")
    >>> o.map(3), o.map(6)   # after the emoji (2 units); after the line break (2 characters)
    ((2, True), (4, True))
    """

    def __init__(self, raw: str, unit: str, newline: str):
        final = normalise(raw)
        if newline == "stored":
            counting = raw
        elif newline == "lf":
            counting = final
        else:
            counting = final.replace("\n", "\r\n")
        self.dropped = [m.start() for m in re.finditer("\r\n", counting)]
        self.wide = [m.start() + k for k, m in enumerate(_ASTRAL.finditer(counting))] if unit == "utf16" else []
        self.length = len(counting) + len(self.wide)

    def map(self, position: int) -> tuple[int | None, bool]:
        """``(position in the normalised text, clean)``; ``None`` when out of range; not clean
        when it falls inside a surrogate pair or between ``\\r`` and ``\\n``."""
        if position < 0 or position > self.length:
            return None, False
        clean = True
        if self.wide:
            k = bisect_left(self.wide, position - 1)
            if k < len(self.wide) and self.wide[k] == position - 1:
                clean = False
            position -= k
        if self.dropped:
            k = bisect_left(self.dropped, position)
            if k > 0 and self.dropped[k - 1] == position - 1:
                clean = False
            position -= k
        return position, clean


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _is_boundary(text: str, i: int) -> bool:
    return i <= 0 or i >= len(text) or not (text[i - 1].isalnum() and text[i].isalnum())


def _squash(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Selection:
    element: object
    start: int
    end: int
    label: str | None
    span: tuple[int, int] | None = None


@dataclass
class Source:
    element: object
    owner: object
    guid: str
    title: str
    raw: str
    selections: list[Selection] = field(default_factory=list)
    index: int | None = None  # its place in ReadResult.documents

    @property
    def text(self) -> str:
        return normalise(self.raw)


def _score(text: str, start: int | None, end: int | None, clean: bool, label: str | None) -> tuple[int, int]:
    """``(score, selection ends on word boundaries)`` of one mapped selection."""
    if start is None or end is None or end <= start or end > len(text):
        return -5, 0
    ends = _is_boundary(text, start) + _is_boundary(text, end)
    score = ends - (0 if clean else 2)
    if label:
        quoted = _squash(label)
        truncated = quoted.endswith(("…", "..."))
        quoted = quoted.rstrip(".…").strip()
        if len(quoted) >= 4:
            actual = _squash(text[start:end])
            if actual == quoted or (truncated and actual.startswith(quoted)):
                score += 4
    return score, ends


def _evaluate(source: Source, unit: str, newline: str) -> tuple[int, int, dict]:
    """``(score, ends on word boundaries, spans)`` of one source's selections under one convention."""
    offsets = Offsets(source.raw, unit, newline)
    text = source.text
    score = ends = 0
    spans = {}
    for number, sel in enumerate(source.selections):
        (a, clean_a), (b, clean_b) = offsets.map(sel.start), offsets.map(sel.end)
        spans[(source.guid, number)] = (a, b) if a is not None and b is not None and b > a else None
        s, e = _score(text, a, b, clean_a and clean_b, sel.label)
        score, ends = score + s, ends + e
    return score, ends, spans


def choose_convention(sources: list[Source]) -> tuple[str, dict, str | None]:
    """The counting unit that fits the project's selections best (a property of the tool, so one
    for the whole project), the line-break convention that fits each source best (inline text and
    text files can differ), the mapped spans, and a note saying what was chosen (``None`` when
    every convention gives the same positions). Ties go to the standard."""
    results = {}
    ambiguous = False
    for unit in UNITS:
        score = ends = total = 0
        spans: dict = {}
        modes: dict[str, str] = {}
        for source in sources:
            if not source.selections:
                continue
            tried = {newline: _evaluate(source, unit, newline) for newline in NEWLINES}
            seen = {tuple(sorted(r[2].items())) for r in tried.values()}
            ambiguous = ambiguous or len(seen) > 1
            best = max(NEWLINES, key=lambda n: (tried[n][0], -list(NEWLINES).index(n)))
            modes[source.title] = best
            score, ends, total = score + tried[best][0], ends + tried[best][1], total + 2 * len(source.selections)
            spans.update(tried[best][2])
        results[unit] = (score, ends, total, spans, modes)
    unit = max(UNITS, key=lambda u: (results[u][0], -list(UNITS).index(u)))
    score, ends, total, spans, modes = results[unit]
    ambiguous = ambiguous or len({tuple(sorted(r[3].items())) for r in results.values()}) > 1
    if not ambiguous:
        return unit, spans, None
    note = f"selection positions were read as {UNITS[unit]}"
    others = {}
    for title, newline in modes.items():
        if newline != "stored":
            others.setdefault(newline, []).append(title)
    if others:
        note += ", " + "; ".join(f"{NEWLINES[n]} in {iter_names(titles)}" for n, titles in others.items())
        note += ", and over the text as stored elsewhere" if len(modes) > sum(map(len, others.values())) else ""
    else:
        note += f" {NEWLINES['stored']}"
    note += f": that fits best, with {ends} of {total} selection ends on word boundaries"
    standard = results[next(iter(UNITS))]
    if unit != next(iter(UNITS)):
        note += f" (code points put {standard[1]} of {total} there)"
    return unit, spans, note + "."
