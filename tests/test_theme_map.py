"""The theme map: labels that do not overlap, axes that one far-off point cannot squeeze, distinct
colours for top-level themes and shades for sub-themes, and a quote with its participant on hover.

The run is synthetic (:mod:`synthetic_run`): 40 themes whose centres sit close together on a small
grid, plus one segment far away, the case that used to give overlapping labels and a squeezed map.
Label boxes are measured independently of the code that placed them: with the glyph widths of
DejaVu Sans Bold (the widest common sans-serif bold, read by Pillow) in the fast test, and as a
real headless Chromium draws the exported HTML in the browser test.
"""

from __future__ import annotations

import colorsys
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthetic_run import panel_csv, store_run

WORDS = ["damp", "mould", "landlord", "repairs", "boiler", "buses", "timetable", "library", "books", "bins",
         "recycling", "parking", "permits", "council tax", "court", "benefits", "carers", "youth club", "schools",
         "potholes", "street lights", "noise", "neighbours", "food bank", "heating", "rent", "arrears", "GP",
         "hospital", "pharmacy", "loneliness", "parks", "trees", "dog fouling", "fly-tipping", "police", "safety",
         "jobs", "training", "broadband"]
N_THEMES, PER_THEME = 40, 14
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _labels() -> list[str]:
    return [f"{WORDS[i]} · {WORDS[(i * 7 + 3) % 40]} · {WORDS[(i * 11 + 5) % 40]}" for i in range(N_THEMES)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The synthetic study and run: 40 close themes, one far outlier; themes 0-9 grouped under four
    parents (ids 100-103), the rest top-level."""
    from insight import Workspace

    tmp = tmp_path_factory.mktemp("map")
    rows = [{"id": f"R{i:04d}", "ward": ["Eastgate", "Northfield"][i % 2],
             "answer": f"Answer {i} about {WORDS[i % 40]} & {WORDS[(i * 3) % 40]}, as I said to the council."}
            for i in range(N_THEMES * PER_THEME + 1)]
    panel_csv(tmp / "panel.csv", rows, ["id", "ward", "answer"])
    ws = Workspace(tmp / "map.duckdb")
    report = ws.ingest([tmp / "panel.csv"], study="s", kind="panel", id_col="id", text_cols=["answer"],
                       attr_cols=["ward"])
    assert not report.failed
    segments = ws.con.execute("SELECT segment_id FROM segments ORDER BY segment_id").df()["segment_id"]
    rng = np.random.default_rng(3)
    centres = [(i % 8 * 1.0, i // 8 * 0.8) for i in range(N_THEMES)]
    theme_of = np.repeat(np.arange(N_THEMES), PER_THEME)
    xy = np.array([centres[t] for t in theme_of]) + rng.normal(scale=0.25, size=(len(theme_of), 2))
    assignments = pd.DataFrame({"segment_id": segments.iloc[:-1].to_numpy(), "theme_id": theme_of,
                                "x": xy[:, 0], "y": xy[:, 1]})
    far = pd.DataFrame({"segment_id": [int(segments.iloc[-1])], "theme_id": [5], "x": [400.0], "y": [-300.0]})
    assignments = pd.concat([assignments, far], ignore_index=True)
    labels = _labels()
    themes = [{"theme_id": t, "label": labels[t], "parent_id": 100 + t % 4 if t < 10 else None}
              for t in range(N_THEMES)]
    themes += [{"theme_id": 100 + p, "label": f"group {p}"} for p in range(4)]
    run_id = store_run(ws, assignments, themes, study="s")
    yield {"ws": ws, "run_id": run_id, "assignments": assignments, "tmp": tmp, "labels": labels}
    ws.close()


def _plot_box(fig) -> tuple[float, float, float, float]:
    """The plotting area in figure pixels: left, top, width, height."""
    m = fig.layout.margin
    return m.l, m.t, fig.layout.width - m.l - m.r, fig.layout.height - m.t - m.b


def _measured_boxes(fig) -> list[tuple[float, float, float, float]]:
    """Each label's box in pixels, from the annotations alone, text measured with DejaVu Sans Bold."""
    from PIL import ImageFont

    left, top, width, height = _plot_box(fig)
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    boxes = []
    for a in fig.layout.annotations:
        text = a.text.removeprefix("<b>").removesuffix("</b>").replace("&amp;", "&")
        font = ImageFont.truetype(str(FONT), a.font.size)
        w = font.getlength(text) + 2 * a.borderpad + 2 * a.borderwidth
        h = a.font.size * 1.25 + 2 * a.borderpad + 2 * a.borderwidth
        cx = left + (a.x - x0) / (x1 - x0) * width
        cy = top + (y1 - a.y) / (y1 - y0) * height
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return boxes


def _intersect(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.skipif(not FONT.exists(), reason="needs DejaVu Sans Bold (Debian: fonts-dejavu-core)")
def test_no_two_labels_overlap(run):
    pytest.importorskip("PIL")
    from insight.themes import maps

    fig = maps.theme_map(run["ws"].con, run["run_id"])
    boxes = _measured_boxes(fig)
    assert len(boxes) >= 15, "most labels should find a place"  # a map without labels would pass trivially
    clashes = [(i, j) for i, j in itertools.combinations(range(len(boxes)), 2) if _intersect(boxes[i], boxes[j])]
    assert clashes == []
    left, top, width, height = _plot_box(fig)
    assert all(b[0] >= left - 1 and b[2] <= left + width + 1 and b[1] >= top - 1 and b[3] <= top + height + 1
               for b in boxes), "labels stay inside the plot"
    # a label left off is named in the subtitle's count, and its theme is still in the hover of its points
    shown = {a.text.removeprefix("<b>").removesuffix("</b>") for a in fig.layout.annotations}
    left_off = N_THEMES - len(shown)
    if left_off:
        assert f"{left_off} smaller themes' labels left off" in fig.layout.title.text


def test_the_old_placement_did_overlap(run):
    """The test above can fail: labels at the theme centres, as the map used to draw them, overlap."""
    from insight.themes.layout import label_size_px, overlaps
    from insight.themes.maps import MAP_HEIGHT, MAP_MARGIN, MAP_WIDTH

    points = run["assignments"]
    centres = points.groupby("theme_id")[["x", "y"]].median()
    (x0, x1), (y0, y1) = (points["x"].quantile(0.01), points["x"].quantile(0.99)), \
        (points["y"].quantile(0.01), points["y"].quantile(0.99))
    per_x = (x1 - x0) / (MAP_WIDTH - MAP_MARGIN["l"] - MAP_MARGIN["r"])
    per_y = (y1 - y0) / (MAP_HEIGHT - MAP_MARGIN["t"] - MAP_MARGIN["b"])
    boxes = []
    for theme, (cx, cy) in centres.iterrows():
        w, h = label_size_px(run["labels"][theme])
        boxes.append((cx - w / 2 * per_x, cy - h / 2 * per_y, cx + w / 2 * per_x, cy + h / 2 * per_y))
    assert any(overlaps(a, b) for a, b in itertools.combinations(boxes[:12], 2))


def test_axes_are_not_squeezed_by_one_far_point(run):
    from insight.themes import maps

    fig = maps.theme_map(run["ws"].con, run["run_id"])
    points = run["assignments"]
    for axis, column in ((fig.layout.xaxis, "x"), (fig.layout.yaxis, "y")):
        lo, hi = axis.range
        central = points[column].quantile(0.99) - points[column].quantile(0.01)
        assert central / (hi - lo) > 0.8, (column, central, hi - lo)
    edge = next(t for t in fig.data if t.name.startswith("beyond the edge"))
    assert len(edge.x) >= 1 and "lies beyond the map's edge" in edge.hovertext[list(edge.customdata).index(
        int(points["segment_id"].iloc[-1]))]
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert all(x0 <= x <= x1 for x in edge.x) and all(y0 <= y <= y1 for y in edge.y)
    assert "far-off points drawn on the edge" in fig.layout.title.text


def test_hover_shows_the_quote_and_its_participant(run):
    from insight.themes import maps

    fig = maps.theme_map(run["ws"].con, run["run_id"])
    first = run["ws"].con.execute(
        "SELECT g.segment_id, g.text, p.external_id FROM segments g JOIN participants p USING (participant_id) "
        "ORDER BY g.segment_id LIMIT 1").fetchone()
    trace = next(t for t in fig.data if t.customdata is not None and first[0] in list(t.customdata))
    hover = trace.hovertext[list(trace.customdata).index(first[0])]
    assert first[2] in hover and first[1][:40].replace("&", "&amp;") in hover
    assert first[1].startswith("Answer 0 about damp & ") and "damp &amp; " in hover  # escaped for the hover


def _hue(colour: str) -> float:
    value = colour.lstrip("#")
    return colorsys.rgb_to_hls(*(int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)))[0]


def _distance(a: str, b: str) -> float:
    ra, rb = (np.array([int(c.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]) for c in (a, b))
    return float(np.linalg.norm(ra - rb))


def test_top_level_colours_are_distinct_and_sub_themes_are_shades(run):
    from insight.themes import maps

    fig = maps.theme_map(run["ws"].con, run["run_id"])
    colours = {int(t.name.split(":")[0]): t.marker.color for t in fig.data
               if t.name and t.name[0].isdigit() and t.mode == "markers"}
    assert len(colours) == N_THEMES
    # themes 0-9 are under parents 100-103 (theme t under 100 + t % 4); themes 10-39 are top-level
    families = {p: [colours[t] for t in range(10) if t % 4 == p] for p in range(4)}
    for members in families.values():
        assert max(abs(_hue(c) - _hue(members[0])) for c in members) < 0.02, members
        assert len(set(members)) == len(members)
    # the largest sub-theme (theme 5, with the far point; else the lowest id) wears the parent's own colour
    firsts = [5 if p == 1 else p for p in range(4)]
    tops = [colours[t] for t in firsts] + [colours[t] for t in range(10, N_THEMES)]
    assert min(_distance(a, b) for a, b in itertools.combinations(tops, 2)) > 25
    assert "#c8c8c8" not in tops  # grey is for unassigned segments


def test_without_parents_every_theme_gets_its_own_colour():
    from insight.themes.layout import theme_colours

    colours = theme_colours({t: 100 - t for t in range(30)})
    assert len(set(colours.values())) == 30
    assert min(_distance(a, b) for a, b in itertools.combinations(colours.values(), 2)) > 25


def test_layout_is_stored_with_the_run_and_redone_after_a_rename(run):
    import json

    from insight.themes import maps

    ws, run_id = run["ws"], run["run_id"]
    stored = json.loads(ws.con.execute("SELECT summary FROM runs WHERE run_id = ?", [run_id]).fetchone()[0])["map"]
    assert stored["labels"] and stored["fingerprint"]
    ws.con.execute("UPDATE themes SET label = 'Renamed theme' WHERE run_id = ? AND theme_id = 0", [run_id])
    try:
        fig = maps.theme_map(ws.con, run_id)
        assert any("Renamed theme" in a.text for a in fig.layout.annotations)
    finally:
        ws.con.execute("UPDATE themes SET label = ? WHERE run_id = ? AND theme_id = 0", [run["labels"][0], run_id])


def test_png_and_html_exports(run):
    from insight.themes import maps

    fig = maps.theme_map(run["ws"].con, run["run_id"])
    png = maps.write_figure(fig, run["tmp"] / "map.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(png).size == (fig.layout.width, fig.layout.height)
    html = maps.write_figure(fig, run["tmp"] / "map.html").read_text(encoding="utf-8")
    assert "beyond the edge" in html


@pytest.mark.browser
def test_no_two_labels_overlap_as_chromium_draws_the_html(run):
    """The exported HTML in headless Chromium: the real label boxes (``g.annotation``) do not meet."""
    from chromium import CHROMIUM, DRIVER, chromium
    from insight.themes import maps

    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip("needs the Debian packages chromium and chromium-driver")
    path = maps.write_figure(maps.theme_map(run["ws"].con, run["run_id"]), run["tmp"] / "labels.html")
    browsers = chromium("1400,1000")
    d = next(browsers)
    try:
        d.get(path.as_uri())
        rects = d.execute_script("return [...document.querySelectorAll('g.annotation rect.bg')].map(r => "
                                 "{const b = r.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom];})")
    finally:
        next(browsers, None)
    assert len(rects) >= 15
    assert [(i, j) for i, j in itertools.combinations(range(len(rects)), 2) if _intersect(rects[i], rects[j])] == []


def test_the_title_counts_themes_as_the_run_does_small_talk_apart(run):
    from insight.themes import maps

    con, run_id = run["ws"].con, run["run_id"]
    assert f"{N_THEMES} themes, " in maps.theme_map(con, run_id).layout.title.text
    size = int((run["assignments"]["theme_id"] == 7).sum())
    con.execute("UPDATE themes SET kind = 'small_talk' WHERE run_id = ? AND theme_id = 7", [run_id])
    try:
        title = maps.theme_map(con, run_id).layout.title.text
        assert f"{N_THEMES - 1} themes and small talk ({size}), " in title, title
    finally:
        con.execute("UPDATE themes SET kind = 'theme' WHERE run_id = ? AND theme_id = 7", [run_id])
