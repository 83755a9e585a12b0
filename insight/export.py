"""Coded datasets for R, Stata, Excel and pandas, and the dispatcher behind ``insight export``.

Reads ``segments``, ``documents``, ``participants``, ``attributes``, ``codings``, ``codebooks``,
``codes``, ``runs``, ``themes`` and ``segment_themes``; writes only the file it is asked for.

Two shapes:

- **long**: one row per coding (segment x code x coder) with ``coder``, ``method``, ``status``,
  ``score``, the codebook version and, for a coding of part of a segment, its exact characters
  (``coded_start``, ``coded_end``, ``coded_text``). Segments nobody coded appear once with an empty
  ``code``, so no text is lost.
- **wide**: one row per segment and a 0/1 column per code: 1 when any of the chosen coders applied
  the code with one of the chosen statuses (default: accepted, i.e. human codings and reviewed
  suggestions).

Both carry ``study``, ``document_id``, ``document``, ``kind``, ``date``, ``participant`` (the
respondent id: the speaking participant, else the document's), one column per participant attribute,
``segment_id``, ``speaker``, ``field`` (survey question), ``start_time``/``start_ms``, the segment's
``char_start``/``char_end`` (code points into the document text) and ``text``, and ``theme_id``/
``theme`` from the study's latest theme run (empty when there is none). An attribute or code whose
name is taken by one of these columns gets an ``attr_``/``code_`` prefix.

CSV and XLSX cells (and headers) that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, tab or carriage return) get a leading ``'``; Parquet keeps the text as it is.

>>> from insight import Workspace
>>> ws = Workspace(":memory:")
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "n.txt").write_text("Interviewer: Hi.\\nP1: Hello.\\n")
>>> _ = ws.ingest([d / "n.txt"], study="s")
>>> export_dataset(ws.con, study="s", fmt="csv", out=d / "out.csv")["rows"]
2
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from insight.errors import InsightError, NotFound

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from insight.codebook import Codebook

FORMATS = ("csv", "parquet", "xlsx", "report", "framework", "cooccurrence", "crosstab", "qdpx", "qdc")
DATASET_FORMATS = ("csv", "parquet", "xlsx")
SHAPES = ("long", "wide")
STATUSES = ("suggested", "accepted", "rejected")
EXCEL_MAX_ROWS = 1_048_575  # a sheet holds 1,048,576 rows, one of them the header
EXCEL_MAX_CELL = 32_767
_FORMULA = r"^[=+\-@\t\r]"
_XLSX_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
NEUTRALISED = "cells starting with = + - @ tab or CR are prefixed with ' so a spreadsheet shows them as text"


# ---------------------------------------------------------------------------------------------
# What an export covers


@dataclass
class Scope:
    """An export's resolved study, coders, codebook and statuses (checked against the store).

    ``codebook`` orders and describes the codes; only when ``restrict`` (it was named) does it also
    limit the codings to its codes."""

    study_id: int
    study: str
    coders: list[str] | None
    codebook: "Codebook | None"
    statuses: tuple[str, ...]
    restrict: bool = False

    def codings_sql(self) -> tuple[str, list]:
        """A query for the codings in scope (every column of ``codings``), with its parameters."""
        where = ["d.study_id = ?", "list_contains(?, c.status)"]
        params: list = [self.study_id, list(self.statuses)]
        if self.coders is not None:
            where.append("list_contains(?, c.coder)")
            params.append(self.coders)
        if self.restrict and self.codebook is not None:
            where.append("list_contains(?, c.code)")
            params.append(self.codebook.names())
        sql = ("SELECT c.* FROM codings c JOIN segments g ON g.segment_id = c.segment_id "
               "JOIN documents d ON d.document_id = g.document_id WHERE " + " AND ".join(where))
        return sql, params

    def settings(self) -> dict:
        return {
            "study": self.study,
            "coders": ", ".join(self.coders) if self.coders is not None else "all",
            "statuses": ", ".join(self.statuses),
            "codebook": (self.codebook.ref if self.restrict else
                         f"{self.codebook.ref} describes the codes; codings of any code are included"
                         if self.codebook is not None else "none (every code used)"),
        }


def resolve_study(con, name: str | None) -> tuple[int, str]:
    """``(study_id, name)``; with no name, the only study (several or none is an error)."""
    rows = con.execute("SELECT study_id, name FROM studies ORDER BY study_id").fetchall()
    names = [r[1] for r in rows]
    if name is None:
        if not rows:
            raise InsightError("There is nothing to export: the workspace has no studies.",
                               hint="Ingest something first: insight ingest PATH")
        if len(rows) > 1:
            raise InsightError(f"The workspace holds {len(rows)} studies; say which one to export.",
                               hint="Use --study NAME, one of: " + ", ".join(repr(n) for n in names) + ".")
        return rows[0]
    for study_id, study in rows:
        if study == name:
            return study_id, study
    raise NotFound("study", name, names)


def default_codebook(con, study_id: int) -> "Codebook | None":
    """The latest version of the codebook the study's codings use most, else one tied to the study."""
    from insight.codebook import get

    row = con.execute(
        "SELECT b.name FROM codings c JOIN segments g USING (segment_id) JOIN documents d USING (document_id) "
        "JOIN codebooks b ON b.codebook_id = c.codebook_id WHERE d.study_id = ? "
        "GROUP BY b.name ORDER BY count(*) DESC, b.name LIMIT 1", [study_id]).fetchone()
    if row is None:
        row = con.execute("SELECT name FROM codebooks WHERE study_id = ? ORDER BY codebook_id DESC LIMIT 1",
                          [study_id]).fetchone()
    return get(con, row[0]) if row else None


