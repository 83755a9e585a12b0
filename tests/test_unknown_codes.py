"""Codes that arrive with the data but are not in the codebook (typos such as 'beween'): listed at
ingest with the nearest codebook names, and folded into the codebook's codes (undoable)."""

import csv
import difflib
import io
import json
import re
import zipfile
from collections import Counter

import pytest
from click.testing import CliRunner

from conftest import make_docx
from insight.cli import main
from insight.errors import CodebookError

CODEBOOK = """\
name: lived-experience
codes:
  - name: Getting help
    children:
      - name: between
        definition: Passed between services.
      - name: highlight
        definition: A moment worth quoting.
  - name: Bins and streets
    definition: Bins, litter, street cleaning.
  - name: Parks and green spaces
    definition: Parks, play areas, green spaces.
"""

# A panel export as a team keeps it: typed codes in one cell, mixed separators, a blank cell, a
# code in lower case, one code nobody put in the codebook, and a row coded twice with one meaning.
PANEL = [
    ["respondent_id", "ward", "q1", "codes_q1"],
    ["R001", "Northbrook", "I was sent beween the council and the housing association for three months.", "beween"],
    ["R002", "Eastgate", "The bins were left for three weeks and the street is full of litter now.",
     "bins and streets; beween"],
    ["R003", "Northbrook", "The new play area in the park is lovely, the kids go there every day.",
     "Parks and green spaces|higlight"],
    ["R004", "Southside", "Parking near the school is impossible at pick-up time every single day.", "Parking"],
    ["R005", "Eastgate", "Nobody answers the phone so you go back and forth between the offices.", "between; beween"],
    ["R006", "Southside", "Honestly nothing much to say about the council this year at all really.", ""],
]


@pytest.fixture
def study(ws, tmp_path):
    book = tmp_path / "lived_experience.yaml"
    book.write_text(CODEBOOK)
    ws.load_codebook(book)
    path = tmp_path / "panel.csv"
    out = io.StringIO()
    csv.writer(out).writerows(PANEL)
    path.write_bytes(out.getvalue().encode("cp1252"))
    report = ws.ingest([path], study="panel", id_col="respondent_id", text_cols=["q1"], attr_cols=["ward"],
                       code_cols=["codes_q1"], code_sep=[";", "|"], coder="Priya Shah")
    return ws, report


def expected_unknown():
    """Codings per code straight from the table, minus the codebook's names (an independent count)."""
    counts = Counter(code.strip() for row in PANEL[1:] for code in re.split(r"[;|]", row[3]) if code.strip())
    names = ["Getting help", "between", "highlight", "Bins and streets", "Parks and green spaces"]
    return {code: n for code, n in counts.items() if code not in names}, names


def test_ingest_lists_codes_not_in_the_codebook(study):
    ws, report = study
    (file,) = report.files
    unknown, names = expected_unknown()
    assert file.checked_against == "lived-experience@1"
    assert {u["code"]: u["codings"] for u in file.unknown_codes} == unknown == {
        "beween": 3, "bins and streets": 1, "higlight": 1, "Parking": 1}
    for u in file.unknown_codes:  # nearest names as difflib finds them, ignoring case
        lowered = {n.lower(): n for n in names}
        near = difflib.get_close_matches(u["code"].lower(), list(lowered), n=3, cutoff=0.6)
        assert u["nearest"] == [lowered[n] for n in near], u
    suggested = {u["code"]: u["suggested"] for u in file.unknown_codes}
    assert suggested == {"beween": "between", "bins and streets": "Bins and streets", "higlight": "highlight",
                         "Parking": None}
    data = report.to_dict()
    assert {u["code"] for u in data["unknown_codes"]} == set(unknown)
    assert all(u["codebook"] == "lived-experience@1" and u["files"] == [file.path] for u in data["unknown_codes"])
    # they were kept, with their codings, in the codebook named after the study
    assert sorted(ws.codebook("panel").names()) == sorted(unknown)


