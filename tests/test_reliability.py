"""Agreement figures checked against scikit-learn and `krippendorff` on data where the answer is known."""

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score

from insight.reliability import agreement, compare, disagreements


def seed_store(ws):
    """8 units seen by A and B, one unit only A saw; codes X (both), Y (A only), Z (B only)."""
    con = ws.con
    con.execute("INSERT INTO studies (study_id, name) VALUES (1, 's')")
    text = "".join(f"unit {sid}\n" for sid in range(1, 10))  # nine units of 6 characters, one per line
    con.execute("INSERT INTO documents (document_id, study_id, kind, title, text) VALUES (1, 1, 'panel', 'd', ?)",
                [text])
    for sid in range(1, 10):
        con.execute("INSERT INTO segments VALUES (?, 1, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, 'turn', ?, ?)",
                    [sid, sid, (sid - 1) * 7, (sid - 1) * 7 + 6, f"unit {sid}", f"h{sid}"])
    a_x = [1, 1, 0, 0, 1, 0, 1, 0]
    b_x = [1, 0, 0, 0, 1, 1, 1, 0]
    a_y = [0, 1, 0, 0, 0, 0, 0, 1]
    b_z = [0, 0, 1, 0, 0, 0, 0, 0]
    rows = []
    for unit in range(8):
        for coder, code, vec in (("A", "X", a_x), ("B", "X", b_x), ("A", "Y", a_y), ("B", "Z", b_z)):
            if vec[unit]:
                rows.append((unit + 1, code, coder))
    rows.append((9, "X", "A"))  # a unit only A saw
    for i, (sid, code, coder) in enumerate(rows, start=1):
        con.execute("INSERT INTO codings (coding_id, document_id, start, \"end\", code, coder, method, status) "
                    "SELECT ?, document_id, start, \"end\", ?, ?, 'human', 'accepted' FROM segments WHERE segment_id = ?",
                    [i, code, coder, sid])
    for sid in range(1, 9):
        con.execute("INSERT INTO coverage VALUES ('A', ?), ('B', ?)", [sid, sid])
    con.execute("INSERT INTO coverage VALUES ('A', 9)")
    return {"X": (a_x, b_x), "Y": (a_y, [0] * 8), "Z": ([0] * 8, b_z)}


def test_figures_equal_sklearn_and_krippendorff(ws):
    truth = seed_store(ws)
    result = agreement(ws.con, "A", "B", study_id=1, bootstrap=200)
    assert result["overall"]["n_units"] == 8  # the unit only A saw is left out
    by_code = {row["code"]: row for row in result["codes"]}
    assert set(by_code) == {"X", "Y", "Z"}
    for code, (a, b) in truth.items():
        row = by_code[code]
        assert row["kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-4)
        assert row["alpha"] == pytest.approx(
            krippendorff.alpha(reliability_data=[a, b], level_of_measurement="nominal"), abs=1e-4)
        assert row["percent_agreement"] == pytest.approx(np.mean(np.array(a) == np.array(b)))
        if sum(b):
            assert row["precision"] == pytest.approx(precision_score(a, b, zero_division=0))
        if sum(a):
            assert row["recall"] == pytest.approx(recall_score(a, b))
        assert row["f1"] == pytest.approx(f1_score(a, b, zero_division=0))
    # hand-checked: X has po = 6/8, pe = 0.5 -> kappa 0.5
    assert by_code["X"]["kappa"] == pytest.approx(0.5)
    # pooled overall equals sklearn on the flattened decisions
    flat_a = sum((truth[c][0] for c in ("X", "Y", "Z")), [])
    flat_b = sum((truth[c][1] for c in ("X", "Y", "Z")), [])
    assert result["overall"]["kappa"] == pytest.approx(cohen_kappa_score(flat_a, flat_b), abs=1e-4)
    assert result["overall"]["alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=[flat_a, flat_b], level_of_measurement="nominal"), abs=1e-4)
    lo, hi = by_code["X"]["kappa_ci"]
    assert lo <= by_code["X"]["kappa"] <= hi


def test_all_units_counts_the_unseen_unit_as_no_code(ws):
    truth = seed_store(ws)
    result = agreement(ws.con, "A", "B", study_id=1, all_units=True, bootstrap=0)
    a, b = truth["X"][0] + [1], truth["X"][1] + [0]
    x = next(r for r in result["codes"] if r["code"] == "X")
    assert x["n_units"] == 9
    assert x["kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-4)


def test_undefined_figures_are_none():
    same = np.zeros((5, 1), dtype=np.int8)
    row = compare(same, same, ["Q"], bootstrap=0)["codes"][0]
    assert row["kappa"] is None and row["alpha"] is None and row["percent_agreement"] == 1.0


def test_disagreements_name_who_coded(ws):
    seed_store(ws)
    frame = disagreements(ws.con, "A", "B", "X", study_id=1)
    assert sorted(zip(frame["segment_id"], frame["coded_by_only"])) == [(2, "A"), (6, "B")]
