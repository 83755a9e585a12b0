"""Codebooks kept as spreadsheets (CSV or XLSX), as Taguette exports them and survey teams keep them:
one row per code, a column per field. Touches no table.

Columns are named by the caller or guessed from the headers (``tag``/``code``/``name`` for the
name, ``description``/``definition``, ``parent``, ``include``, ``exclude``, ``example``, ...), and
the guess is reported. A parent column names each code's parent code, in any row order; a parent
named but not defined becomes a top-level code of its own (reported). A cell of examples,
counter-examples or keywords may hold several: one per line, else separated by ``;`` (keywords
also by ``,``). Blank rows are skipped; a row with no name is skipped and named in the report;
two rows with one name, or parents that go round in a cycle, are errors naming the rows.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "codebook.csv"
>>> _ = path.write_text("tag,description,number of highlights\\nDamp,Damp or mould at home.,4\\n")
>>> book, report = read_sheet(path)
>>> book.codes[0].definition, report.columns["name"], report.ignored
('Damp or mould at home.', 'tag', ['number of highlights'])
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from insight.codebook_model import Code, Codebook, nearest_names
from insight.errors import CodebookError, ColumnNotFound
from insight.readers.base import check_zip, decode
from insight.readers.tabular import sniff_delimiter

SUFFIXES = (".csv", ".tsv", ".xlsx", ".xlsm")
ROLES = ("name", "definition", "parent", "include", "exclude", "examples", "counter_examples", "keywords", "colour")
LIST_ROLES = ("examples", "counter_examples", "keywords")
# Headers each role is guessed from, after lower-casing and turning punctuation into spaces. The
# name must match one exactly; the others may also start one ("Definition (what counts)", "Example 2").
HEADERS = {
    "name": ("name", "code", "code name", "codes", "tag", "tag name", "path", "node", "node name", "label",
             "shortfilter", "short filter"),
    "definition": ("definition", "description", "code definition", "code description", "meaning", "explanation",
                   "desc"),
    "parent": ("parent", "parent code", "parent name", "parent tag", "parent node", "category", "theme", "group"),
    "include": ("include", "includes", "inclusion", "inclusion criteria", "include criteria", "when to use",
                "use when"),
    "exclude": ("exclude", "excludes", "exclusion", "exclusion criteria", "exclude criteria", "when not to use",
                "do not use when", "dont use when"),
    "examples": ("example", "examples", "example quote", "example quotes", "typical example", "typical examples",
                 "quote", "quotes"),
    "counter_examples": ("counter example", "counter examples", "counterexample", "counterexamples",
                         "non example", "non examples", "near miss", "near misses"),
    "keywords": ("keyword", "keywords", "key words", "search terms"),
    "colour": ("colour", "color", "colour hex", "color hex"),
}
_BULLET = re.compile(r"^(?:[-*\u2022\u2013]\s+|\d{1,2}[.)]\s+)")
_QUOTES = (('"', '"'), ("\u201c", "\u201d"), ("'", "'"), ("\u2018", "\u2019"))


@dataclass
class SheetReport:
    """How a spreadsheet was read: the column of each field (``None``: none; a list for fields
    that may span several columns), whether it was guessed, headers left unused, and notes (rows
    skipped, parents added, cells left out, the encoding)."""

    columns: dict[str, str | list[str] | None]
    guessed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    added_parents: list[str] = field(default_factory=list)

    def columns_line(self) -> str:
        """``Columns: name=tag, definition=description, parent=(none), ...``, as the CLI prints it."""
        def shown(value):
            if not value:
                return "(none)"
            return " + ".join(value) if isinstance(value, list) else value

        line = "Columns: " + ", ".join(f"{role}={shown(self.columns[role])}" for role in ROLES)
        if self.guessed:
            found = {role for role in ROLES if self.columns[role]}
            line += (" (guessed from the headers)" if set(self.guessed) == found
                     else " (guessed: " + ", ".join(self.guessed) + ")")
        return line

    def to_dict(self) -> dict:
        return {"columns": self.columns, "guessed": self.guessed, "ignored": self.ignored, "notes": self.notes,
                "skipped_rows": self.skipped_rows, "added_parents": self.added_parents}


def read_sheet(path: str | Path, *, columns: dict[str, str | list[str] | None] | None = None,
               sheet: str | None = None, name: str | None = None) -> tuple[Codebook, SheetReport]:
    """A codebook from a CSV or XLSX file with one row per code, and how it was read.

    ``columns`` maps a field of :class:`~insight.codebook_model.Code` (``name``, ``definition``,
    ``parent``, ``include``, ``exclude``, ``examples``, ``counter_examples``, ``keywords``,
    ``colour``) to its header (case-insensitive; a list for the list fields); fields not given are
    guessed. ``sheet`` picks a worksheet (default: the first); ``name`` names the codebook
    (default: the file's name without its extension).
    """
    path = Path(path)
    if not path.exists():
        raise CodebookError(str(path), "no such file", fix="Check the path.")
    rows, notes = _rows(path, path.read_bytes(), sheet)
    header_at = next((i for i, (_, cells) in enumerate(rows) if any(cells)), None)
    if header_at is None:
        raise CodebookError(str(path), "the sheet is empty", fix="Check that the export finished.")
    header_row, headers = rows[header_at]
    picked, guessed = _columns(path, headers, columns or {})
    report = SheetReport(columns={role: _header_names(headers, picked[role]) for role in ROLES}, guessed=guessed,
                         notes=notes)
    used = {i for v in picked.values() for i in (v if isinstance(v, list) else [v]) if i is not None}
    report.ignored = [h for i, h in enumerate(headers) if h and i not in used]
    if report.ignored:
        report.notes.insert(0, "Not used: " + ", ".join(repr(h) for h in report.ignored) + ".")
    entries = _entries(path, rows[header_at + 1:], picked, report)
    if not entries:
        raise CodebookError(str(path), f"no codes: no row below the header (row {header_row}) has a code name",
                            fix=f"Fill in the {report.columns['name']!r} column, one code per row.")
    codes = _hierarchy(path, entries, report)
    return Codebook(name=name or path.stem, codes=codes), report


# ---------------------------------------------------------------------------------------------
# Cells


def _rows(path: Path, data: bytes, sheet: str | None) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """Every row as ``(row number as a spreadsheet shows it, cells as text)``, and notes."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise CodebookError(str(path), "old Excel .xls files cannot be read",
                            fix="Open it in Excel or LibreOffice and save it as .xlsx, or export CSV.")
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path, data, sheet), []
    if sheet:
        raise CodebookError(str(path), "--sheet is for .xlsx workbooks; a CSV file has one table",
                            fix="Leave out --sheet.")
    text, _, warning = decode(path, data)
    reader = csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else _delimiter(text))
    try:
        rows = [(number, [cell.strip() for cell in cells]) for number, cells in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise CodebookError(str(path), f"the CSV is malformed ({exc})", row=reader.line_num,
                            fix="Check that quotes are balanced; re-export from the spreadsheet as CSV UTF-8.") \
            from None
    return rows, [warning] if warning else []


def _delimiter(text: str) -> str:
    """The delimiter the header line uses most (``,``, ``;``, tab or ``|``): a codebook's cells are
    full of commas, so sniffing the whole text can mistake them for the delimiter of a file that
    Excel saved with semicolons.

    >>> _delimiter("\\nCode;Definition;Keywords\\nCafes;Places to meet;cafe, pub, library\\n")
    ';'
    """
    header = next((line for line in text.split("\n") if line.strip()), "")
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else sniff_delimiter(text)


def _xlsx_rows(path: Path, data: bytes, sheet: str | None) -> list[tuple[int, list[str]]]:
    import openpyxl

    check_zip(path, data, ".xlsx")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except Exception as exc:
        raise CodebookError(str(path), f"the workbook is damaged ({exc.__class__.__name__}: {exc})",
                            fix="Open it in Excel or LibreOffice and save it again as .xlsx.") from None
    if sheet is not None and sheet not in workbook.sheetnames:
        raise CodebookError(str(path), f"no sheet named {sheet!r}",
                            fix="Sheets in this workbook: " + ", ".join(map(repr, workbook.sheetnames)) + ".")
    worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
    return [(number, [_cell_text(v) for v in values])
            for number, values in enumerate(worksheet.iter_rows(min_row=1, values_only=True), start=1)]


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _split(value: str, role: str) -> list[str]:
    """The items in one cell: one per line when it has line breaks, else separated by ``;``
    (keywords also by ``,``); bullets, numbering and enclosing quotes are taken off.

    >>> _split('- “I rang; nobody came.”\\n- Still waiting', "examples")
    ['I rang; nobody came.', 'Still waiting']
    >>> _split("damp, mould; condensation", "keywords")
    ['damp', 'mould', 'condensation']
    """
    if role == "keywords":
        parts = re.split(r"[\n;,]", value)
    else:
        parts = value.split("\n") if "\n" in value else value.split(";")
    out = []
    for part in parts:
        part = _BULLET.sub("", " ".join(part.split()).rstrip(";").strip())
        for left, right in _QUOTES:
            if len(part) > 2 and part.startswith(left) and part.endswith(right):
                part = part[1:-1].strip()
                break
        if part:
            out.append(part)
    return out


# ---------------------------------------------------------------------------------------------
# Columns


def _norm(header: str) -> str:
    """A header as guessed from: lower case, accents and apostrophes off, punctuation as spaces.

    >>> _norm("Counter-examples"), _norm("Don’t use when"), _norm(" Définition ")
    ('counter examples', 'dont use when', 'definition')
    """
    plain = unicodedata.normalize("NFKD", header.lower()).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain.replace("'", "")).split())


