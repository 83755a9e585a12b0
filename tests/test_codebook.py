"""Codebooks: YAML with line-numbered errors, numbered versions, diff, imported codes."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT
from insight import codebook as cb
from insight.cli import main
from insight.errors import CodebookError

SAMPLE = ROOT / "codebooks" / "lived_experience.yaml"

TINY = """\
name: tiny
title: Tiny
codes:
  - name: Housing
    definition: Homes.
    children:
      - name: Damp
        definition: Damp or mould in the home.
        include: Any mention of damp, mould or condensation.
        exclude: Repairs in general (use Repairs).
        examples: ["Black mould all over the bedroom wall."]
        counter_examples: ["The boiler broke."]
        keywords: [damp, mould, {pattern: [{LOWER: black}, {LOWER: mould}]}]
        colour: "#336699"
      - name: Repairs
        definition: Getting things fixed.
        keywords: [repair, fix]
"""


def test_sample_codebook_is_complete():
    book = cb.read_file(SAMPLE)
    assert len(book.codes) >= 12
    parents = {c.name for c in book.codes if c.parent is None}
    assert parents and all(c.parent in parents for c in book.codes if c.parent)
    for code in book.codes:
        for field in ("definition", "include", "exclude", "examples", "keywords"):
            assert getattr(code, field), f"{code.name} has no {field}"
    assert len({c.name for c in book.codes}) == len(book.codes)


def test_round_trip_through_yaml():
    book = cb.parse_yaml(TINY, "tiny.yaml")
    again = cb.parse_yaml(book.to_yaml(), "again.yaml")
    assert [c.as_dict() for c in again.codes] == [c.as_dict() for c in book.codes]
    assert book.code("Damp").parent == "Housing"
    assert book.code("Damp").keywords[2] == {"pattern": [{"LOWER": "black"}, {"LOWER": "mould"}]}


@pytest.mark.parametrize("text, line, words", [
    (TINY.replace("      - name: Repairs", "      - name: Damp"), 15, "duplicate code name 'Damp' (first at line 7)"),
    (TINY + "  - name: Orphan\n    parent: Nowhere\n", 19, "parent 'Nowhere'"),
    (TINY.replace("        colour:", "        color2:"), 14, "unknown field 'color2'"),
    (TINY.replace('colour: "#336699"', "colour: blue"), 14, "not a hex colour"),
    ("name: x\ncodes:\n  - name: A\n   definition: bad indent\n", 4, "not valid YAML"),
])
def test_mistakes_name_the_line_and_the_fix(text, line, words):
    with pytest.raises(CodebookError) as info:
        cb.parse_yaml(text, "book.yaml")
    assert info.value.line == line, str(info.value)
    assert words in str(info.value)
    assert info.value.hint


def test_versions_and_diff(ws):
    book = cb.parse_yaml(TINY, "tiny.yaml")
    assert cb.save(ws.con, book, author="ann") == (1, True)
    assert cb.save(ws.con, cb.parse_yaml(TINY, "tiny.yaml"), author="ann") == (1, False)
    edited = cb.parse_yaml(TINY.replace("Getting things fixed.", "Getting things in the home fixed."), "t")
    edited.codes.append(cb.Code("Heating", parent="Housing", definition="Boilers."))
    assert cb.save(ws.con, edited, author="bob", note="clarify repairs")[0] == 2
    renamed = cb.get(ws.con, "tiny")
    renamed.codes[1].name = "Damp and mould"
    cb.save(ws.con, renamed, author="bob")
    d = cb.diff(cb.get(ws.con, "tiny@1"), cb.get(ws.con, "tiny@2"))
    assert d["added"] == ["Heating"] and d["removed"] == [] and d["renamed"] == []
    assert d["changed"] == {"Repairs": {"definition": {"from": "Getting things fixed.",
                                                       "to": "Getting things in the home fixed."}}}
    d3 = cb.diff(cb.get(ws.con, "tiny@2"), cb.get(ws.con, "tiny"))
    assert d3["renamed"] == [{"from": "Damp", "to": "Damp and mould"}] and not d3["changed"]
    assert cb.get(ws.con, "tiny@2").author == "bob"


def test_cli_load_edit_load_diff(tmp_path):
    db = str(tmp_path / "t.duckdb")
    path = tmp_path / "book.yaml"
    path.write_text(SAMPLE.read_text())
    runner = CliRunner()
    first = runner.invoke(main, ["--db", db, "codebook", "load", str(path)])
    assert first.exit_code == 0 and "version 1" in first.output
    book = cb.read_file(path)
    code = book.codes[3]
    old_definition = code.definition
    code.definition = "An edited definition: the resident is sent from team to team."
    path.write_text(book.to_yaml())
    book = cb.read_file(SAMPLE)
    second = runner.invoke(main, ["--db", db, "codebook", "load", str(path)])
    assert "version 2" in second.output
    diff = runner.invoke(main, ["--db", db, "codebook", "diff", "lived-experience@1", "lived-experience@2", "--json"])
    import json

    data = json.loads(diff.stdout)
    assert data["added"] == data["removed"] == data["renamed"] == []
    assert list(data["changed"]) == [code.name] and list(data["changed"][code.name]) == ["definition"]
    listing = runner.invoke(main, ["--db", db, "codebook", "list"])
    assert "lived-experience@2" in listing.output
    shown = runner.invoke(main, ["--db", db, "codebook", "show", "lived-experience@1"])
    assert old_definition.split(". ")[0] in " ".join(shown.output.split())
    out = tmp_path / "exported.yaml"
    runner.invoke(main, ["--db", db, "codebook", "export", "lived-experience@1", "--out", str(out)])
    assert [c.as_dict() for c in cb.read_file(out).codes] == [c.as_dict() for c in book.codes]
    qdc = tmp_path / "exported.qdc"
    result = runner.invoke(main, ["--db", db, "codebook", "export", "lived-experience@1", "--out", str(qdc)])
    assert result.exit_code == 0, result.output
    from insight.refi import read_qdc

    assert [c.name for c in read_qdc(qdc).codes] == [c.name for c in book.codes]
