"""Coded datasets and reports, each read back with an independent reader and checked against
figures computed here from the store with pandas."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import ROOT

PANEL = (
    "respondent_id,ward,age,q1,q2,codes_a,codes_b\n"
    "R1,Eastgate,34,\"The bins, again, were missed\",More buses please,Transport,Transport\n"
    "R2,Riverside,67,\"=HYPERLINK(\"\"http://evil\"\")\",Answer the phone! I waited an hour,Phone; Trust,Phone\n"
    "R3,Eastgate,45,@SUM(1+1),-2 stars from me,Phone,=cmd\n"
    "R4,Northfield,29,\"+44 7700 900123 never answers\",Tabs\tinside,,\n"
)
INTERVIEW = "[00:01:05] Interviewer: How was the repair?\n\n[00:01:20] P9: Slow. Three weeks with no heating.\n"
CODEBOOK = """
name: lived
title: Lived experience
codes:
  - name: Services
    definition: Contact with council services.
    children:
      - name: Phone
        definition: Getting through by phone.
        include: Calls, hold times.
        exclude: Letters.
        examples: ["I waited an hour on the phone"]
        counter_examples: ["I wrote a letter"]
        keywords: [phone, {pattern: [{LEMMA: ring}]}]
        colour: "#1f77b4"
      - name: Transport
        definition: Buses and roads.
  - name: Trust
    definition: Whether people believe the council.
  - name: Repairs
    definition: Housing repairs.