def resolve_scope(con, *, study: str | None = None, coders: Iterable[str] | None = None,
                  codebook: str | None = None, statuses: Iterable[str] | None = ("accepted",),
                  codebook_default: bool = False) -> Scope:
    """Check and resolve what to export; unknown studies, coders, codebooks and statuses raise
    :class:`NotFound`/:class:`InsightError` naming the valid ones.

    ``codebook`` is ``'name'`` or ``'name@version'``; without it the codings of every code count,
    and with ``codebook_default`` the study's main codebook describes them (see
    :func:`default_codebook`).
    """
    from insight.codebook import get

    study_id, name = resolve_study(con, study)
    coders = list(dict.fromkeys(coders)) if coders else None
    if coders:
        known = [r[0] for r in con.execute(
            "SELECT DISTINCT c.coder FROM codings c JOIN segments g USING (segment_id) JOIN documents d "
            "USING (document_id) WHERE d.study_id = ? ORDER BY 1", [study_id]).fetchall()]
        for coder in coders:
            if coder not in known:
                raise NotFound("coder", coder, known)
    statuses = tuple(statuses) if statuses else STATUSES
    for status in statuses:
        if status not in STATUSES:
            raise InsightError(f"Unknown coding status {status!r}.", hint="Use one of: " + ", ".join(STATUSES) + ".")
    book = get(con, codebook) if codebook else (default_codebook(con, study_id) if codebook_default else None)
    return Scope(study_id, name, coders, book, statuses, restrict=bool(codebook))


def latest_theme_run(con, study_id: int) -> int | None:
    """The study's latest theme run that assigned segments to themes, if any."""
    row = con.execute(
        "SELECT max(r.run_id) FROM runs r WHERE r.step = 'themes' AND r.study_id = ? "
        "AND EXISTS (SELECT 1 FROM segment_themes t WHERE t.run_id = r.run_id)", [study_id]).fetchone()
    return row[0] if row else None


def participant_label_sql(alias: str = "p") -> str:
    """How reports name a participant: name, else id. :mod:`insight.privacy` replaces names in
    place, so a pseudonymised study shows its pseudonyms here."""
    return f"coalesce(nullif(trim({alias}.name), ''), {alias}.external_id)"


