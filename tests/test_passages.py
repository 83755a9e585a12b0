"""Codings are passages: ranges of a document's text in code points, whatever segments they cross.

Coding, recoding, memos, removal and undo; bad input refused with nothing written; agreement per
unit and on characters against an independent computation; the long and wide exports; the
migration of a database written by the release before passages (schema 5).
"""

from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path

import duckdb
import pytest

from insight import Workspace
from insight.errors import InsightError, NotFound

DATA = Path(__file__).parent / "data"

# Windows line ends, an emoji with a skin-tone modifier and a flag (two code points each), accents
# in both composed and decomposed form, and a right-to-left line: code points and UTF-16 units differ.
INTERVIEW = ("Interviewer: How was the move? 👍🏽\r\n"
             "Amélie: The flat was cold \U0001F1EB\U0001F1F7 and the boiler broke twice.\r\n"
             "Interviewer: Did anyone help?\r\n"
             "Amélie: The cafe\u0301 owner did. The council never rang back.\r\n"
             "Interviewer: And your neighbour?\r\n"
             "Amélie: Yusuf said: שלום, we will manage together.\r\n")

CODEBOOK = """name: Passages
codes:
  - name: Housing
    definition: The home itself.
  - name: Neglect
    definition: A service that did not act.
  - name: Kindness
    definition: Help from people.
"""


@pytest.fixture()
def study(tmp_path):
    ws = Workspace(tmp_path / "p.duckdb")
    (tmp_path / "P1_move.txt").write_bytes(INTERVIEW.encode("utf-8"))
    (tmp_path / "book.yaml").write_text(CODEBOOK, encoding="utf-8")
    ws.load_codebook(tmp_path / "book.yaml")
    report = ws.ingest([tmp_path / "P1_move.txt"], study="s")
    assert not report.failed
    yield ws
    ws.close()


def doc(ws) -> tuple[int, str]:
    return ws.con.execute("SELECT document_id, text FROM documents").fetchone()


def span(text: str, first: str, last: str) -> tuple[int, int]:
    """From the start of ``first`` to the end of ``last`` (code points)."""
    a = text.index(first)
    return a, text.index(last, a) + len(last)


def counts(ws) -> tuple[int, int]:
    return tuple(ws.con.execute("SELECT (SELECT count(*) FROM codings), (SELECT count(*) FROM coding_history)")
                 .fetchone())


def test_a_passage_across_turns_keeps_its_exact_text(study, tmp_path):
    document_id, text = doc(study)
    a, b = span(text, "boiler broke", "The cafe\u0301 owner")  # mid-sentence, across two turns
    assert "\r" not in text  # stored with \n like every reader's text
    cid = study.code_passage(document_id, a, b, "Kindness", "Ana")
    row = study.con.execute("SELECT start, \"end\" FROM codings WHERE coding_id = ?", [cid]).fetchone()
    assert row == (a, b)
    touched = study.con.execute("SELECT segment_id FROM coding_segments WHERE coding_id = ? ORDER BY 1",
                                [cid]).fetchall()
    assert len(touched) == 3  # Amélie's turn, the interviewer's question, Amélie's answer
    # the long export: one row for the coding with the whole passage, first and last segment
    study.export(tmp_path / "long.csv", study="s")
    import pandas as pd

    long = pd.read_csv(tmp_path / "long.csv")
    coded = long[long["code"].notna()]
    assert len(coded) == 1
    assert coded["coded_text"].iloc[0] == text[a:b]
    assert (coded["segment_id"].iloc[0], coded["last_segment_id"].iloc[0]) == (touched[0][0], touched[-1][0])
    # segments the passage touches are not listed again as uncoded
    assert set(long[long["code"].isna()]["segment_id"]).isdisjoint({t[0] for t in touched})
    assert len(long) == 1 + study.con.execute("SELECT count(*) FROM segments").fetchone()[0] - len(touched)
    # the wide export marks every segment it touches
    study.export(tmp_path / "wide.csv", study="s", shape="wide")
    wide = pd.read_csv(tmp_path / "wide.csv")
    assert set(wide[wide["Kindness"] == 1]["segment_id"]) == {t[0] for t in touched}
    # the quotes report quotes the passage
    from insight.reports import quotes
    from insight.selection import resolve_scope

    frame = quotes(study.con, resolve_scope(study.con, study="s"))
    assert frame["quote"].tolist() == [text[a:b]]


