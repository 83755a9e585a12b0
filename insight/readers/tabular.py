"""Spreadsheets (CSV, XLSX) in three shapes: survey/panel, transcript and diary.

- **survey**: one row per respondent; each ``text_cols`` answer is a segment tied to the respondent
  (``id_col``); ``attr_cols`` become participant attributes; ``code_cols`` bring codings.
- **transcript**: one row per turn (``speaker_col``, ``time_col``); the file is one document.
- **diary**: one row per entry (``participant_col``, ``date_col``); each entry is a document.

Without column options the shape and columns are guessed, and the guess is reported.

**Which answers a coder coded** (``coverage``, the units agreement compares): a second coder
usually codes a sub-sample (often 20%) and leaves the other rows blank, so by default a blank row is
one the coder did not code. The rule, per row (respondent or diary entry):

- a row with at least one code in any of the coder's code columns was coded by that coder: every
  answer of the row that has a code column counts as coded, the ones left blank as "no code
  applies" (the coder had the row in front of them; a blank answer there is a decision);
- a row with no code in any of the coder's code columns was not coded: its answers are left out of
  that coder's coverage (and a note says how many rows that was);
- with ``blank_means_no_code`` (``--blank-means-no-code``), every row of the file was coded: for a
  file that holds only the rows the coder went through, or a coder who coded every row.

Per row rather than per answer because a blank answer in a row the coder worked on is most often
"nothing applies" (a respondent's "n/a", an answer no code fits); dropping it would leave only the
answers someone coded and inflate agreement. A transcript table is one document, coded by the coder
as a whole when any turn has a code.

Messages name an option in words, the command-line flag in brackets after it ("choose the text
column(s) (--text-col)"): the app, which has no flags, drops the brackets
(:func:`insight.errors.without_flags`).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

from insight.errors import ColumnNotFound, ReaderError
from insight.readers.base import (
    Coding,
    IngestOptions,
    ParsedDocument,
    ParticipantRecord,
    ReadResult,
    check_zip,
    decode,
    parse_time_ms,
    register,
    render_turns,
    title_from,
)
from insight.readers.markup import html_to_text


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text (``,``, ``;``, tab or ``|``), by its first 8 KB; ``,`` when unclear."""
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def load_frame(path: Path, data: bytes, options: IngestOptions):
    """The table as a DataFrame of strings (missing cells are ``''``), plus encoding and warnings."""
    import pandas as pd

    warnings: list[str] = []
    encoding = None
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        if not data.strip():
            raise ReaderError(path, "the file is empty.", fix="Check that the export finished.")
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ReaderError(path, "this is not a valid .xlsx (an .xlsx is a ZIP archive and this file is not one; "
                              "it may be damaged, or an old .xls renamed).",
                              fix="Open it in Excel or LibreOffice and save it again as .xlsx, or export CSV.")
        check_zip(path, data, ".xlsx")
        try:
            frame = pd.read_excel(io.BytesIO(data), sheet_name=options.sheet or 0, dtype=str, engine="openpyxl")
        except ValueError as exc:
            if "Worksheet" in str(exc) or "sheet" in str(exc).lower():
                import openpyxl

                names = openpyxl.load_workbook(io.BytesIO(data), read_only=True).sheetnames
                raise ReaderError(path, f"no sheet named {options.sheet!r}.",
                                  fix="Sheets in this workbook: " + ", ".join(map(repr, names)) + ".") from None
            raise ReaderError(path, f"the workbook cannot be read ({exc}).",
                              fix="Open it in Excel or LibreOffice and save it again as .xlsx.") from None
        except Exception as exc:
            raise ReaderError(path, f"the workbook is damaged ({exc.__class__.__name__}: {exc}).",
                              fix="Open it in Excel or LibreOffice and save it again as .xlsx.") from None
    else:
        text, encoding, warning = decode(path, data)
        if warning:
            warnings.append(warning)
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sniff_delimiter(text),
                                skipinitialspace=False)
        except pd.errors.EmptyDataError:
            raise ReaderError(path, "the file is empty.", fix="Check that the export finished.") from None
        except pd.errors.ParserError as exc:
            match = re.search(r"line (\d+)", str(exc))
            line = int(match.group(1)) if match else None
            raise ReaderError(path, f"the CSV is malformed ({str(exc).strip()}).", line=line,
                              fix="Check that quotes are balanced and every row has the same number of "
                                  "columns; re-export from the spreadsheet as CSV UTF-8.") from None
    frame = frame.fillna("")
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise ReaderError(path, "the table has a header but no rows.", fix="Check that the export finished.")
    frame, converted = _plain_text(frame)
    if converted:
        warnings.append(f"{path}: {converted} cell(s) held HTML (tags such as <br> or entities such as &amp;); "
                        "they were read as the text they show.")
    return frame, encoding, warnings


