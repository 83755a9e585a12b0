"""Ingest: files and folders into the store, one transaction per file.

Reads ``files``; writes ``files``, ``participants``, ``attributes``, ``documents``, ``segments``,
``codings`` and ``coverage``. A file whose bytes were ingested before into the same study adds
nothing; a changed file at a known path is added as a new document (the old one keeps its codings).
A bad file is reported with its reason and the rest of the batch goes on.

A coded spreadsheet also writes ``coverage``: the answers its coder coded, blank ones included,
which agreement compares on. A row with no code at all is one the coder did not code (a sub-sample
second coder), unless ``blank_means_no_code``; the rule is in :mod:`insight.readers.tabular`. The
same file ingested again by the same coder with ``blank_means_no_code`` adds only the coverage of
its blank rows (nothing else is written twice).

A folder may hold an ``ingest.yaml`` manifest saying how to read its files::

    defaults: {kind: interview}
    participants: {file: participants.csv, id_col: participant_id, name_col: name}
    exclude: [README.md]
    files:
      panel.csv: {text_col: [q1, q2], id_col: respondent_id, attr_col: [ward, age_band]}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from insight import scope
from insight.codebook import collect_imported_codes
from insight.codebook import get as get_codebook
from insight.codebook_model import merge_unknown_codes, unknown_codes
from insight.errors import InsightError, ReaderError
from insight.ingest_plan import plan
from insight.privacy import pseudonymise
from insight.readers import read_file
from insight.readers.base import STAFF, IngestOptions, ParsedDocument, ParticipantRecord, ReadResult, collapse_ws
from insight.readers.speakers import Speakers
from insight.refi_project import store_extras
from insight.statuses import ACCEPTED
from insight.store import frames, next_ids, text_hash, transaction  # noqa: F401 (text_hash: callers import it from here)

KINDS = ("interview", "diary", "panel", "fieldnotes")


@dataclass
class FileResult:
    """What happened to one file."""

    path: str
    status: str  # added | changed | attached | unchanged | failed
    documents: int = 0
    segments: int = 0
    codings: int = 0
    participants: int = 0
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    # codes of this file's codings that the study's codebook (``checked_against``) lacks, with the
    # nearest names (see :func:`insight.codebook_model.unknown_codes`)
    unknown_codes: list[dict] = field(default_factory=list)
    checked_against: str | None = None


@dataclass
class IngestReport:
    study: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def totals(self) -> dict[str, int]:
        keys = ("documents", "segments", "codings", "participants")
        return {k: sum(getattr(f, k) for f in self.files) for k in keys}

    def unknown_codes(self) -> list[dict]:
        """The codes this ingest brought that the study's codebook lacks, over all files: each
        with its codings, nearest names, suggested fold, the codebook checked and the files."""
        return merge_unknown_codes([asdict(f) for f in self.files])

    def to_dict(self) -> dict:
        by_status: dict[str, int] = {}
        for f in self.files:
            by_status[f.status] = by_status.get(f.status, 0) + 1
        return {
            "study": self.study,
            "files": [asdict(f) for f in self.files],
            "by_status": by_status,
            "added": self.totals(),
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "unknown_codes": self.unknown_codes(),
        }


# ---------------------------------------------------------------------------------------------
# Finding files and their options


def ensure_study(con, name: str) -> int:
    row = con.execute("SELECT study_id FROM studies WHERE name = ?", [name]).fetchone()
    if row:
        return row[0]
    (study_id,) = next_ids(con, "studies", "study_id")
    con.execute("INSERT INTO studies (study_id, name) VALUES (?, ?)", [study_id, name])
    return study_id


def infer_type(values: list) -> str:
    """``number``, ``date``, ``category`` or ``text`` for a column of attribute values."""
    values = [str(v).strip() for v in values if str(v).strip()]
    if not values:
        return "text"
    try:
        [float(v.replace(",", "")) for v in values]
        return "number"
    except ValueError:
        pass
    try:
        [date.fromisoformat(v) for v in values]
        return "date"
    except ValueError:
        pass
    distinct = len(set(values))
    if distinct <= 30 and max(len(v) for v in values) <= 40:
        return "category"
    return "text"


def _insert_frame(con, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    import pyarrow as pa

    frame = pa.Table.from_pylist(rows)
    cols = ", ".join(f'"{c}"' for c in frame.column_names)
    with frames(con, _insight_rows=frame):
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _insight_rows")


class _Ids:
    """Fresh ids for one table, fetched once per ingest and handed out locally (this process is the
    only writer while it holds the database)."""

    def __init__(self, con, table: str, column: str):
        self.next = next_ids(con, table, column).start

    def take(self, n: int = 1) -> range:
        out = range(self.next, self.next + n)
        self.next += n
        return out


class _StudyState:
    """What writing a file looks up (participants, attribute names and types, files already in,
    fresh ids), read once per ingest call and kept current as files are written. A file whose
    transaction rolls back leaves it stale, so it is then read again (:meth:`load`)."""

    def __init__(self, con, study_id: int):
        self.con = con
        self.study_id = study_id
        self.load()

    def load(self) -> None:
        con, study_id = self.con, self.study_id
        self.participant_ids: dict[str, int] = dict(con.execute(
            "SELECT external_id, participant_id FROM participants WHERE study_id = ?", [study_id]).fetchall())
        self.attr_names: dict[int, set[str]] = {}
        for pid, name in con.execute("SELECT a.participant_id, a.name FROM attributes a JOIN participants p "
                                     "USING (participant_id) WHERE p.study_id = ?", [study_id]).fetchall():
            self.attr_names.setdefault(pid, set()).add(name)
        self.types: dict[str, str] = dict(con.execute(
            "SELECT DISTINCT a.name, a.type FROM attributes a JOIN participants p USING (participant_id) "
            "WHERE p.study_id = ?", [study_id]).fetchall())
        self.files: dict[str, list[tuple[str, dict]]] = {}
        for path, sha, opts in con.execute("SELECT path, sha256, options FROM files WHERE study_id = ?",
                                           [study_id]).fetchall():
            self.files.setdefault(sha, []).append((path, json.loads(opts or "{}")))
        self.paths = {p for entries in self.files.values() for p, _ in entries}
        self.ids = {t: _Ids(con, t, c) for t, c in (
            ("files", "file_id"), ("participants", "participant_id"), ("documents", "document_id"),
            ("segments", "segment_id"), ("codings", "coding_id"))}

    def committed(self, path: Path, sha: str, options: dict) -> None:
        self.files.setdefault(sha, []).append((str(path), options))
        self.paths.add(str(path))


class _Writer:
    """Writes one file's :class:`ReadResult` inside the caller's transaction.

    Rows are collected in lists and written with one bulk insert per table in :meth:`end_file`;
    what the writer needs to look up (participants, earlier answers) is read once per file.
    """

    def __init__(self, con, study_id: int, options: IngestOptions, path: Path, sha: str, reader: str,
                 encoding: str | None, state: "_StudyState", cover_only: bool = False):
        self.con = con
        self.cover_only = cover_only  # the file is in already: only record which answers its coder coded
        self.unmatched = 0
        self.study_id = study_id
        self.options = options
        self.path = path
        self.sha = sha
        self.reader = reader
        self.encoding = encoding
        self.result = FileResult(str(path), "added")
        self.state = state
        self.participant_ids = state.participant_ids
        self.attr_names = state.attr_names
        self.types = state.types
        self.rows: dict[str, list[dict]] = {t: [] for t in ("participants", "attributes", "documents", "segments",
                                                             "codings", "coverage")}
        self._existing: dict | None = None
        self.speakers = Speakers(path, options)

    # participants ---------------------------------------------------------------------------

    def participants(self, records: list[ParticipantRecord]) -> None:
        by_attr: dict[str, list] = {}
        for record in records:
            for key, value in record.attributes.items():
                by_attr.setdefault(key, []).append(value)
        for key, values in by_attr.items():
            self.types.setdefault(key, infer_type(values))
        for record in records:
            self.participant(record)

    def participant(self, record: ParticipantRecord) -> int:
        key = record.external_id
        pid = self.participant_ids.get(key)
        if pid is None:
            (pid,) = self.ids["participants"].take()
            self.rows["participants"].append(dict(participant_id=pid, study_id=self.study_id, external_id=key,
                                                  name=record.name))
            self.participant_ids[key] = pid
            self.result.participants += 1
        existing = self.attr_names.setdefault(pid, set())
        for name, value in record.attributes.items():
            if name in existing or not str(value).strip():
                continue  # never overwrite what is there
            kind = self.types.get(name) or infer_type([value])
            self.types[name] = kind
            text = str(value).strip()
            self.rows["attributes"].append(dict(
                participant_id=pid, name=name, type=kind, value=text,
                value_number=float(text.replace(",", "")) if kind == "number" else None,
                value_date=date.fromisoformat(text) if kind == "date" else None))
            existing.add(name)
        return pid

    def _resolve_speaker(self, speaker: str, doc: ParsedDocument, non_staff: list[str]) -> int | None:
        """The participant behind a speaker label of ``doc`` (see :mod:`insight.readers.speakers`),
        or ``None`` for the researcher's turns."""
        record = self.speakers.record(speaker, doc, non_staff)
        return None if record is None else self.participant(record)

    # documents ------------------------------------------------------------------------------

    def document(self, doc: ParsedDocument) -> None:
        from pipelines.segment import segment

        if doc.match_existing and doc.participant and self._attach_to_existing(doc):
            return
        if self.cover_only:
            self.unmatched += 1
            return
        segments = segment(doc.text, doc.turns, self.options.unit)
        if not segments:
            return
        speakers = list(dict.fromkeys(s.speaker for s in segments if s.speaker))
        non_staff = [s for s in speakers if not STAFF.match(s.strip())]
        speaker_pid = {s: self._resolve_speaker(s, doc, non_staff) for s in speakers}
        if doc.participant:
            doc_pid = self.participant(ParticipantRecord(doc.participant))
        else:
            pids = {speaker_pid[s] for s in non_staff} - {None}
            author = self.speakers.author(non_staff)
            doc_pid = pids.pop() if len(pids) == 1 else (self.participant(author) if author else None)
        (document_id,) = self.ids["documents"].take()
        self.rows["documents"].append(dict(
            document_id=document_id, study_id=self.study_id, file_id=self.file_id, kind=doc.kind or "fieldnotes",
            title=doc.title, source_path=str(self.path), sha256=self.sha, text=doc.text,
            metadata=json.dumps(doc.metadata, default=str, ensure_ascii=False), doc_date=doc.date,
            participant_id=doc_pid))
        ids = self.ids["segments"].take(len(segments))
        rows = self.rows["segments"]
        for ordinal, (sid, seg) in enumerate(zip(ids, segments)):
            body = doc.text[seg.start:seg.end]
            pid = speaker_pid.get(seg.speaker) if seg.speaker else (doc_pid if doc.kind != "interview" else None)
            rows.append(dict(segment_id=sid, document_id=document_id, ordinal=ordinal, start=seg.start, end=seg.end,
                             speaker=seg.speaker, participant_id=pid, field=seg.field, start_ms=seg.start_ms,
                             end_ms=seg.end_ms, unit=seg.unit, text=body, text_hash=text_hash(body)))
        self.result.documents += 1
        self.result.segments += len(segments)
        # a coding is the passage the coder selected, whatever segments it crosses
        dropped = 0
        for coding in doc.codings:
            a, b = max(0, coding.start), min(len(doc.text), coding.end)
            if b <= a or not doc.text[a:b].strip():
                dropped += 1
                continue
            self._coding(document_id, a, b, coding.code, coding.coder, coding.created_at, coding.memo)
        if dropped:
            self.result.warnings.append(f"{doc.title}: {dropped} coding(s) with no text in their range were skipped")
        if doc.coded_fields:
            self._cover(self.options.coder, [sid for sid, seg in zip(ids, segments) if seg.field in doc.coded_fields])
        elif doc.coded_fields is None:
            for coder in {c.coder for c in doc.codings}:
                self._cover(coder, list(ids))

    def _cover(self, coder: str | None, segment_ids) -> None:
        """Record that ``coder`` looked at these segments (even those left uncoded)."""
        if coder:
            self.rows["coverage"].extend(dict(coder=coder, segment_id=sid) for sid in segment_ids)

    def _existing_answers(self) -> dict:
        """``(participant_id, field, text) -> segment_id`` for the study's earlier files, read once."""
        if self._existing is None:
            rows = self.con.execute(
                "SELECT d.participant_id, s.field, s.text, s.segment_id, s.document_id, s.start, s.\"end\" "
                "FROM segments s JOIN documents d "
                "USING (document_id) WHERE d.study_id = ? AND d.participant_id IS NOT NULL AND s.field IS NOT NULL",
                [self.study_id]).fetchall()
            self._existing = {(pid, f, collapse_ws(t)): (sid, doc, a, b) for pid, f, t, sid, doc, a, b in rows}
        return self._existing

    def _attach_to_existing(self, doc: ParsedDocument) -> bool:
        """Codings of a row already in the study (same respondent, same answers) go on its segments."""
        pid = self.participant_ids.get(doc.participant)
        if pid is None:
            return False
        index = self._existing_answers()
        matched = {}
        for turn in doc.turns:
            key = (pid, turn.field, collapse_ws(doc.text[turn.start:turn.end]))
            if key not in index:
                return False
            matched[(turn.start, turn.end)] = (index[key], turn.field)
        for coding in [] if self.cover_only else doc.codings:
            hit = matched.get((coding.start, coding.end))
            if hit is not None:
                _, document_id, start, end = hit[0]
                self._coding(document_id, start, end, coding.code, coding.coder, coding.created_at)
        if doc.coded_fields:
            self._cover(self.options.coder, [seg[0] for seg, field in matched.values() if field in doc.coded_fields])
        return True

    def _coding(self, document_id, start, end, code, coder, created_at, memo=None) -> None:
        self.rows["codings"].append(dict(
            document_id=document_id, start=start, end=end, code=code, coder=coder, method="human", status=ACCEPTED,
            score=None, explanation=f"imported from {self.path.name}", memo=memo, created_at=created_at))

    def check_codes(self, book) -> None:
        """Note the codes of this file's codings that ``book`` lacks, with the nearest names."""
        used: dict[str, int] = {}
        for row in self.rows["codings"]:
            used[row["code"]] = used.get(row["code"], 0) + 1
        self.result.unknown_codes = unknown_codes(book, used)
        self.result.checked_against = book.ref

    def begin_file(self, documents: int = 1) -> None:
        self.ids = self.state.ids
        (self.file_id,) = self.ids["files"].take()
        self.speakers = Speakers(self.path, self.options, documents)

    def end_file(self, options: IngestOptions) -> None:
        from datetime import datetime

        codings = self.rows["codings"]
        now = datetime.now()
        for cid, row in zip(self.ids["codings"].take(len(codings)), codings):
            row["coding_id"] = cid
            row["created_at"] = row["created_at"] or now
        self.result.codings += len(codings)
        for table in ("participants", "attributes", "documents", "segments", "codings"):
            _insert_frame(self.con, table, self.rows[table])
        self._write_coverage()
        opts = self.options_record = {k: v for k, v in asdict(options).items()
                                      if k != "participants" and v not in (None, [], "")}
        self.con.execute(
            "INSERT INTO files (file_id, study_id, path, sha256, reader, encoding, documents, segments, codings, options)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [self.file_id, self.study_id, str(self.path), self.sha, self.reader, self.encoding,
             self.result.documents, self.result.segments, self.result.codings, json.dumps(opts, default=str)],
        )

    def _write_coverage(self) -> int:
        """Insert the collected coverage rows; returns how many were new."""
        if not self.rows["coverage"]:
            return 0
        import pandas as pd

        with frames(self.con, _insight_cover=pd.DataFrame(self.rows["coverage"]).drop_duplicates()):
            (new,) = self.con.execute("SELECT count(*) FROM _insight_cover c WHERE NOT EXISTS (SELECT 1 FROM "
                                      "coverage v WHERE v.coder = c.coder AND v.segment_id = c.segment_id)").fetchone()
            self.con.execute("INSERT OR IGNORE INTO coverage SELECT coder, segment_id FROM _insight_cover")
        return new

    def end_cover(self, seen_path: str, seen_options: dict) -> None:
        """Finish a cover-only pass: write the coverage and record the option on the file's row."""
        new = self._write_coverage()
        seen_options["blank_means_no_code"] = True
        self.con.execute("UPDATE files SET options = ? WHERE study_id = ? AND path = ? AND sha256 = ?",
                         [json.dumps(seen_options, default=str), self.study_id, seen_path, self.sha])
        self.result.status = "attached"
        self.result.reason = (f"in already; now every row counts as coded by {self.options.coder}: {new} more "
                              f"answer(s) coded, with no code where the cell is blank")
        if self.unmatched:
            self.result.reason += (f"; {self.unmatched} row(s) no longer match the study's answers (changed or "
                                   "pseudonymised since) and were skipped")