"""


@pytest.fixture
def study(ws, tmp_path):
    """A panel coded by A and B, an interview, a partial span, a suggestion, a rejection, two theme runs."""
    from insight.codebook import parse_yaml, save

    save(ws.con, parse_yaml(CODEBOOK), author="test")
    (tmp_path / "panel.csv").write_text(PANEL, encoding="utf-8")
    (tmp_path / "P9_repairs.txt").write_text(INTERVIEW, encoding="utf-8")
    common = dict(study="s", id_col="respondent_id", text_cols=["q1", "q2"], attr_cols=["ward", "age"])
    for column, coder in (("codes_a=q2", "A"), ("codes_b=q2", "B")):
        report = ws.ingest([tmp_path / "panel.csv"], code_cols=[column], coder=coder, **common)
        assert not report.failed, report.failed[0].reason
    assert not ws.ingest([tmp_path / "P9_repairs.txt"], study="s").failed
    q = ws.con.execute
    bins = q("SELECT segment_id, start FROM segments WHERE text LIKE 'The bins%'").fetchone()
    heating = q("SELECT segment_id FROM segments WHERE text LIKE 'Slow.%'").fetchone()[0]
    phone = q("SELECT segment_id FROM segments WHERE text LIKE 'Answer the phone%'").fetchone()[0]
    rows = [(1000, bins[0], "Repairs", "A", "human", "accepted", None, bins[1] + 4, bins[1] + 8),
            (1001, heating, "Repairs", "auto", "rules", "suggested", 0.8, None, None),
            (1002, heating, "Trust", "auto", "semantic", "rejected", 0.4, None, None),
            (1003, heating, "Repairs", "B", "human", "accepted", None, None, None)]
    for cid, sid, code, coder, method, status, score, a, b in rows:  # a passage, or the whole segment
        q("""INSERT INTO codings (coding_id, document_id, start, "end", code, codebook_id, codebook_version, coder,
                                  method, status, score, created_at)
             SELECT ?, document_id, coalesce(?, start), coalesce(?, "end"), ?, 1, 1, ?, ?, ?, ?,
                    TIMESTAMP '2024-01-02 10:00:00' FROM segments WHERE segment_id = ?""",
          [cid, a, b, code, coder, method, status, score, sid])
    # two theme runs: the later one is the one exported
    q("INSERT INTO runs (run_id, study_id, step, status) VALUES (1, 1, 'themes', 'done'), (2, 1, 'themes', 'done')")
    q("INSERT INTO themes (run_id, theme_id, label, keywords, size) VALUES (1, 0, 'old', '[]', 1), "
      "(2, 0, 'Waiting for the council', '[\"wait\", \"phone\"]', 2), (2, 1, 'Getting about', '[\"bus\"]', 1)")
    q("INSERT INTO segment_themes (run_id, segment_id, theme_id, probability) VALUES (1, ?, 0, 1), "
      "(2, ?, 0, 0.9), (2, ?, 0, 0.7), (2, ?, 1, 0.8)",
      [phone, phone, heating, q("SELECT segment_id FROM segments WHERE text = 'More buses please'").fetchone()[0]])
    return ws


def store_codings(ws, statuses=("accepted",), coders=None) -> pd.DataFrame:
    """The codings as the store holds them, joined to their participant (computed independently)."""
    frame = ws.con.execute(
        'SELECT c.segment_id, c.code, c.coder, c.status, c.start, c."end", g.text AS segment_text, '
        "coalesce(g.participant_id, d.participant_id) AS pid FROM coding_segments c JOIN segments g USING (segment_id) "
        "JOIN documents d ON d.document_id = c.document_id").df()
    frame = frame[frame["status"].isin(statuses)]
    return frame[frame["coder"].isin(coders)] if coders else frame


def test_long_csv(study, tmp_path):
    out = tmp_path / "long.csv"
    summary = study.export(out, format="csv", statuses=["accepted", "suggested", "rejected"])
    data = pd.read_csv(out, dtype=str, keep_default_na=False)
    codings = store_codings(study, statuses=("accepted", "suggested", "rejected"))
    segments = study.con.execute("SELECT count(*) FROM segments").fetchone()[0]
    assert len(data) == summary["rows"] == len(codings) + segments - codings["segment_id"].nunique()
    for column in ("document", "kind", "participant", "ward", "age", "speaker", "start_time", "char_start",
                   "char_end", "text", "theme_id", "theme", "code", "coder", "method", "status", "score",
                   "coded_text", "codebook"):
        assert column in data.columns, column
    partial = data[(data["coded_text"] != "") & (data["coded_text"] != data["text"])]
    assert partial[["code", "coder", "coded_text"]].values.tolist() == [["Repairs", "A", "bins"]]
    assert set(data["status"]) == {"accepted", "suggested", "rejected", ""}
    decided = {"accepted": "yes", "rejected": "yes", "suggested": "no", "": ""}  # a person reviewed a rejection
    assert (data["decided"] == data["status"].map(decided)).all()
    r2 = data[data["participant"] == "R2"].iloc[0]
    assert (r2["ward"], r2["age"]) == ("Riverside", "67.0") or (r2["ward"], r2["age"]) == ("Riverside", "67")
    p9 = data[data["speaker"] == "P9"].iloc[0]
    assert p9["start_time"] == "00:01:20" and p9["participant"] == "P9" and p9["kind"] == "interview"
    assert p9["theme"] == "Waiting for the council"  # the latest run, not run 1's "old"
    assert "old" not in set(data["theme"])
    assert set(data.loc[data["code"] != "", "codebook"]) == {"lived@1", "s@1"}  # s: codes collected at ingest
    assert set(data.loc[data["codebook"] == "s@1", "code"]) == {"'=cmd"}
    # formula neutralisation: every risky cell starts with a quote, nothing else gained one
    texts = set(data["text"])
    for risky in ('=HYPERLINK("http://evil")', "@SUM(1+1)", "-2 stars from me", "+44 7700 900123 never answers"):
        assert "'" + risky in texts and risky not in texts
    assert "The bins, again, were missed" in texts and "'=cmd" in set(data["code"])
    for column in data.columns:
        assert not re.match(r"^[=+\-@\t\r]", str(column))
        assert not data[column].str.match(r"^[=+\-@\t\r]").any(), column


# -- what goes out by default ---------------------------------------------------------------------


BOM = b"\xef\xbb\xbf"
CODES = ["Services", "Phone", "Transport", "Trust", "Repairs", "=cmd"]  # codebook order, then others


def store_ids(ws, *statuses) -> dict[int, str]:
    where = ", ".join(f"'{s}'" for s in statuses)
    return dict(ws.con.execute(f"SELECT coding_id, status FROM codings WHERE status IN ({where})").fetchall())


def test_the_default_dataset_holds_what_the_team_decided(study, tmp_path):
    summary = study.export(tmp_path / "long.csv")
    data = pd.read_csv(tmp_path / "long.csv", dtype=str, keep_default_na=False)
    coded = data[data["code"] != ""]
    assert dict(zip(coded["coding_id"].astype(int), coded["status"])) == store_ids(study, "accepted")
    assert set(coded["decided"]) == {"yes"} and "auto" not in set(coded["coder"])
    decided = store_codings(study)
    segments = study.con.execute("SELECT count(*) FROM segments").fetchone()[0]
    assert len(data) == summary["rows"] == len(decided) + segments - decided["segment_id"].nunique()
    assert summary["statuses"] == "accepted" and summary["suggestions"].startswith("left out")
    wide = study.dataset(shape="wide")
    assert not [c for c in wide.columns if c.endswith("_suggested")]


def test_suggestions_come_only_on_request_and_marked(study, tmp_path):
    from insight.errors import InsightError

    summary = study.export(tmp_path / "long.csv", include_suggestions=True)
    data = pd.read_csv(tmp_path / "long.csv", dtype=str, keep_default_na=False)
    coded = data[data["code"] != ""]
    assert dict(zip(coded["coding_id"].astype(int), coded["status"])) == store_ids(study, "accepted", "suggested")
    assert (coded["decided"] == coded["status"].map({"accepted": "yes", "suggested": "no"})).all()
    assert summary["suggestions"].startswith("included, marked")
    # wide: the decided 0/1 columns stay as they were; open suggestions get columns of their own
    plain, wide = study.dataset(shape="wide"), study.dataset(shape="wide", include_suggestions=True)
    assert plain[CODES].equals(wide[CODES])
    assert [c for c in wide.columns if c.endswith("_suggested")] == [c + "_suggested" for c in CODES]
    open_ = store_codings(study, statuses=("suggested",))
    got = {(s, c) for c in CODES for s in wide.loc[wide[c + "_suggested"] == 1, "segment_id"]}
    assert got == set(zip(open_["segment_id"], open_["code"])) and got
    heating = wide.set_index("segment_id").loc[open_["segment_id"].iloc[0]]
    assert heating["Repairs"] == 1 and heating["Repairs_suggested"] == 1  # B accepted it; auto suggested it too
    with pytest.raises(InsightError, match="coded dataset only"):
        study.export(tmp_path / "quotes.md", format="report", include_suggestions=True)


def test_a_csv_has_a_bom_for_excel_and_reads_cleanly_in_pandas_and_csv(ws, tmp_path):
    """Excel reads a CSV as UTF-8 only after a byte-order mark. pandas drops the mark by default and
    with utf-8-sig; Python's csv module needs utf-8-sig (plain utf-8 keeps it in the first header)."""
    import csv

    words = "Interviewer: Was it the café or the “hub”?\r\nP1: The café, naïvely — £3 a go.\r\n"
    (tmp_path / "P1.txt").write_bytes(words.encode("utf-8"))
    ws.ingest([tmp_path / "P1.txt"], study="s")
    out = tmp_path / "s.csv"
    ws.export(out)
    raw = out.read_bytes()
    assert raw.startswith(BOM) and not raw[3:].startswith(BOM)
    assert raw[3:].decode("utf-8").lstrip('"').startswith("study")
    for frame in (pd.read_csv(out), pd.read_csv(out, encoding="utf-8-sig"), pd.read_csv(out, engine="python")):
        assert frame.columns[0] == "study" and "The café, naïvely — £3 a go." in set(frame["text"])
    with open(out, encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle))[0] == "study"
    with open(out, encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle))[0] == '\ufeff"study"'  # the mark, then the quotes kept: use utf-8-sig


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_r_reads_the_csv_header_cleanly(ws, tmp_path):
    """readr, and read.csv with the fileEncoding the docs give, in a locale without UTF-8 (C)."""
    (tmp_path / "P1.txt").write_text("Interviewer: The café?\nP1: Yes, the café.\n", encoding="utf-8")
    ws.ingest([tmp_path / "P1.txt"], study="s")
    ws.export(tmp_path / "s.csv")
    script = ('f <- commandArgs(TRUE)[1]; cat(names(read.csv(f, fileEncoding = "UTF-8-BOM"))[1], "\\n"); '
              'if (requireNamespace("readr", quietly = TRUE)) '
              'cat(names(readr::read_csv(f, show_col_types = FALSE))[1], "\\n")')
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    result = subprocess.run(["Rscript", "-e", script, str(tmp_path / "s.csv")], capture_output=True, text=True,
                            env=env, check=True)
    assert set(result.stdout.split()) == {"study"}, result.stdout


