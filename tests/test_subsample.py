"""Two coders' spreadsheets where the second coded a 20% sub-sample and left the other rows blank.

The files are written the way real exports look: the first coder's from Excel in a European locale
(cp1252, ``;`` between fields, Windows line endings, dates as DD/MM/YYYY, one of them impossible),
the second coder's as "CSV UTF-8" (a BOM, ``,`` between fields); numeric codes separated by ``;``,
``; `` or a space, blank cells, "n/a" answers, a respondent who answered nothing and one the second
coder's file has but the first's has not. Every figure is checked against scikit-learn on units
decided from the files themselves (csv module, not Insight's reader): a row is coded by a coder
when it has a code in any of the coder's code columns; its answers with text are the units.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score

from insight.cli import main
from insight.ui.safe import plain

QUESTIONS = [("Q1 contact", "Q1 codes"), ("Q2 one change", "Q2 codes"), ("Q3 your area", "Q3 codes")]
CODE_COLS = [f"{code}={text}" for text, code in QUESTIONS]
PHRASES = {  # a shared numeric code frame, as survey coding often uses
    "1": ["the 42 bus doesn’t run after six", "no bus to the hospital", "buses late every morning"],
    "2": ["black mould in the kids’ room", "the damp is back again", "waited months for a repair"],
    "3": ["bins missed three weeks running", "litter all along the river path", "fly-tipping behind the shops"],
    "4": ["held on the phone for 40 minutes", "nobody answers the contact centre", "emailed twice, no reply"],
    "5": ["council tax up again, £2,100 now", "can’t afford the bills", "the debt letters scare me"],
    "6": ["don’t feel safe at night", "drug dealing by the garages", "the underpass is frightening"],
    "7": ["keep the library open", "the park is lovely – keep it that way", "the café at the hub is great"],
    "8": ["thank you to the repairs team", "the staff at the hub were brilliant", "fine, no complaints"],
}
NOTHING = ["n/a", "Nothing to add.", "don’t know", "No comment"]


def _answer(rng: random.Random) -> tuple[str, set[str]]:
    """An answer and the codes that truly apply to it."""
    if rng.random() < 0.08:
        return rng.choice(NOTHING), set()
    truth = set(rng.sample(sorted(PHRASES), rng.choice([1, 1, 1, 2])))
    text = ". ".join(rng.choice(PHRASES[c]) for c in sorted(truth))
    return text[0].upper() + text[1:] + rng.choice([".", "", "!!", " & that’s it"]), truth


def _judge(rng: random.Random, truth: set[str], slip: float) -> set[str]:
    """A coder's codes for an answer: the true ones, each missed with probability ``slip``, and now
    and then a code that does not apply."""
    codes = {c for c in truth if rng.random() > slip}
    if truth and rng.random() < slip / 2:
        codes.add(rng.choice(sorted(PHRASES)))
    return codes


def _cell(rng: random.Random, codes: set[str]) -> str:
    return rng.choice(["; ", ";", " "]).join(sorted(codes, key=int))


def write_exports(folder, seed: int = 7, respondents: int = 130):
    """The first coder's file (every row) and the second's (the same rows, ~20% coded, one extra)."""
    rng = random.Random(seed)
    rows = []
    for i in range(1, respondents + 1):
        rid = f"NB-{i:04d}"
        answers = {}
        for text_col, _ in QUESTIONS:
            answers[text_col] = ("", set()) if rng.random() < 0.12 else _answer(rng)
        if i in (5, 77):  # said nothing worth coding anywhere: the first coder left the row blank
            answers = {q: (rng.choice(NOTHING), set()) for q, _ in QUESTIONS}
        if i == 40:  # answered nothing at all
            answers = {q: ("", set()) for q, _ in QUESTIONS}
        day = "31/02/2026" if i == 63 else f"{rng.randint(1, 28):02d}/03/2026"
        rows.append((rid, rng.choice(["Northfield", "Eastgate", "Canal Quarter"]), day, answers))
    sample = set(rng.sample([r[0] for r in rows if r[0] != "NB-0040"], k=respondents // 5))
    sample |= {"NB-0005"}  # a row the first coder left blank and the second coded

    first = io.StringIO(newline="")
    writer = csv.writer(first, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Resp ID", "Ward", "Submitted"] + [c for pair in QUESTIONS for c in pair])
    second = io.StringIO(newline="")
    writer2 = csv.writer(second, lineterminator="\r\n")
    writer2.writerow(["Resp ID"] + [c for pair in QUESTIONS for c in pair])
    for rid, ward, day, answers in rows:
        a_cells, b_cells = [], []
        for text_col, _ in QUESTIONS:
            text, truth = answers[text_col]
            a_cells += [text, _cell(rng, _judge(rng, truth, 0.1)) if text else ""]
            if rid == "NB-0005" and text_col == QUESTIONS[0][0]:
                truth = {"7"}  # the second coder read something into it
            b_cells += [text, _cell(rng, _judge(rng, truth, 0.15)) if text and rid in sample else ""]
        writer.writerow([rid, ward, day] + a_cells)
        writer2.writerow([rid] + b_cells)
    late, truth = _answer(random.Random(seed + 1))
    writer2.writerow(["NB-0131", late, _cell(rng, truth | {"4"}), "", "", "", ""])  # not in the first file
    a_path, b_path = folder / "panel_coded_PS.csv", folder / "panel_coded_TR_subsample.csv"
    a_path.write_bytes(first.getvalue().encode("cp1252"))
    b_path.write_bytes(b"\xef\xbb\xbf" + second.getvalue().encode("utf-8"))
    return a_path, b_path


def coded_units(path, encoding: str, delimiter: str, *, blank_means_no_code: bool = False) -> dict:
    """``(respondent, question) -> set of codes`` for the answers the file's coder coded, read with
    the csv module: every answer with text of a row that has a code in any code column."""
    with open(path, encoding=encoding, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=delimiter))
    units = {}
    for row in rows:
        codes = {text: {c for c in re.split(r"[;\s]+", row[code]) if c} for text, code in QUESTIONS}
        if blank_means_no_code or any(codes.values()):
            units.update({(row["Resp ID"], text): codes[text] for text, _ in QUESTIONS if row[text].strip()})
    return units


def read_exports(a_path, b_path, **kwargs):
    return (coded_units(a_path, "cp1252", ";", **kwargs), coded_units(b_path, "utf-8-sig", ",", **kwargs))


def ingest(db, a_path, b_path, *extra: str, first: tuple[str, ...] = ()):
    """Both files through ``insight ingest``; ``extra`` options for both, ``first`` for the first only."""
    runner = CliRunner()
    reports = []
    for path, coder in ((a_path, "Priya Shah"), (b_path, "Tom Reid")):
        args = ["--db", str(db), "ingest", str(path), "--study", "panel", "--id-col", "Resp ID",
                "--code-sep", ";", "--code-sep", " ", "--coder", coder, "--json", *extra]
        args += [a for text, _ in QUESTIONS for a in ("--text-col", text)]
        args += [a for spec in CODE_COLS for a in ("--code-col", spec)]
        if path == a_path:
            args += ["--date-col", "Submitted", "--attr-col", "Ward", *first]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        reports.append(json.loads(result.stdout))
    return reports


def agreement(db, *extra: str) -> dict:
    result = CliRunner().invoke(main, ["--db", str(db), "agreement", "--coders", "Priya Shah", "Tom Reid",
                                       "--bootstrap", "0", "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def check_kappas(shown: dict, a: dict, b: dict, compared: list) -> int:
    """Each code's kappa and percent agreement equal scikit-learn's on ``compared``; returns how many
    codes had a kappa to check."""
    checked = 0
    assert shown["overall"]["n_units"] == len(compared)
    for row in shown["codes"]:
        ya = np.array([row["code"] in a[u] for u in compared], dtype=int)
        yb = np.array([row["code"] in b[u] for u in compared], dtype=int)
        assert (row["a_count"], row["b_count"]) == (ya.sum(), yb.sum()), row["code"]
        assert row["percent_agreement"] == pytest.approx((ya == yb).mean(), abs=1e-4)
        if len(set(ya) | set(yb)) > 1:
            assert row["kappa"] == pytest.approx(cohen_kappa_score(ya, yb), abs=1e-4), row["code"]
            checked += 1
    assert {row["code"] for row in shown["codes"]} == {c for u in compared for c in a[u] | b[u]}
    return checked


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return write_exports(tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="module")
def default_db(exports, tmp_path_factory):
    db = tmp_path_factory.mktemp("default") / "panel.duckdb"
    return db, ingest(db, *exports)


def test_the_exports_look_like_the_real_thing(exports):
    a_path, b_path = exports
    raw_a, raw_b = a_path.read_bytes(), b_path.read_bytes()
    assert b"\x92" in raw_a and b"\xa3" in raw_a and raw_a.count(b"\r\n") == 131  # cp1252 ’ and £
    assert raw_b.startswith(b"\xef\xbb\xbf") and "’".encode() in raw_b
    a, b = read_exports(*exports)
    everyone = coded_units(b_path, "utf-8-sig", ",", blank_means_no_code=True)
    sampled = {r for r, _ in b}
    assert 0.17 < len(sampled) / 131 < 0.25  # the second coder's sub-sample
    assert len(everyone) > 4 * len(b)  # the rest of the file is there, uncoded
    # rows the second coder coded where they left an answer blank: the per-row rule decides these
    assert sum(1 for u in b if not b[u]) >= 3


def test_default_compares_only_the_rows_both_coded(default_db, exports):
    db, reports = default_db
    a, b = read_exports(*exports)
    both = sorted(set(a) & set(b))
    shown = agreement(db)
    assert shown["units"] == "both saw"
    assert check_kappas(shown, a, b, both) >= 5
    coverage = shown["coverage"]
    assert coverage["seen"] == {"Priya Shah": len(a), "Tom Reid": len(b)}
    assert coverage["both"] == len(both)
    assert coverage["only"] == {"Priya Shah": len(set(a) - set(b)), "Tom Reid": len(set(b) - set(a))}
    assert coverage["only"]["Tom Reid"] >= 2  # NB-0005 (the first coder left it blank) and NB-0131
    every_a, every_b = read_exports(*exports, blank_means_no_code=True)
    assert coverage["neither"] == len((set(every_a) | set(every_b)) - set(a) - set(b))
    # the ingest said how many rows it took as not coded: of 130 answered rows (NB-0040 answered nothing)
    notes = [w for f in reports[1]["files"] for w in f["warnings"] if "did not code" in w]
    assert len(notes) == 1
    assert f"{130 - len({r for r, _ in b})} of 130 row(s) have no code in Q1 codes, Q2 codes, Q3 codes" in notes[0]


def test_the_agreement_command_says_what_was_compared_and_left_out(default_db, exports):
    db, _ = default_db
    a, b = read_exports(*exports)
    only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
    out = CliRunner().invoke(main, ["--db", str(db), "agreement", "--coders", "Priya Shah", "Tom Reid",
                                    "--bootstrap", "0"]).output.splitlines()
    assert out[0] == f"Priya Shah vs Tom Reid on {len(set(a) & set(b))} units (both saw)"
    assert out[1] == (f"Priya Shah coded (looked at) {len(a)} units, Tom Reid {len(b)}; "
                      f"both {len(set(a) & set(b))}.")
    assert out[2].startswith(f"{only_a} units only Priya Shah saw, {only_b} only Tom Reid saw: left out")
    assert out[2].endswith("use --all-units to count a unit a coder never saw as no code.")
    assert out[3].startswith("overall   kappa")
    every = CliRunner().invoke(main, ["--db", str(db), "agreement", "--coders", "Priya Shah", "Tom Reid",
                                      "--bootstrap", "0", "--all-units"]).output.splitlines()
    assert every[2].startswith(f"Counted as no code from a coder who never saw them: {only_a} units only Priya "
                               f"Shah saw, {only_b} units only Tom Reid saw, ")


def test_blank_means_no_code_compares_every_row(exports, tmp_path):
    """With the option a blank is "no code applies": kappa over every answer both files hold, and it
    is not the sub-sample's (the test could tell them apart)."""
    a, b = read_exports(*exports, blank_means_no_code=True)
    ingest(tmp_path / "all.duckdb", *exports, "--blank-means-no-code")
    shown = agreement(tmp_path / "all.duckdb")
    compared = sorted(set(a) & set(b))
    assert check_kappas(shown, a, b, compared) >= 6
    assert shown["coverage"]["seen"] == {"Priya Shah": len(a), "Tom Reid": len(b)}
    assert shown["coverage"]["only"] == {"Priya Shah": 0, "Tom Reid": 1}  # NB-0131's one answer
    sub_a, sub_b = read_exports(*exports)
    assert len(compared) > 4 * len(set(sub_a) & set(sub_b))