def attribute_names(con, study_id: int) -> list[tuple[str, str]]:
    """``(name, type)`` of every participant attribute in the study, in the order they arrived."""
    return [tuple(r) for r in con.execute(
        "SELECT a.name, mode(a.type) FROM attributes a JOIN participants p USING (participant_id) "
        "WHERE p.study_id = ? GROUP BY a.name ORDER BY min(a.rowid)", [study_id]).fetchall()]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


BASE_COLUMNS = ("study", "document_id", "document", "kind", "date", "participant", "segment_id", "speaker",
                "field", "start_time", "start_ms", "char_start", "char_end", "text", "theme_id", "theme")
LONG_COLUMNS = ("code", "coder", "method", "status", "score", "coded_start", "coded_end", "coded_text", "codebook",
                "coded_at", "coding_id")


def _unique(name: str, taken: set[str], prefix: str) -> str:
    out = name if name not in taken else prefix + name
    while out in taken:
        out = "_" + out
    taken.add(out)
    return out


def segments_sql(con, scope: Scope) -> tuple[str, list, list[str]]:
    """The query for every segment of the study with its document, participant, attributes and
    theme; returns ``(sql, params, attribute column names)``. Rows come in document order."""
    attrs = attribute_names(con, scope.study_id)
    taken = set(BASE_COLUMNS) | set(LONG_COLUMNS) | {"ordinal"}
    typed = {"number": "a.value_number", "date": "a.value_date"}
    pivots, params, names = [], [], []
    for name, kind in attrs:
        column = _unique(name, taken, "attr_")
        names.append(column)
        pivots.append(f"max({typed.get(kind, 'a.value')}) FILTER (WHERE a.name = ?) AS {_quote(column)}")
        params.append(name)
    attr_cte = (
        "attrs AS (SELECT a.participant_id, " + ", ".join(pivots) + " FROM attributes a JOIN participants p "
        "USING (participant_id) WHERE p.study_id = ? GROUP BY a.participant_id)"
        if pivots else "attrs AS (SELECT NULL::INTEGER AS participant_id)")
    if pivots:
        params.append(scope.study_id)
    run = latest_theme_run(con, scope.study_id)
    attr_select = "".join(f", attrs.{_quote(n)}" for n in names)
    sql = f"""
        WITH {attr_cte}
        SELECT s.name AS study, d.document_id, d.title AS document, d.kind, d.doc_date AS date,
               p.external_id AS participant{attr_select}, g.segment_id, g.speaker, g.field,
               CASE WHEN g.start_ms IS NOT NULL THEN printf('%02d:%02d:%02d', g.start_ms // 3600000,
                    (g.start_ms // 60000) % 60, (g.start_ms // 1000) % 60) END AS start_time,
               g.start_ms, g.start AS char_start, g."end" AS char_end, g.text,
               st.theme_id, th.label AS theme, g.ordinal
        FROM segments g JOIN documents d ON d.document_id = g.document_id
        JOIN studies s ON s.study_id = d.study_id
        LEFT JOIN participants p ON p.participant_id = coalesce(g.participant_id, d.participant_id)
        LEFT JOIN attrs ON attrs.participant_id = p.participant_id
        LEFT JOIN segment_themes st ON st.segment_id = g.segment_id AND st.run_id = ?
        LEFT JOIN themes th ON th.run_id = st.run_id AND th.theme_id = st.theme_id
        WHERE d.study_id = ?
    """
    params += [run, scope.study_id]
    return sql, params, names


def ordered_codes(scope: Scope, used: Iterable[str]) -> list[str]:
    """Codebook order first (every code of the codebook), then any other code used, by name."""
    book = scope.codebook.names() if scope.codebook is not None else []
    return book + sorted(set(used) - set(book))


# ---------------------------------------------------------------------------------------------
# The dataset


