"""Auto-coders, human coding, codebook tests and the CLI around them (hashing embedder: fast, offline)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from insight import codebook as cb
from insight import codetest
from insight.cli import main
from insight.errors import InsightError

BOOK = """\
name: council
codes:
  - name: Home
    definition: The home and its condition.
    children:
      - name: Damp
        definition: Damp, mould or condensation in the home.
        include: Any mention of damp or mould.
        exclude: Other repairs.
        examples: ["Black mould all over the bedroom wall", "The damp in the kids' room is back"]
        counter_examples: ["The boiler broke again"]
        keywords: [damp, mould]
      - name: Repairs
        definition: Getting things in the home fixed.
        examples: ["Waited six weeks for the boiler repair", "Nobody came to fix the window"]
        counter_examples: ["The mould came back"]
        keywords: [repair, fix, boiler]
  - name: Transport
    definition: Buses and getting around.
    examples: ["The bus never comes on Sundays", "Bring back the 42 bus"]
    counter_examples: ["I walk the dog every day"]
    keywords: [bus, train]
"""

ANSWERS = [
    ("R1", "There is mould in every room and the damp smell never goes", "Damp"),
    ("R2", "The buses stopped running after six", "Transport"),
    ("R3", "They took months to repair the boiler", "Repairs"),
    ("R4", "Mould again, black mould on the ceiling", "Damp"),
    ("R5", "The library is lovely", ""),
    ("R6", "Fix the boiler please, it has been broken since winter", "Repairs"),
    ("R7", "No bus to the hospital at all", "Transport"),
    ("R8", "Condensation and damp on the windows every morning", "Damp"),
]


@pytest.fixture
def study(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    from pipelines.embed import get_embedder
    from pipelines.nlp import get_nlp

    get_embedder.cache_clear()
    get_nlp.cache_clear()
    csv = tmp_path / "panel.csv"
    csv.write_text("id,answer,codes\n" + "".join(f'{i},"{t}",{c}\n' for i, t, c in ANSWERS))
    ws.ingest([csv], study="s", id_col="id", text_cols=["answer"], code_cols=["codes"], coder="Ann")
    path = tmp_path / "book.yaml"
    path.write_text(BOOK)
    ws.load_codebook(path)
    return ws


def human_rows(ws):
    return ws.con.execute("SELECT coding_id, segment_id, code, coder, status, start, \"end\", created_at FROM coding_segments "
                          "WHERE method = 'human' ORDER BY coding_id").fetchall()


def test_rules_match_on_lemmas(study):
    result = study.code(study="s", codebook="council", methods=["rules"])
    rows = study.codings(coder="auto:rules")
    got = {(t, c) for t, c in zip(rows["text"], rows["code"])}
    assert ("The buses stopped running after six", "Transport") in got  # "buses" -> bus
    assert ("They took months to repair the boiler", "Repairs") in got
    assert ("The library is lovely", "Transport") not in got
    damp = rows[rows["text"].str.startswith("There is mould")]
    assert "matched: damp, mould" in set(damp["explanation"]) or "matched: mould, damp" in set(damp["explanation"])
    assert result["suggestions"]["auto:rules"] == len(rows)


def test_rerunning_code_never_touches_human_codings(study):
    study.code(study="s", codebook="council", methods=["rules", "semantic"])
    queue = study.review_queue(study="s", coder="auto:rules")
    accept_id, reject_id = int(queue.coding_id[0]), int(queue.coding_id[1])
    study.accept(accept_id, "Bea")
    study.reject(reject_id, "Bea")
    study.code_segment(int(queue.segment_id[2]), "Transport", "Bea")
    before = human_rows(study)
    decided = study.con.execute("SELECT coding_id, status FROM codings WHERE status <> 'suggested' AND coder LIKE "
                                "'auto:%' ORDER BY 1").fetchall()
    for _ in range(2):
        study.code(study="s", codebook="council", methods=["rules", "semantic", "classifier"], train_coder="Ann")
    assert human_rows(study) == before
    assert study.con.execute("SELECT coding_id, status FROM codings WHERE status <> 'suggested' AND coder LIKE "
                             "'auto:%' ORDER BY 1").fetchall() == decided
    # the accepted suggestion gave Bea a coding; the re-run did not suggest the rejected one again
    assert ("Bea",) in study.con.execute("SELECT coder FROM codings WHERE method = 'human'").fetchall()
    seg, code = study.con.execute("SELECT segment_id, code FROM coding_segments WHERE coding_id = ?", [reject_id]).fetchone()
    assert study.con.execute("SELECT count(*) FROM coding_segments WHERE segment_id = ? AND code = ? AND coder = 'auto:rules'",
                             [seg, code]).fetchone()[0] == 1


def test_suggestions_written_in_blocks_are_those_written_at_once(study, monkeypatch):
    """A million answers make millions of suggestions, written WRITE_ROWS at a time: blocks of 2
    give the same rows (and fresh ids) as one block, and still skip what a person decided."""
    from insight.coding import auto

    def rows():
        return sorted(study.con.execute("SELECT segment_id, code, coder, status, round(score, 6), explanation "
                                        "FROM coding_segments WHERE coder LIKE 'auto:%'").fetchall())

    study.code(study="s", codebook="council", methods=["rules", "semantic"])
    once = rows()
    queue = study.review_queue(study="s", coder="auto:rules")
    study.reject(int(queue.coding_id[0]), "Bea")
    monkeypatch.setattr(auto, "WRITE_ROWS", 2)
    result = study.code(study="s", codebook="council", methods=["rules", "semantic"])
    blocks = rows()
    rejected = [r for r in blocks if r[3] == "rejected"]
    assert len(rejected) == 1 and sorted(r for r in blocks if r[3] != "rejected") == \
        sorted(r for r in once if r[:3] != rejected[0][:3])
    assert sum(result["suggestions"].values()) == len(blocks) - 1 > 4
    ids = study.con.execute("SELECT count(DISTINCT coding_id), count(*) FROM codings").fetchone()
    assert ids[0] == ids[1]


def test_accept_reject_undo_history(study):
    study.code(study="s", codebook="council", methods=["rules"])
    first = int(study.review_queue(study="s", coder="auto:rules").coding_id[0])
    human = study.accept(first, "Bea")
    assert study.con.execute("SELECT coder, method, status FROM codings WHERE coding_id = ?", [human]).fetchone() == (
        "Bea", "human", "accepted")
    actions = list(study.history(study="s")["action"])[:2]
    assert actions == ["added", "accepted"]
    study.undo("Bea")
    assert study.con.execute("SELECT count(*) FROM codings WHERE coding_id = ?", [human]).fetchone()[0] == 0
    assert study.con.execute("SELECT status FROM codings WHERE coding_id = ?", [first]).fetchone()[0] == "suggested"
    with pytest.raises(InsightError, match="reserved"):
        study.code_segment(1, "Damp", "auto:me")


def test_classifier_skips_rare_codes_and_reports_them(study):
    result = study.code(study="s", codebook="council", methods=["classifier"], train_coder="Ann")
    assert set(result["skipped"]) == {"Damp", "Repairs", "Transport"}  # Home is a parent: never auto-coded
    assert "needs at least 5" in result["skipped"]["Damp"]


def test_semantic_scores_use_definitions_examples_and_counter_examples(study):
    from insight.coding.units import setting, text_units
    from pipelines.autocode import SemanticCoder
    from pipelines.embed import get_embedder

    book = study.codebook("council")
    units = text_units(study.con, ["black mould on the bedroom wall", "the bus never comes"],
                       embedder=get_embedder())
    scores = SemanticCoder(setting(study.con, get_embedder())).score(units, book.codes, None)
    damp, transport = book.names().index("Damp"), book.names().index("Transport")
    assert scores.matrix[0, damp] > scores.matrix[0, transport]
    assert scores.matrix[1, transport] > scores.matrix[1, damp]
    assert "nearest:" in scores.explain(0, damp)


def test_codebook_test_report(study):
    report = study.test_codebook(study="s", codebook="council", gold="Ann", cv=2, min_f1=0.5)
    rows = {r["code"]: r for r in report["codes"]}
    assert set(rows) == {"Home", "Damp", "Repairs", "Transport"}
    assert rows["Damp"]["examples"] == "2/2" and rows["Damp"]["counter_examples"] == "1/1"
    # Home is rolled up from its children for gold and predictions alike
    assert rows["Home"]["gold_positives"] == 5
    # an independent check of Transport's figures from the decisions
    gold = {t for _, t, c in ANSWERS if c == "Transport"}
    assert rows["Transport"]["gold_positives"] == len(gold)
    text = codetest.format_report(report)
    assert text.splitlines()[-1] == f"{report['passed']} passed, {report['failed']} failed"


def test_cli_code_test_codebook_agreement(study, tmp_path):
    db = study.path
    study.close()
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "code", "--codebook", "council", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["suggestions"]["auto:best"] > 0
    result = runner.invoke(main, ["--db", db, "test-codebook", "--codebook", "council", "--json"])
    data = json.loads(result.stdout)
    assert {"code", "passed", "precision", "recall", "f1", "kappa"} <= set(data["codes"][0])
    assert result.exit_code == (1 if data["failed"] else 0)
    result = runner.invoke(main, ["--db", db, "agreement", "--coders", "Ann", "auto:rules", "--json"])
    data = json.loads(result.stdout)
    assert set(data["overall"]) >= {"kappa", "alpha", "percent_agreement"}
    assert {"code", "kappa", "alpha", "percent_agreement", "n_units"} <= set(data["codes"][0])
    result = runner.invoke(main, ["--db", db, "history"])
    assert result.exit_code == 0


@pytest.mark.slow
def test_real_model_embeds_each_text_once(tmp_path, monkeypatch):
    from insight import Workspace
    from pipelines.embed import get_embedder

    monkeypatch.delenv("INSIGHT_MODEL", raising=False)
    get_embedder.cache_clear()
    ws = Workspace(tmp_path / "m.duckdb")
    (tmp_path / "a.txt").write_text("P1: The damp is back.\nP2: The damp is back.\nP1: Buses are late.\n")
    ws.ingest([tmp_path / "a.txt"], study="s")
    first = ws.embed(study="s")
    assert first["embedded"] == 2 and first["model"] == "all-MiniLM-L6-v2"
    (tmp_path / "b.txt").write_text("P3: Buses are late.\nP4: New text here.\n")
    ws.ingest([tmp_path / "b.txt"], study="s2")
    second = ws.embed()
    assert second["embedded"] == 1 and second["cached"] == 2
    vectors = np.stack(ws.con.execute("SELECT vector FROM embeddings").df()["vector"].to_numpy())
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_review_queue_puts_the_least_certain_first(study):
    study.code(study="s", codebook="council", methods=["rules", "semantic"])
    queue = study.review_queue(study="s", coder="auto:rules", limit=100)
    assert len(queue) > 1
    assert (queue["score"] >= 0.5).all() and (queue["score"] <= 1).all()
    margins = (queue["score"] - 0.5).abs().tolist()
    assert margins == sorted(margins)


def test_classifier_learns_words_and_handles_rare_and_near_universal_codes():
    """Units with a code on all but two training units get it everywhere at its rate; a code with
    four positives is skipped; a code that hinges on one exact word is learnt from the TF-IDF half
    of the features even when the embeddings carry no signal (random vectors)."""
    from pipelines import autocode

    rng = np.random.default_rng(0)
    n = 200
    words = ["rent", "bus", "damp", "school", "park", "shop", "noise", "bins"]
    texts = [" ".join(rng.choice(words, 4)) + f" filler{i % 7}" for i in range(n)]
    vectors = rng.normal(size=(n, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    units = autocode.Units(texts=texts, vectors=vectors, text_hashes=[f"t{i}" for i in range(n)])
    rent = np.array(["rent" in t.split() for t in texts])
    labels = np.zeros((n, 3), dtype=np.int8)
    labels[:, 0] = rent
    labels[:, 1] = 1
    labels[[3, 9], 1] = 0  # two negatives only
    labels[[1, 2, 5, 8], 2] = 1  # four positives only
    mask = np.arange(n) < 150  # the last 50 units are unseen by the coder
    scores = autocode.classifier_scores(units, ["Rent", "Everything", "Rare"], mask, labels, coder="Ann")

    decided = scores.decisions()
    assert (decided[150:, 0] == rent[150:]).mean() >= 0.95  # unseen units, word-level signal only
    assert decided[:, 1].all() and scores.matrix[0, 1] == pytest.approx(148 / 150)
    assert "coded 148 of 150" in scores.explain(0, 1)
    assert set(scores.skipped) == {"Rare"} and "4 positive" in scores.skipped["Rare"]
    assert not decided[:, 2].any()


def test_renaming_and_merging_codes_take_their_codings_along_and_undo_puts_them_back(study):
    def coded(name):
        return study.con.execute("SELECT segment_id, coder, status FROM coding_segments WHERE code = ? ORDER BY ALL",
                                 [name]).fetchall()

    study.code(study="s", codebook="council", methods=["rules"])
    damp = coded("Damp")
    assert {c for _, c, _ in damp} == {"Ann", "auto:rules"}  # a human's and the auto-coder's codings
    study.edit_code("Damp", new_name="Damp and mould", author="Bea")
    assert coded("Damp") == [] and coded("Damp and mould") == damp
    assert study.history().iloc[0]["action"] == "relabelled"

    # Merging Repairs into it: Ann's R1 ("mould ... damp") has no Repairs coding, so nothing repeats;
    # code one segment with both first, so one of Bea's codings would repeat and goes instead.
    r1 = damp[0][0]
    study.code_segment(r1, "Repairs", "Bea")
    study.code_segment(r1, "Damp and mould", "Bea")
    repairs, merged_before = coded("Repairs"), coded("Damp and mould")
    study.merge_codes("Repairs", "Damp and mould", author="Bea")
    assert coded("Repairs") == []
    assert coded("Damp and mould") == sorted(set(merged_before) | set(repairs))
    assert (r1, "Bea", "accepted") in coded("Damp and mould")
    assert len([r for r in coded("Damp and mould") if r == (r1, "Bea", "accepted")]) == 1

    assert study.undo()["undone"] == "relabelled"
    assert coded("Repairs") == repairs and coded("Damp and mould") == merged_before


def test_a_yaml_rename_takes_the_codings_along(study, tmp_path):
    """Researchers edit codebooks in YAML: loading a version that renames a code (same
    definition, new name) moves its codings, says so, and undo moves them back."""
    before = study.con.execute("SELECT segment_id, coder FROM coding_segments WHERE code = 'Damp' ORDER BY ALL").fetchall()
    assert before
    path = tmp_path / "renamed.yaml"
    path.write_text(BOOK.replace("- name: Damp\n", "- name: Damp and mould\n"))
    loaded = study.load_codebook(path)
    assert loaded["version"] == 2
    assert loaded["renamed"] == [{"from": "Damp", "to": "Damp and mould", "codings": len(before)}]
    after = study.con.execute("SELECT segment_id, coder FROM coding_segments WHERE code = 'Damp and mould' ORDER BY ALL").fetchall()
    assert after == before
    assert not study.con.execute("SELECT count(*) FROM codings WHERE code = 'Damp'").fetchone()[0]
    study.undo()
    assert study.con.execute("SELECT segment_id, coder FROM coding_segments WHERE code = 'Damp' ORDER BY ALL").fetchall() == before


def test_units_are_reused_only_while_the_segments_are_unchanged(study, tmp_path):
    from insight.coding import units as autocode
    from pipelines.embed import get_embedder

    sid = study.study_id("s")
    first = autocode.load_units(study.con, sid, embedder=get_embedder())
    assert autocode.load_units(study.con, sid, embedder=get_embedder()) is first  # a re-test reads nothing
    more = tmp_path / "more.csv"
    more.write_text('id,answer\nR9,"The bus shelter glass is smashed again"\n')
    study.ingest([more], study="s", id_col="id", text_cols=["answer"])
    grown = autocode.load_units(study.con, sid, embedder=get_embedder())
    assert len(grown.texts) == len(first.texts) + 1 and grown.vectors.shape[0] == len(grown.texts)
    study.con.execute("UPDATE segments SET text = 'changed', text_hash = 'x' WHERE segment_id = 1")
    changed = autocode.load_units(study.con, sid, embedder=get_embedder())
    assert changed is not grown and "changed" in changed.texts

