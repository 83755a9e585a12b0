"""The app's theme edit controls (headless ``AppTest``): a researcher renames, pins and merges; a
viewer sees the history and no controls. Hashing embedder: no model loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.test_theme_edits import _write_panel

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def db(tmp_path, monkeypatch):
    from insight import Workspace

    panel = tmp_path / "panel.csv"
    _write_panel(panel, np.random.default_rng(5))
    path = tmp_path / "app.duckdb"
    with Workspace(path) as ws:
        ws.ingest([panel], study="s", kind="panel", id_col="respondent_id", text_cols=["answer"], attr_cols=["ward"])
        run_id = ws.run_themes(study="s", min_size=8, model="hashing")["run_id"]
    monkeypatch.setenv("INSIGHT_DB", str(path))
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    return path, run_id


def _themes_page(coder: str | None = "Priya"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if coder:
        at.session_state["shell.coder"] = coder
    at.session_state["themes.view"] = "Themes and quotes"  # where the edit controls are
    at.switch_page("pages/themes.py")
    return at.run()


def _clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_a_researcher_renames_pins_and_merges_in_the_app(db):
    from insight import Workspace

    path, run_id = db
    key = f"themes.edit.{run_id}"
    at = _themes_page()
    _clean(at)
    first = at.selectbox(key=f"{key}.theme").value
    theme = int(first.split(":")[0])
    at.text_input(key=f"{key}.name").set_value("Buses that never come")
    at.button(key=f"{key}.rename").click().run()
    _clean(at)
    at.button(key=f"{key}.pin").click().run()
    _clean(at)
    options = at.multiselect(key=f"{key}.merge").options
    at.multiselect(key=f"{key}.merge").set_value(options[-2:]).run()
    at.button(key=f"{key}.merge_go").click().run()
    _clean(at)
    with Workspace(path, read_only=True) as ws:
        table = ws.theme_table(run_id).set_index("id")
        edits = ws.theme_edits(run_id)
    assert table.loc[theme, "label"] == "Buses that never come" and table.loc[theme, "named_by"] == "Priya"
    assert bool(table.loc[theme, "pinned"])
    assert list(edits["action"]) == ["merge", "pin", "rename"] and set(edits["actor"]) == {"Priya"}
    at.button(key=f"themes.edit.{run_id}.undo").click().run()
    _clean(at)
    with Workspace(path, read_only=True) as ws:
        assert ws.theme_edits(run_id)["action"].iloc[0] == "undo"


def test_a_viewer_sees_no_edit_controls(db):
    from insight.access import set_password

    path, run_id = db
    set_password(path, "the researcher's long password", "researcher")
    set_password(path, "the viewer's long password", "viewer")
    at = _themes_page(coder=None)
    at.text_input(key="insight.login.password").set_value("the viewer's long password")
    next(b for b in at.button if b.label == "Log in").click().run()
    _clean(at)
    keys = {w.key for w in [*at.button, *at.text_input, *at.multiselect] if w.key}
    assert not any(k.startswith(f"themes.edit.{run_id}") for k in keys)
    assert any("a researcher can rename" in c.value for c in at.caption)