def long_table(con, scope: Scope) -> "pa.Table":
    """One row per coding in scope, plus one row per segment nobody coded (see the module doc)."""
    seg_sql, seg_params, _ = segments_sql(con, scope)
    cod_sql, cod_params = scope.codings_sql()
    sql = f"""
        WITH base AS ({seg_sql}), cod AS ({cod_sql})
        SELECT base.* EXCLUDE (ordinal), c.code, c.coder, c.method, c.status, c.score,
               c.start AS coded_start, c."end" AS coded_end,
               CASE WHEN c.start IS NOT NULL
                    THEN substring(base.text, c.start - base.char_start + 1, c."end" - c.start) END AS coded_text,
               CASE WHEN c.codebook_id IS NOT NULL THEN b.name || '@' || c.codebook_version END AS codebook,
               c.created_at AS coded_at, c.coding_id
        FROM base LEFT JOIN cod c ON c.segment_id = base.segment_id
        LEFT JOIN codebooks b ON b.codebook_id = c.codebook_id
        ORDER BY base.document_id, base.ordinal, c.coding_id
    """
    return arrow(con, sql, seg_params + cod_params)


def wide_table(con, scope: Scope) -> tuple["pa.Table", list[str]]:
    """One row per segment with a 0/1 (int8) column per code; returns the table and the codes."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    seg_sql, seg_params, attr_names = segments_sql(con, scope)
    base = arrow(con, f"SELECT * EXCLUDE (ordinal) FROM ({seg_sql}) ORDER BY document_id, ordinal", seg_params)
    cod_sql, cod_params = scope.codings_sql()
    pairs = arrow(con, f"SELECT DISTINCT segment_id, code FROM ({cod_sql})", cod_params)
    codes = ordered_codes(scope, pairs.column("code").to_pylist() if pairs.num_rows else [])
    rows = pd.Index(base.column("segment_id").to_numpy()).get_indexer(pairs.column("segment_id").to_numpy())
    cols = pd.Index(codes).get_indexer(pairs.column("code").to_numpy(zero_copy_only=False))
    matrix = np.zeros((base.num_rows, len(codes)), dtype=np.int8)
    matrix[rows, cols] = 1
    ref = scope.codebook.ref if scope.codebook is not None else None
    base = base.append_column("codebook", pa.array([ref] * base.num_rows, pa.string()))
    taken = set(BASE_COLUMNS) | set(attr_names) | {"codebook"}
    for j, code in enumerate(codes):
        base = base.append_column(_unique(code, taken, "code_"), pa.array(matrix[:, j]))
    return _plain_strings(base), codes


def coded_dataset(con, *, study: str | None = None, coders: Iterable[str] | None = None,
                  codebook: str | None = None, shape: str = "long",
                  statuses: Iterable[str] | None = None):
    """The coded dataset as a DataFrame (see the module doc for its columns).

    ``statuses`` default: every status for ``long`` (the column says which), ``accepted`` for
    ``wide``.
    """
    scope = _dataset_scope(con, study, coders, codebook, shape, statuses)
    table = long_table(con, scope) if shape == "long" else wide_table(con, scope)[0]
    return table.to_pandas()


def _dataset_scope(con, study, coders, codebook, shape, statuses) -> Scope:
    if shape not in SHAPES:
        raise InsightError(f"Unknown shape {shape!r}.", hint="Use long or wide.")
    if statuses is None:
        statuses = STATUSES if shape == "long" else ("accepted",)
    return resolve_scope(con, study=study, coders=coders, codebook=codebook, statuses=statuses,
                         codebook_default=True)


def export_dataset(con, *, study: str | None = None, fmt: str = "csv", out: str | os.PathLike,
                   coders: Iterable[str] | None = None, codebook: str | None = None, shape: str = "long",
                   statuses: Iterable[str] | None = None) -> dict:
    """Write the coded dataset to ``out`` as ``csv``, ``parquet`` or ``xlsx``; returns a summary.

    XLSX adds a ``codebook`` sheet (every field of every code) and a ``settings`` sheet; Parquet
    keeps the settings in the file's metadata under ``insight``. A workbook with more rows than a
    sheet holds is refused with a pointer to CSV/Parquet.
    """
    if fmt not in DATASET_FORMATS:
        raise InsightError(f"Unknown dataset format {fmt!r}.", hint="Use one of: " + ", ".join(DATASET_FORMATS) + ".")
    scope = _dataset_scope(con, study, coders, codebook, shape, statuses)
    if shape == "long":
        table, codes = long_table(con, scope), None
    else:
        table, codes = wide_table(con, scope)
    if codes is None:
        import pyarrow.compute as pc

        codes = sorted(c for c in pc.unique(table.column("code")).to_pylist() if c is not None)
    out = Path(out)
    settings = {
        "exported": datetime.now().isoformat(timespec="seconds"),
        "insight": _version(),
        "format": fmt,
        "shape": shape,
        **scope.settings(),
        "theme run": latest_theme_run(con, scope.study_id) or "none",
        "rows": table.num_rows,
        "segments": int(con.execute(
            "SELECT count(*) FROM segments g JOIN documents d USING (document_id) WHERE d.study_id = ?",
            [scope.study_id]).fetchone()[0]),
        "codes": len(codes),
    }
    if shape == "wide":
        settings["code columns"] = (f"1 when any coder in 'coders' applied the code to the segment with a status in "
                                    f"'statuses' ({settings['statuses']}), else 0")
    else:
        settings["rows are"] = ("one per coding (segment x code x coder) in 'statuses'; a segment nobody coded "
                                "appears once with an empty code; coded_text is the exact coded span when a "
                                "coding covers only part of the segment")
    settings["participant"] = "the speaking participant, else the document's participant (the respondent id)"
    if fmt in ("csv", "xlsx"):
        settings["formulas"] = NEUTRALISED
    if fmt == "csv":
        write_csv(table, out)
    elif fmt == "parquet":
        write_parquet(table, out, settings)
    else:
        if table.num_rows > EXCEL_MAX_ROWS:
            raise InsightError(f"The dataset has {table.num_rows:,} rows; an Excel sheet holds {EXCEL_MAX_ROWS:,}.",
                               hint="Export it as --format csv or --format parquet instead.")
        write_xlsx(out, {"data": table.to_pandas(), "codebook": codebook_frame(scope.codebook, codes),
                         "settings": settings_frame(settings)})
    return {"out": str(out), **settings, "columns": table.num_columns}


# ---------------------------------------------------------------------------------------------
# Writing files


def _version() -> str:
    from insight import __version__

    return __version__


@contextmanager
def atomic(out: Path):
    """Write to a temporary file beside ``out`` and move it into place only when complete."""
    out = Path(out)
    if out.parent and not out.parent.exists():
        raise InsightError(f"Cannot write {out}: the folder {out.parent} does not exist.",
                           hint="Create it first or choose another --out path.")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    except OSError as exc:
        raise InsightError(f"Cannot write {out}: {exc.strerror or exc}.", hint="Check the path and permissions.") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def arrow(con, sql: str, params: list) -> "pa.Table":
    """A query's result as an Arrow table with plain string columns.

    Through the DB-API result rather than ``con.sql``: a caller's unfinished ``execute`` on the
    shared connection must not make an export fail (the price is one copy of the rows)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        return _plain_strings(con.execute(sql, params).to_arrow_table())