def test_a_first_coder_who_coded_every_row_and_a_sampled_second(exports, tmp_path):
    """The usual design (the README's example): the option for the first coder's file only. The units
    are the rows the second coder coded, the first coder's blank answers there counting as no code."""
    a = read_exports(*exports, blank_means_no_code=True)[0]
    b = read_exports(*exports)[1]
    ingest(tmp_path / "usual.duckdb", *exports, first=("--blank-means-no-code",))
    shown = agreement(tmp_path / "usual.duckdb")
    assert check_kappas(shown, a, b, sorted(set(a) & set(b))) >= 6
    assert shown["coverage"]["only"] == {"Priya Shah": len(set(a) - set(b)), "Tom Reid": 1}  # NB-0131


def test_the_option_on_a_file_already_in_adds_only_its_coverage(default_db, exports, tmp_path):
    """Ingested with the default, then again with --blank-means-no-code: the blank rows now count as
    coded, no coding is written twice, and the figures are those of ingesting with the option."""
    import shutil

    db = tmp_path / "again.duckdb"
    shutil.copy(default_db[0], db)
    a, b = read_exports(*exports, blank_means_no_code=True)
    before = json.loads(CliRunner().invoke(main, ["--db", str(db), "stats", "--json"]).stdout)["codings"]
    reports = ingest(db, *exports, "--blank-means-no-code")
    for report, coder in zip(reports, ("Priya Shah", "Tom Reid")):
        (file,) = report["files"]
        assert file["status"] == "attached" and file["codings"] == 0 and f"coded by {coder}" in file["reason"]
    assert json.loads(CliRunner().invoke(main, ["--db", str(db), "stats", "--json"]).stdout)["codings"] == before
    shown = agreement(db)
    assert check_kappas(shown, a, b, sorted(set(a) & set(b))) >= 6
    third = ingest(db, *exports, "--blank-means-no-code")
    assert [r["files"][0]["status"] for r in third] == ["unchanged", "unchanged"]


