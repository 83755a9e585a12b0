"""REFI-QDA projects (``.qdpx``) from NVivo, ATLAS.ti, MAXQDA, QualCoder or Insight.

What comes in: text sources (inline ``PlainTextContent`` or ``sources/`` files, including the text
of docx and PDF sources through ``plainTextPath``/``Representation``); every ``PlainTextSelection``
with its codings, each by its user at its characters; cases with their variables as participants
and attributes (a case's sources become its documents); notes and descriptions as memos; the
codebook with its hierarchy, colours and descriptions. What cannot be represented (picture, audio
and video sources and their selections, PDF area selections, graphs, links, sets) is skipped with a
warning that names it.

Positions are Unicode code points into the plain text by the standard, but tools differ: some
count UTF-16 code units (a character outside the Basic Multilingual Plane, such as an emoji,
counts twice) and they disagree about ``\\r\\n``. The reader tries each convention and keeps the
one whose selections start and end on word boundaries (and match the quoted text where the file
gives it) most often, preferring the standard on a tie: the counting unit for the whole project
(it is the tool's), the line-break convention per source (inline text and text files differ). It
says what it chose whenever the choice mattered. Texts are stored with ``\\n`` line ends, as every
other reader stores them, and positions are mapped onto that text.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from pathlib import Path

from insight.codebook_model import Codebook
from insight.errors import ReaderError
from insight.readers.base import (
    STAFF,
    Coding,
    IngestOptions,
    Memo,
    ParsedDocument,
    ParticipantRecord,
    ReadResult,
    register,
    turns_and_kind,
)
from insight.readers.qdpx_offsets import Selection, Source, choose_convention, normalise
from insight.refi import (
    child,
    children,
    codes_from_xml,
    iter_names,
    local,
    norm_guid,
    parse_datetime,
    parse_xml,
    text_of,
)

MAX_TOTAL_BYTES = 200 * 2**20  # everything read from one archive
MAX_RATIO = 100  # uncompressed/compressed above this, for a member over RATIO_FLOOR, is a zip bomb
RATIO_FLOOR = 2**20
_VALUE_TAGS = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue", "DateTimeValue")


def _safe_name(name: str) -> bool:
    name = name.replace("\\", "/")
    return not (name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"))


class Package:
    """A ``.qdpx`` ZIP opened in memory: every member name checked, every read bounded.

    Nothing is extracted to disk. A member whose path is absolute or climbs out with ``..`` makes
    the whole file refused; a member larger than what is left of :data:`MAX_TOTAL_BYTES`, or one
    that expands more than :data:`MAX_RATIO` times, is refused as a likely zip bomb.
    """

    def __init__(self, path: str | os.PathLike, data: bytes):
        self.path = str(path)
        if not data.strip():
            raise ReaderError(path, "the file is empty.", fix="Check that the export finished.")
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise ReaderError(path, f"this is not a valid .qdpx (a .qdpx is a ZIP archive; {exc}).",
                              fix="Export the project again; if it came by e-mail or download, fetch it again.") from None
        for info in infos:
            if not _safe_name(info.filename):
                raise ReaderError(path, f"refused: the archive holds a member with an unsafe path "
                                        f"({info.filename!r}) that would land outside the project folder.",
                                  fix="Do not open this file; export the project again from the tool that made it.")
        self.members = {info.filename.replace("\\", "/").lower(): info for info in infos if not info.is_dir()}
        self.budget = MAX_TOTAL_BYTES

    def find(self, name: str) -> str | None:
        """The member for ``name`` (``internal://x.txt``, ``sources/x.txt``, ``project.qde``), any case."""
        name = name.replace("\\", "/")
        name = re.sub(r"^internal://", "", name, flags=re.IGNORECASE).lstrip("/").lower()
        for candidate in (name, "sources/" + name):
            if candidate in self.members:
                return candidate
        base = name.rsplit("/", 1)[-1]
        hits = [m for m in self.members if m.rsplit("/", 1)[-1] == base]
        return hits[0] if len(hits) == 1 else None

    def project_member(self) -> str:
        hits = [m for m in self.members if m.endswith(".qde") and "/" not in m.strip("/")]
        hits = hits or [m for m in self.members if m.endswith(".qde")]
        if not hits:
            raise ReaderError(self.path, "the archive has no project.qde, so it is not a REFI-QDA project.",
                              fix="Export the project again as REFI-QDA (.qdpx).")
        return "project.qde" if "project.qde" in hits else hits[0]

    def read(self, member: str) -> bytes:
        info = self.members[member]
        if info.flag_bits & 0x1:
            raise ReaderError(self.path, f"{info.filename} is encrypted.", fix="Export the project without a password.")
        if info.file_size > self.budget:
            raise ReaderError(self.path, f"refused: {info.filename} would expand to {info.file_size:,} bytes, more "
                                         f"than the {MAX_TOTAL_BYTES // 2**20} MB Insight reads from one project.",
                              fix="Export the project without its large media files.")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ReaderError(self.path, f"refused: {info.filename} expands {info.file_size // max(info.compress_size, 1)}"
                                         " times, which looks like a zip bomb.",
                              fix="Do not open this file; export the project again from the tool that made it.")
        try:
            with self.zip.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error) as exc:
            raise ReaderError(self.path, f"{info.filename} cannot be read from the archive ({exc}).",
                              fix="The file is damaged: export the project again.") from None
        if len(data) > info.file_size:
            raise ReaderError(self.path, f"refused: {info.filename} holds more data than its header says.",
                              fix="Do not open this file; export the project again from the tool that made it.")
        self.budget -= len(data)
        return data