def ingest_file(con, study_id: int, path: Path, options: IngestOptions,
                state: _StudyState | None = None) -> FileResult:
    """Read one file and write it in one transaction; never raises for a bad file. ``state`` carries
    the study's look-ups from one file to the next (:func:`ingest` passes it)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileResult(str(path), "failed", reason=f"{path}: cannot be read ({exc.strerror}).")
    state = state or _StudyState(con, study_id)
    sha = hashlib.sha256(data).hexdigest()
    seen = cover = None
    for seen_path, seen_opts in state.files.get(sha, []):
        # The same table again with another coder's code columns attaches that coder's codings.
        if not options.code_cols or seen_opts.get("coder") == options.coder:
            seen = (seen_path,)
            if options.code_cols and options.blank_means_no_code and not seen_opts.get("blank_means_no_code"):
                cover = (seen_path, dict(seen_opts))  # in already: add the coverage of its blank rows
            break
    if seen and not cover:
        note = "unchanged since it was ingested" if seen[0] == str(path) else f"same content as {seen[0]}"
        return FileResult(str(path), "unchanged", reason=note)
    changed = str(path) in state.paths
    try:
        reader, result = read_file(path, data, options)
    except InsightError as exc:  # a reader's bug too: read_file says so plainly
        return FileResult(str(path), "failed", reason=str(exc))
    # the codebook the file's codes are checked against, found before the file adds one of its own
    # (and only for a file that brings codings: the look-up costs a query over the study's codings)
    reference = (scope.reference_codebook(con, study_id) if any(doc.codings for doc in result.documents)
                 else None)
    writer = _Writer(con, study_id, options, path, sha, reader.name, result.encoding, state, cover_only=bool(cover))
    if cover:
        return _cover_blank_rows(con, writer, result, *cover)
    try:
        with transaction(con):
            writer.begin_file(len(result.documents))
            writer.participants(result.participants)
            for doc in result.documents:
                writer.document(doc)
            writer.end_file(options)
            if result.codebook is not None or result.memos:  # REFI-QDA: after the documents are written
                store_extras(con, study_id, writer.file_id, result)
            if writer.result.codings:
                collect_imported_codes(con, study_id)
                if reference is not None:
                    writer.check_codes(get_codebook(con, reference))
            if options.pseudonymise and writer.result.documents:
                done = pseudonymise(con, study_id, document_ids=[r[0] for r in con.execute(
                    "SELECT document_id FROM documents WHERE file_id = ?", [writer.file_id]).fetchall()], transaction=False)
                result.warnings.append(f"{path}: pseudonymised: {done['replaced']} replacement(s)"
                                       + (f", {done['candidates']} possible name(s) to review" if done["candidates"] else "")
                                       + " (insight pseudonyms).")
    except Exception as exc:
        state.load()
        if isinstance(exc, InsightError):
            return FileResult(str(path), "failed", reason=str(exc))
        return FileResult(str(path), "failed", reason=f"{path}: could not be stored ({exc.__class__.__name__}: {exc}).")
    state.committed(path, sha, writer.options_record)
    if result.codebook is not None or result.memos or options.pseudonymise:
        state.load()  # those steps write through their own look-ups
    out = writer.result
    out.warnings = result.warnings + out.warnings + writer.speakers.notes()
    if out.documents == 0 and out.codings:
        out.status = "attached"
    if changed and out.status == "added":
        out.status = "changed"
        out.reason = "changed since it was last ingested: added as a new document; the earlier one keeps its codings"
    return out


def _cover_blank_rows(con, writer: _Writer, result: ReadResult, seen_path: str, seen_options: dict) -> FileResult:
    """A coded file ingested before, now with ``blank_means_no_code``: record its coder's coverage of
    every row, in one transaction, and nothing else."""
    try:
        with transaction(con):
            writer.begin_file()
            for doc in result.documents:
                writer.document(doc)
            writer.end_cover(seen_path, seen_options)
    except Exception as exc:
        writer.state.load()
        return FileResult(str(writer.path), "failed", reason=f"{writer.path}: could not be stored ({exc}).")
    writer.state.load()  # the file's recorded options changed
    writer.result.warnings = result.warnings
    return writer.result


def ingest(con, paths: list[str | Path], options: IngestOptions,
           progress: Callable[[int, int, str], None] | None = None) -> IngestReport:
    """Ingest files and folders into ``options.study``; see the module docstring."""
    if options.kind and options.kind not in KINDS:
        raise InsightError(f"Unknown kind {options.kind!r}.", hint="Use one of: " + ", ".join(KINDS) + ".")
    from pipelines.segment import UNITS

    if options.unit not in UNITS:
        raise InsightError(f"Unknown unit {options.unit!r}.", hint="Use one of: " + ", ".join(UNITS) + ".")
    study_id = ensure_study(con, options.study)
    report = IngestReport(options.study)
    planned = plan(paths, options)
    state = _StudyState(con, study_id)
    for number, (path, opts) in enumerate(planned, start=1):
        if progress:
            progress(number, len(planned), str(path))
        if isinstance(opts, ReaderError):
            report.files.append(FileResult(str(path), "failed", reason=str(opts)))
            continue
        report.files.append(ingest_file(con, study_id, path, opts, state))
    return report