def _plain_strings(table: "pa.Table") -> "pa.Table":
    """DuckDB may hand over ``string_view`` columns; every writer understands plain strings."""
    import pyarrow as pa

    fields = [pa.field(f.name, pa.string()) if pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type)
              else f for f in table.schema]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def neutralise_name(name: str) -> str:
    return "'" + name if re.match(_FORMULA, name) else name


def neutralise_arrow(table: "pa.Table") -> "pa.Table":
    """Prefix ``'`` to every string cell (and header) a spreadsheet would treat as a formula."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) and pc.any(pc.match_substring_regex(column, _FORMULA)).as_py():
            column = pc.replace_substring_regex(column, pattern="(" + _FORMULA + ")", replacement=r"'\1",
                                                max_replacements=1)
        columns.append(column)
    return pa.table(columns, names=[neutralise_name(n) for n in table.column_names])


def neutralise_frame(frame):
    """The pandas twin of :func:`neutralise_arrow`, for the spreadsheets reports write."""
    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object or str(column.dtype) in ("str", "string"):
            text = column.astype("string")
            risky = text.str.match(_FORMULA).fillna(False).astype(bool)
            frame[name] = column.where(~risky, "'" + text)
    frame.columns = [neutralise_name(str(n)) for n in frame.columns]
    return frame


def write_csv(table: "pa.Table", out: Path) -> None:
    """UTF-8 CSV (no BOM), formulas neutralised."""
    import pyarrow.csv as pcsv

    with atomic(out) as tmp:
        pcsv.write_csv(neutralise_arrow(table), tmp)


def write_parquet(table: "pa.Table", out: Path, settings: dict) -> None:
    import pyarrow.parquet as pq

    meta = dict(table.schema.metadata or {})
    meta[b"insight"] = json.dumps(settings, default=str, ensure_ascii=False).encode("utf-8")
    with atomic(out) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


def _excel_safe(frame):
    """Formulas neutralised, characters XLSX cannot hold dropped, cells cut to Excel's limit."""
    frame = neutralise_frame(frame)
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object or str(column.dtype) in ("str", "string"):
            text = column.astype("string").str.replace(_XLSX_ILLEGAL, "", regex=True)
            long = text.str.len().fillna(0) > EXCEL_MAX_CELL
            if long.any():
                text = text.where(~long, text.str.slice(0, EXCEL_MAX_CELL - 20) + " [... cut for Excel]")
            frame[name] = text.astype(object).where(text.notna(), None)
    return frame


