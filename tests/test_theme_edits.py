"""Rename, merge, split, pin and undo themes; every change in the history; names, merges and pins
survive a re-run. A panel export (BOM, Windows line endings, blank cells) with the hashing embedder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

TOPICS = {
    "damp": ["damp", "mould", "landlord", "bedroom", "condensation", "ceiling", "wallpaper", "windows"],
    "bus": ["bus", "route", "timetable", "stop", "driver", "fares", "depot", "shelter"],
    "library": ["library", "books", "reading", "librarian", "computers", "storytime", "shelves", "borrowing"],
    "bins": ["bins", "recycling", "collection", "rubbish", "missed", "lorry", "bags", "foxes"],
}
PER_TOPIC = 30


def _write_panel(path, rng) -> None:
    rows = ["respondent_id,ward,answer"]
    number = 0
    for words in TOPICS.values():
        for _ in range(PER_TOPIC):
            number += 1
            w = rng.choice(words, size=4, replace=False)
            ward = "" if number % 7 == 0 else ["Eastgate", "Northfield"][number % 2]
            rows.append(f'R{number:03d},{ward},"The {w[0]} and the {w[1]}, then {w[2]} and {w[3]} again."')
    path.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))


@pytest.fixture()
def ws(tmp_path):
    from insight import Workspace

    panel = tmp_path / "panel.csv"
    _write_panel(panel, np.random.default_rng(5))
    workspace = Workspace(tmp_path / "e.duckdb")
    report = workspace.ingest([panel], study="s", kind="panel", id_col="respondent_id", text_cols=["answer"],
                              attr_cols=["ward"])
    assert not report.failed
    yield workspace
    workspace.close()


def _run(ws, seed: int = 42) -> dict:
    return ws.run_themes(study="s", min_size=8, seed=seed, model="hashing")


def _members(ws, run_id) -> dict[int, set[int]]:
    frame = ws.con.execute("SELECT segment_id, theme_id FROM segment_themes WHERE run_id = ?", [run_id]).df()
    return {int(t): set(g["segment_id"]) for t, g in frame.groupby("theme_id")}


def _leaves(ws, run_id) -> pd.DataFrame:
    table = ws.theme_table(run_id)
    return table[table["kind"] == "theme"]


def test_rename_merge_and_pin_survive_a_rerun(ws):
    first = _run(ws)
    run1 = first["run_id"]
    leaves = _leaves(ws, run1)
    assert len(leaves) >= 4
    a, b, c, d = (int(t) for t in leaves["id"][:4])
    ws.rename_theme(a, "Damp and mould in rented homes", actor="priya")
    merged = ws.merge_themes([b, c], name="Getting about and getting rid", actor="priya")
    ws.pin_theme(f"{run1}:{d}", actor="sam")
    before = _members(ws, run1)
    assert merged["theme_id"] in (b, c) and before[merged["theme_id"]] > set()

    second = _run(ws, seed=7)  # another seed: the themes are found again, not copied
    run2 = second["run_id"]
    after = _members(ws, run2)
    table = ws.theme_table(run2).set_index("id")
    renamed = table[table["label"] == "Damp and mould in rented homes"]
    assert len(renamed) == 1 and renamed["named_by"].iloc[0] == "priya"
    new_a = int(renamed.index[0])
    assert len(after[new_a] & before[a]) / len(after[new_a] | before[a]) >= 0.8
    joined = table[table["label"] == "Getting about and getting rid"]
    assert len(joined) == 1
    union = before[merged["theme_id"]]
    got = after[int(joined.index[0])]
    assert len(got & union) / len(got | union) >= 0.8  # the merge was made again
    pinned = table[table["pinned"]]
    assert len(pinned) == 1 and after[int(pinned.index[0])] >= before[d]  # a pin keeps every segment
    assert (table.loc[table["kind"] != "group", "size"].sum()) == sum(len(s) for s in after.values())

    history = ws.theme_edits(run2)
    assert set(history["action"]) >= {"carry"} and set(history["actor"]) == {"insight"}
    carried = [json.loads(x) for x in history.loc[history["action"] == "carry", "detail"]]
    assert {x["from_theme"] for x in carried} == {a, merged["theme_id"], d}
    assert all(x["from_run"] == run1 for x in carried)
    old = ws.theme_edits(run1)
    assert list(old["action"])[::-1] == ["rename", "merge", "pin"]
    assert list(old["actor"])[::-1] == ["priya", "priya", "sam"]

    third = _run(ws)  # and again: carried from the carried
    labels = set(ws.theme_table(third["run_id"])["label"])
    assert {"Damp and mould in rented homes", "Getting about and getting rid"} <= labels


def test_undo_puts_every_edit_back(ws):
    run_id = _run(ws)["run_id"]
    start_table = ws.theme_table(run_id)
    start_members = _members(ws, run_id)
    leaves = [int(t) for t in _leaves(ws, run_id)["id"]]
    ws.rename_theme(leaves[0], "Rubbish", actor="priya")
    ws.merge_themes(leaves[1:3], actor="priya")
    split = ws.split_theme(leaves[0], 2, actor="priya")
    ws.pin_theme(split["into"][0]["id"], actor="priya")
    for _ in range(4):
        ws.undo_theme_edit(run_id=run_id, actor="priya")
    pd.testing.assert_frame_equal(ws.theme_table(run_id), start_table)
    assert _members(ws, run_id) == start_members
    history = ws.theme_edits(run_id)
    assert list(history["action"]) == ["undo", "undo", "undo", "undo", "pin", "split", "merge", "rename"]
    assert history.loc[history["action"] != "undo", "undone_by"].notna().all()
    from insight.errors import InsightError

    with pytest.raises(InsightError, match="no theme edit to undo"):
        ws.undo_theme_edit(run_id=run_id, actor="priya")


def test_split_makes_named_parts_under_the_same_parent(ws):
    run_id = _run(ws)["run_id"]
    leaves = _leaves(ws, run_id)
    theme = leaves.iloc[0]
    members = _members(ws, run_id)[int(theme["id"])]
    result = ws.split_theme(int(theme["id"]), 3, actor="priya")
    parts = [p["id"] for p in result["into"]]
    after = _members(ws, run_id)
    assert int(theme["id"]) not in after
    assert set().union(*(after[p] for p in parts)) == members
    assert sum(p["size"] for p in result["into"]) == len(members)
    table = ws.theme_table(run_id).set_index("id")
    for p in parts:
        assert table.loc[p, "label"] and table.loc[p, "parent_id"] is theme["parent_id"] or \
            table.loc[p, "parent_id"] == theme["parent_id"]
        quote = table.loc[p, "quotes"][0]
        assert quote["segment_id"] in after[p] and table.loc[p, "subtitle"] == quote["text"]


def test_sizes_match_the_segments_after_edits(ws):
    run_id = _run(ws)["run_id"]
    leaves = [int(t) for t in _leaves(ws, run_id)["id"]]
    ws.merge_themes(leaves[:2], actor="priya")
    table = ws.theme_table(run_id)
    counts = ws.con.execute("SELECT theme_id, count(*) AS n FROM segment_themes WHERE run_id = ? GROUP BY 1",
                            [run_id]).df().set_index("theme_id")["n"]
    for row in table.itertuples():
        assert row.size == counts.get(row.id, 0)
    groups = ws.theme_table(run_id, groups=True)
    for group in groups.itertuples():
        assert group.size == table.loc[table["parent_id"] == group.id, "size"].sum()


def test_bad_edits_say_what_to_do(ws):
    from insight.errors import InsightError, NotFound

    run_id = _run(ws)["run_id"]
    leaves = [int(t) for t in _leaves(ws, run_id)["id"]]
    with pytest.raises(NotFound, match="No theme of run"):
        ws.rename_theme(999, "x", actor="priya")
    with pytest.raises(InsightError, match="not a theme"):
        ws.rename_theme("damp", "x", actor="priya")
    with pytest.raises(InsightError, match="cannot be empty"):
        ws.rename_theme(leaves[0], "  ", actor="priya")
    with pytest.raises(InsightError, match="two themes or more"):
        ws.merge_themes([leaves[0]], actor="priya")
    with pytest.raises(InsightError, match="cannot be split into 99"):
        ws.split_theme(leaves[0], 99, actor="priya")
    groups = ws.theme_table(run_id, groups=True)
    if len(groups):
        with pytest.raises(InsightError, match="only themes can be merged"):
            ws.merge_themes([int(groups["id"].iloc[0]), leaves[0]], actor="priya")
    assert ws.theme_edits(run_id).empty  # nothing half-done


def test_cli_rename_merge_pin_edits_undo(ws, tmp_path):
    from click.testing import CliRunner

    from insight.cli import main

    run_id = _run(ws)["run_id"]
    leaves = [int(t) for t in _leaves(ws, run_id)["id"]]
    db = str(tmp_path / "e.duckdb")
    ws.close()
    runner = CliRunner()

    def call(*args):
        result = runner.invoke(main, ["--db", db, "themes", *args])
        assert result.exit_code == 0, result.output
        return result.output

    renamed = call("rename", str(leaves[0]), "Mould in the bedroom", "--actor", "priya")
    assert f"Theme {leaves[0]} is now “Mould in the bedroom”." in renamed
    assert "Merged" in call("merge", f"{run_id}:{leaves[1]}", str(leaves[2]), "--actor", "priya")
    assert "is pinned" in call("pin", str(leaves[0]), "--actor", "priya")
    out = call("edits")
    assert "rename" in out and "merge" in out and "pin" in out and "priya" in out
    assert "Undid" in call("undo")
    data = json.loads(call("edits", "--json"))
    assert [e["action"] for e in data["edits"]] == ["undo", "pin", "merge", "rename"]
    bad = runner.invoke(main, ["--db", db, "themes", "rename", "77", "x"])
    assert bad.exit_code == 1 and "No theme of run" in bad.output


def test_quotes_read_as_the_study_is_now_after_pseudonymising(tmp_path):
    """A run stores its quotes; pseudonymising later must not leave the real names in them (theme
    cards, the CLI, exports and the gap finder all read them)."""
    from insight import Workspace

    panel = tmp_path / "named.csv"
    _write_panel(panel, np.random.default_rng(5))
    lines = panel.read_bytes().decode("utf-8").split("\r\n")
    lines = [line if i == 0 or not line else line[:-1] + ' Margaret Jones rang me on 07700 900183."'
             for i, line in enumerate(lines)]
    panel.write_bytes("\r\n".join(lines).encode("utf-8"))
    with Workspace(tmp_path / "p.duckdb") as ws:
        assert not ws.ingest([panel], study="s", kind="panel", id_col="respondent_id", text_cols=["answer"]).failed
        run_id = _run(ws)["run_id"]
        stored = [json.loads(q) for (q,) in ws.con.execute("SELECT quotes FROM themes WHERE run_id = ?",
                                                            [run_id]).fetchall()]
        assert any("Margaret" in q["text"] for qs in stored for q in qs)  # the names are there before
        ws.pseudonymise(study="s", use_ner=False)
        table = ws.theme_table(run_id, study="s")
        quotes = [q for qs in table["quotes"] for q in qs]
        assert quotes and not any("Margaret" in q["text"] or "07700" in q["text"] for q in quotes)
        now = dict(ws.con.execute("SELECT segment_id, text FROM segments").fetchall())
        assert all(q["text"] == now[q["segment_id"]] for q in quotes)
        assert not any(isinstance(s, str) and "Margaret" in s for s in table["subtitle"])