def test_one_bad_row_does_not_cost_the_file(default_db, exports):
    """The first coder's file has an impossible date on one row: that row goes in without a date,
    named in a note, and every other row goes in."""
    from insight import Workspace

    db, reports = default_db
    (file,) = reports[0]["files"]
    assert file["status"] == "added" and file["documents"] == 129  # 130 rows, one answered nothing
    assert any("row 64 ('31/02/2026')" in w and "without a date" in w for w in file["warnings"])
    with Workspace(db, read_only=True) as ws:
        dates = dict(ws.con.execute("SELECT title, doc_date FROM documents").fetchall())
    assert dates["NB-0063"] is None and str(dates["NB-0064"]).startswith("2026-03")


def test_the_app_takes_the_option_on_upload_and_says_what_agreement_compared(tmp_path, monkeypatch):
    """Upload: the first coder's file with "a blank code cell means no code applies" ticked (she
    coded every row), the second's without (a sub-sample); Agreement then states the units."""
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT
    from insight import Workspace
    from insight.reliability import coverage_lines
    from insight.ui.agreement import EVERY_SEGMENT_HINT

    answers = ["More buses after six", "Fix the damp", "n/a", "Answer the phone", "Bins, bins, bins", "Nothing",
               "Cheaper council tax", "Keep the library", "Safer underpass", "Faster repairs"]
    priya = "id,q2,codes\r\n" + "".join(f'R{i},"{t}",{"" if t in ("n/a", "Nothing") else "C" + str(i % 3)}\r\n'
                                        for i, t in enumerate(answers))
    tom = "id,q2,codes\r\n" + "".join(f'R{i},"{t}",{"C" + str(i % 2) if i in (0, 1, 3) else ""}\r\n'
                                      for i, t in enumerate(answers))
    monkeypatch.setenv("INSIGHT_DB", str(tmp_path / "app.duckdb"))
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/upload.py").run()
    at.file_uploader[0].set_value([("priya.csv", priya.encode("utf-8-sig"), "text/csv"),
                                   ("tom.csv", tom.encode(), "text/csv")]).run()
    for index, coder in enumerate(["Priya Shah", "Tom Reid"]):
        at.multiselect(key=f"upload.map.{index}.text").set_value(["q2"])
        at.selectbox(key=f"upload.map.{index}.id").set_value("id")
        at.multiselect(key=f"upload.map.{index}.codes").set_value(["codes"]).run()
        at.text_input(key=f"upload.map.{index}.coder").set_value(coder)
    at.checkbox(key="upload.map.0.blank").check()
    at.button(key="upload.import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Workspace(tmp_path / "app.duckdb", read_only=True) as ws:
        seen = dict(ws.con.execute("SELECT coder, count(*) FROM coverage GROUP BY 1").fetchall())
        expected = ws.agreement("Priya Shah", "Tom Reid", bootstrap=0)
    assert seen == {"Priya Shah": 10, "Tom Reid": 3}  # every answer; the three rows Tom coded
    at.switch_page("pages/agreement.py").run()
    at.selectbox(key="agreement.a").set_value("Priya Shah")
    at.selectbox(key="agreement.b").set_value("Tom Reid").run()
    assert not at.exception
    caption = " ".join(coverage_lines(expected, EVERY_SEGMENT_HINT))
    assert caption.startswith("Priya Shah coded (looked at) 10 units, Tom Reid 3; both 3. 7 units only Priya Shah saw")
    assert caption in [plain(c.value) for c in at.caption], [plain(c.value) for c in [*at.caption, *at.markdown]]
