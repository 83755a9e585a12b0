"""Rules tested like code: each keyword's own precision and recall against the gold coder,
checked against a count made here from the texts and the gold coder's spreadsheet."""

from __future__ import annotations

import csv
import io

from insight import Workspace

CODEBOOK = """name: rules
codes:
  - name: Transport
    definition: Buses and trains.
    keywords: [bus, train, late]
  - name: Bins
    definition: Rubbish collection.
    keywords: [bin, rubbish]
"""
ROWS = [  # respondent, answer, the gold coder's codes
    ("R1", "The bus is always late", "Transport"),
    ("R2", "I was late for work because of the bins", "Bins"),
    ("R3", "Train fares are too high", "Transport"),
    ("R4", "Nobody emptied the bin for a month", "Bins"),
    ("R5", "The rubbish piles up by the bus stop", "Bins"),
    ("R6", "More buses in the evening please", "Transport"),
    ("R7", "Running late again, the library shut early", "Libraries"),
    ("R8", "Parks are lovely", "Parks"),
]


def test_each_keyword_gets_its_own_precision_and_recall(tmp_path):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["respondent", "answer", "codes"])
    writer.writerows(ROWS)
    (tmp_path / "panel.csv").write_text(out.getvalue(), encoding="utf-8")
    (tmp_path / "book.yaml").write_text(CODEBOOK, encoding="utf-8")
    ws = Workspace(tmp_path / "r.duckdb")
    ws.load_codebook(tmp_path / "book.yaml")
    assert not ws.ingest([tmp_path / "panel.csv"], study="s", id_col="respondent", text_cols=["answer"],
                         code_cols=["codes"], coder="Gold").failed
    report = ws.test_codebook(study="s", gold="Gold", methods=["rules"])
    # independently: a keyword matches an answer holding the word or its plural (lemmas)
    forms = {"bus": ("bus", "buses"), "train": ("train",), "late": ("late",), "bin": ("bin", "bins"),
             "rubbish": ("rubbish",)}
    for row in report["codes"]:
        gold_units = [(text.lower(), codes == row["code"]) for _, text, codes in ROWS]
        positives = sum(g for _, g in gold_units)
        for rule in row["rules"]:
            words = forms[rule["rule"]]
            hits = [g for text, g in gold_units if any(w in text.replace(",", " ").split() for w in words)]
            assert (rule["matches"], rule["agreed"]) == (len(hits), sum(hits)), rule
            assert rule["recall"] == round(sum(hits) / positives, 4)
    late = next(r for r in report["codes"] if r["code"] == "Transport")["rules"][0]
    assert late["rule"] == "late" and (late["agreed"], late["matches"]) == (1, 3)  # worst precision first
    ws.close()


def test_the_report_says_how_far_each_methods_scores_are_from_probabilities(tmp_path):
    """``calibration``: per method, the reliability diagram's points over every gold unit and code,
    whose observed shares add up to the gold coder's own rate, and the ECE those points give."""
    out = io.StringIO()
    csv.writer(out).writerows([["respondent", "answer", "codes"], *ROWS])
    (tmp_path / "panel.csv").write_text(out.getvalue(), encoding="utf-8")
    (tmp_path / "book.yaml").write_text(CODEBOOK, encoding="utf-8")
    ws = Workspace(tmp_path / "r.duckdb")
    ws.load_codebook(tmp_path / "book.yaml")
    ws.ingest([tmp_path / "panel.csv"], study="s", id_col="respondent", text_cols=["answer"], code_cols=["codes"],
              coder="Gold")
    report = ws.test_codebook(study="s", gold="Gold", methods=["rules"])
    ws.close()
    figures = report["calibration"]["rules"]
    points = figures["points"]
    n = sum(q["n"] for q in points)
    assert n == len(ROWS) * 2  # every gold answer x both codes
    positives = sum(codes in ("Transport", "Bins") for _, _, codes in ROWS)
    assert abs(sum(q["observed"] * q["n"] for q in points) - positives) < 1e-3
    assert all(0 <= q["stated"] <= 1 and 0 <= q["observed"] <= 1 for q in points)
    assert figures["ece"] == round(sum(q["n"] * abs(q["stated"] - q["observed"]) for q in points) / n, 4)