def test_overlapping_and_nested_passages_are_normal(study):
    document_id, text = doc(study)
    outer = span(text, "The flat", "twice.")
    inner = span(text, "boiler", "broke")
    ids = [study.code_passage(document_id, *outer, "Housing", "Ana"),
           study.code_passage(document_id, *inner, "Housing", "Ana"),
           study.code_passage(document_id, *inner, "Neglect", "Ana"),
           study.code_passage(document_id, *inner, "Housing", "Ben")]
    assert len(set(ids)) == 4
    # the same passage, code and coder again is the same coding
    assert study.code_passage(document_id, *inner, "Housing", "Ana") == ids[1]
    got = study.codings(study="s").sort_values("coding_id")
    assert got["text"].tolist() == [text[slice(*outer)], text[slice(*inner)], text[slice(*inner)],
                                    text[slice(*inner)]]


@pytest.mark.parametrize("start, end, code, message", [
    (-1, 5, "Housing", "outside"),
    (10, 10_000, "Housing", "outside"),
    (12, 12, "Housing", "no text"),
    (20, 10, "Housing", "outside"),
    (None, None, "Dampness", "not a code"),
])
def test_bad_passages_are_refused_and_nothing_is_written(study, start, end, code, message):
    document_id, text = doc(study)
    if start is None:
        start, end = span(text, "flat", "cold")
    before = counts(study)
    with pytest.raises(InsightError, match=message):
        study.code_passage(document_id, start, end, code, "Ana")
    assert counts(study) == before


def test_blank_passage_and_unknown_document_are_refused(study):
    document_id, text = doc(study)
    gap = text.index("\n")
    before = counts(study)
    with pytest.raises(InsightError, match="no text"):
        study.code_passage(document_id, gap, gap + 1, "Housing", "Ana")
    with pytest.raises(NotFound):
        study.code_passage(document_id + 99, 0, 5, "Housing", "Ana")
    with pytest.raises(InsightError, match="reserved"):
        study.code_passage(document_id, 0, 5, "Housing", "auto:rules")
    assert counts(study) == before


def test_recode_memo_remove_and_undo(study):
    document_id, text = doc(study)
    a, b = span(text, "The council", "rang back.")
    cid = study.code_passage(document_id, a, b, "Kindness", "Ana")
    with pytest.raises(InsightError, match="Ana's, not Ben's"):
        study.remove_coding(cid, "Ben")
    new = study.recode(cid, "Neglect", "Ana")
    assert study.con.execute("SELECT code, start, \"end\" FROM codings").fetchall() == [("Neglect", a, b)]
    study.set_coding_memo(new, "Said twice, with anger.", "Ana")
    assert study.con.execute("SELECT memo FROM codings WHERE coding_id = ?", [new]).fetchone()[0] == \
        "Said twice, with anger."
    study.remove_coding(new, "Ana")
    assert counts(study)[0] == 0
    history = study.history(study="s")
    assert history["action"].tolist() == ["removed", "memo", "added", "removed", "added"]
    assert set(history["passage"]) == {text[a:b]}
    study.undo("Ana")  # the removal
    assert study.con.execute("SELECT code, memo FROM codings").fetchall() == [("Neglect", "Said twice, with anger.")]
    study.undo("Ana")  # the memo
    assert study.con.execute("SELECT memo FROM codings").fetchone()[0] is None
    assert study.undo("Ana")["undone"] == "recode"  # both halves of the recode
    assert study.con.execute("SELECT code, start, \"end\" FROM codings").fetchall() == [("Kindness", a, b)]


# ---------------------------------------------------------------------------------------------
# Agreement on passages, against an independent computation


def _independent(text_len: int, segments: list[tuple[int, int, int]], passages: dict, codes: list[str]):
    """Per unit and per character, from first principles: sets of indices."""
    units, chars = {}, {}
    for code in codes:
        for coder in ("A", "B"):
            cover = set()
            for (who, c, a, b) in passages:
                if who == coder and c == code:
                    cover |= set(range(a, b))
            units[(coder, code)] = {sid for sid, s, e in segments if cover & set(range(s, e))}
            in_units = set().union(*(set(range(s, e)) for _, s, e in segments))
            chars[(coder, code)] = cover & in_units
    return units, chars


