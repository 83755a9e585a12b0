"""The sample study in corpora/: counts that match what was written, exact offsets, idempotent ingest."""

import csv
import json

import pytest
from click.testing import CliRunner

from conftest import ROOT, check_offsets
from insight.cli import main

CORPORA = ROOT / "corpora"


def expected_counts():
    panel = list(csv.DictReader(open(CORPORA / "panel" / "citizens_panel_spring_2026.csv", encoding="utf-8")))
    answered = [r for r in panel if any(r[q].strip() for q in ("q1_recent_contact", "q2_one_change", "q3_neighbourhood"))]
    diary = list(csv.DictReader(open(CORPORA / "diary" / "diary_entries.csv", encoding="utf-8")))
    extra = json.loads((CORPORA / "diary" / "diary_extra.json").read_text(encoding="utf-8"))
    interviews = [p for p in (CORPORA / "interviews").iterdir() if p.suffix in (".txt", ".md", ".docx", ".vtt", ".srt")]
    fieldnotes = list((CORPORA / "fieldnotes").iterdir())
    people = {r["respondent_id"] for r in panel} | {r["participant_id"] for r in diary} | \
        {e["participant_id"] for e in extra} | {p.name.split("_")[0] for p in interviews}
    return {
        "documents": len(answered) + len(diary) + len(extra) + len(interviews) + len(fieldnotes),
        "participants": len(people),
        "documents_by_kind": {"diary": len(diary) + len(extra), "fieldnotes": len(fieldnotes),
                              "interview": len(interviews), "panel": len(answered)},
        "priya_q2": sum(len([c for c in r["codes_q2"].split(";") if c.strip()]) for r in panel),
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("sample") / "sample.duckdb")
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "ingest", str(CORPORA), "--study", "Living with local services", "--json"])
    assert result.exit_code == 0, result.output
    return db, json.loads(result.stdout)


def test_sample_study_sizes():
    counts = expected_counts()
    assert counts["documents_by_kind"]["interview"] >= 6
    assert counts["documents_by_kind"]["diary"] >= 40
    assert counts["documents_by_kind"]["panel"] >= 300


def test_stats_match_the_sample_study(sample):
    db, report = sample
    expected = expected_counts()
    stats = json.loads(CliRunner().invoke(main, ["--db", db, "stats", "--json"]).stdout)
    assert stats["documents"] == expected["documents"]
    assert stats["documents_by_kind"] == expected["documents_by_kind"]
    assert stats["participants"] == expected["participants"]
    word_comments = 5  # the P04 docx carries five Word comments by Priya Shah
    assert stats["codings"]["Priya Shah"] == expected["priya_q2"] + word_comments
    second = list(csv.DictReader(open(CORPORA / "panel" / "second_coder_q2.csv", encoding="utf-8")))
    assert stats["codings"]["Tom Reid"] == sum(len([c for c in r["codes_q2"].split(";") if c.strip()])
                                               for r in second if r["q2_one_change"].strip())
    assert stats["codes"] > 0  # imported codes are collected into a codebook named after the study


def test_every_sample_segment_is_its_exact_span(sample):
    from insight import Workspace

    db, _ = sample
    with Workspace(db, read_only=True) as ws:
        assert check_offsets(ws) > 1000
        speakers = {r[0] for r in ws.con.execute("SELECT DISTINCT speaker FROM segments").fetchall()}
        assert {"Interviewer", "Margaret", "DAVE OKAFOR", "Aisha Begum", "Gareth", "Tomasz", "Jordan"} <= speakers


def test_ingesting_again_adds_nothing(sample):
    db, _ = sample
    result = CliRunner().invoke(main, ["--db", db, "ingest", str(CORPORA), "--study", "Living with local services",
                                       "--json"])
    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert data["added"] == {"documents": 0, "segments": 0, "codings": 0, "participants": 0}
    assert set(data["by_status"]) == {"unchanged"}


def test_agreement_figures_are_reproducible_from_the_exported_data(sample, tmp_path):
    """"Honest": the kappa and alpha the product shows for Priya Shah vs Tom Reid come out the same
    from the exported 0/1 matrices with scikit-learn and `krippendorff`, on the units taken from
    Tom's own spreadsheet (every answered row he was given)."""
    import krippendorff
    import numpy as np
    import pandas as pd
    from sklearn.metrics import cohen_kappa_score

    db, _ = sample
    runner = CliRunner()
    shown = json.loads(runner.invoke(main, ["--db", db, "agreement", "--coders", "Priya Shah", "Tom Reid",
                                            "--json"]).stdout)
    matrices = {}
    for coder in ("Priya Shah", "Tom Reid"):
        out = tmp_path / f"{coder}.csv"
        result = runner.invoke(main, ["--db", db, "export", "--out", str(out), "--shape", "wide", "--coder", coder])
        assert result.exit_code == 0, result.output
        frame = pd.read_csv(out)
        matrices[coder] = frame[frame["field"] == "q2_one_change"].set_index("participant")
    seen = [r["respondent_id"] for r in csv.DictReader(open(CORPORA / "panel" / "second_coder_q2.csv",
                                                            encoding="utf-8")) if r["q2_one_change"].strip()]
    assert shown["overall"]["n_units"] == len(seen) == 119
    codes = [row["code"] for row in shown["codes"]]
    a = matrices["Priya Shah"].loc[seen, codes].to_numpy(int)
    b = matrices["Tom Reid"].loc[seen, codes].to_numpy(int)
    for j, row in enumerate(shown["codes"]):
        if len(set(a[:, j]) | set(b[:, j])) > 1:
            assert row["kappa"] == pytest.approx(cohen_kappa_score(a[:, j], b[:, j]), abs=1e-3), row["code"]
        assert row["percent_agreement"] == pytest.approx((a[:, j] == b[:, j]).mean(), abs=1e-3)
    assert shown["overall"]["kappa"] == pytest.approx(cohen_kappa_score(a.ravel(), b.ravel()), abs=1e-3)
    assert shown["overall"]["alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=np.vstack([a.ravel(), b.ravel()]), level_of_measurement="nominal"),
        abs=1e-3)