@register
class QdpxReader:
    name = "qdpx"
    suffixes = (".qdpx",)

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        package = Package(path, data)
        member = package.project_member()
        root = parse_xml(package.read(member), str(path), member=member)
        if local(root.tag) != "Project":
            raise ReaderError(path, f"{member} is not a REFI-QDA project (its root element is <{local(root.tag)}>).",
                              fix="Export the project again as REFI-QDA (.qdpx).")
        return _Project(path, package, root, options).read()


class _Project:
    """One project.qde being read; collects warnings as it goes."""

    def __init__(self, path: Path, package, root, options: IngestOptions):
        self.path, self.package, self.root, self.options = path, package, root, options
        self.warnings: list[str] = []
        users = child(root, "Users")
        self.users = {}
        for user in children(users, "User") if users is not None else []:
            key = norm_guid(user.get("guid"))
            self.users[key] = (user.get("name") or user.get("id") or f"user {key[:8]}").strip()
        fallback = norm_guid(root.get("creatingUserGUID"))
        self.default_user = self.users.get(fallback) or (next(iter(self.users.values())) if len(self.users) == 1
                                                          else "unknown")
        self.note_targets: dict[str, tuple] = {}
        self.memos: list[Memo] = []

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.path}: {message}")

    def user(self, *elements) -> str:
        for element in elements:
            key = norm_guid(element.get("creatingUser")) if element is not None else ""
            if key:
                return self.users.get(key) or f"user {key[:8]}"
        return self.default_user

    # -- the parts ------------------------------------------------------------------------------

    def read(self) -> ReadResult:
        codebook, codes = self._codebook()
        variables = self._variables()
        sources = self._sources()
        participants, owners = self._cases(variables)
        for name in ("Graphs", "Links", "Sets"):
            element = child(self.root, name)
            if element is not None and len(element):
                labels = [item.get("name") or item.get("guid") for item in element]
                self.warn(f"{len(labels)} {name.lower()[:-1]}(s) skipped ({iter_names(labels)}): Insight has no place "
                          "for them.")
        _, spans, note = choose_convention(sources)
        if note:
            self.warn(note)
        documents = []
        for source in sources:
            source.index = len(documents)
            documents.append(self._document(source, spans, codes, owners, variables))
        self._notes(sources)
        description = text_of(self.root, "Description")
        if description and description.strip():
            self.memos.append(Memo(description.strip(), title="Project description"))
        if not documents and not participants and not codebook.codes:
            raise ReaderError(self.path, "the project has no text sources, cases or codes that Insight can read.",
                              fix="Check that the project was exported with its sources.")
        return ReadResult(documents=documents, participants=participants, warnings=self.warnings, encoding="utf-8",
                          codebook=codebook, memos=self.memos)

    def _codebook(self) -> tuple[Codebook, dict[str, str]]:
        name = (self.root.get("name") or "").strip() or self.path.stem
        origin = self.root.get("origin")
        book = Codebook(name=name, title=name,
                        description=f"Imported from a REFI-QDA project made by {origin}." if origin else "")
        element = child(self.root, "CodeBook")
        codes_element = child(element, "Codes") if element is not None else None
        if codes_element is None:
            return book, {}
        problems: list[str] = []
        book.codes, by_guid = codes_from_xml(codes_element, problems)
        for problem in problems:
            self.warn(problem)
        for item in codes_element.iter():
            if local(item.tag) == "Code":
                for ref in children(item, "NoteRef"):
                    self.note_targets.setdefault(norm_guid(ref.get("targetGUID")),
                                                 ("code", by_guid.get(norm_guid(item.get("guid")))))
        return book, by_guid

    def _variables(self) -> dict[str, str]:
        element = child(self.root, "Variables")
        return {norm_guid(v.get("guid")): (v.get("name") or "").strip() or norm_guid(v.get("guid"))
                for v in (children(element, "Variable") if element is not None else [])}

    def _value(self, element, variables: dict[str, str]) -> tuple[str, str] | None:
        ref = child(element, "VariableRef")
        name = variables.get(norm_guid(ref.get("targetGUID"))) if ref is not None else None
        if not name:
            return None
        for tag in _VALUE_TAGS:
            value = text_of(element, tag)
            if value is not None and value.strip():
                return name, value.strip()
        return None

    def _sources(self) -> list[Source]:
        element = child(self.root, "Sources")
        sources: list[Source] = []
        skipped: list[str] = []
        for item in element if element is not None else []:
            kind = local(item.tag)
            name = item.get("name") or norm_guid(item.get("guid"))
            if kind == "TextSource":
                source = self._text_source(item, item)
            elif kind == "PDFSource":
                representation = child(item, "Representation")
                areas = len(children(item, "PDFSelection"))
                if areas:
                    skipped.append(f"{areas} area selection(s) in PDF {name!r}")
                source = self._text_source(representation, item) if representation is not None else None
                if representation is None:
                    skipped.append(f"PDF {name!r} (no text representation)")
            elif kind in ("PictureSource", "AudioSource", "VideoSource"):
                selections = sum(1 for sub in item if local(sub.tag).endswith("Selection"))
                label = kind.replace("Source", "").lower()
                skipped.append(f"{label} {name!r}" + (f" with {selections} selection(s)" if selections else ""))
                continue
            else:
                skipped.append(f"{kind} {name!r}")
                continue
            if source is not None:
                sources.append(source)
        if skipped:
            self.warn(f"skipped what Insight cannot hold (only text is read): {iter_names(skipped, 8)}.")
        return sources

    def _source_text(self, element, name: str) -> str | None:
        content = text_of(element, "PlainTextContent")
        if content is not None:
            return content
        location = (element.get("plainTextPath") or "").strip()
        if not location:
            rich = element.get("richTextPath")
            self.warn(f"source {name!r} has no plain text" + (f" (only {rich})" if rich else "") + "; skipped.")
            return None
        if re.match(r"^(relative|absolute)://", location, re.IGNORECASE):
            self.warn(f"source {name!r} points outside the project ({location}); external files are not read, "
                      "so it was skipped. Export the project with its sources embedded.")
            return None
        member = self.package.find(location)
        if member is None:
            self.warn(f"source {name!r}: its text file {location} is not in the archive; skipped.")
            return None
        data = self.package.read(member)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return data.decode("utf-16")
        self.warn(f"source {name!r} is not UTF-8 as the standard requires; read as cp1252, check accented letters.")
        return data.decode("cp1252", errors="replace")

    def _text_source(self, element, owner) -> Source | None:
        name = (owner.get("name") or element.get("name") or norm_guid(owner.get("guid"))).strip()
        raw = self._source_text(element, name)
        if raw is None:
            return None
        if not raw.strip():
            self.warn(f"source {name!r} has no text; skipped.")
            return None
        source = Source(element, owner, norm_guid(owner.get("guid")) or f"source-{id(owner)}", name, raw)
        bad = 0
        for item in children(element, "PlainTextSelection"):
            try:
                start, end = int(item.get("startPosition")), int(item.get("endPosition"))
            except (TypeError, ValueError):
                bad += 1
                continue
            if start > end:
                start, end = end, start
            source.selections.append(Selection(item, start, end, item.get("name")))
        if bad:
            self.warn(f"{bad} selection(s) in {name!r} have no valid start/end position; skipped.")
        return source

    def _cases(self, variables: dict[str, str]) -> tuple[list[ParticipantRecord], dict[str, list[str]]]:
        element = child(self.root, "Cases")
        people: list[ParticipantRecord] = []
        owners: dict[str, list[str]] = {}
        seen: set[str] = set()
        unsupported = 0
        for case in children(element, "Case") if element is not None else []:
            key = norm_guid(case.get("guid"))
            external = (case.get("name") or "").strip() or f"case {key[:8]}"
            if external in seen:
                new = f"{external} ({key[:8]})"
                self.warn(f"two cases are named {external!r}; the second became {new!r}.")
                external = new
            seen.add(external)
            record = ParticipantRecord(external)
            description = normalise(text_of(case, "Description") or "").strip()
            match = re.match(r"Name:[ \t]*(.+)(?:\n|$)", description)
            if match:
                record.name = match.group(1).strip()
                description = description[match.end():].strip()
            if description:
                self.memos.append(Memo(description, title="Case description", target_kind="participant",
                                       target=external))
            for value in children(case, "VariableValue"):
                pair = self._value(value, variables)
                if pair:
                    record.attributes.setdefault(*pair)
            for ref in children(case, "SourceRef"):
                owners.setdefault(norm_guid(ref.get("targetGUID")), []).append(external)
            unsupported += len(children(case, "SelectionRef")) + len(children(case, "CodeRef"))
            people.append(record)
        if unsupported:
            self.warn(f"{unsupported} case link(s) to single selections or codes skipped; cases are tied to whole "
                      "sources in Insight.")
        return people, owners

    def _document(self, source: Source, spans: dict, codes: dict[str, str], owners: dict[str, list[str]],
                  variables: dict[str, str]) -> ParsedDocument:
        text = source.text
        codings: list[Coding] = []
        outside, blank, unknown = [], [], 0

        def add(items, start: int, end: int, *owners_, memo: str | None = None) -> None:
            nonlocal unknown
            for coding in items:
                ref = next(iter(children(coding, "CodeRef")), None)
                code = codes.get(norm_guid(ref.get("targetGUID"))) if ref is not None else None
                if code is None:
                    unknown += 1
                    continue
                created = parse_datetime(coding.get("creationDateTime"))
                for owner in owners_:
                    created = created or parse_datetime(owner.get("creationDateTime"))
                codings.append(Coding(start, end, code, self.user(coding, *owners_), created, memo))

        for number, sel in enumerate(source.selections):
            span = spans.get((source.guid, number))
            label = sel.label or f"{sel.start}-{sel.end}"
            if span is None:
                outside.append(label)
                continue
            sel.span = span
            if not text[span[0]:span[1]].strip():
                blank.append(label)
                continue
            description = (text_of(sel.element, "Description") or "").strip()
            held = children(sel.element, "Coding")
            # a selection's description is its coding's memo when it holds one coding (as Insight
            # writes them), else a memo on the passage
            add(held, *span, sel.element, source.element, memo=description if len(held) == 1 else None)
            if description and len(held) != 1:
                self.memos.append(Memo(description, author=self.user(sel.element, source.element),
                                       created_at=parse_datetime(sel.element.get("creationDateTime")),
                                       target_kind="segment", document=source.index, span=span))
            for ref in children(sel.element, "NoteRef") + [r for c in children(sel.element, "Coding")
                                                            for r in children(c, "NoteRef")]:
                self.note_targets.setdefault(norm_guid(ref.get("targetGUID")), ("segment", source, span))
        add(children(source.element, "Coding"), 0, len(text), source.element)
        if source.owner is not source.element:
            add(children(source.owner, "Coding"), 0, len(text), source.owner)
        for ref in children(source.element, "NoteRef") + (children(source.owner, "NoteRef")
                                                          if source.owner is not source.element else []):
            self.note_targets.setdefault(norm_guid(ref.get("targetGUID")), ("document", source))
        description = (text_of(source.owner, "Description") or "").strip()
        if description:
            self.memos.append(Memo(description, title="Source description", author=self.user(source.owner),
                                   target_kind="document", document=source.index))
        if outside:
            self.warn(f"{len(outside)} selection(s) in {source.title!r} fall outside its text and were skipped: "
                      f"{iter_names(outside)}.")
        if blank:
            self.warn(f"{len(blank)} selection(s) in {source.title!r} cover only blank space and were skipped: "
                      f"{iter_names(blank)}.")
        if unknown:
            self.warn(f"{unknown} coding(s) in {source.title!r} refer to codes missing from the codebook; skipped.")
        metadata = {}
        for value in children(source.owner, "VariableValue"):
            pair = self._value(value, variables)
            if pair:
                metadata[pair[0]] = pair[1]
        turns, kind = turns_and_kind(text, self.options.kind)
        cases = owners.get(source.guid, [])
        speakers = {}
        if len(cases) == 1:  # the case's source: its one participant speaker is that case
            voices = {t.speaker for t in turns if t.speaker and not STAFF.match(t.speaker.strip())}
            if len(voices) == 1:
                speakers = {voices.pop(): cases[0]}
        return ParsedDocument(title=source.title, text=text, turns=turns, kind=kind, speakers=speakers,
                              participant=cases[0] if len(cases) == 1 else None, metadata=metadata, codings=codings)

    def _notes(self, sources: list[Source]) -> None:
        for ref in children(self.root, "NoteRef"):
            self.note_targets.setdefault(norm_guid(ref.get("targetGUID")), ("study",))
        element = child(self.root, "Notes")
        for note in children(element, "Note") if element is not None else []:
            name = (note.get("name") or "").strip() or None
            text = self._source_text(note, name or "note")
            if text is None or not text.strip():
                continue
            memo = Memo(normalise(text).strip(), title=name, author=self.user(note),
                        created_at=parse_datetime(note.get("creationDateTime")))
            target = self.note_targets.get(norm_guid(note.get("guid")), ("study",))
            if target[0] == "code" and target[1]:
                memo.target_kind, memo.target = "code", target[1]
            elif target[0] in ("document", "segment") and target[1].index is not None:
                memo.target_kind, memo.document = target[0], target[1].index
                if target[0] == "segment":
                    memo.span = target[2]
            self.memos.append(memo)