def write_xlsx(out: Path, sheets: dict, *, widths: dict | None = None, wrap: Iterable[str] = ()) -> None:
    """A workbook with one sheet per DataFrame, every cell spreadsheet-safe, header row bold and
    frozen; ``widths`` per sheet ``{column letter: width}``; sheets in ``wrap`` wrap their text.

    Written in openpyxl's streaming mode (about three times faster than ``DataFrame.to_excel``)."""
    from copy import copy

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    book = Workbook(write_only=True)
    bold, wrapped = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    for name, frame in sheets.items():
        frame = _excel_safe(frame)
        sheet = book.create_sheet(name)
        sheet.freeze_panes = "A2"
        for letter, width in (widths or {}).get(name, {}).items():
            sheet.column_dimensions[letter].width = width
        header = []
        for column in frame.columns:
            cell = WriteOnlyCell(sheet, value=str(column))
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        values = frame.astype(object).where(frame.notna(), None)
        if name in wrap:
            style = WriteOnlyCell(sheet)
            style.alignment = wrapped
            for row in values.itertuples(index=False, name=None):
                cells = [WriteOnlyCell(sheet, value=v) for v in row]
                for cell in cells:
                    cell._style = copy(style._style)  # one style for all: setting it per cell is slow
                sheet.append(cells)
        else:
            for row in values.itertuples(index=False, name=None):
                sheet.append(row)
    with atomic(out) as tmp:
        book.save(tmp)


def settings_frame(settings: dict):
    import pandas as pd

    return pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]})


