"""Themes, theme maps and the gap finder, on a tiny panel study with synthetic embeddings.

Four well-separated Gaussian blobs stand in for four topics: each answer's vector is drawn
around its topic's centre and cached under the model name "blobs", so no model loads and the
right answer is known.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

TOPICS = {
    "damp": ["damp", "mould", "landlord", "bedroom", "condensation", "ceiling"],
    "bus": ["bus", "route", "timetable", "stop", "driver", "fares"],
    "library": ["library", "books", "reading", "librarian", "computers", "storytime"],
    "bins": ["bins", "recycling", "collection", "rubbish", "missed", "lorry"],
}
FILLERS = ["um", "yeah", "you know", "I mean", "like", "really", "just", "actually", "erm"]
PER_TOPIC = 30
WARDS = ["Eastgate", "Northfield", "Riverside"]
AGES = ["18-34", "35-64", "65+"]
MODEL = "blobs"


def _write_panel(path, rng) -> list[str]:
    """A panel CSV: one answer per respondent; the damp and bus answers carry a code from coder R."""
    topics = []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["respondent_id", "ward", "age_band", "response_date", "answer", "codes"])
        number = 0
        for topic, words in TOPICS.items():
            for i in range(PER_TOPIC):
                number += 1
                w = rng.choice(words, size=3, replace=False)
                f = rng.choice(FILLERS, size=2, replace=False)
                text = f"{f[0].capitalize()}, the {w[0]} and the {w[1]}, {f[1]}, the {w[2]} again, {number}."
                day = pd.Timestamp("2026-03-02") + pd.Timedelta(days=int(rng.integers(0, 28)))
                code = {"damp": "Damp", "bus": "Transport"}.get(topic, "")
                out.writerow([f"R{number:03d}", WARDS[int(rng.integers(0, 3))], AGES[int(rng.integers(0, 3))],
                              day.date().isoformat(), text, code])
                topics.append(topic)
    return topics


def _cache_blob_vectors(ws, topics, rng, dim: int = 32) -> None:
    centres = {t: rng.normal(size=dim) * 3 for t in TOPICS}
    frame = ws.con.execute(
        "SELECT g.text_hash, d.title FROM segments g JOIN documents d USING (document_id) ORDER BY g.segment_id").df()
    assert len(frame) == len(topics)
    _blob_vectors = pd.DataFrame({  # noqa: F841 (DuckDB replacement scan)
        "text_hash": frame["text_hash"], "model": MODEL,
        "vector": [(centres[t] + rng.normal(size=dim) * 0.6).astype(np.float32) for t in topics]})
    ws.con.execute("INSERT INTO embeddings SELECT text_hash, model, vector FROM _blob_vectors")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A workspace with the blob study ingested, vectors cached and one theme run made."""
    from insight import Workspace

    tmp = tmp_path_factory.mktemp("themes")
    rng = np.random.default_rng(7)
    panel = tmp / "panel.csv"
    topics = _write_panel(panel, rng)
    ws = Workspace(tmp / "t.duckdb")
    report = ws.ingest([panel], study="s", kind="panel", id_col="respondent_id", text_cols=["answer"],
                       attr_cols=["ward", "age_band"], date_col="response_date", code_cols=["codes=answer"], coder="R")
    assert not report.failed
    _cache_blob_vectors(ws, topics, rng)
    result = ws.themes(study="s", min_size=8, seed=42, model=MODEL)
    state = {"ws": ws, "tmp": tmp, "topics": topics, "result": result, "db": str(tmp / "t.duckdb")}
    yield state
    state["ws"].close()


def _assignments(ws, run_id):
    return ws.con.execute("SELECT segment_id, theme_id FROM segment_themes WHERE run_id = ? ORDER BY segment_id",
                          [run_id]).df()


def test_themes_recover_the_blobs(study):
    from sklearn.metrics import normalized_mutual_info_score

    result = study["result"]
    got = _assignments(study["ws"], result["run_id"])["theme_id"].to_numpy()
    assert normalized_mutual_info_score(study["topics"], got) > 0.9
    assert result["outlier_share"] < 0.10
    assert len(result["themes"]) == 4
    for theme in result["themes"]:
        assert theme["quotes"] and all({"text", "participant", "segment_id"} <= set(q) for q in theme["quotes"])


def test_same_seed_same_themes(study):
    ws = study["ws"]
    again = ws.themes(study="s", min_size=8, seed=42, model=MODEL)
    assert again["run_id"] != study["result"]["run_id"]
    first, second = _assignments(ws, study["result"]["run_id"]), _assignments(ws, again["run_id"])
    pd.testing.assert_frame_equal(first, second)
    assert [t["label"] for t in again["themes"]] == [t["label"] for t in study["result"]["themes"]]
    xy = ws.con.execute("SELECT run_id, x, y FROM segment_themes WHERE run_id IN (?, ?) ORDER BY run_id, segment_id",
                        [study["result"]["run_id"], again["run_id"]]).df()
    a, b = (xy[xy.run_id == r][["x", "y"]].to_numpy() for r in (study["result"]["run_id"], again["run_id"]))
    np.testing.assert_allclose(a, b)