def test_agreement_per_unit_and_on_characters_matches_an_independent_computation(study):
    document_id, text = doc(study)
    segments = study.con.execute("SELECT segment_id, start, \"end\" FROM segments ORDER BY 1").fetchall()
    rng = random.Random(7)
    codes = ["Housing", "Neglect", "Kindness"]
    passages = set()
    for _ in range(40):
        a = rng.randrange(0, len(text) - 2)
        b = min(len(text), a + rng.randrange(1, 80))
        if not text[a:b].strip():
            continue
        passages.add((rng.choice("AB"), rng.choice(codes), a, b))
    for coder, code, a, b in sorted(passages):
        study.code_passage(document_id, a, b, code, coder)
    result = study.agreement("A", "B", study="s", all_units=True, bootstrap=0)
    units, chars = _independent(len(text), segments, passages, codes)
    n = len(segments)
    for row in result["codes"]:
        a_set, b_set = units[("A", row["code"])], units[("B", row["code"])]
        assert (row["n_units"], row["a_count"], row["b_count"], row["both"]) == \
            (n, len(a_set), len(b_set), len(a_set & b_set))
        # kappa from the same 0/1 vectors by scikit-learn
        from sklearn.metrics import cohen_kappa_score

        va = [int(s in a_set) for s, _, _ in segments]
        vb = [int(s in b_set) for s, _, _ in segments]
        if len(set(va)) > 1 or len(set(vb)) > 1:
            assert row["kappa"] == pytest.approx(cohen_kappa_score(va, vb), abs=1e-4)
    assert "overlaps it" in result["unit_rule"]
    by_code = {row["code"]: row for row in result["characters"]}
    assert set(by_code) == {r["code"] for r in result["codes"]}
    for code, row in by_code.items():
        ca, cb = chars[("A", code)], chars[("B", code)]
        assert (row["a_chars"], row["b_chars"], row["both_chars"], row["either_chars"]) == \
            (len(ca), len(cb), len(ca & cb), len(ca | cb))
        assert row["overlap"] == (pytest.approx(len(ca & cb) / len(ca | cb), abs=1e-4) if ca | cb else None)


# ---------------------------------------------------------------------------------------------
# A database from the release before passages


def test_a_release_database_migrates_with_every_coding_and_its_history(tmp_path):
    """``release_schema5.duckdb.gz`` was written by Insight 0.1.0 (schema 5): whole-segment codings,
    one coding of part of a segment, accepted and rejected suggestions, a removed coding."""
    path = tmp_path / "old.duckdb"
    with gzip.open(DATA / "release_schema5.duckdb.gz") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    raw = duckdb.connect(str(path), read_only=True)
    assert raw.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 5
    expected = raw.execute(
        "SELECT c.coding_id, g.document_id, coalesce(c.start, g.start), coalesce(c.\"end\", g.\"end\"), c.code, "
        "c.coder, c.method, c.status, c.score, c.explanation, c.created_at FROM codings c "
        "JOIN segments g USING (segment_id) ORDER BY 1").fetchall()
    partial = raw.execute("SELECT count(*) FROM codings WHERE start IS NOT NULL").fetchone()[0]
    history = raw.execute("SELECT change_id, coding_id, action, code, coder, changed_at FROM coding_history "
                          "ORDER BY 1").fetchall()
    raw.close()
    assert len(expected) > 50 and partial == 1 and len(history) >= 8
    ws = Workspace(path)
    got = ws.con.execute("SELECT coding_id, document_id, start, \"end\", code, coder, method, status, score, "
                         "explanation, created_at FROM codings ORDER BY 1").fetchall()
    assert got == expected
    assert ws.con.execute("SELECT change_id, coding_id, action, code, coder, changed_at FROM coding_history "
                          "ORDER BY 1").fetchall() == history
    # the removal made before the upgrade can still be undone: the coding comes back on its segment
    removed = [h for h in history if h[2] == "removed"]
    assert removed
    assert ws.undo("Ben")["undone"] == "rejected"  # Ben's last change
    assert ws.undo("Ben")["undone"] == "removed"
    back = ws.con.execute("SELECT substring(d.text, c.start + 1, c.\"end\" - c.start) FROM codings c "
                          "JOIN documents d USING (document_id) WHERE c.coder = 'Ben' AND c.code = 'Transport' "
                          "ORDER BY c.start").fetchall()
    segs = ws.con.execute("SELECT text FROM segments ORDER BY segment_id LIMIT 2 OFFSET 2").fetchall()
    assert back == segs  # Ben's two codings, the removed one back on its segment
    from insight.store import MIGRATIONS

    assert ws.con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == len(MIGRATIONS)  # all since
    ws.close()
