"""Coded datasets for R, Stata, Excel and pandas, and the dispatcher behind ``insight export``.

Reads ``segments``, ``documents``, ``participants``, ``attributes``, ``codings``, ``codebooks``,
``codes``, ``runs``, ``themes`` and ``segment_themes``; writes only the file it is asked for.

By default a dataset holds what the team decided: codings with status ``accepted`` (human codings
and the suggestions a person accepted). The auto-coders' open suggestions come in only on request
(``include_suggestions``), and then marked as such.

Two shapes:

- **long**: one row per coding (a passage x code x coder) with ``coder``, ``method``, ``status``,
  ``decided`` (``yes`` when a person made or reviewed the coding, ``no`` for an open suggestion),
  ``score``, ``memo``, the codebook version and the whole passage (``coded_start``, ``coded_end``:
  code points into the document; ``coded_text``). The row carries the first segment the passage
  touches; ``last_segment_id`` names the last. Segments no coding touches appear once with an
  empty ``code``, so no text is lost.
- **wide**: one row per segment and a 0/1 column per code: 1 on every segment a passage of the
  code touches, by any of the chosen coders with one of the chosen statuses. Open suggestions,
  when included, have 0/1 columns of their own, ``<code>_suggested``, after the codes.

A file's default name says its shape (:func:`default_name`: ``<study>_coded_long.csv``); it is used
when ``out`` is a folder.

Both carry ``study``, ``document_id``, ``document``, ``kind``, ``date``, ``participant`` (the
respondent id: the speaking participant, else the document's), one column per participant attribute,
``segment_id``, ``speaker``, ``field`` (survey question), ``start_time``/``start_ms``, the segment's
``char_start``/``char_end`` (code points into the document text) and ``text``, and ``theme_id``/
``theme`` from the study's latest theme run (empty when there is none). An attribute or code whose
name is taken by one of these columns gets an ``attr_``/``code_`` prefix.

CSV and XLSX cells (and headers) that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, tab or carriage return) get a leading ``'``; Parquet keeps the text as it is.
A CSV is UTF-8 with a byte-order mark, so that Excel opens it as UTF-8 (see
:data:`insight.files.CSV_ENCODING` for reading it back in pandas and R).

>>> from insight import Workspace
>>> ws = Workspace(":memory:")
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "n.txt").write_text("Interviewer: Hi.\\nP1: Hello.\\n")
>>> _ = ws.ingest([d / "n.txt"], study="s")
>>> export_dataset(ws.con, study="s", fmt="csv", out=d / "out.csv")["rows"]
2
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from insight.codebook import get
from insight.errors import InsightError
from insight.files import EXCEL_MAX_ROWS, NEUTRALISED, arrow, codebook_frame, plain_strings, settings_frame, version
from insight.files import write_csv, write_parquet, write_xlsx
from insight.files import EXCEL_MAX_CELL, atomic, neutralise_arrow, neutralise_frame, neutralise_name  # noqa: F401
from insight.refi import export_qdc
from insight.refi_project import export_qdpx
from insight.reports import framework_matrix, quotes_report, write_cooccurrence, write_crosstab
from insight.selection import BASE_COLUMNS, Scope, attribute_names, ordered_codes, resolve_scope
from insight.selection import latest_theme_run, overlaps, segments_sql, unique_name
from insight.selection import LONG_COLUMNS, default_codebook, participant_label_sql, resolve_study  # noqa: F401
from insight.statuses import ACCEPTED, SUGGESTED

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

FORMATS = ("csv", "parquet", "xlsx", "report", "framework", "cooccurrence", "crosstab", "qdpx", "qdc", "embeddings")
DATASET_FORMATS = ("csv", "parquet", "xlsx")
SHAPES = ("long", "wide")


# ---------------------------------------------------------------------------------------------
# The dataset


def long_table(con, scope: Scope) -> "pa.Table":
    """One row per coding in scope, on the first segment its passage touches (``last_segment_id``
    names the last), with the whole passage; plus one row per segment no coding touches."""
    seg_sql, seg_params, _ = segments_sql(con, scope)
    cod_sql, cod_params = scope.codings_sql()
    touch = overlaps("b", "c", start="char_start", end="char_end")
    sql = f"""
        WITH base AS ({seg_sql}), cod AS ({cod_sql}),
        span AS (
            -- a passage in the gap between two segments (a speaker label) sits on the next one
            SELECT c.coding_id,
                   coalesce(arg_min(b.segment_id, b.ordinal) FILTER (WHERE b.char_end > c.start),
                            arg_max(b.segment_id, b.ordinal)) AS first_segment,
                   arg_max(b.segment_id, b.ordinal) FILTER (WHERE b.char_start < c."end") AS last_segment
            FROM cod c JOIN base b ON b.document_id = c.document_id GROUP BY c.coding_id
        ),
        touched AS (SELECT DISTINCT b.segment_id FROM base b JOIN cod c ON {touch})
        SELECT * EXCLUDE (ordinal) FROM (
            SELECT base.*, c.code, c.coder, c.method, c.status,
                   CASE WHEN c.status = '{SUGGESTED}' THEN 'no' ELSE 'yes' END AS decided, c.score,
                   c.start AS coded_start, c."end" AS coded_end,
                   substring(d.text, c.start + 1, c."end" - c.start) AS coded_text,
                   span.last_segment AS last_segment_id, c.memo,
                   CASE WHEN c.codebook_id IS NOT NULL THEN k.name || '@' || c.codebook_version END AS codebook,
                   c.created_at AS coded_at, c.coding_id
            FROM cod c JOIN span USING (coding_id) JOIN base ON base.segment_id = span.first_segment
            JOIN documents d ON d.document_id = c.document_id
            LEFT JOIN codebooks k ON k.codebook_id = c.codebook_id
            UNION ALL BY NAME
            SELECT base.* FROM base WHERE base.segment_id NOT IN (SELECT segment_id FROM touched)
        )
        ORDER BY document_id, ordinal, coded_start NULLS FIRST, coding_id
    """
    return arrow(con, sql, seg_params + cod_params)


def wide_table(con, scope: Scope) -> tuple["pa.Table", list[str]]:
    """One row per segment with a 0/1 (int8) column per code (1 on every segment a passage of the
    code touches), then, when open suggestions are in scope, a ``<code>_suggested`` column per code
    for them; returns the table and the codes."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    seg_sql, seg_params, attr_names = segments_sql(con, scope)
    base = arrow(con, f"SELECT * EXCLUDE (ordinal) FROM ({seg_sql}) ORDER BY document_id, ordinal", seg_params)
    cod_sql, cod_params = scope.codings_sql()
    pairs = arrow(con, f"SELECT DISTINCT g.segment_id, c.code, c.status = ? AS open "
                       f"FROM ({cod_sql}) c JOIN segments g ON {overlaps()}", [SUGGESTED, *cod_params])
    codes = ordered_codes(scope, pairs.column("code").to_pylist() if pairs.num_rows else [])
    rows = pd.Index(base.column("segment_id").to_numpy()).get_indexer(pairs.column("segment_id").to_numpy())
    cols = pd.Index(codes).get_indexer(pairs.column("code").to_numpy(zero_copy_only=False))
    is_open = pairs.column("open").to_numpy(zero_copy_only=False).astype(bool)
    keep = rows >= 0  # segments outside the export's base (none today) are not columns' business

    def indicators(which) -> "np.ndarray":
        matrix = np.zeros((base.num_rows, len(codes)), dtype=np.int8)
        matrix[rows[which], cols[which]] = 1
        return matrix

    ref = scope.codebook.ref if scope.codebook is not None else None
    base = base.append_column("codebook", pa.array([ref] * base.num_rows, pa.string()))
    taken = set(BASE_COLUMNS) | set(attr_names) | {"codebook"}
    blocks = [("", indicators(keep & ~is_open))]
    if SUGGESTED in scope.statuses:
        blocks.append(("_suggested", indicators(keep & is_open)))
    for suffix, matrix in blocks:
        for j, code in enumerate(codes):
            base = base.append_column(unique_name(code + suffix, taken, "code_"), pa.array(matrix[:, j]))
    return plain_strings(base), codes