def test_labels_are_topic_words_without_filler_or_stop_words(study):
    from pipelines.themes import stop_words
    from pipelines.themes.names import GLUE

    stops = stop_words()
    vocabulary = {w for words in TOPICS.values() for w in words}
    for theme in study["result"]["themes"]:
        for phrase in theme["label"].lower().split(" and "):
            words = phrase.split()
            assert words and words[0] not in stops and words[-1] not in stops, theme["label"]
            assert set(words) <= vocabulary | GLUE, theme["label"]
        assert not {"um", "yeah", "know", "mean", "like", "really", "just", "actually", "erm"} & set(theme["keywords"])


def test_filler_phrases_and_contractions_are_cut():
    from pipelines.themes import analyse, make_label

    assert analyse("Yeah, you know, I mean the damp — it's like, erm, the landlord's fault.") == \
        ["damp", "landlord", "fault", "landlord fault"]
    assert make_label(["damp", "damp mould", "mould", "landlords", "landlord", "bedroom"]) == "damp · mould · landlords"


def test_theme_sizes_sum_to_the_segments(study):
    ws, run_id = study["ws"], study["result"]["run_id"]
    table = ws.theme_table(run_id)
    assert table["id"].iloc[-1] == -1  # the unassigned share is shown, last
    segments = ws.con.execute("SELECT count(*) FROM segments").fetchone()[0]
    assert table["size"].sum() == segments == len(study["topics"])
    assert table["share"].sum() == pytest.approx(1.0)
    stored = _assignments(ws, run_id)["theme_id"].value_counts()
    assert {i: s for i, s in zip(table["id"], table["size"]) if s} == {int(k): int(v) for k, v in stored.items()}
    groups = ws.theme_table(run_id, groups=True)
    assert groups["size"].sum() <= segments


def test_themes_by_matches_a_pandas_crosstab(study):
    ws, run_id = study["ws"], study["result"]["run_id"]
    table = ws.themes_by("ward", run_id)
    themes = _assignments(ws, run_id)
    wards = ws.con.execute("SELECT g.segment_id, a.value AS ward FROM segments g JOIN attributes a "
                           "ON a.participant_id = g.participant_id AND a.name = 'ward'").df()
    data = themes.merge(wards, on="segment_id", how="left")
    expected = pd.crosstab(data["theme_id"], data["ward"], normalize="columns") * 100
    got = table.pivot(index="theme_id", columns="ward", values="pct_of_group").fillna(0.0)
    pd.testing.assert_frame_equal(got.sort_index(axis=0).sort_index(axis=1), expected.sort_index(axis=1),
                                  check_names=False, check_dtype=False)
    counts = pd.crosstab(data["theme_id"], data["ward"])
    got_counts = table.pivot(index="theme_id", columns="ward", values="segments").fillna(0).astype(int)
    pd.testing.assert_frame_equal(got_counts.sort_index(axis=1), counts.sort_index(axis=1), check_names=False,
                                  check_dtype=False)


def test_over_time_and_code_overlap(study):
    from insight.themes import theme_code_overlap, themes_over_time

    ws, run_id = study["ws"], study["result"]["run_id"]
    weekly = themes_over_time(ws.con, run_id, freq="W")
    assert weekly["segments"].sum() == len(study["topics"])
    assert weekly.groupby("period")["share"].sum().round(6).eq(1.0).all()
    overlap = theme_code_overlap(ws.con, run_id)
    damp_theme = overlap[overlap["code"] == "Damp"].sort_values("segments").iloc[-1]
    assert damp_theme["segments"] == PER_TOPIC and damp_theme["pct_of_code"] == pytest.approx(100.0)


def test_gaps_then_add_make_a_new_codebook_version(study):
    from insight.codebook import get

    ws = study["ws"]
    before = get(ws.con, "s")
    found = ws.gaps(study="s", coders=["R"], min_size=8, model=MODEL)
    assert found["uncovered"] == 2 * PER_TOPIC
    assert 1 <= len(found["candidates"]) <= 3
    covered = set(ws.con.execute("SELECT segment_id FROM coding_segments WHERE coder = 'R'").df()["segment_id"])
    best = max(found["candidates"], key=lambda c: c["size"])
    assert not covered & set(best["segment_ids"])
    result = ws.add_gap_as_code(best["id"], "s", author="tester")
    after = get(ws.con, "s")
    assert after.version == before.version + 1 == result["version"]
    code = after.code(result["code"])
    assert code.definition.startswith("Segments about ")
    assert 2 <= len(code.examples) <= 3 and code.keywords
    assert set(after.names()) - set(before.names()) == {code.name}