def _header_names(headers: list[str], picked):
    if picked is None:
        return None
    if isinstance(picked, list):
        return [headers[i] for i in picked] or None
    return headers[picked]


def _columns(path: Path, headers: list[str], given: dict) -> tuple[dict, list[str]]:
    """Each role's column index (a list of indexes for the list roles): the given headers first,
    then guesses from what is left; returns them and the roles guessed."""
    unknown = [role for role in given if role not in ROLES]
    if unknown:
        raise CodebookError(str(path), f"unknown codebook field {unknown[0]!r}", fix="Fields: " + ", ".join(ROLES))
    picked: dict = {role: ([] if role in LIST_ROLES else None) for role in ROLES}
    taken: set[int] = set()
    for role, wanted in given.items():
        for header in ([wanted] if isinstance(wanted, str) else list(wanted or [])):
            index = _find(path, headers, header)
            if role in LIST_ROLES:
                picked[role].append(index)
            else:
                picked[role] = index
            taken.add(index)
    guessed = []
    normed = [_norm(h) for h in headers]
    for role in ROLES:
        if role in given:  # named, or None: the sheet has no such column
            continue
        synonyms = HEADERS[role]
        exact = [i for i, h in enumerate(normed) if i not in taken and h in synonyms]
        loose = [] if role == "name" else [i for i, h in enumerate(normed) if i not in taken and i not in exact
                                           and any(h.startswith(s + " ") for s in synonyms)]
        hits = sorted(exact, key=lambda i: synonyms.index(normed[i])) + loose
        if not hits:
            continue
        chosen = hits if role in LIST_ROLES else hits[0]
        picked[role] = chosen
        taken.update(chosen if isinstance(chosen, list) else [chosen])
        guessed.append(role)
    if picked["name"] is None:
        raise CodebookError(str(path), "could not tell which column holds the code names",
                            fix="Name it with --name-col. Columns: " + ", ".join(repr(h) for h in headers if h) + ".")
    return picked, guessed


