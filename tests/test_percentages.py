"""Every percentage with its base: themes by group, over time (with Wilson intervals) and against
codes, each figure and its n checked against an independent pandas computation from the export
file itself; small groups flagged and left out of charts with a note; tables that sort as numbers;
on the Themes page, the view kept across actions.

The study is a citizens' panel export as councils send them: Windows cp1252 with a £ sign, comma
separated with quoted answers, Windows line endings, blank attribute cells, two open questions,
and a ward with a single respondent (the "100% of one person" case).
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from synthetic_run import store_run
from insight.ui.safe import plain

N_THEMES = 12
WARDS = ["Eastgate"] * 22 + ["Northfield"] * 12 + ["Tiny Ward"] + [""] * 5
AGES = ["18-34", "35-64", "65+", ""]


def _export(path) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for i, ward in enumerate(WARDS):
        day = pd.Timestamp("2026-03-02") + pd.Timedelta(days=int(rng.integers(0, 21)))
        if i in (3, 4):
            day = pd.Timestamp("2026-04-20")  # a week with two respondents only
        rows.append({"Respondent ID": f"NB-{i:03d}", "Ward": ward, "Age band": AGES[i % 4],
                     "Date": day.strftime("%d/%m/%Y"),
                     "Q1 contact": f"Rang about the £{20 + i} charge, \"nobody called back\" ({i})",
                     "Q2 change": "" if i % 9 == 0 else f"Fix the damp in block {i % 5}, please",
                     "Q1 codes": "Chasing" if i % 3 == 0 else "Money"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(out.getvalue().encode("cp1252"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from insight import Workspace

    tmp = tmp_path_factory.mktemp("pct")
    _export(tmp / "panel.csv")
    db = tmp / "pct.duckdb"
    ws = Workspace(db)
    report = ws.ingest([tmp / "panel.csv"], study="panel", kind="panel", id_col="Respondent ID",
                       text_cols=["Q1 contact", "Q2 change"], attr_cols=["Ward", "Age band"], date_col="Date",
                       code_cols=["Q1 codes=Q1 contact"], coder="Priya Shah")
    assert not report.failed, report.failed
    segs = ws.con.execute("SELECT segment_id FROM segments ORDER BY segment_id").df()["segment_id"]
    theme = np.where(segs % 7 == 0, -1, segs % N_THEMES)  # 12 themes (ids 0-11) and some unassigned
    assignments = pd.DataFrame({"segment_id": segs, "theme_id": theme, "x": (segs % 5).astype(float),
                                "y": (segs % 3).astype(float)})
    run_id = store_run(ws, assignments, [{"theme_id": t, "label": f"theme {t}"} for t in range(N_THEMES)]
                       + [{"theme_id": -1, "label": "Unassigned"}], study="panel")
    ws.con.execute("CHECKPOINT")
    yield {"ws": ws, "run_id": run_id, "db": db, "file": tmp / "panel.csv", "assignments": assignments}
    ws.close()


def _segments_from_the_file(study) -> pd.DataFrame:
    """Each segment with its respondent's row of the export as pandas reads the file itself."""
    raw = pd.read_csv(study["file"], encoding="cp1252", dtype=str, keep_default_na=False)
    who = study["ws"].con.execute(
        "SELECT g.segment_id, p.external_id FROM segments g JOIN participants p USING (participant_id)").df()
    data = who.merge(raw, left_on="external_id", right_on="Respondent ID").merge(study["assignments"],
                                                                                  on="segment_id")
    assert len(data) == len(study["assignments"])
    return data


def test_themes_by_group_with_bases_match_pandas(study):
    data = _segments_from_the_file(study)
    data["Ward"] = data["Ward"].replace("", "(none)")
    expected = pd.crosstab(data["theme_id"], data["Ward"])
    people = data.groupby("Ward")["external_id"].nunique()
    got = study["ws"].themes_by("Ward", study["run_id"])
    assert len(got) == int((expected > 0).sum().sum())
    for row in got.itertuples():
        group = expected[row.Ward]
        assert row.segments == expected.loc[row.theme_id, row.Ward]
        assert row.group_segments == group.sum()
        assert row.pct_of_group == pytest.approx(100 * group[row.theme_id] / group.sum())
        assert row.theme_segments == expected.loc[row.theme_id].sum()
        assert row.pct_of_theme == pytest.approx(100 * expected.loc[row.theme_id, row.Ward]
                                                 / expected.loc[row.theme_id].sum())
        assert row.group_people == people.get(row.Ward, 0)
    small = got.drop_duplicates("Ward").set_index("Ward")["small"]
    assert small.to_dict() == {"Eastgate": False, "Northfield": False, "Tiny Ward": True, "(none)": False}