def test_fit_on_a_sample_assigns_every_segment():
    from pipelines.themes import fit_themes

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 16)) * 3
    vectors = np.vstack([c + rng.normal(size=(50, 16)) * 0.5 for c in centres])
    docs = [f"{w} things {i}" for w in ("rent", "buses", "library") for i in range(50)]
    fit = fit_themes(docs, vectors, min_size=8, max_fit=90, seed=3)
    assert fit.settings["sampled"] and fit.settings["fitted_on"] == 90
    assert (fit.labels >= 0).mean() > 0.9
    assert np.isfinite(fit.xy).all() and (np.abs(fit.xy).sum(axis=1) > 0).all()


def test_maps_write_html_and_png(study):
    from insight.themes import maps

    ws, tmp = study["ws"], study["tmp"]
    figures = {
        "map": maps.theme_map(ws.con, colour_by="theme"),
        "code": maps.theme_map(ws.con, colour_by="Damp"),
        "wards": maps.theme_attribute_heatmap(ws.con, "ward"),
        "codes": maps.code_cooccurrence_heatmap(ws.con),
        "time": maps.themes_over_time_chart(ws.con, freq="W"),
    }
    for name, fig in figures.items():
        html = maps.write_figure(fig, tmp / f"{name}.html")
        assert "plotly" in html.read_text(encoding="utf-8")[:200000].lower()
        assert "cdn.plot.ly" not in html.read_text(encoding="utf-8")[:2000]
    png = maps.write_figure(figures["map"], tmp / "map.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
    with pytest.raises(Exception, match="html"):
        maps.write_figure(figures["map"], tmp / "map.bmp")


def test_cli_themes_map_and_gaps(study, tmp_path):
    from click.testing import CliRunner

    from insight.cli import main

    runner = CliRunner()
    db = ["--db", study["db"]]
    study["ws"].con.execute("CHECKPOINT")
    study["ws"].close()
    try:
        out = runner.invoke(main, db + ["themes", "--min-size", "8", "--model", MODEL, "--by", "ward", "--json"])
        assert out.exit_code == 0, out.output
        data = json.loads(out.stdout)
        assert {"themes", "outlier_share", "run_id", "by"} <= set(data)
        assert {"id", "label", "keywords", "size", "quotes"} <= set(data["themes"][0])
        out = runner.invoke(main, db + ["themes", "map", "--out", str(tmp_path / "m.png")])
        assert out.exit_code == 0, out.output
        assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
        out = runner.invoke(main, db + ["themes", "map", "--chart", "by", "--by", "nope", "--out", str(tmp_path / "b.html")])
        assert out.exit_code == 1 and "ward" in out.output
        out = runner.invoke(main, db + ["gaps", "--coder", "R", "--model", MODEL, "--min-size", "8", "--json"])
        assert out.exit_code == 0, out.output
        cand = json.loads(out.stdout)["candidates"][0]["id"]
        out = runner.invoke(main, db + ["gaps", "add", str(cand), "--codebook", "s", "--name", "Libraries"])
        assert out.exit_code == 0 and "Libraries" in out.output
    finally:
        from insight import Workspace

        study["ws"] = Workspace(study["db"])


def test_every_theme_command_and_option_has_help():
    from insight.cli import main

    for group in ("themes", "gaps"):
        command = main.commands[group]
        commands = [command] + list(getattr(command, "commands", {}).values())
        for cmd in commands:
            assert cmd.help, cmd.name
            for param in cmd.params:
                if param.param_type_name == "option":
                    assert param.help, f"{cmd.name} {param.name}"


@pytest.mark.slow
def test_real_model_on_a_small_study(tmp_path):
    """The packaged embedding model, end to end: embed (cached), discover, label."""
    from insight import Workspace

    rng = np.random.default_rng(3)
    panel = tmp_path / "panel.csv"
    _write_panel(panel, rng)
    with Workspace(tmp_path / "real.duckdb") as ws:
        ws.ingest([panel], study="s", kind="panel", id_col="respondent_id", text_cols=["answer"],
                   attr_cols=["ward"], date_col="response_date")
        result = ws.themes(study="s", min_size=8)
        assert result["settings"]["embedding_model"] == "all-MiniLM-L6-v2"
        assert result["outlier_share"] < 0.10 and len(result["themes"]) >= 2
        vocabulary = {w for words in TOPICS.values() for w in words}
        assert any(set(t["label"].replace(" · ", " ").split()) & vocabulary for t in result["themes"])