def _plain_text(frame):
    """Cells with HTML (web survey exports: ``&amp;``, ``&#8212;``, ``<br>``, ``<p>``) as plain text,
    and how many cells that changed."""
    before = frame
    frame = frame.map(lambda v: html_to_text(v) if isinstance(v, str) else v)
    changed = int((frame != before).to_numpy().sum())
    return frame, changed


def _column(path: Path, frame, name: str | None) -> str | None:
    if name is None:
        return None
    if name in frame.columns:
        return name
    folded = {c.lower(): c for c in frame.columns}
    if name.lower() in folded:
        return folded[name.lower()]
    raise ColumnNotFound(path, name, list(frame.columns))


def parse_date(path: Path, value: str, row: int) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        pass
    for fmt in ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y", "%d %B %Y", "%d %b %Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ReaderError(path, f"the date {value!r} is not a date Insight understands.", row=row,
                      fix="Use YYYY-MM-DD (or DD/MM/YYYY).")


def _words(value: str) -> int:
    return len(value.split())


def guess_columns(path: Path, frame, options: IngestOptions) -> tuple[IngestOptions, str]:
    """Fill in the columns the user did not name; returns the options and a sentence saying so."""
    cols = list(frame.columns)
    lower = {c: c.lower() for c in cols}

    def named(*patterns):
        for c in cols:
            if any(re.search(p, lower[c]) for p in patterns):
                return c
        return None

    filled = {}
    n = len(frame)
    mean_words = {c: frame[c].map(_words).sum() / max(1, (frame[c] != "").sum()) for c in cols}
    speaker = options.speaker_col or named(r"^speaker$", r"^speaker[_ ]?name$")
    participant = options.participant_col or named(r"^participant", r"^diarist", r"^author$", r"^user(_id)?$")
    date_col = options.date_col or named(r"date", r"^day$", r"^submitted")
    id_col = options.id_col or named(r"^respondent", r"^resp_?id", r"^case", r"^id$", r"_id$")
    if id_col and frame[id_col].nunique() != n:
        id_col = options.id_col
    time_col = options.time_col or (named(r"^time(stamp)?$", r"^start") if speaker else None)
    code_like = [c for c in cols if re.search(r"(^|_)codes?($|_)", lower[c])]
    taken = {speaker, participant, date_col, id_col, time_col, *code_like}
    texts = options.text_cols or [c for c in cols if c not in taken and mean_words[c] >= 6]
    if not texts:
        raise ReaderError(path, "could not tell which columns hold the open-ended text.",
                          fix="Choose the open-ended text column(s) (--text-col, repeatable). Columns: "
                              + ", ".join(cols) + ".")
    taken |= set(texts)
    attrs = options.attr_cols or [
        c for c in cols if c not in taken and 1 < frame[c].nunique() <= max(30, n // 20) and mean_words[c] < 6
    ]
    filled.update(text_cols=texts, attr_cols=attrs)
    if speaker:
        filled.update(speaker_col=speaker, time_col=time_col)
    elif participant and date_col and (options.kind == "diary" or not id_col):
        filled.update(participant_col=participant, date_col=date_col)
    else:
        filled.update(id_col=id_col, date_col=date_col, participant_col=options.participant_col)
    new = options.merged({k: v for k, v in filled.items()})
    said = "; ".join(f"{k.replace('_', ' ')}: {v if isinstance(v, str) else ', '.join(v) or '-'}"
                     for k, v in filled.items() if v)
    note = f"{path}: columns guessed ({said})."
    if code_like and not options.code_cols:
        note += (f" Columns that look like codes ({', '.join(code_like)}) were not imported: choose them as code "
                 "columns and say who coded them (--code-col, --coder).")
    return new, note


def _code_targets(path: Path, frame, options: IngestOptions, texts: list[str]) -> list[tuple[str, str]]:
    """``--code-col`` specs as ``(code column, text column)`` pairs."""
    pairs = []
    for spec in options.code_cols:
        code_col, _, text_col = spec.partition("=")
        code_col = _column(path, frame, code_col.strip())
        if text_col:
            text_col = _column(path, frame, text_col.strip())
        elif len(texts) == 1:
            text_col = texts[0]
        else:
            tokens = set(re.split(r"[^a-z0-9]+", code_col.lower())) - {"", "code", "codes", "coded"}
            hits = [t for t in texts if tokens & set(re.split(r"[^a-z0-9]+", t.lower()))]
            if len(hits) != 1:
                raise ReaderError(path, f"cannot tell which text column the codes in {code_col!r} belong to.",
                                  fix=f"Choose the text column that {code_col!r} codes "
                                      f"(--code-col '{code_col}=TEXT_COLUMN'); text columns: " + ", ".join(texts) + ".")
            text_col = hits[0]
        pairs.append((code_col, text_col))
    if pairs and not options.coder:
        raise ReaderError(path, "code columns were chosen but not who coded them (--code-col without --coder).",
                          fix="Say who made these codings (--coder NAME).")
    return pairs


def _split_codes(value: str, sep: str | list[str]) -> list[str]:
    """The codes in one cell: split at any of the separators (one, or several when a column mixes
    them: ``;`` in most rows, ``|`` in others), trimmed, blanks dropped.

    >>> _split_codes("Bins; Damp | Buses;", [";", "|"])
    ['Bins', 'Damp', 'Buses']
    """
    if not value:
        return []
    seps = [sep] if isinstance(sep, str) else [s for s in sep if s] or [";"]
    parts = re.split("|".join(re.escape(s) for s in sorted(seps, key=len, reverse=True)), value)
    return [c.strip() for c in parts if c.strip()]


def _row_coded(row: dict, codes: list[tuple[str, str]], options: IngestOptions) -> bool:
    """Whether the coder coded this row: a code in at least one of their code columns (module docstring)."""
    return any(_split_codes(str(row[code_col]), options.code_sep) for code_col, _ in codes)


def _uncoded_note(path: Path, uncoded: int, rows: int, codes: list[tuple[str, str]], options: IngestOptions) -> str:
    columns = ", ".join(dict.fromkeys(code_col for code_col, _ in codes))
    return (f"{path}: {uncoded} of {rows} row(s) have no code in {columns}: taken as rows {options.coder} did not "
            f"code (outside their sample), so agreement leaves them out. If a blank means no code applies, "
            f"ingest with --blank-means-no-code.")


@register
class TabularReader:
    name = "tabular"
    suffixes = (".csv", ".tsv", ".xlsx", ".xlsm")

    def read(self, path: Path, data: bytes, options: IngestOptions) -> ReadResult:
        frame, encoding, warnings = load_frame(path, data, options)
        if not options.text_cols:
            options, note = guess_columns(path, frame, options)
            warnings.append(note)
        texts = [_column(path, frame, c) for c in options.text_cols]
        attrs = [_column(path, frame, c) for c in options.attr_cols]
        id_col = _column(path, frame, options.id_col)
        participant_col = _column(path, frame, options.participant_col)
        speaker_col = _column(path, frame, options.speaker_col)
        time_col = _column(path, frame, options.time_col)
        date_col = _column(path, frame, options.date_col)
        codes = _code_targets(path, frame, options, texts)
        used = {*texts, *attrs, id_col, participant_col, speaker_col, time_col, date_col, *(c for c, _ in codes)}
        extra = [c for c in frame.columns if c not in used]
        rows = frame.to_dict("records")
        result = ReadResult(encoding=encoding, warnings=warnings)
        if speaker_col:
            self._transcript(path, rows, options, result, texts, speaker_col, time_col, codes)
        elif options.kind == "diary" or (participant_col and date_col and not id_col):
            self._diary(path, rows, options, result, texts, participant_col or id_col, date_col, attrs, codes, extra)
        else:
            self._survey(path, rows, options, result, texts, id_col or participant_col, date_col, attrs, codes, extra)
        if not result.documents and not result.participants:
            raise ReaderError(path, "no row has any text in the text column(s) " + ", ".join(texts) + ".",
                              fix="Check the text columns chosen (--text-col).")
        return result

    # -- shapes ---------------------------------------------------------------------------------

    def _participants(self, result, rows, pid_col, attrs):
        seen: dict[str, ParticipantRecord] = {}
        for row in rows:
            pid = str(row[pid_col]).strip()
            if not pid:
                continue
            record = seen.get(pid)
            if record is None:
                record = seen[pid] = ParticipantRecord(pid)
                result.participants.append(record)
            for a in attrs:
                value = str(row[a]).strip()
                if value and a not in record.attributes:
                    record.attributes[a] = value

    def _survey(self, path, rows, options, result, texts, id_col, date_col, attrs, codes, extra):
        if id_col:
            self._participants(result, rows, id_col, attrs)
        elif attrs:
            result.warnings.append(f"{path}: attribute columns need a respondent id column (--id-col) to tie them to "
                                   "respondents; each row's attributes were kept in its document metadata instead.")
        empty = uncoded = 0
        undated: list[str] = []
        for index, row in enumerate(rows):
            rownum = index + 2
            pieces = [(None, str(row[c]), None, None) for c in texts]
            fields = [c for c in texts if str(row[c]).strip()]
            text, turns = render_turns(pieces)
            for turn, field in zip(turns, fields):
                turn.field = field
            pid = str(row[id_col]).strip() if id_col else None
            if not turns:
                empty += 1
                for code_col, _ in codes:
                    if str(row[code_col]).strip():
                        result.warnings.append(f"{path}, row {rownum}: codes {row[code_col]!r} but no answer; skipped.")
                continue
            by_field = {t.field: t for t in turns}
            codings = []
            coded = options.blank_means_no_code or _row_coded(row, codes, options)
            uncoded += not coded
            for code_col, text_col in codes:
                names = _split_codes(str(row[code_col]), options.code_sep)
                if names and text_col not in by_field:
                    result.warnings.append(f"{path}, row {rownum}: codes in {code_col!r} but {text_col!r} is empty; skipped.")
                    continue
                for name in names:
                    turn = by_field[text_col]
                    codings.append(Coding(turn.start, turn.end, name, options.coder))
            metadata = {c: row[c] for c in extra if str(row[c]).strip()}
            metadata["row"] = rownum
            if not id_col:
                metadata.update({a: row[a] for a in attrs})
            result.documents.append(ParsedDocument(
                title=pid or f"{title_from(path)} row {rownum}",
                text=text,
                turns=turns,
                kind=options.kind or "panel",
                date=self._row_date(path, row, date_col, rownum, undated),
                participant=pid,
                metadata=metadata,
                codings=codings,
                match_existing=bool(pid),
                coded_fields=[text_col for _, text_col in codes] if coded else [],
            ))
        if empty:
            result.warnings.append(f"{path}: {empty} row(s) with no answer in any text column.")
        if undated:
            shown = ", ".join(undated[:5]) + (f" and {len(undated) - 5} more" if len(undated) > 5 else "")
            result.warnings.append(f"{path}: {len(undated)} date(s) in {date_col!r} could not be read and those rows "
                                   f"went in without a date: {shown}. Dates read as YYYY-MM-DD or DD/MM/YYYY.")
        if codes and uncoded:
            result.warnings.append(_uncoded_note(path, uncoded, len(result.documents), codes, options))

    @staticmethod
    def _row_date(path, row, date_col, rownum, undated: list[str]) -> date | None:
        """A survey row's date; one unreadable date never costs the file: it is listed in ``undated``."""
        if not date_col:
            return None
        try:
            return parse_date(path, str(row[date_col]), rownum)
        except ReaderError:
            undated.append(f"row {rownum} ({str(row[date_col]).strip()!r})")
            return None

    def _diary(self, path, rows, options, result, texts, pid_col, date_col, attrs, codes, extra):
        if not pid_col:
            raise ReaderError(path, "a diary needs a participant column.",
                              fix="Choose the participant column (--participant-col).")
        self._participants(result, rows, pid_col, attrs)
        uncoded = 0
        for index, row in enumerate(rows):
            rownum = index + 2
            pid = str(row[pid_col]).strip()
            if not pid:
                raise ReaderError(path, "the entry has no participant.", row=rownum,
                                  fix=f"Fill in the {pid_col!r} column for every entry.")
            when = parse_date(path, str(row[date_col]), rownum) if date_col else None
            pieces = [(None, str(row[c]), None, None) for c in texts]
            fields = [c for c in texts if str(row[c]).strip()]
            text, turns = render_turns(pieces)
            if not turns:
                result.warnings.append(f"{path}, row {rownum}: empty entry; skipped.")
                continue
            for turn, field in zip(turns, fields):
                turn.field = field
                turn.speaker = pid
            codings = []
            by_field = {t.field: t for t in turns}
            coded = options.blank_means_no_code or _row_coded(row, codes, options)
            uncoded += bool(codes) and not coded
            for code_col, text_col in codes:
                for name in _split_codes(str(row[code_col]), options.code_sep):
                    if text_col in by_field:
                        turn = by_field[text_col]
                        codings.append(Coding(turn.start, turn.end, name, options.coder))
            metadata = {c: row[c] for c in extra if str(row[c]).strip()}
            metadata["row"] = rownum
            result.documents.append(ParsedDocument(
                title=f"{pid} · {when.isoformat() if when else f'entry {rownum}'}",
                text=text, turns=turns, kind=options.kind or "diary", date=when, participant=pid,
                speakers={pid: pid}, metadata=metadata, codings=codings,
                coded_fields=([text_col for _, text_col in codes] if coded else []) if codes else None,
            ))
        if uncoded:
            result.warnings.append(_uncoded_note(path, uncoded, len(result.documents), codes, options))

    def _transcript(self, path, rows, options, result, texts, speaker_col, time_col, codes):
        if len(texts) != 1:
            raise ReaderError(path, "a transcript table needs exactly one text column, the words spoken.",
                              fix="Choose one text column (--text-col).")
        pieces, row_codes, untimed = [], [], []
        for index, row in enumerate(rows):
            value = str(row[time_col]).strip() if time_col else ""
            ms = parse_time_ms(value, seconds=True)
            if value and ms is None:  # one odd time never costs the file: the turn goes in without it
                untimed.append(f"row {index + 2} ({value!r})")
            body = str(row[texts[0]])
            if body.strip():
                pieces.append((str(row[speaker_col]).strip() or None, body, ms, None))
                names = []
                for code_col, _ in codes:
                    names += _split_codes(str(row[code_col]), options.code_sep)
                row_codes.append(names)
        if untimed:
            shown = ", ".join(untimed[:5]) + (f" and {len(untimed) - 5} more" if len(untimed) > 5 else "")
            result.warnings.append(f"{path}: {len(untimed)} time(s) could not be read and those turns went in "
                                   f"without a time: {shown}. Times read as hh:mm:ss, mm:ss, [hh:mm:ss], "
                                   f"(m:ss), hh:mm:ss.mmm, hh:mm:ss,mmm or seconds.")
        text, turns = render_turns(pieces)
        codings = [Coding(t.start, t.end, name, options.coder) for t, names in zip(turns, row_codes) for name in names]
        result.documents.append(ParsedDocument(title=title_from(path), text=text, turns=turns,
                                               kind=options.kind or "interview", codings=codings))