def _find(path: Path, headers: list[str], header: str) -> int:
    for i, h in enumerate(headers):
        if h == header:
            return i
    for i, h in enumerate(headers):
        if h.lower() == header.strip().lower():
            return i
    raise ColumnNotFound(path, header, [h for h in headers if h])


# ---------------------------------------------------------------------------------------------
# Rows to codes


@dataclass
class _Entry:
    row: int
    code: Code
    parent: str | None


def _entries(path: Path, rows: list[tuple[int, list[str]]], picked: dict, report: SheetReport) -> list[_Entry]:
    """One entry per row that names a code; blank rows skipped, rows without a name noted,
    a name used twice an error naming both rows."""
    def cell(cells, index):
        return cells[index] if index is not None and index < len(cells) else ""

    entries: list[_Entry] = []
    rows_of: dict[str, int] = {}
    for number, cells in rows:
        if not any(cells):
            continue
        name = " ".join(cell(cells, picked["name"]).split())
        if not name:
            filled = cell(cells, picked["definition"]) or next(c for c in cells if c)
            report.skipped_rows.append(number)
            report.notes.append(f"row {number} has no code name, so it was skipped (it holds {_short(filled)!r}).")
            continue
        if name in rows_of:
            raise CodebookError(str(path), f"the code {name!r} is in two rows ({rows_of[name]} and {number})",
                                row=number, fix="Code names must be unique: rename one, or merge the two rows.")
        rows_of[name] = number
        code = Code(name=name)
        for role in ("definition", "include", "exclude"):
            setattr(code, role, " ".join(cell(cells, picked[role]).split()))
        for role in LIST_ROLES:
            setattr(code, role, [item for index in picked[role] for item in _split(cell(cells, index), role)])
        colour = cell(cells, picked["colour"])
        if colour:
            hexed = colour if colour.startswith("#") else "#" + colour
            if re.fullmatch(r"#[0-9a-fA-F]{6}", hexed):
                code.colour = hexed.lower()
            else:
                report.notes.append(f"row {number}: colour {colour!r} of {name!r} is not a hex colour like #1f77b4; "
                                    "left out.")
        parent = " ".join(cell(cells, picked["parent"]).split()) or None
        entries.append(_Entry(number, code, parent))
    return entries


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _hierarchy(path: Path, entries: list[_Entry], report: SheetReport) -> list[Code]:
    """Tie each code to its parent (listed before or after it, matched exactly or else ignoring
    case); a parent with no row of its own is added just before its first child; a cycle is an
    error naming its rows."""
    by_name = {e.code.name: e for e in entries}
    folded: dict[str, list[str]] = {}
    for n in by_name:
        folded.setdefault(n.casefold(), []).append(n)
    added: dict[str, list[int]] = {}
    codes: list[Code] = []
    for entry in entries:
        parent = entry.parent
        if parent is not None and parent not in by_name:
            same = folded.get(parent.casefold(), [])
            if len(same) == 1:
                parent = same[0]
            else:
                parent = next((a for a in added if a.casefold() == parent.casefold()), parent)
                if parent not in added:
                    added[parent] = []
                    codes.append(Code(name=parent))
                added[parent].append(entry.row)
        entry.code.parent = parent
        codes.append(entry.code)
    for parent, rows in added.items():
        near = [n for n, _ in nearest_names(parent, list(by_name))]
        report.added_parents.append(parent)
        where = f"row {rows[0]}" if len(rows) == 1 else "rows " + ", ".join(map(str, rows))
        report.notes.append(f"{parent!r} is named as a parent ({where}) but has no row of its "
                            "own: added as a top-level code without a definition"
                            + (f" (did you mean {near[0]!r}?)." if near else "."))
    _check_cycles(path, entries)
    return codes


def _check_cycles(path: Path, entries: list[_Entry]) -> None:
    parent_of = {e.code.name: e.code.parent for e in entries}
    row_of = {e.code.name: e.row for e in entries}
    for entry in entries:
        trail, node = [], entry.code.name
        while node is not None and node in row_of and node not in trail:
            trail.append(node)
            node = parent_of[node]
        if node is not None and node in trail:
            loop = trail[trail.index(node):]
            if len(loop) == 1:
                reason = f"the code {node!r} (row {row_of[node]}) names itself as its parent"
            else:
                steps = [f"{n!r} (row {row_of[n]})" for n in loop] + [repr(node)]
                reason = "the parents go round in a cycle: " + " \u2192 ".join(steps)
            raise CodebookError(str(path), reason, row=row_of[node],
                                fix="Fix the parent column so that the codes form a tree.")