def test_cli_ingest_prints_the_report(ws, tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(CODEBOOK)
    path = tmp_path / "panel.csv"
    out = io.StringIO()
    csv.writer(out).writerows(PANEL)
    path.write_text(out.getvalue(), encoding="utf-8")
    db = str(ws.path)
    ws.close()
    runner = CliRunner()
    runner.invoke(main, ["--db", db, "codebook", "load", str(book)])
    result = runner.invoke(main, ["--db", db, "ingest", str(path), "--study", "panel", "--id-col", "respondent_id",
                                  "--text-col", "q1", "--code-col", "codes_q1", "--code-sep", ";", "--code-sep", "|",
                                  "--coder", "Priya Shah"])
    assert result.exit_code == 0, result.output
    assert ("4 codes are not in codebook lived-experience@1: 'beween' (nearest: 'between'), 'bins and streets' "
            "(nearest: 'Bins and streets'), 'higlight' (nearest: 'highlight'), 'Parking' (no close name).") \
        in result.output
    assert "insight codebook fold 'beween' 'between'" in result.output
    listing = runner.invoke(main, ["--db", db, "codebook", "fold"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0] == "4 code(s) of the codings of study 'panel' are not in codebook lived-experience@1:"
    assert re.search(r"'beween'\s+3 coding\(s\)\s+nearest: 'between'\s+-> insight codebook fold 'beween' 'between'",
                     lines[1])


def test_fold_one_moves_codings_ties_them_and_undo_puts_them_back(study):
    ws, _ = study
    before = ws.codings(study="panel")
    beween = before[before["code"] == "beween"]
    # R005 was coded 'between' and 'beween' on one answer: folding leaves one coding there
    r005 = set(before[before["code"] == "between"]["document_id"])
    kept = beween[~beween["document_id"].isin(r005)]
    result = ws.fold_code("beween", "between")
    assert result["codings"] == len(beween) == 3 and result["merged_duplicates"] == 1
    assert result["removed_from"] == ["panel@2"] and "beween" not in ws.codebook("panel").names()
    after = ws.codings(study="panel")
    assert "beween" not in set(after["code"])
    between = after[after["code"] == "between"]
    assert sorted(between["coding_id"]) == sorted([*kept["coding_id"], *before[before["code"] == "between"]["coding_id"]])
    tied = ws.con.execute("SELECT DISTINCT b.name, c.codebook_version FROM codings c JOIN codebooks b "
                          "USING (codebook_id) WHERE c.code = 'between'").fetchall()
    assert tied == [("lived-experience", 1)]
    assert ws.history(study="panel").iloc[0]["action"] == "relabelled"
    ws.undo()
    again = ws.codings(study="panel")
    assert sorted(again[again["code"] == "beween"]["coding_id"]) == sorted(beween["coding_id"])
    tied = ws.con.execute("SELECT DISTINCT b.name FROM codings c JOIN codebooks b USING (codebook_id) "
                          "WHERE c.code = 'beween'").fetchall()
    assert tied == [("panel",)]
    assert {u["code"] for u in ws.unknown_codes(study="panel")["codes"]} >= {"beween"}


def test_fold_all_folds_only_likely_typos(study, tmp_path):
    ws, _ = study
    db = str(ws.path)
    ws.close()
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "codebook", "fold", "--all", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(f["from"], f["to"]) for f in data["folded"]] == [
        ("beween", "between"), ("bins and streets", "Bins and streets"), ("higlight", "highlight")]
    left = runner.invoke(main, ["--db", db, "codebook", "fold", "--json"])
    assert [u["code"] for u in json.loads(left.stdout)["codes"]] == ["Parking"]
    listed = runner.invoke(main, ["--db", db, "codebook", "list"])
    assert "panel@4  1 codes" in listed.output


@pytest.mark.parametrize("old, new, words", [
    ("beween", "betwen", "lived-experience@1: 'betwen' is not a code of this codebook Did you mean 'between'?"),
    ("between", "highlight", "'between' is a code of this codebook"),
    ("bewteen", "between", "no coding uses the code 'bewteen'"),
])
def test_fold_refuses_what_it_cannot_do(study, old, new, words):
    ws, _ = study
    with pytest.raises(CodebookError) as info:
        ws.fold_code(old, new)
    assert words in " ".join(str(info.value).split())


def test_word_comments_with_typos_are_listed(ws, tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text(CODEBOOK)
    ws.load_codebook(book)
    doc = make_docx(tmp_path / "P07 interview.docx",
                    ["Interviewer: How did it go?", "P07: They passed me beween three teams.",
                     "P07: The best bit was the nurse who came round."],
                    [(1, "Sam Reid", "beween"), (2, "Sam Reid", "higlight"), (2, "Sam Reid", "highlight")])
    report = ws.ingest([doc], study="interviews")
    (file,) = report.files
    assert file.status == "added", file.reason
    assert [(u["code"], u["codings"], u["suggested"]) for u in file.unknown_codes] == [
        ("beween", 1, "between"), ("higlight", 1, "highlight")]


def test_a_refi_project_is_checked_against_the_codebook_loaded_before_it(ws, tmp_path):
    from test_refi import NS, make_project

    book = tmp_path / "book.yaml"
    book.write_text("name: team\ncodes:\n  - name: Waiting times\n  - name: Neglect\n  - name: Kindness\n")
    ws.load_codebook(book)
    project = make_project(tmp_path)
    report = ws.ingest([project], study="interviews")
    (file,) = report.files
    assert file.status == "added", file.reason
    # independently: codings per code name, straight from the project's XML
    from lxml import etree

    root = etree.fromstring(zipfile.ZipFile(project).read("project.qde"))
    names = {c.get("guid").strip("{}").lower(): c.get("name") for c in root.iter(f"{{{NS}}}Code")}
    used = Counter(names[ref.get("targetGUID").strip("{}").lower()] for ref in root.iter(f"{{{NS}}}CodeRef"))
    assert file.checked_against == "team@1"
    assert {u["code"]: u["codings"] for u in file.unknown_codes} == {
        code: n for code, n in used.items() if code not in ("Neglect", "Kindness")}
    waiting = next(u for u in file.unknown_codes if u["code"] == "Waiting")
    assert waiting["nearest"] == ["Waiting times"] and waiting["suggested"] is None  # 0.7 alike: near, not a typo


def test_no_codebook_yet_means_no_report(ws, tmp_path):
    path = tmp_path / "panel.csv"
    out = io.StringIO()
    csv.writer(out).writerows(PANEL)
    path.write_text(out.getvalue(), encoding="utf-8")
    report = ws.ingest([path], study="panel", id_col="respondent_id", text_cols=["q1"], code_cols=["codes_q1"],
                       code_sep=[";", "|"], coder="Priya Shah")
    assert report.files[0].unknown_codes == [] and report.files[0].checked_against is None
    assert report.to_dict()["unknown_codes"] == []


def test_a_folded_code_that_comes_back_is_collected_again(study, tmp_path):
    ws, _ = study
    ws.fold_code("beween", "between")
    ws.undo()  # the codings are 'beween' again, and no codebook's latest version has it
    path = tmp_path / "more.csv"
    path.write_text("respondent_id,q1,codes_q1\nR101,They passed me beween two offices for a month or more.,beween\n",
                    encoding="utf-8")
    report = ws.ingest([path], study="panel", id_col="respondent_id", text_cols=["q1"], code_cols=["codes_q1"],
                       coder="Priya Shah")
    assert [u["code"] for u in report.files[0].unknown_codes] == ["beween"]
    assert "beween" in ws.codebook("panel").names()
    tied = ws.con.execute("SELECT DISTINCT b.name, c.codebook_version FROM codings c JOIN codebooks b "
                          "USING (codebook_id) WHERE c.code = 'beween' AND c.explanation LIKE '%more.csv'").fetchall()
    assert tied == [("panel", ws.codebook("panel").version)]