def test_pct_n_format():
    from insight.themes.shares import pct_n

    assert pct_n(5, 12) == "42% (n=12)"
    assert pct_n(1, 1) == "100% (n=1)"
    assert pct_n(175, 1302) == "13% (n=1,302)"
    assert pct_n(0, 0) == "– (n=0)"


def test_small_groups_are_left_out_of_the_chart_and_named(study):
    from insight.themes import maps

    table = study["ws"].themes_by("Ward", study["run_id"])
    fig, hidden = maps.attribute_heatmap_figure(table, "Ward")
    heads = list(fig.data[0].x)
    assert not any(h.startswith("Tiny Ward") for h in heads) and hidden == ["Tiny Ward (n=2, 1 people)"]
    assert any(h.startswith("Eastgate<br>n=") for h in heads)
    fig, hidden = maps.attribute_heatmap_figure(table, "Ward", show_small=True)
    assert hidden == [] and "Tiny Ward<br>n=2<br>1 people<br>(small)" in list(fig.data[0].x)
    report = maps.theme_attribute_heatmap(study["ws"].con, "Ward", study["run_id"])
    assert "Left out, fewer than 5 people: Tiny Ward (n=2, 1 people)" in report.layout.title.text


def test_over_time_counts_bases_and_wilson_intervals(study):
    from scipy.stats import binomtest

    data = _segments_from_the_file(study)
    data["period"] = pd.to_datetime(data["Date"], format="%d/%m/%Y").dt.to_period("W").dt.start_time
    expected = data.groupby(["period", "theme_id"]).size()
    bases = data.groupby("period").size()
    got = study["ws"].themes_over_time(study["run_id"], freq="W")
    assert len(got) == len(expected)
    for row in got.itertuples():
        assert row.segments == expected[(row.period, row.theme_id)]
        assert row.period_segments == bases[row.period]
        assert row.share == pytest.approx(row.segments / bases[row.period])
        ci = binomtest(int(row.segments), int(row.period_segments)).proportion_ci(method="wilson")
        assert (row.low, row.high) == (pytest.approx(ci.low, abs=1e-9), pytest.approx(ci.high, abs=1e-9))
        assert row.small == (bases[row.period] < 5)
    assert got["small"].any() and not got["small"].all()  # the week of two respondents (four answers)


def test_wilson_interval_by_hand():
    from insight.themes.shares import wilson_interval

    low, high = wilson_interval([5, 0, 10, 3], [10, 10, 10, 0])
    # 5 of 10: centre (0.5 + 1.96²/20) / (1 + 1.96²/10) = 0.5; half-width 0.2634 (z = 1.95996)
    assert low[0] == pytest.approx(0.23659, abs=1e-5) and high[0] == pytest.approx(0.76341, abs=1e-5)
    assert low[1] == 0.0 and high[1] == pytest.approx(0.27753, abs=1e-5)
    assert high[2] == 1.0 and low[2] == pytest.approx(0.72247, abs=1e-5)
    assert np.isnan(low[3]) and np.isnan(high[3])


def test_statsmodels_agrees_when_installed():
    statsmodels = pytest.importorskip("statsmodels.stats.proportion")
    from insight.themes.shares import wilson_interval

    k, n = np.array([0, 1, 7, 30, 99]), np.array([3, 4, 20, 31, 100])
    low, high = wilson_interval(k, n)
    ref_low, ref_high = statsmodels.proportion_confint(k, n, method="wilson")
    assert np.allclose(low, ref_low) and np.allclose(high, ref_high)


def test_theme_code_overlap_bases_match_pandas(study):
    data = _segments_from_the_file(study)
    coded = set(study["ws"].con.execute(
        "SELECT DISTINCT segment_id FROM coding_segments WHERE code = 'Chasing' AND status <> 'rejected'"
    ).df()["segment_id"])
    data["coded"] = data["segment_id"].isin(coded)
    got = study["ws"].theme_code_overlap(study["run_id"]).query("code == 'Chasing'").set_index("theme_id")
    per_theme = data.groupby("theme_id").agg(n=("segment_id", "size"), coded=("coded", "sum"))
    per_theme = per_theme[per_theme["coded"] > 0]
    assert sorted(got.index) == sorted(per_theme.index)
    for theme, row in per_theme.iterrows():
        assert got.loc[theme, "segments"] == row["coded"] and got.loc[theme, "theme_segments"] == row["n"]
        assert got.loc[theme, "code_segments"] == data["coded"].sum()
        assert got.loc[theme, "pct_of_theme"] == pytest.approx(100 * row["coded"] / row["n"])