def coded_dataset(con, *, study: str | None = None, coders: Iterable[str] | None = None,
                  codebook: str | None = None, shape: str = "long",
                  statuses: Iterable[str] | None = None, include_suggestions: bool = False):
    """The coded dataset as a DataFrame (see the module doc for its columns).

    ``statuses`` default: ``accepted`` (what the team decided); ``include_suggestions`` adds the
    open suggestions, marked (``status`` suggested and ``decided`` no; wide: ``<code>_suggested``).
    """
    scope = _dataset_scope(con, study, coders, codebook, shape, statuses, include_suggestions)
    table = long_table(con, scope) if shape == "long" else wide_table(con, scope)[0]
    return table.to_pandas()


def _dataset_scope(con, study, coders, codebook, shape, statuses, include_suggestions) -> Scope:
    if shape not in SHAPES:
        raise InsightError(f"Unknown shape {shape!r}.", hint="Use long or wide.")
    statuses = tuple(statuses or (ACCEPTED,))
    if include_suggestions and SUGGESTED not in statuses:
        statuses += (SUGGESTED,)
    return resolve_scope(con, study=study, coders=coders, codebook=codebook, statuses=statuses,
                         codebook_default=True)


def default_name(study: str, fmt: str, *, shape: str = "long", per: str = "code", report_format: str | None = None,
                 by: str | None = None, codebook: str | None = None) -> str:
    """The file name an export gets when none is given (a folder as ``out``, the app's downloads):
    the study and what the file holds, so that long and wide datasets never overwrite each other.

    >>> default_name("Living with local services", "csv", shape="wide")
    'Living_with_local_services_coded_wide.csv'
    """
    def plain(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "insight"

    stem = plain(study)
    names = {"report": f"{stem}_quotes_by_{per}.{report_format or 'md'}", "framework": f"{stem}_framework.xlsx",
             "cooccurrence": f"{stem}_cooccurrence.xlsx", "crosstab": f"{stem}_by_{plain(by or 'attribute')}.xlsx",
             "qdpx": f"{stem}.qdpx", "qdc": f"{plain(codebook)}.qdc" if codebook else f"{stem}_codebook.qdc",
             "embeddings": f"{stem}_embeddings.parquet"}
    return f"{stem}_coded_{shape}.{fmt}" if fmt in DATASET_FORMATS else names[fmt]


def export_dataset(con, *, study: str | None = None, fmt: str = "csv", out: str | os.PathLike,
                   coders: Iterable[str] | None = None, codebook: str | None = None, shape: str = "long",
                   statuses: Iterable[str] | None = None, include_suggestions: bool = False) -> dict:
    """Write the coded dataset to ``out`` as ``csv``, ``parquet`` or ``xlsx``; returns a summary.
    By default only what the team decided; see :func:`coded_dataset` for ``include_suggestions``.

    XLSX adds a ``codebook`` sheet (every field of every code) and a ``settings`` sheet; Parquet
    keeps the settings in the file's metadata under ``insight``. A workbook with more rows than a
    sheet holds is refused with a pointer to CSV/Parquet.
    """
    if fmt not in DATASET_FORMATS:
        raise InsightError(f"Unknown dataset format {fmt!r}.", hint="Use one of: " + ", ".join(DATASET_FORMATS) + ".")
    scope = _dataset_scope(con, study, coders, codebook, shape, statuses, include_suggestions)
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
        "insight": version(),
        "format": fmt,
        "shape": shape,
        **scope.settings(),
        "suggestions": ("included, marked: status suggested" + (", decided no" if shape == "long" else
                                                                 "; their own <code>_suggested columns")
                        if SUGGESTED in scope.statuses else "left out: only what the team decided"),
        "theme run": latest_theme_run(con, scope.study_id) or "none",
        "rows": table.num_rows,
        "segments": int(con.execute(
            "SELECT count(*) FROM segments g JOIN documents d USING (document_id) WHERE d.study_id = ?",
            [scope.study_id]).fetchone()[0]),
        "codes": len(codes),
    }
    if shape == "wide":
        settings["code columns"] = (f"1 when any coder in 'coders' applied the code to the segment with a status in "
                                    f"'statuses' ({settings['statuses']}; open suggestions apart), else 0")
    else:
        settings["rows are"] = ("one per coding (segment x code x coder) in 'statuses'; decided is yes when a person "
                                "made or reviewed the coding, no for an open suggestion; a segment nobody coded "
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
# One entry point for every format


def guess_format(out: str | os.PathLike) -> str | None:
    suffix = Path(out).suffix.lower().lstrip(".")
    return {"csv": "csv", "parquet": "parquet", "pq": "parquet", "xlsx": "xlsx", "qdpx": "qdpx", "qdc": "qdc",
            "md": "report", "html": "report", "htm": "report", "docx": "report"}.get(suffix)


def export(con, fmt: str | None, out: str | os.PathLike, *, study: str | None = None,
           coders: Iterable[str] | None = None, codebook: str | None = None, shape: str = "long",
           by: str | None = None, per: str = "code", report_format: str | None = None,
           statuses: Iterable[str] | None = None, max_quotes: int | None = None,
           unit: str = "participants", include_suggestions: bool = False, model: str | None = None) -> dict:
    """Write one export of a study to ``out``; ``fmt`` is one of :data:`FORMATS` (default: from
    the file suffix, or ``csv`` when ``out`` is a folder, which the file goes into under its
    :func:`default_name`). Returns a summary dict (``out``, ``file_name``: the default name, what
    was written, the settings).

    - ``csv``/``parquet``/``xlsx``: the coded dataset (``shape`` long or wide), :func:`export_dataset`;
    - ``report``: quotes per code or theme (``per``), Markdown/HTML/DOCX (``report_format``);
    - ``framework``: participants x codes XLSX, each cell the count and the quotes;
    - ``cooccurrence``: codes x codes, segments coded with both (CSV or XLSX by suffix);
    - ``crosstab``: codes by the attribute ``by``, counts and column percentages (CSV or XLSX);
    - ``qdpx``/``qdc``: REFI-QDA project and codebook for NVivo, ATLAS.ti, MAXQDA and QualCoder;
    - ``embeddings``: each embedded segment's vector of ``model`` (Parquet), :func:`export_embeddings`.
    """
    folder = Path(out).is_dir()
    fmt = fmt or ("csv" if folder else guess_format(out))
    if fmt not in FORMATS:
        raise InsightError(f"Unknown export format {fmt!r}." if fmt else f"Cannot tell the format from {str(out)!r}.",
                           hint="Use --format, one of: " + ", ".join(FORMATS) + ".")
    if include_suggestions and fmt not in DATASET_FORMATS:
        raise InsightError(f"Suggestions can be included in the coded dataset only, not in a {fmt} export.",
                           hint="Leave out --include-suggestions, or use --format csv, parquet or xlsx.")
    named = fmt == "qdc" and codebook  # a named codebook needs no study
    name = default_name("" if named else resolve_study(con, study)[1], fmt, shape=shape, per=per,
                        report_format=report_format, by=by, codebook=codebook)
    out = Path(out) / name if folder else out
    return {**_export(con, fmt, out, study=study, coders=coders, codebook=codebook, shape=shape, by=by, per=per,
                      report_format=report_format, statuses=statuses, max_quotes=max_quotes, unit=unit,
                      include_suggestions=include_suggestions, model=model), "file_name": name}


def _export(con, fmt, out, *, study, coders, codebook, shape, by, per, report_format, statuses, max_quotes, unit,
            include_suggestions, model) -> dict:
    if fmt == "embeddings":
        return export_embeddings(con, study=study, out=out, model=model)
    if fmt in DATASET_FORMATS:
        return export_dataset(con, study=study, fmt=fmt, out=out, coders=coders, codebook=codebook, shape=shape,
                              statuses=statuses, include_suggestions=include_suggestions)
    if fmt == "qdc":
        if codebook is None:
            scope = resolve_scope(con, study=study, codebook_default=True)
            if scope.codebook is None:
                raise InsightError("There is no codebook to export.", hint="Name one with --codebook NAME[@VERSION].")
            return export_qdc(scope.codebook, out)
        return export_qdc(get(con, codebook), out)
    scope = resolve_scope(con, study=study, coders=coders, codebook=codebook,
                          statuses=statuses or (ACCEPTED,), codebook_default=True)
    if fmt == "qdpx":
        return export_qdpx(con, scope, out)
    if fmt == "report":
        return quotes_report(con, scope, out, per=per, fmt=report_format, max_quotes=max_quotes)
    if fmt == "framework":
        return framework_matrix(con, scope, out, max_quotes=max_quotes)
    if fmt == "cooccurrence":
        return write_cooccurrence(con, scope, out)
    if by is None:
        names = [n for n, _ in attribute_names(con, scope.study_id)]
        raise InsightError("A crosstab needs the attribute to split by.",
                           hint="Use --by ATTRIBUTE, one of: " + (", ".join(names) or "(this study has none)") + ".")
    return write_crosstab(con, scope, out, by=by, unit=unit)


def export_embeddings(con, *, study: str | None = None, out: str | os.PathLike, model: str | None = None) -> dict:
    """Write every embedded segment of a study as Parquet: ``segment_id``, ``text``, ``model``,
    ``vector`` (``list<float>``), in segment order; segments not embedded with ``model`` yet are
    left out (``insight embed`` embeds them). DuckDB writes the file in row groups, so a million
    vectors never sit in memory at once.
    """
    from pipelines.models import model_name

    study_id, name = resolve_study(con, study)
    model = model_name(model)
    query = ("SELECT g.segment_id, g.text, e.model, e.vector FROM segments g JOIN documents d USING (document_id) "
             "JOIN embeddings e ON e.text_hash = g.text_hash AND e.model = $model WHERE d.study_id = $study")
    params = {"model": model, "study": study_id}
    rows = con.execute(f"SELECT count(*) FROM ({query})", params).fetchone()[0]
    if not rows:
        raise InsightError(f"No segment of study {name!r} has vectors of the model {model!r}.",
                           hint=f"Embed them first: insight embed --study {name!r}" + (
                               f" --model {model!r}" if model != model_name() else "") + ".")
    with atomic(Path(out)) as tmp:
        con.execute(f"COPY ({query} ORDER BY g.segment_id) TO '{_quoted(tmp)}' (FORMAT parquet, COMPRESSION zstd)",
                    params)
    return {"out": str(out), "format": "embeddings", "study": name, "model": model, "rows": int(rows)}


def _quoted(path) -> str:
    """A path inside a single-quoted SQL string."""
    return str(path).replace("'", "''")