def codebook_frame(codebook: "Codebook | None", used: Iterable[str] = ()):
    """Every field of every code, one row per code (codes used but not in the codebook at the end)."""
    import pandas as pd

    def items(values) -> str:
        return "\n".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values)

    rows = []
    codes = codebook.codes if codebook is not None else []
    for position, code in enumerate(codes):
        rows.append({"codebook": codebook.name, "version": codebook.version, "position": position, "name": code.name,
                     "parent": code.parent, "definition": code.definition, "include": code.include,
                     "exclude": code.exclude, "examples": items(code.examples),
                     "counter_examples": items(code.counter_examples), "keywords": items(code.keywords),
                     "colour": code.colour})
    known = {c.name for c in codes}
    for name in used:
        if name not in known:
            rows.append({"codebook": None, "version": None, "position": None, "name": name})
    columns = ["codebook", "version", "position", "name", "parent", "definition", "include", "exclude", "examples",
               "counter_examples", "keywords", "colour"]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------------
# One entry point for every format


def guess_format(out: str | os.PathLike) -> str | None:
    suffix = Path(out).suffix.lower().lstrip(".")
    return {"csv": "csv", "parquet": "parquet", "pq": "parquet", "xlsx": "xlsx", "qdpx": "qdpx", "qdc": "qdc",
            "md": "report", "html": "report", "htm": "report", "docx": "report"}.get(suffix)


def export(con, fmt: str | None, out: str | os.PathLike, *, study: str | None = None,
           coders: Iterable[str] | None = None, codebook: str | None = None, shape: str = "long",
           by: str | None = None, per: str = "code", report_format: str | None = None,
           statuses: Iterable[str] | None = None, max_quotes: int | None = None,
           unit: str = "participants") -> dict:
    """Write one export of a study to ``out``; ``fmt`` is one of :data:`FORMATS` (default: from
    the file suffix). Returns a summary dict (``out``, what was written, the settings).

    - ``csv``/``parquet``/``xlsx``: the coded dataset (``shape`` long or wide), :func:`export_dataset`;
    - ``report``: quotes per code or theme (``per``), Markdown/HTML/DOCX (``report_format``);
    - ``framework``: participants x codes XLSX, each cell the count and the quotes;
    - ``cooccurrence``: codes x codes, segments coded with both (CSV or XLSX by suffix);
    - ``crosstab``: codes by the attribute ``by``, counts and column percentages (CSV or XLSX);
    - ``qdpx``/``qdc``: REFI-QDA project and codebook for NVivo, ATLAS.ti, MAXQDA and QualCoder.
    """
    fmt = fmt or guess_format(out)
    if fmt not in FORMATS:
        raise InsightError(f"Unknown export format {fmt!r}." if fmt else f"Cannot tell the format from {str(out)!r}.",
                           hint="Use --format, one of: " + ", ".join(FORMATS) + ".")
    if fmt in DATASET_FORMATS:
        return export_dataset(con, study=study, fmt=fmt, out=out, coders=coders, codebook=codebook, shape=shape,
                              statuses=statuses)
    if fmt == "qdc":
        from insight.refi import export_qdc

        if codebook is None:
            scope = resolve_scope(con, study=study, codebook_default=True)
            if scope.codebook is None:
                raise InsightError("There is no codebook to export.", hint="Name one with --codebook NAME[@VERSION].")
            return export_qdc(scope.codebook, out)
        from insight.codebook import get

        return export_qdc(get(con, codebook), out)
    scope = resolve_scope(con, study=study, coders=coders, codebook=codebook,
                          statuses=statuses or ("accepted",), codebook_default=True)
    if fmt == "qdpx":
        from insight.refi import export_qdpx

        return export_qdpx(con, scope, out)
    from insight import reports

    if fmt == "report":
        return reports.quotes_report(con, scope, out, per=per, fmt=report_format, max_quotes=max_quotes)
    if fmt == "framework":
        return reports.framework_matrix(con, scope, out, max_quotes=max_quotes)
    if fmt == "cooccurrence":
        return reports.write_cooccurrence(con, scope, out)
    if by is None:
        names = [n for n, _ in attribute_names(con, scope.study_id)]
        raise InsightError("A crosstab needs the attribute to split by.",
                           hint="Use --by ATTRIBUTE, one of: " + (", ".join(names) or "(this study has none)") + ".")
    return reports.write_crosstab(con, scope, out, by=by, unit=unit)