def test_theme_code_overlap_of_a_list_of_coders_is_their_codings_only(study):
    """The Themes page passes the coders a person may see while samples are blind."""
    ws = study["ws"]
    coders = ws.con.execute("SELECT DISTINCT coder FROM coding_segments WHERE status <> 'rejected' "
                            "ORDER BY 1").df()["coder"].tolist()
    one = ws.theme_code_overlap(study["run_id"], coder=coders[0])
    assert not one.empty and one.equals(ws.theme_code_overlap(study["run_id"], coder=[coders[0]]))
    everyone = ws.theme_code_overlap(study["run_id"], coder=[*coders, "Nobody Yet"])
    assert everyone.equals(ws.theme_code_overlap(study["run_id"]))
    assert ws.theme_code_overlap(study["run_id"], coder=[]).empty
    assert ws.theme_code_overlap(study["run_id"], coder=["Nobody Yet"]).empty


def test_tables_sort_as_numbers(study):
    from insight.ui.themes import code_table, group_table

    table = group_table(study["ws"].themes_by("Ward", study["run_id"]), "Ward")
    assert table["theme"].dtype == "int64" and table["% of group"].dtype == "float64"
    assert table["group n"].dtype == "int64"
    order = table.sort_values("theme")["theme"].drop_duplicates().tolist()
    assert order == sorted(order) and order.index(10) > order.index(2)  # not 0, 1, 10, 11, 2
    codes = code_table(study["ws"].theme_code_overlap(study["run_id"]))
    assert codes["theme"].dtype == "int64" and codes["% of theme"].dtype == "float64"
    assert codes["theme"].tolist() == sorted(codes["theme"])


# -- the app ----------------------------------------------------------------------------------


def _app(study, tmp_path, monkeypatch, page: str, **state):
    """The app on a copy of the study's database (this process holds the original open)."""
    import shutil
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    db = tmp_path / "app.duckdb"
    shutil.copy(study["db"], db)
    monkeypatch.setenv("INSIGHT_DB", str(db))
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def _spec(at, index: int = 0):
    """A drawn chart's figure, its arrays decoded (plotly sends numbers as typed arrays)."""
    return _figure(at.get("plotly_chart")[index].proto.spec)


def _figure(spec: str):
    import plotly.io

    return plotly.io.from_json(spec)


def _values(array) -> list:
    """A trace's array as a list: plotly sends numbers as base64 typed arrays (``bdata``)."""
    import base64

    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_against_codes_rows_in_number_order_and_numeric_table(study, tmp_path, monkeypatch):
    at = _app(study, tmp_path, monkeypatch, "themes", **{"themes.view": "Against codes"})
    assert not at.exception and not at.error
    rows = _spec(at).data[0].y
    ids = [int(r.split(":")[0]) for r in rows]
    assert ids == sorted(ids) and len(ids) >= 11, rows
    frame = at.dataframe[0].value
    assert frame["theme"].dtype == "int64" and frame["% of theme"].dtype == "float64"
    assert all(" (n=" in r for r in rows)


def test_by_group_page_names_the_small_group_left_out(study, tmp_path, monkeypatch):
    at = _app(study, tmp_path, monkeypatch, "themes", **{"themes.view": "By group", "themes.by": "Ward"})
    assert not at.exception and not at.error
    assert any("Tiny Ward (n=2, 1 people)" in plain(i.value) for i in at.info)
    assert not any(x.startswith("Tiny Ward") for x in _spec(at).data[0].x)
    at.checkbox(key="themes.by.small").check().run()
    assert any(x.startswith("Tiny Ward") and "(small)" in x for x in _spec(at).data[0].x)
    assert at.session_state["themes.view"] == "By group"


def test_overview_labels_theme_shares_with_their_base(study, tmp_path, monkeypatch):
    at = _app(study, tmp_path, monkeypatch, "overview")
    assert not at.exception
    chart = next(_figure(c.proto.spec) for c in at.get("plotly_chart") if "Largest themes" in c.proto.spec)
    table = study["assignments"]
    total = len(table)
    counts = table[table["theme_id"] >= 0].groupby("theme_id").size()
    bar = chart.data[0]
    assert len(bar.y) == min(12, len(counts))
    for label, text, x in zip(bar.y, bar.text, _values(bar.x)):
        n = counts[int(label.split(":")[0])]
        assert text == f"{100 * n / total:.0f}% (n={total:,})"
        assert x == pytest.approx(100 * n / total)
