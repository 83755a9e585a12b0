"""What every reader returns, and the helpers readers share.

A reader turns one file into :class:`ReadResult`: documents (full text plus speaker turns as
character spans into that text), participants with attributes, and codings that arrived with the
data. It never touches the database; :mod:`insight.ingest` does that, one transaction per file.

A new format is one module in this package that defines a class with ``suffixes`` and
``read(path, data, options)`` and decorates it with :func:`register`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from insight.errors import ReaderError
from pipelines.segment import Turn, paragraphs, strip_span


@dataclass
class IngestOptions:
    """How to read a file; the CLI flags of ``insight ingest`` one to one."""

    study: str = "default"
    kind: str | None = None
    text_cols: list[str] = field(default_factory=list)
    id_col: str | None = None
    participant_col: str | None = None
    speaker_col: str | None = None
    time_col: str | None = None
    date_col: str | None = None
    attr_cols: list[str] = field(default_factory=list)
    participant: str | None = None  # the participant of a file's documents (its one voice, or its author)
    code_cols: list[str] = field(default_factory=list)
    code_sep: str | list[str] = ";"  # one separator, or several when a column mixes them
    coder: str | None = None
    # A row with no code in any code column: False (the default), the coder did not code it (a
    # sub-sample second coder's other rows); True, the coder coded it and no code applies.
    blank_means_no_code: bool = False
    unit: str = "turn"
    sheet: str | None = None
    pseudonymise: bool = False  # replace personal data as each file goes in (insight/privacy/)
    participants: dict[str, "ParticipantRecord"] = field(default_factory=dict)

    def merged(self, overrides: dict[str, Any]) -> "IngestOptions":
        """A copy with ``overrides`` (manifest keys, singular or plural) applied."""
        import copy

        new = copy.copy(self)
        aliases = {"text_col": "text_cols", "attr_col": "attr_cols", "code_col": "code_cols"}
        for key, value in overrides.items():
            key = aliases.get(key, key)
            if not hasattr(new, key) or key == "participants":
                raise KeyError(key)
            if key in ("text_cols", "attr_cols", "code_cols") and isinstance(value, str):
                value = [value]
            setattr(new, key, value)
        return new


@dataclass
class Coding:
    """A code applied to ``text[start:end]`` of a document by ``coder``."""

    start: int
    end: int
    code: str
    coder: str
    created_at: datetime | None = None
    memo: str | None = None


@dataclass
class ParticipantRecord:
    external_id: str
    name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedDocument:
    title: str
    text: str
    turns: list[Turn]
    kind: str | None = None
    date: date | None = None
    participant: str | None = None
    speakers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    codings: list[Coding] = field(default_factory=list)
    # Survey rows: when a row with the same participant and answers already exists in the study,
    # attach this row's codings to those segments instead of adding the row again.
    match_existing: bool = False
    # Fields (survey columns) a coder went through: their segments count as seen by that coder
    # even where no code was applied (``[]``: none, a row the coder did not code). ``None``: the
    # whole document, for every coder it names.
    coded_fields: list[str] | None = None


@dataclass
class Memo:
    """A note that came with the data (REFI-QDA notes and descriptions), about the study, a code
    (``target`` its name), a participant (``target`` the external id), a document (``document``:
    its index in ``ReadResult.documents``) or a span of one (``span``)."""

    text: str
    title: str | None = None
    author: str | None = None
    created_at: datetime | None = None
    target_kind: str = "study"  # study | code | participant | document | segment
    target: str | None = None
    document: int | None = None
    span: tuple[int, int] | None = None


@dataclass
class ReadResult:
    documents: list[ParsedDocument] = field(default_factory=list)
    participants: list[ParticipantRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    encoding: str | None = None
    # REFI-QDA projects: the codebook (an insight.codebook.Codebook) and notes that came with them
    codebook: Any = None
    memos: list[Memo] = field(default_factory=list)


class Reader(Protocol):
    name: str
    suffixes: tuple[str, ...]

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult: ...


REGISTRY: dict[str, Reader] = {}


def register(cls):
    """Class decorator: make a reader available for its suffixes."""
    instance = cls()
    for suffix in cls.suffixes:
        REGISTRY[suffix.lower()] = instance
    return cls


# ---------------------------------------------------------------------------------------------
# Text decoding


def decode(path: Path, data: bytes) -> tuple[str, str, str | None]:
    """Bytes to text: UTF-8 (with or without BOM), else cp1252, else Latin-1 (reported).

    Returns ``(text, encoding, warning)``. Binary content raises :class:`ReaderError`. Line endings
    are normalised to ``\\n`` so that ``\\r\\n`` and ``\\n`` files give the same segments.
    """
    if not data.strip():
        raise ReaderError(path, "the file is empty.", fix="Check that the export finished, then ingest it again.")
    head = data[:8192]
    if b"\x00" in head and not (head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff")):
        where = head.index(b"\x00")
        raise ReaderError(
            path,
            f"this is not a text file (binary data at byte {where}).",
            fix="Save or export it as plain text (UTF-8) and ingest that file.",
        )
    warning = None
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        try:
            text, encoding = data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ReaderError(path, f"the file says it is UTF-16 but is not valid UTF-16 (at byte {exc.start}); "
                                    "it may be cut short or damaged.",
                              fix="Save or export it again as plain text (UTF-8) and ingest that file.") from None
    else:
        try:
            text, encoding = data.decode("utf-8-sig"), "utf-8"
            if data.startswith(b"\xef\xbb\xbf"):
                encoding = "utf-8-sig"
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            try:
                text, encoding = data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                text, encoding = data.decode("latin-1"), "latin-1"
            warning = (
                f"{path}: not valid UTF-8 (first bad byte on line {line}); read as {encoding}. "
                "Check accented characters and £ signs; re-save as UTF-8 to be sure."
            )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\n\t\f")
    if controls > 0.05 * min(len(text), 4096) + 2:
        raise ReaderError(
            path,
            "this does not look like text (too many control characters).",
            fix="Save or export it as plain text (UTF-8) and ingest that file.",
        )
    return text, encoding, warning


# ---------------------------------------------------------------------------------------------
# Speaker turns

_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
# A name: up to four capitalised words or one all-caps name, then perhaps a number ("Speaker 1", "Guest 2").
_NAME = r"(?:(?:[A-Z][\w'’.\-]*(?:[ \t][A-Z][\w'’.\-]*){0,3}|[A-Z][A-Z'’.\- ]{0,38}[A-Z])(?:[ \t]\d{1,3})?)"
_LABEL_PATTERNS = [
    # [00:01:23] Name:
    re.compile(rf"^[ \t]*\[(?P<time>{_TIME})\][ \t]*\**(?P<name>{_NAME})\**[ \t]*:\**[ \t]*"),
    # 00:01:23 Name:
    re.compile(rf"^[ \t]*(?P<time>{_TIME})[ \t]+\**(?P<name>{_NAME})\**[ \t]*:\**[ \t]*"),
    # Name (00:01:23):
    re.compile(rf"^[ \t]*\**(?P<name>{_NAME})\**[ \t]*[(\[](?P<time>{_TIME})[)\]][ \t]*:\**[ \t]*"),
    # [Name]: or **Name:** or Name: (never "Arrived 9:40": a colon followed by a digit is a time)
    re.compile(rf"^[ \t]*\[(?P<name>{_NAME})\][ \t]*:(?!\d)[ \t]*"),
    re.compile(rf"^[ \t]*\**(?P<name>{_NAME})\**[ \t]*:(?!\d)\**[ \t]*"),
]
# The researcher's side of a conversation: their turns belong to no participant, and auto-coding
# and theme discovery leave them out unless told otherwise (see :func:`researcher_turn`).
STAFF = re.compile(
    r"^(interviewer|int|i|q|researcher|facilitator|moderator|host|note ?taker|observer)(\s*\d+)?$",
    re.IGNORECASE,
)
# Labels that name a role, not a person: "Resident" in one file of field notes is not the
# "Resident" of the next, so each document gets its own participant for them (readers/speakers.py).
# Single letters only bare: "P3" is a participant id, "P" the participant of this interview.
GENERIC = re.compile(
    r"^(?:(?:resident|participant|respondent|interviewee|speaker|guest|person|member|tenant|patient|client|"
    r"service user|user|customer|caller|attendee|audience|audience member|unknown|unknown speaker|voice|"
    r"male|female|man|woman|child|parent|carer|student|pupil|young person|visitor|volunteer|other|officer|"
    r"staff|staff member|worker|neighbour)(?:\s*\d{1,3}|\s[A-Z])?|[apr])$",
    re.IGNORECASE,
)
# Words that end in a colon at the start of a line in ordinary prose and are not speakers, also
# when numbered ("Day 3:", "Figure 2:").
_NOT_SPEAKERS = {
    "note", "notes", "update", "date", "time", "location", "present", "re", "subject", "summary",
    "ps", "nb", "edit", "title", "source", "answer", "question", "tldr", "warning", "todo",
    "day", "week", "month", "year", "entry", "session", "visit", "wave", "phase", "stage", "step", "part",
    "section", "chapter", "figure", "table", "appendix", "item", "point", "page", "theme", "task", "option",
    "scenario", "version", "room", "site", "group", "round", "context", "background", "reflection",
    "reflections", "observation", "observations", "thoughts", "weather", "mood", "agenda", "action", "actions",
    "attendees", "venue", "duration", "setting", "aim", "aims", "purpose", "quote", "example", "tip",
    "important", "reminder", "next steps", "key points", "follow up", "overall", "conclusion",
}
_DAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\.?"
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_PART_OF_DAY = (r"(?:(?:early|late|this|last|mid|next)\s+)?(?:morning|afternoon|evening|night|midday|noon|midnight|"
                r"lunch(?:time)?|bedtime|teatime|breakfast|dinner|supper|weekend|today|tonight|yesterday|tomorrow|"
                r"later|earlier)")
_ORDINAL = r"\d{1,2}(?:st|nd|rd|th)?"
# "Monday:", "Tuesday 3rd:", "Wed 4 March:", "Saturday night:", "March 3rd:", "12 May:", "Morning:"
DATE_LABEL = re.compile(
    rf"^(?:{_DAY}(?:[ ,]+(?:the\s+)?{_ORDINAL})?(?:[ ,]+(?:of\s+)?{_MONTH})?(?:[ ,]+\d{{4}})?(?:\s+{_PART_OF_DAY})?"
    rf"|(?:{_ORDINAL}\s+(?:of\s+)?)?{_MONTH}(?:\s+{_ORDINAL})?(?:,?\s+\d{{4}})?(?:\s+{_PART_OF_DAY})?"
    rf"|{_PART_OF_DAY})$",
    re.IGNORECASE,
)
_OPENING = re.compile(r"^[ \t]*[*_]*([\w ,.]{1,40}?)[*_]*[ \t]*:")  # what a line says before its first colon
# Months that are also first names: a date only in a text where other labels are dates.
_NAME_MONTHS = {"jan", "april", "may", "june", "july", "august"}


def researcher_turn(speaker: str | None, has_participant: bool = False) -> bool:
    """Whether a segment is the researcher's (an interviewer's, a moderator's): its speaker label
    matches :data:`STAFF` and no participant stands behind it.

    >>> researcher_turn("Interviewer 2"), researcher_turn("Moderator", True), researcher_turn("Resident")
    (True, False, False)
    """
    return bool(speaker) and not has_participant and bool(STAFF.match(speaker.strip()))


def parse_time_ms(value: str | None, *, seconds: bool = False) -> int | None:
    """A time as people type it in transcripts -> milliseconds; ``None`` when it is not one.

    Clock times with or without hours, milliseconds after ``.`` or ``,``, in brackets or
    parentheses; with ``seconds``, also a plain number of seconds (a spreadsheet's time column).

    >>> [parse_time_ms(v) for v in ("01:02:03.5", "1:02:03", "02:03", "[00:03:09]", "(5:00)", "00:00:01,250")]
    [3723500, 3723000, 123000, 189000, 300000, 1250]
    >>> parse_time_ms("01::05:00") is None and parse_time_ms("soon") is None
    True
    >>> parse_time_ms("75.5", seconds=True), parse_time_ms("75.5"), parse_time_ms("inf", seconds=True)
    (75500, None, None)
    """
    if not value:
        return None
    value = value.strip()
    if len(value) > 2 and (value[0], value[-1]) in (("[", "]"), ("(", ")"), ("{", "}"), ("<", ">")):
        value = value[1:-1].strip()
    value = value.replace(",", ".")
    if seconds and re.fullmatch(r"\d{1,7}(?:\.\d+)?", value):
        return round(float(value) * 1000)
    match = re.fullmatch(r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:\.(\d{1,3}))?", value)
    if not match:
        return None
    hours, minutes, secs, frac = match.groups()
    ms = (int(hours or 0) * 3600 + int(minutes) * 60 + int(secs)) * 1000
    if frac:
        ms += int(frac.ljust(3, "0"))
    return ms


def format_time(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms // 1000
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _match_label(line: str):
    """``(match, name)`` when ``line`` opens with a speaker label, ``(None, "date")`` when it opens
    with a date-like label ("Monday:", "Morning:"), else ``None``."""
    opening = _OPENING.match(line)
    if opening and DATE_LABEL.match(opening.group(1)) and opening.group(1).lower() not in _NAME_MONTHS:
        return None, "date"
    for pattern in _LABEL_PATTERNS:
        match = pattern.match(line)
        if match:
            name = match.group("name").strip().strip("*").strip()
            base = re.sub(r"\s*\d+$", "", name).lower()
            if base in _NOT_SPEAKERS or name.lower() in _NOT_SPEAKERS or len(name) > 40:
                return None
            return match, name
    return None


def _is_heading(text: str, start: int, end: int, headings) -> bool:
    return (start, end) in headings or text[start:end].lstrip().startswith("#")


def _entries(text: str, dates: list[int]) -> list[tuple[int, int]]:
    """Paragraphs, also cut where a line opens with a date label (a diary's entries)."""
    spans = []
    for a, b in paragraphs(text):
        cuts = [a] + sorted(d for d in dates if a < d < b) + [b]
        spans += [span for x, y in zip(cuts, cuts[1:]) if (span := strip_span(text, x, y))[1] > span[0]]
    return spans


def find_turns(text: str, headings: set[tuple[int, int]] | frozenset = frozenset()) -> list[Turn]:
    """Speaker turns in a transcript, or paragraphs when the text has no speakers.

    A line that opens with a speaker label (``Interviewer:``, ``P3:``, ``JANE DOE:``, ``Speaker 1:``,
    ``[Guest 2]:``, ``[00:01:23] Name:``, ``00:01:23 Name:``, ``Name (00:01:23):``) starts a turn that
    runs to the next label. The text is a transcript when labels open at least two lines and name at
    least two speakers, or one speaker several times; otherwise it is prose and becomes paragraphs.
    Date-like labels (``Monday:``, ``Tuesday 3rd:``, ``Morning:``; ``May:`` too where other labels are
    dates) are never speakers: in prose each opens an entry of its own. Prose words (``Note:``,
    ``Update:``, ``Day 3:``) are never speakers either. Markdown headings
    (lines opening with ``#``, and the spans in ``headings``) are never segments.
    """
    labels = []
    dates: list[int] = []  # where lines open with a date label: each starts an entry of a diary
    offset = 0
    for line in text.split("\n"):
        hit = _match_label(line)
        if hit and hit[0] is None:
            dates.append(offset)
        elif hit:
            match, name = hit
            labels.append((offset, offset + match.end(), name, parse_time_ms(match.groupdict().get("time"))))
        offset += len(line) + 1
    if dates:  # a diary: "May:" among "Monday:" and "Tuesday:" is a month too
        dates += [lab[0] for lab in labels if DATE_LABEL.match(lab[2])]
        labels = [lab for lab in labels if not DATE_LABEL.match(lab[2])]
    names = {name.lower() for *_, name, _ in labels}
    is_transcript = len(labels) >= 2 and (len(names) >= 2 or len(labels) >= 4)
    if is_transcript:
        # A lone label used once or twice among many real speakers is more likely prose ("Note:").
        counts: dict[str, int] = {}
        for *_, name, _ in labels:
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
        total = len(labels)
        if total >= 10:
            labels = [lab for lab in labels if counts[lab[2].lower()] > 1 or STAFF.match(lab[2])]
    if not is_transcript or not labels:
        return [Turn(a, b) for a, b in _entries(text, dates) if not _is_heading(text, a, b, headings)]
    turns: list[Turn] = []
    first = labels[0][0]
    for a, b in paragraphs(text, 0, first):
        if not _is_heading(text, a, b, headings):
            turns.append(Turn(a, b))
    for i, (_, body_start, name, ms) in enumerate(labels):
        body_end = labels[i + 1][0] if i + 1 < len(labels) else len(text)
        a, b = strip_span(text, body_start, body_end)
        if b > a:
            turns.append(Turn(a, b, speaker=name, start_ms=ms))
    return turns


def prose_turns(text: str, headings: set[tuple[int, int]] | frozenset = frozenset()) -> list[Turn]:
    """The paragraphs of a text as turns without speakers (Markdown headings left out)."""
    return [Turn(a, b) for a, b in paragraphs(text) if not _is_heading(text, a, b, headings)]


def turns_and_kind(text: str, kind: str | None,
                   headings: set[tuple[int, int]] | frozenset = frozenset()) -> tuple[list[Turn], str]:
    """A document's turns and kind. Text the user calls field notes is prose: paragraphs, and a line
    such as ``Maria: Nobody comes.`` stays a quote in the notes rather than a speaker. Otherwise
    speaker labels make turns (and, unless told, an interview); text without them is paragraphs of
    field notes (:func:`find_turns`)."""
    if kind == "fieldnotes":
        return prose_turns(text, headings), kind
    turns = find_turns(text, headings)
    return turns, kind or ("interview" if any(t.speaker for t in turns) else "fieldnotes")


def render_turns(pieces: list[tuple[str | None, str, int | None, int | None]]) -> tuple[str, list[Turn]]:
    """Build a readable document text from ``(speaker, text, start_ms, end_ms)`` turns.

    Used by formats whose structure is not plain text (subtitles, spreadsheets): each turn becomes
    ``[hh:mm:ss] Speaker: text`` and a blank line, and its span covers just the spoken text.
    """
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    for speaker, body, start_ms, end_ms in pieces:
        body = body.strip()
        if not body:
            continue
        prefix = ""
        if start_ms is not None:
            prefix += f"[{format_time(start_ms)}] "
        if speaker:
            prefix += f"{speaker}: "
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(prefix)
        pos += len(prefix)
        turns.append(Turn(pos, pos + len(body), speaker=speaker, start_ms=start_ms, end_ms=end_ms))
        parts.append(body)
        pos += len(body)
    return "".join(parts) + ("\n" if parts else ""), turns


ZIP_MAX_TOTAL = 1 << 30  # bytes a ZIP-based file (docx, xlsx) may expand to in all
ZIP_MAX_RATIO = 200  # a member this many times larger than it is compressed is a bomb...
ZIP_RATIO_FLOOR = 16 << 20  # ...once it passes this size (small XML parts compress well legitimately)


def check_zip(path: Path, data: bytes, kind: str) -> None:
    """Refuse a ZIP-based file (``kind``: ".docx") whose members would expand beyond the limits."""
    import io
    import zipfile

    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ReaderError(path, f"this is not a valid {kind} ({kind} files are ZIP archives; {exc}).",
                          fix="Open it in the program that made it and save it again.") from None
    total = sum(info.file_size for info in infos)
    bomb = next((i for i in infos if i.file_size > ZIP_RATIO_FLOOR
                 and i.file_size > ZIP_MAX_RATIO * max(i.compress_size, 1)), None)
    if total > ZIP_MAX_TOTAL or bomb is not None:
        what = (f"{bomb.filename} expands {bomb.file_size // max(bomb.compress_size, 1)} times" if bomb
                else f"its parts expand to {total:,} bytes")
        raise ReaderError(path, f"refused: {what}, which looks like a zip bomb (or is too large to read).",
                          fix="Open it in the program that made it and save it again; remove large embedded media.")


def collapse_ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def title_from(path: Path) -> str:
    return path.stem.replace("_", " ").strip() or path.name
