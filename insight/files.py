"""Writing export files: atomically (a temporary file moved into place), as CSV, Parquet or XLSX,
with cells a spreadsheet would run as a formula neutralised. Touches no table.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from insight.config import __version__
from insight.errors import InsightError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from insight.codebook_model import Codebook

EXCEL_MAX_ROWS = 1_048_575  # a sheet holds 1,048,576 rows, one of them the header
EXCEL_MAX_CELL = 32_767
_FORMULA = r"^[=+\-@\t\r]"
_XLSX_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
NEUTRALISED = "cells starting with = + - @ tab or CR are prefixed with ' so a spreadsheet shows them as text"
# UTF-8 with a byte-order mark: Excel opens a CSV as UTF-8 only when it starts with one (without it,
# accents and quotes come out as mojibake). pandas.read_csv (any engine, default encoding), R's
# readr::read_csv, and base R's read.csv in a UTF-8 locale drop the mark; elsewhere (older R on
# Windows) use read.csv(path, fileEncoding = "UTF-8-BOM"), and in Python's csv module
# open(path, encoding="utf-8-sig"): plain utf-8 keeps the mark in the first header.
CSV_ENCODING = "utf-8-sig"


def version() -> str:
    """Insight's version, as written into exported files."""
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
        return plain_strings(con.execute(sql, params).to_arrow_table())


def plain_strings(table: "pa.Table") -> "pa.Table":
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
    """UTF-8 CSV with a byte-order mark (:data:`CSV_ENCODING`), formulas neutralised."""
    import pyarrow.csv as pcsv

    with atomic(out) as tmp, open(tmp, "wb") as sink:
        sink.write("\ufeff".encode("utf-8"))
        pcsv.write_csv(neutralise_arrow(table), sink)


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