def test_codebook_test_figures_match_sklearn_and_the_gold_codings(sample, tmp_path, monkeypatch):
    """On the sample study against Priya Shah, each code's precision, recall, F1, kappa and alpha
    equal scikit-learn's and `krippendorff`'s on the confusion counts the report gives, and its
    gold counts equal a plain SQL count of her codings over the segments she saw (a parent's from
    its children): the panel answers and the interview she coded in Word, less its interviewer's
    turns, which auto-coding and so its test leave out."""
    import shutil

    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score

    from insight import Workspace
    from pipelines.embed import get_embedder

    monkeypatch.setenv("INSIGHT_MODEL", "hashing")  # the figures' arithmetic, not the model, is under test
    get_embedder.cache_clear()
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample[0], db)
    with Workspace(db) as ws:
        ws.load_codebook(ROOT / "codebooks" / "lived_experience.yaml")
        book = ws.codebook("lived-experience")
        report = ws.test_codebook(codebook="lived-experience", gold="Priya Shah")
        participants = "(SELECT segment_id FROM segments WHERE coalesce(speaker, '') <> 'Interviewer')"
        seen = ws.con.execute(f"SELECT count(*) FROM coverage WHERE coder = 'Priya Shah' AND segment_id IN "
                              f"{participants}").fetchone()[0]
        counts = {}
        for code in book.codes:
            names = [code.name] + [c.name for c in book.codes if c.parent == code.name]
            counts[code.name] = ws.con.execute(
                "SELECT count(DISTINCT c.segment_id) FROM coding_segments c JOIN coverage v ON v.segment_id = c.segment_id "
                f"AND v.coder = c.coder WHERE c.coder = 'Priya Shah' AND c.code IN ({', '.join('?' for _ in names)}) "
                f"AND c.segment_id IN {participants}", names).fetchone()[0]
    assert seen == 339 + 24  # 339 answers to q2, 24 turns of P04 in the interview with her Word comments
    with_errors = 0
    for row in report["codes"]:
        gold = counts[row["code"]]
        assert (row["gold_units"], row["gold_positives"]) == (seen, gold), row["code"]
        fn, fp = row["false_negative_count"], row["false_positive_count"]
        tp = gold - fn
        tn = row["gold_units"] - tp - fp - fn
        y = np.array([1] * tp + [0] * fp + [1] * fn + [0] * tn)
        d = np.array([1] * tp + [1] * fp + [0] * fn + [0] * tn)
        assert row["precision"] == pytest.approx(precision_score(y, d, zero_division=0), abs=1e-4), row["code"]
        assert row["recall"] == pytest.approx(recall_score(y, d), abs=1e-4)
        assert row["f1"] == pytest.approx(f1_score(y, d), abs=1e-4)
        assert row["kappa"] == pytest.approx(cohen_kappa_score(y, d), abs=1e-4)
        assert row["alpha"] == pytest.approx(
            krippendorff.alpha(reliability_data=[y, d], level_of_measurement="nominal"), abs=1e-4)
        with_errors += bool(fp or fn)
    assert with_errors >= 10  # the checks above ran on real disagreements
    get_embedder.cache_clear()


def test_suggestion_scores_are_calibrated_probabilities_out_of_fold(sample, tmp_path, monkeypatch):
    """With a gold coder, a suggestion's score is the probability that she applies the code; its
    expected calibration error, out of fold by document and respondent, is at most 0.05 for every
    method (computed here again from the stored run and the gold codings)."""
    import shutil

    import numpy as np

    from insight import Workspace
    from pipelines.folds import calibrate, expected_calibration_error
    from pipelines.embed import get_embedder

    monkeypatch.setenv("INSIGHT_MODEL", "hashing")  # calibration's arithmetic, not the model, is under test
    get_embedder.cache_clear()
    db = tmp_path / "copy.duckdb"
    shutil.copy(sample[0], db)
    with Workspace(db) as ws:
        ws.load_codebook(ROOT / "codebooks" / "lived_experience.yaml")
        summary = ws.run_autocoders(methods=["rules", "semantic", "classifier"], train_coder="Priya Shah")
    assert "calibrated probability" in summary["scores"] and "by document" in summary["scores"]
    assert all(e <= 0.05 for e in summary["calibration_error"].values()), summary["calibration_error"]
    # the figure itself, independently: bins by hand over the out-of-fold probabilities
    rng = np.random.default_rng(0)
    raw = rng.random((600, 1))
    y = (rng.random(600) < raw[:, 0]).astype(np.int8)[:, None]  # calibrated by construction
    groups = np.repeat(np.arange(60), 10)
    prob, _ = calibrate(raw.astype(np.float32), (np.ones(600, bool), y), groups)
    bins = np.minimum((prob[:, 0] * 10).astype(int), 9)
    by_hand = sum(abs(prob[bins == b, 0].mean() - y[bins == b, 0].mean()) * (bins == b).sum()
                  for b in range(10) if (bins == b).any()) / 600
    assert expected_calibration_error(prob, y) == pytest.approx(by_hand, abs=1e-4)
    assert by_hand < 0.08
