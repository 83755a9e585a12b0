"""Codebooks kept as spreadsheets: Taguette's export, a survey team's workbook, cp1252 and BOM CSVs."""

import csv
import io
import json

import pytest
from click.testing import CliRunner

from insight import codebook as cb
from insight.cli import main
from insight.codebook_sheet import read_sheet
from insight.errors import CodebookError, ColumnNotFound


def taguette_csv(path, tags):
    """A codebook as Taguette's "Export codebook > CSV" writes it (csv.writer: CRLF, UTF-8, no BOM)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["tag", "description", "number of highlights", "number of documents"])
    writer.writerows(tags)
    path.write_bytes(out.getvalue().encode("utf-8"))
    return path


def team_workbook(path):
    """A survey team's workbook: a read-me sheet first, then the codebook with parents listed after
    their children, a blank row, a row someone left without a name, a parent nobody defined,
    quotes in typographic quotes one per line, and a notes column."""
    import openpyxl

    book = openpyxl.Workbook()
    readme = book.active
    readme.title = "Read me"
    readme.append(["Codebook for the spring panel. Edit the Codebook sheet; one row per code."])
    sheet = book.create_sheet("Codebook")
    rows = [
        ["Code", "Parent", "Definition", "Include", "Exclude", "Example", "Notes"],                       # 1
        ["Damp and mould", "Housing", "Damp, mould or condensation in the home.",                        # 2
         "Any mention of black mould, damp walls or condensation.", "Repairs in general (use Repairs).",
         "\u201cBlack mould all over the bedroom wall.\u201d\n\u201cThe kids\u2019 clothes smell of damp.\u201d",
         "PS to check"],
        [None, None, None, None, None, None, None],                                                      # 3
        ["Repairs", "Housing", "Getting things fixed  by the landlord\nor the council.", None, None,      # 4
         "Took three visits to fix the boiler; Still waiting for the window", None],
        ["Housing", None, "Homes, tenancy and repairs.", None, None, None, None],                        # 5
        [None, "Housing", "Rent arrears, evictions", None, None, None, "half-finished row"],            # 6
        ["Bus services", "Transport", "Buses: routes, times, cost.", "Any bus.", "Trains.",               # 7
         "- The 42 stopped coming after six.", None],
        ["  Parking ", "transport", "Parking near home.", None, None, None, None],                       # 8
    ]
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


EXPECTED_TEAM = {
    "Damp and mould": dict(parent="Housing", definition="Damp, mould or condensation in the home.",
                           include="Any mention of black mould, damp walls or condensation.",
                           exclude="Repairs in general (use Repairs).",
                           examples=["Black mould all over the bedroom wall.",
                                     "The kids\u2019 clothes smell of damp."]),
    "Repairs": dict(parent="Housing", definition="Getting things fixed by the landlord or the council.", include="",
                    exclude="", examples=["Took three visits to fix the boiler", "Still waiting for the window"]),
    "Housing": dict(parent=None, definition="Homes, tenancy and repairs.", include="", exclude="", examples=[]),
    "Transport": dict(parent=None, definition="", include="", exclude="", examples=[]),
    "Bus services": dict(parent="Transport", definition="Buses: routes, times, cost.", include="Any bus.",
                         exclude="Trains.", examples=["The 42 stopped coming after six."]),
    "Parking": dict(parent="Transport", definition="Parking near home.", include="", exclude="", examples=[]),
}


def fields(code):
    return {k: getattr(code, k) for k in ("parent", "definition", "include", "exclude", "examples")}


def test_taguette_export_guessed_and_reported(tmp_path):
    path = taguette_csv(tmp_path / "codebook.csv", [
        ["interesting", "Worth quoting in the report", 12, 5],
        ["barriers", "Something that stops a resident getting help, e.g. cost, forms, \"phone only\"", 7, 3],
        ["highlight", "", 2, 1],
    ])
    book, report = read_sheet(path)
    assert book.name == "codebook"
    assert [(c.name, c.definition, c.parent) for c in book.codes] == [
        ("interesting", "Worth quoting in the report", None),
        ("barriers", "Something that stops a resident getting help, e.g. cost, forms, \"phone only\"", None),
        ("highlight", "", None)]
    assert report.columns["name"] == "tag" and report.columns["definition"] == "description"
    assert report.columns["parent"] is None and set(report.guessed) == {"name", "definition"}
    assert report.ignored == ["number of highlights", "number of documents"]
    assert report.columns_line().startswith("Columns: name=tag, definition=description, parent=(none), ")


def test_taguette_xlsx_export(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "codebook"
    sheet.append(["tag", "description", "number of highlights", "number of documents"])
    sheet.append(["waiting", "Waiting for a reply or a visit", 4, 2])
    sheet.append([2024, "A tag someone named with a number", 1, 1])  # a number typed as a tag
    workbook.save(tmp_path / "codebook.xlsx")
    book, _ = read_sheet(tmp_path / "codebook.xlsx")
    assert [(c.name, c.definition) for c in book.codes] == [
        ("waiting", "Waiting for a reply or a visit"), ("2024", "A tag someone named with a number")]


def test_team_workbook_hierarchy_and_criteria(tmp_path, ws):
    path = team_workbook(tmp_path / "spring panel codes.xlsx")
    result = ws.load_codebook(path, sheet="Codebook", name="spring")
    book = ws.codebook("spring")
    assert {c.name: fields(c) for c in book.codes} == EXPECTED_TEAM
    # parents come first in the stored order when they were added; otherwise the sheet's order
    assert book.names() == ["Damp and mould", "Repairs", "Housing", "Transport", "Bus services", "Parking"]
    sheet = result["sheet"]
    assert sheet["columns"] == {"name": "Code", "definition": "Definition", "parent": "Parent", "include": "Include",
                                "exclude": "Exclude", "examples": ["Example"], "counter_examples": None,
                                "keywords": None, "colour": None}
    assert sheet["skipped_rows"] == [6] and sheet["added_parents"] == ["Transport"]
    assert sheet["ignored"] == ["Notes"]
    notes = " ".join(sheet["notes"])
    assert "row 6 has no code name" in notes and "'Rent arrears, evictions'" in notes
    assert "'Transport' is named as a parent (rows 7, 8)" in notes
    # the stored codebook obeys every rule a YAML codebook does
    again = cb.parse_yaml(book.to_yaml(), "again.yaml")
    assert sorted(again.codes, key=lambda c: c.name) == sorted(book.codes, key=lambda c: c.name)


def test_first_sheet_without_codes_is_named(tmp_path):
    path = team_workbook(tmp_path / "codes.xlsx")
    with pytest.raises(CodebookError) as info:
        read_sheet(path)
    assert "could not tell which column holds the code names" in str(info.value) and "--name-col" in str(info.value)
    with pytest.raises(CodebookError) as info:
        read_sheet(path, sheet="Codes")
    assert "'Read me', 'Codebook'" in str(info.value)


def test_cp1252_semicolons_with_accents(tmp_path):
    text = ("Code;Definition;Parent;Examples;Keywords;Colour\r\n"
            "Caf\u00e9s and pubs;Places to meet \u2014 caf\u00e9s, pubs, the library;Community;"
            "\u201cThe caf\u00e9 is where I see people\u201d;caf\u00e9, pub, library;1F77B4\r\n"
            "Council tax;What residents pay: \u00a3 per month, arrears, discounts;;;council tax, bill;blue\r\n"
            "Community;Neighbours and groups;;;;\r\n")
    path = tmp_path / "codes_excel.csv"
    path.write_bytes(text.encode("cp1252"))
    book, report = read_sheet(path)
    cafe = book.code("Caf\u00e9s and pubs")
    assert cafe.definition == "Places to meet \u2014 caf\u00e9s, pubs, the library" and cafe.parent == "Community"
    assert cafe.examples == ["The caf\u00e9 is where I see people"]
    assert cafe.keywords == ["caf\u00e9", "pub", "library"] and cafe.colour == "#1f77b4"
    tax = book.code("Council tax")
    assert tax.definition.startswith("What residents pay: \u00a3 per month") and tax.keywords == ["council tax", "bill"]
    assert tax.colour is None
    notes = " ".join(report.notes)
    assert "read as cp1252" in notes and "row 3: colour 'blue' of 'Council tax' is not a hex colour" in notes


def test_bom_and_blank_rows_and_row_numbers(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_bytes("\ufeffCode,Definition,Counter-examples\r\n,,\r\nA,First.,Not this; nor this\r\n\r\n"
                     "B,Second.,\r\n".encode("utf-8"))
    book, report = read_sheet(path)
    assert report.columns["name"] == "Code" and report.columns["counter_examples"] == ["Counter-examples"]
    assert [(c.name, c.counter_examples) for c in book.codes] == [("A", ["Not this", "nor this"]), ("B", [])]
    assert report.notes == [] and report.skipped_rows == []
    path.write_bytes("\ufeffCode,Definition\r\n,\r\nA,First.\r\n\r\nB,Second.\r\nA,Again.\r\n".encode("utf-8"))
    with pytest.raises(CodebookError) as info:
        read_sheet(path)
    assert "'A' is in two rows (3 and 6)" in str(info.value) and info.value.row == 6


@pytest.mark.parametrize("rows, words, row", [
    ([["A", "B"], ["B", "C"], ["C", "A"]], "'A' (row 2) \u2192 'B' (row 3) \u2192 'C' (row 4) \u2192 'A'", 2),
    ([["A", ""], ["B", "B"]], "'B' (row 3) names itself as its parent", 3),
])
def test_cycles_name_their_rows(tmp_path, rows, words, row):
    path = tmp_path / "codes.csv"
    path.write_text("name,parent\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    with pytest.raises(CodebookError) as info:
        read_sheet(path)
    assert words in str(info.value) and info.value.row == row and info.value.hint


def test_named_columns_and_a_missing_one(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("ID,Short name,What it means,Category,Example 1,Example 2\n"
                    "H1,Damp,Damp at home.,Housing,Mould on the wall,Wet windows\n"
                    "H0,Housing,Homes.,,,\n", encoding="utf-8")
    book, report = read_sheet(path, columns={"name": "short NAME", "definition": "What it means", "parent": None})
    assert [(c.name, c.parent, c.definition, c.examples) for c in book.codes] == [
        ("Damp", None, "Damp at home.", ["Mould on the wall", "Wet windows"]), ("Housing", None, "Homes.", [])]
    assert report.columns["examples"] == ["Example 1", "Example 2"] and report.ignored == ["ID", "Category"]
    assert report.guessed == ["examples"]
    with pytest.raises(ColumnNotFound) as info:
        read_sheet(path, columns={"name": "Code"})
    assert "'Short name'" in str(info.value)


def test_cli_loads_a_sheet_and_says_how(tmp_path):
    path = team_workbook(tmp_path / "team.xlsx")
    db = str(tmp_path / "t.duckdb")
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "codebook", "load", str(path), "--sheet", "Codebook",
                                  "--codebook", "lived-experience", "--parent-col", "Parent",
                                  "--example-col", "Example"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == ("Columns: name=Code, definition=Definition, parent=Parent, include=Include, exclude=Exclude, "
                        "examples=Example, counter_examples=(none), keywords=(none), colour=(none) "
                        "(guessed: name, definition, include, exclude)")
    assert "Loaded lived-experience version 1 (6 codes)." in lines
    again = runner.invoke(main, ["--db", db, "codebook", "load", str(path), "--sheet", "Codebook",
                                 "--codebook", "lived-experience", "--json"])
    data = json.loads(again.stdout)
    assert data["created"] is False and data["version"] == 1 and data["sheet"]["skipped_rows"] == [6]
    wrong = runner.invoke(main, ["--db", db, "codebook", "load", str(path), "--name-col", "Nope"])
    assert wrong.exit_code != 0 and "no column named 'Nope'" in wrong.output