def test_long_and_wide_files_get_their_own_default_names(study, tmp_path):
    from insight.cli import main

    folder = tmp_path / "exports"
    folder.mkdir()
    assert study.export(folder)["file_name"] == "s_coded_long.csv"
    assert Path(study.export(folder, shape="wide")["out"]) == folder / "s_coded_wide.csv"
    assert "decided" in pd.read_csv(folder / "s_coded_long.csv").columns
    assert "Phone" in pd.read_csv(folder / "s_coded_wide.csv").columns
    db = study.path
    study.close()
    result = CliRunner().invoke(main, ["--db", db, "export", "--out", str(folder), "--format", "parquet",
                                       "--shape", "wide", "--include-suggestions"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Wrote {folder / 's_coded_wide.parquet'}: parquet (wide)")
    assert "Phone_suggested" in pd.read_parquet(folder / "s_coded_wide.parquet").columns
    assert sorted(p.name for p in folder.iterdir()) == ["s_coded_long.csv", "s_coded_wide.csv",
                                                        "s_coded_wide.parquet"]
    result = CliRunner().invoke(main, ["--db", db, "export", "--out", str(folder / "q.md"), "--include-suggestions"])
    assert result.exit_code == 1 and "coded dataset only" in result.output


def test_neutralisers_cover_tab_and_carriage_return():
    """Segment text is trimmed at ingest, so leading tabs and CRs are tested on the writers' helper."""
    import pyarrow as pa

    from insight.export import neutralise_arrow, neutralise_frame

    values = ["\tx", "\rx", "=1", "+1", "-1", "@x", "safe = 1", None, ""]
    expected = ["'\tx", "'\rx", "'=1", "'+1", "'-1", "'@x", "safe = 1", None, ""]
    table = neutralise_arrow(pa.table({"=h": values, "n": list(range(9))}))
    assert table.column_names == ["'=h", "n"] and table.column("'=h").to_pylist() == expected
    frame = neutralise_frame(pd.DataFrame({"+h": values}))
    assert list(frame.columns) == ["'+h"] and [None if pd.isna(v) else v for v in frame["'+h"]] == expected


def test_wide_parquet_matches_the_store(study, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "wide.parquet"
    study.export(out, shape="wide", coders=["B"])
    table = pq.read_table(out)
    data = table.to_pandas()
    settings = json.loads(table.schema.metadata[b"insight"])
    assert settings["coders"] == "B" and settings["statuses"] == "accepted" and settings["shape"] == "wide"
    assert len(data) == study.con.execute("SELECT count(*) FROM segments").fetchone()[0]
    codings = store_codings(study, coders=["B"])
    expected = {(s, c) for s, c in zip(codings["segment_id"], codings["code"])}
    codes = ["Services", "Phone", "Transport", "Trust", "Repairs", "=cmd"]  # codebook order, then others
    assert [c for c in data.columns if c in codes] == codes
    got = {(s, c) for c in codes for s in data.loc[data[c] == 1, "segment_id"]}
    assert got == expected
    assert set(data[codes].to_numpy().ravel()) <= {0, 1}
    assert data.loc[data["text"].str.startswith("=HYPERLINK"), "text"].size == 1  # Parquet keeps text as it is
    assert data["age"].dtype.kind == "f"  # a number attribute stays a number


def test_xlsx_sheets_and_neutralised_cells(study, tmp_path):
    import openpyxl

    out = tmp_path / "coded.xlsx"
    study.export(out, shape="wide", codebook="lived@1")
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["data", "codebook", "settings"]
    rows = list(book["data"].values)
    header, body = rows[0], rows[1:]
    assert "Phone" in header and "=cmd" not in header and "'=cmd" not in header  # not in codebook lived
    cells = [cell for row in book["data"].iter_rows(min_row=2) for cell in row]
    assert not [c.value for c in cells if c.data_type == "f"]
    texts = [r[header.index("text")] for r in body]
    assert "'=HYPERLINK(\"http://evil\")" in texts and "'@SUM(1+1)" in texts
    codebook = pd.DataFrame(list(book["codebook"].values)[1:], columns=list(book["codebook"].values)[0])
    phone = codebook.set_index("name").loc["Phone"]
    assert phone["parent"] == "Services" and phone["include"] == "Calls, hold times." and phone["colour"] == "#1f77b4"
    assert phone["examples"] == "I waited an hour on the phone" and phone["counter_examples"] == "I wrote a letter"
    assert '{"pattern"' in phone["keywords"]
    settings = dict(list(book["settings"].values)[1:])
    assert settings["statuses"] == "accepted" and settings["codebook"] == "lived@1"
    assert "statuses" in settings["code columns"]


def test_quotes_reports_in_three_formats(study, tmp_path):
    import docx
    from lxml import html

    for suffix in ("md", "html", "docx"):
        summary = study.export(tmp_path / f"quotes.{suffix}", format="report")
        assert summary["report_format"] == suffix
    md = (tmp_path / "quotes.md").read_text(encoding="utf-8")
    assert "## Phone" in md and "**Definition:** Getting through by phone." in md
    assert "> Answer the phone! I waited an hour" in md and "— R2, R2; coded by A, B" in md
    assert "> bins" in md  # a partial span quotes exactly its characters
    assert "\\=HYPERLINK" not in md and "=HYPERLINK" not in md  # q1 of R2 is coded by nobody
    page = html.fromstring((tmp_path / "quotes.html").read_bytes())
    quotes = page.xpath("//blockquote")
    accepted = store_codings(study).drop_duplicates(["segment_id", "code", "start", "end"])
    assert len(quotes) == len(accepted)
    assert [h.text for h in page.xpath("//h2")] == ["Services", "Phone", "Transport", "Trust", "Repairs", "=cmd"]
    assert any("— P9, P9 repairs; coded by B" in q.text_content() for q in quotes)
    document = docx.Document(tmp_path / "quotes.docx")
    styled = [p.text for p in document.paragraphs if p.style.name == "Quote"]
    assert len(styled) == len(accepted) and "Slow. Three weeks with no heating." in styled
    themes = study.export(tmp_path / "themes.md", format="report", per="theme")
    text = (tmp_path / "themes.md").read_text(encoding="utf-8")
    assert themes["sections"] == 2 and text.index("## Waiting for the council") < text.index("## Getting about")
    assert "**Keywords:** wait, phone" in text and "> More buses please" in text


def test_framework_matrix(study, tmp_path):
    import openpyxl

    out = tmp_path / "framework.xlsx"
    study.export(out, format="framework", max_quotes=1)
    book = openpyxl.load_workbook(out)
    counts = pd.DataFrame(list(book["counts"].values)[1:], columns=list(book["counts"].values)[0]).set_index("id")
    codings = store_codings(study).drop_duplicates(["segment_id", "code", "start", "end"])
    ids = dict(study.con.execute("SELECT participant_id, external_id FROM participants").fetchall())
    expected = codings.assign(id=codings["pid"].map(ids)).groupby(["id", "code"]).size()
    for (pid, code), n in expected.items():
        assert counts.at[pid, "'" + code if code.startswith("=") else code] == n
    assert counts.drop(columns=["participant", "ward", "age"]).to_numpy().sum() == expected.sum()
    assert set(counts.index) == set(ids.values())  # every participant has a row, coded or not
    frame = list(book["framework"].values)
    header = frame[0]
    r2 = next(r for r in frame if r[0] == "R2")
    assert r2[header.index("Phone")].startswith("n = 1\n• Answer the phone! I waited an hour (R2)")
    assert book["framework"].cell(row=2, column=header.index("Phone") + 1).alignment.wrap_text


def test_cooccurrence(study, tmp_path):
    study.export(tmp_path / "co.csv", format="cooccurrence")
    assert (tmp_path / "co.csv").read_bytes().startswith(BOM)  # Excel's cue for UTF-8, as in the dataset
    data = pd.read_csv(tmp_path / "co.csv", index_col="code")
    codings = store_codings(study)[["segment_id", "code"]].drop_duplicates()
    pairs = codings.merge(codings, on="segment_id")
    expected = pairs.groupby(["code_x", "code_y"]).size()
    data.index = [i.lstrip("'") for i in data.index]
    data.columns = [c.lstrip("'") for c in data.columns]
    for (a, b), n in expected.items():
        assert data.at[a, b] == n
    assert data.to_numpy().sum() == expected.sum()
    assert data.at["Phone", "Trust"] == 1 and data.at["Phone", "Phone"] == 2
    study.export(tmp_path / "co.xlsx", format="cooccurrence")
    import openpyxl

    assert openpyxl.load_workbook(tmp_path / "co.xlsx").sheetnames == ["co-occurrence", "jaccard", "settings"]


def test_crosstab_counts_and_column_percentages(study, tmp_path):
    study.export(tmp_path / "ward.csv", format="crosstab", by="ward")
    data = pd.read_csv(tmp_path / "ward.csv", index_col="code")
    people = study.participants("s")[["participant_id", "ward"]].fillna({"ward": "(missing)"})
    units = study.con.execute("SELECT DISTINCT coalesce(g.participant_id, d.participant_id) AS participant_id "
                              "FROM segments g JOIN documents d USING (document_id)").df().merge(people)
    coded = store_codings(study)[["pid", "code"]].drop_duplicates().rename(columns={"pid": "participant_id"})
    coded = coded.merge(people)
    base = units.groupby("ward").size()
    counts = coded.groupby(["code", "ward"]).size()
    assert list(data.columns[::2]) == ["Eastgate n", "Northfield n", "Riverside n", "(missing) n", "All n"]
    for ward, n in base.items():
        assert data.at["base (participants)", f"{ward} n"] == n
    for (code, ward), n in counts.items():
        code = "'" + code if code.startswith("=") else code
        assert data.at[code, f"{ward} n"] == n
        assert data.at[code, f"{ward} %"] == pytest.approx(round(100 * n / base[ward], 1))
    assert data.at["Phone", "All n"] == 2 and data.at["Phone", "All %"] == pytest.approx(40.0)
    counts_ws, percents, base_ws = study.crosstab("ward", unit="segments")
    assert base_ws["All"] == study.con.execute("SELECT count(*) FROM segments WHERE participant_id IS NOT NULL "
                                               "OR document_id IN (SELECT document_id FROM documents WHERE "
                                               "participant_id IS NOT NULL)").fetchone()[0]


def test_cli_export_and_errors(study, tmp_path):
    from insight.cli import main

    db = study.path
    study.close()
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "export", "--out", str(tmp_path / "x.parquet"), "--shape", "wide",
                                  "--coder", "A", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["coders"] == "A"
    result = runner.invoke(main, ["--db", db, "export", "--out", str(tmp_path / "x.csv"), "--coder", "Nobody"])
    assert result.exit_code == 1 and "No coder named 'Nobody'" in result.output and "'A'" in result.output
    result = runner.invoke(main, ["--db", db, "export", "--format", "crosstab", "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 1 and "--by" in result.output and "ward" in result.output
    result = runner.invoke(main, ["--db", db, "export", "--out", str(tmp_path / "x.weird")])
    assert result.exit_code == 1 and "Cannot tell the format" in result.output
    result = runner.invoke(main, ["--db", db, "export", "--out", str(tmp_path / "no" / "such" / "x.csv")])
    assert result.exit_code == 1 and "does not exist" in result.output
    result = runner.invoke(main, ["--db", db, "export", "--out", str(tmp_path / "q.docx"), "--format", "report"])
    assert result.exit_code == 0 and "quotes" in result.output
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written files left behind


def test_several_studies_need_a_name(ws, tmp_path):
    from insight.errors import InsightError

    (tmp_path / "a.txt").write_text("Interviewer: Hi.\nP1: Hello.\n")
    ws.ingest([tmp_path / "a.txt"], study="one")
    ws.ingest([tmp_path / "a.txt"], study="two")
    with pytest.raises(InsightError, match="say which one"):
        ws.export(tmp_path / "x.csv")
    assert ws.export(tmp_path / "x.csv", study="two")["rows"] == 2


def test_the_sample_study_exports_every_format(ws, tmp_path):
    """The project's own corpus, through every export format, read back by an independent reader."""
    import docx
    import openpyxl
    import pyarrow.parquet as pq

    corpus = [ROOT / "corpora" / part for part in ("panel", "interviews")]
    if not all(p.exists() for p in corpus):
        pytest.skip("no sample corpus")
    report = ws.ingest(corpus, study="sample")
    assert report.totals()["segments"] > 0
    formats = {"csv": "d.csv", "parquet": "d.parquet", "xlsx": "d.xlsx", "report": "r.docx",
               "framework": "f.xlsx", "cooccurrence": "c.csv", "qdpx": "p.qdpx"}
    for fmt, name in formats.items():
        ws.export(tmp_path / name, format=fmt, study="sample")
    segments = ws.con.execute("SELECT count(*) FROM segments g JOIN documents d USING (document_id) "
                              "JOIN studies s USING (study_id) WHERE s.name = 'sample'").fetchone()[0]
    assert len(pd.read_csv(tmp_path / "d.csv")) >= segments
    assert pq.read_table(tmp_path / "d.parquet").num_rows >= segments
    assert openpyxl.load_workbook(tmp_path / "d.xlsx", read_only=True).sheetnames == ["data", "codebook", "settings"]
    assert docx.Document(tmp_path / "r.docx").paragraphs[0].text == "Quotes by code: sample"
    assert report.totals()["codings"] > 0 and "ward" in ws.participants("sample").columns
    ws.export(tmp_path / "x.xlsx", format="crosstab", by="ward", study="sample")
    sheets = openpyxl.load_workbook(tmp_path / "x.xlsx")
    assert sheets.sheetnames == ["counts", "column %", "settings"]
    header = [c.value for c in sheets["counts"][1]]
    assert header[0] == "code" and header[-1] == "All" and sheets["counts"]["A2"].value == "base (participants)"
    ws.export(tmp_path / "q.qdc", format="qdc", study="sample")
    assert pd.read_csv(tmp_path / "c.csv", index_col=0).shape[0] > 0
