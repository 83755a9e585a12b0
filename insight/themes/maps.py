"""Theme maps and charts as plotly figures, each one a function of stored results.

- :func:`theme_map`: the 2-D map of segments coloured by theme or by a code, quote on hover; its
  colours, axes and label places come from :func:`map_layout` (worked out once when a run is
  stored, :func:`precompute_map`; see :mod:`insight.themes.layout`);
- :func:`theme_attribute_heatmap`: share of each group's segments in each theme (ward, age band, ...),
  each group with its base n, small groups left out and named;
- :func:`code_cooccurrence_heatmap`: how often two codes are applied to the same segment;
- :func:`themes_over_time_chart`: each theme's share of the segments per week (or day, month, ...),
  with the base n and a 95% Wilson interval.

Reads ``runs`` (and writes ``runs.summary.map``), ``themes``, ``segment_themes``, ``segments``,
``documents``, ``participants``, ``attributes`` and ``coding_segments``.

:func:`write_figure` writes ``.html`` (plotly.js embedded: opens offline) or ``.png``/``.svg``/
``.pdf``. Images are rendered by kaleido 0.2.1 (its bundled headless Chromium) with the plotly.js
that ships inside the plotly package, so nothing is fetched from a CDN. Plotly 6+'s own
``write_image`` wants kaleido 1.x and a system Chrome; this calls kaleido's ``PlotlyScope``
directly instead.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

import numpy as np

from insight.errors import InsightError, MissingDependency, NotFound
from insight.themes.shares import MIN_BASE, wilson_interval

UNASSIGNED_COLOUR = "#c8c8c8"
OTHER_COLOUR = "#d9d9d9"
HIGHLIGHT_COLOUR = "#d62728"
MAX_LEGEND = 30
LEGEND_CHARS = 34
# The map's size as drawn for a report; the app stretches it to the page's width, which only gives
# the labels more room. The legend has a fixed strip on the right, so the plotting area is known.
MAP_WIDTH, MAP_HEIGHT = 1000, 760
MAP_MARGIN = {"l": 20, "r": 270, "t": 70, "b": 20}
_WRAP = re.compile(r"(.{1,70})(?:\s+|$)")


def _wrap(text: str, limit: int = 240) -> str:
    """Hover text: at most ``limit`` characters, broken into lines of about 70 (HTML-escaped)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return "<br>".join(m.group(1) for m in _WRAP.finditer(html.escape(text)) if m.group(1))


def _points(con, run_id: int):
    return con.execute(
        """
        SELECT s.segment_id, s.theme_id, t.label, s.x, s.y, g.text, g.speaker, p.external_id AS participant,
               d.title AS document
        FROM segment_themes s JOIN segments g USING (segment_id) JOIN documents d USING (document_id)
        LEFT JOIN participants p ON p.participant_id = g.participant_id
        LEFT JOIN themes t ON t.run_id = s.run_id AND t.theme_id = s.theme_id
        WHERE s.run_id = ? ORDER BY s.segment_id
        """, [run_id]).df()


def _themes(con, run_id: int):
    """The run's themes with ``parent_id`` and ``kind`` when the table has the columns (all
    top-level themes otherwise)."""
    columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'themes'").fetchall()}
    parent = "parent_id" if "parent_id" in columns else "NULL::INTEGER AS parent_id"
    kind = "kind" if "kind" in columns else "'theme' AS kind"
    return con.execute(f"SELECT theme_id, label, size, {parent}, {kind} FROM themes WHERE run_id = ? "
                       "ORDER BY theme_id", [run_id]).df()


def map_layout(themes, points, *, width: int = MAP_WIDTH, height: int = MAP_HEIGHT) -> dict:
    """Everything about the theme map but its points: colours, axis ranges and label places.

    ``themes``: ``theme_id, label, size, parent_id``; ``points``: ``theme_id, x, y``. Labels go
    largest theme first at the theme's median point (see :func:`insight.themes.layout.place_labels`);
    ``dropped`` lists the themes whose label found no free place.
    """
    from insight.themes.layout import place_labels, robust_range, short_label, theme_colours

    drawn = points[points["theme_id"] >= 0]
    sizes = drawn.groupby("theme_id").size().sort_values(ascending=False, kind="stable")
    parents = {int(t): _opt_int(p) for t, p in zip(themes["theme_id"], themes["parent_id"])}
    colours = theme_colours({int(t): int(n) for t, n in sizes.items()}, parents)
    x_range, y_range = robust_range(points["x"]), robust_range(points["y"])
    centres = drawn.groupby("theme_id")[["x", "y"]].median()
    labels = dict(zip(themes["theme_id"].astype(int), themes["label"].fillna("").astype(str)))
    plot_px = (width - MAP_MARGIN["l"] - MAP_MARGIN["r"], height - MAP_MARGIN["t"] - MAP_MARGIN["b"])
    items = [(int(t), short_label(labels.get(int(t), str(t))), float(np.clip(centres.loc[t, "x"], *x_range)),
              float(np.clip(centres.loc[t, "y"], *y_range))) for t in sizes.index]
    placed = place_labels(items, x_range, y_range, plot_px)
    return {"width": width, "height": height, "x_range": list(x_range), "y_range": list(y_range),
            "colours": {str(t): c for t, c in colours.items()},
            "labels": [{"theme_id": p.key, "text": p.text, "x": p.x, "y": p.y, "moved": p.moved,
                        "cx": float(np.clip(centres.loc[p.key, "x"], *x_range)),
                        "cy": float(np.clip(centres.loc[p.key, "y"], *y_range))} for p in placed],
            "dropped": [int(t) for t in sizes.index if int(t) not in {p.key for p in placed}],
            "fingerprint": layout_fingerprint(themes, len(points), width, height)}


def _opt_int(value) -> int | None:
    import pandas as pd

    return None if value is None or pd.isna(value) else int(value)


def layout_fingerprint(themes, n_points: int, width: int, height: int) -> str:
    """What a stored layout was made from: the themes' ids, labels, sizes and parents, the number
    of points and the size drawn. A renamed or merged theme changes it, so the layout is redone."""
    rows = sorted((int(t), str(lbl), _opt_int(n), _opt_int(p))
                  for t, lbl, n, p in zip(themes["theme_id"], themes["label"], themes["size"], themes["parent_id"]))
    digest = hashlib.sha1(json.dumps([rows, n_points, width, height]).encode()).hexdigest()
    return digest[:16]


def precompute_map(con, run_id: int) -> dict:
    """Work out a theme run's map layout once, when the run is stored, and keep it in the run's
    summary (``summary.map``): the app and ``insight themes map`` then only read it."""
    layout = map_layout(_themes(con, run_id), _points(con, run_id)[["theme_id", "x", "y"]])
    con.execute("UPDATE runs SET summary = json_merge_patch(coalesce(summary, '{}'), ?::JSON) WHERE run_id = ?",
                [json.dumps({"map": layout}), run_id])
    return layout


def _stored_layout(con, run_id: int, themes, points, width: int, height: int) -> dict:
    """The layout stored with the run when it is still true of the themes, else a fresh one."""
    row = con.execute("SELECT json_extract(summary, '$.map') FROM runs WHERE run_id = ?", [run_id]).fetchone()
    stored = json.loads(row[0]) if row and row[0] else None
    if stored and stored.get("fingerprint") == layout_fingerprint(themes, len(points), width, height):
        return stored
    return map_layout(themes, points[["theme_id", "x", "y"]], width=width, height=height)


def theme_map(con, run_id: int | None = None, *, colour_by: str = "theme", coder: str | None = None,
              study_id: int | None = None, max_points: int = 30000, title: str | None = None, seed: int = 0,
              width: int = MAP_WIDTH, height: int = MAP_HEIGHT):
    """The 2-D map of a theme run's segments, coloured by theme (``colour_by="theme"``) or by a
    code (segments with a coding of it that is not rejected, by ``coder`` or anyone, in colour;
    the rest grey).

    Top-level themes get distinct colours, sub-themes shades of their parent's. Theme labels do
    not overlap: the smaller theme's label moves aside (a thin line back to its theme) or, with
    no room, is left off (the hover and the legend still name it). The axes span the 1st to 99th
    percentile of the points with a margin; a point beyond is drawn on the edge as an open
    diamond. Hovering a point shows its quote and who said it. Above ``max_points`` segments a
    seeded sample is drawn (the title says so).
    """
    import plotly.graph_objects as go

    from insight.themes.read import resolve_run

    run_id = resolve_run(con, run_id, study_id)
    points, themes = _points(con, run_id), _themes(con, run_id)
    layout = _stored_layout(con, run_id, themes, points, width, height)
    shown = points
    if len(points) > max_points:
        shown = points.sample(n=max_points, random_state=seed).sort_values("segment_id")
    shown = _clip(shown, layout)
    traces, notes = [], []
    if colour_by == "theme":
        colours = {int(t): c for t, c in layout["colours"].items()}
        sizes = points[points["theme_id"] >= 0].groupby("theme_id").size()
        order = sorted(colours, key=lambda t: (-int(sizes.get(t, 0)), t))
        inside = shown[~shown["edge"]]
        unassigned = inside[inside["theme_id"] < 0]
        if len(unassigned):
            traces.append(_scatter(unassigned, f"Unassigned ({int((points['theme_id'] < 0).sum())})",
                                   UNASSIGNED_COLOUR, 4))
        names = dict(zip(themes["theme_id"].astype(int), themes["label"].fillna("").astype(str)))
        for rank, theme in enumerate(order):
            name = f"{theme}: {names.get(theme, '')}"
            name = (name[:LEGEND_CHARS - 1] + "…" if len(name) > LEGEND_CHARS else name) + f" ({int(sizes[theme])})"
            name = html.escape(name, quote=False)  # Plotly draws <a href> in a legend as a live link
            traces.append(_scatter(inside[inside["theme_id"] == theme], name, colours[theme], 6,
                                   legend=rank < MAX_LEGEND))
        edge_colours = shown.loc[shown["edge"], "theme_id"].map(lambda t: colours.get(int(t), UNASSIGNED_COLOUR))
        quiet = int(sizes[sizes.index.isin(themes.loc[themes["kind"] == "small_talk", "theme_id"])].sum())
        heading = title or (f"Themes (run {run_id}): {len(sizes) - bool(quiet)} themes"
                            + (f" and small talk ({quiet:,})" if quiet else "") + f", {len(points):,} segments")
        if layout["dropped"]:
            notes.append(f"{len(layout['dropped'])} smaller themes' labels left off to keep labels apart "
                         "(hover their points)")
    else:
        coded = _coded_segments(con, colour_by, coder)
        mask = shown["segment_id"].isin(coded)
        traces.append(_scatter(shown[~mask & ~shown["edge"]], "other segments", OTHER_COLOUR, 4))
        traces.append(_scatter(shown[mask & ~shown["edge"]],
                               html.escape(f"{colour_by} ({int(points['segment_id'].isin(coded).sum())})",
                                           quote=False), HIGHLIGHT_COLOUR, 6))
        edge_colours = mask[shown["edge"]].map({True: HIGHLIGHT_COLOUR, False: OTHER_COLOUR})
        heading = title or html.escape(f"Code “{colour_by}” on the theme map (run {run_id})"
                                       + (f", coder {coder}" if coder else ""), quote=False)
    edge = shown[shown["edge"]]
    if len(edge):
        traces.append(_scatter(edge, f"beyond the edge ({len(edge)}): drawn on it", list(edge_colours), 8,
                               symbol="diamond-open"))
        notes.append(f"{len(edge)} far-off points drawn on the edge (open diamonds)")
    if len(shown) < len(points):
        heading += f" — {len(shown):,} of {len(points):,} segments shown"
    fig = go.Figure(data=traces + (_leaders(layout) if colour_by == "theme" else []))
    fig.update_layout(
        title={"text": heading + (f"<br><sup>{'; '.join(notes)}</sup>" if notes else ""), "font": {"size": 15}},
        template="plotly_white", width=width, height=height, hovermode="closest",
        legend={"font": {"size": 10}, "itemsizing": "constant", "x": 1.01, "xanchor": "left", "y": 1},
        margin={**MAP_MARGIN, "autoexpand": False},
        annotations=_annotations(layout) if colour_by == "theme" else [])
    fig.update_xaxes(visible=False, range=layout["x_range"])
    fig.update_yaxes(visible=False, range=layout["y_range"])
    return fig


def _clip(frame, layout: dict):
    """Points beyond the axes moved onto the edge (``edge`` True), with their hover text."""
    (x0, x1), (y0, y1) = layout["x_range"], layout["y_range"]
    edge = (frame["x"] < x0) | (frame["x"] > x1) | (frame["y"] < y0) | (frame["y"] > y1)
    hover = []
    for lbl, text, spk, part, doc, far in zip(frame["label"], frame["text"], frame["speaker"],
                                              frame["participant"], frame["document"], edge):
        who = " · ".join(dict.fromkeys(html.escape(str(v)) for v in (part, spk, doc) if v is not None and v == v))
        hover.append(f"<b>{html.escape(str(lbl) if lbl == lbl and lbl else 'Unassigned')}</b><br>“{_wrap(text)}”"
                     f"<br><i>— {who or 'unknown'}</i>" + ("<br>(lies beyond the map's edge)" if far else ""))
    return frame.assign(x=frame["x"].clip(x0, x1), y=frame["y"].clip(y0, y1), edge=edge, hover=hover)


def _annotations(layout: dict) -> list[dict]:
    from insight.themes.layout import LABEL_FONT_PX, LABEL_PAD_PX

    return [{"x": lbl["x"], "y": lbl["y"], "text": f"<b>{html.escape(lbl['text'])}</b>", "showarrow": False,
             "xanchor": "center", "yanchor": "middle", "font": {"size": LABEL_FONT_PX, "color": "#222"},
             "bgcolor": "rgba(255,255,255,0.85)", "borderpad": LABEL_PAD_PX, "borderwidth": 1,
             "bordercolor": layout["colours"].get(str(lbl["theme_id"]), "#999")} for lbl in layout["labels"]]


def _leaders(layout: dict) -> list:
    """Thin lines from a moved label back to its theme's centre."""
    import plotly.graph_objects as go

    moved = [lbl for lbl in layout["labels"] if lbl["moved"]]
    if not moved:
        return []
    xs = [v for lbl in moved for v in (lbl["cx"], lbl["x"], None)]
    ys = [v for lbl in moved for v in (lbl["cy"], lbl["y"], None)]
    return [go.Scatter(x=xs, y=ys, mode="lines", line={"color": "#555", "width": 1}, hoverinfo="skip",
                       showlegend=False, name="label lines")]


def _scatter(frame, name: str, colour, size: int, legend: bool = True, symbol: str = "circle"):
    import plotly.graph_objects as go

    return go.Scatter(x=frame["x"], y=frame["y"], mode="markers", name=name, showlegend=legend,
                      marker={"color": colour, "size": size, "opacity": 0.75, "symbol": symbol,
                              "line": {"width": 1.5 if symbol.endswith("open") else 0}},
                      hovertext=frame["hover"], hoverinfo="text", customdata=frame["segment_id"],
                      cliponaxis=symbol == "circle")


def _coded_segments(con, code: str, coder: str | None) -> set[int]:
    known = [r[0] for r in con.execute("SELECT DISTINCT code FROM codings ORDER BY 1").fetchall()]
    if code not in known:
        raise NotFound("code", code, ["theme"] + known)
    return {r[0] for r in con.execute(
        "SELECT DISTINCT segment_id FROM coding_segments WHERE code = ? AND status <> 'rejected' "
        "AND (? IS NULL OR coder = ?)",
        [code, coder, coder]).fetchall()}


def attribute_heatmap_figure(table, attribute: str, *, show_small: bool = False, max_themes: int = 40,
                             title: str | None = None):
    """A heatmap of a :func:`insight.themes.read.themes_by` table: each cell the share of a group's
    segments in a theme, each column headed by its base (``n=`` segments, people). Groups flagged
    ``small`` are left out unless ``show_small`` (then marked "small"). Returns ``(figure,
    hidden)``: ``hidden`` names the groups left out, with their n, for the note under the chart."""
    import plotly.graph_objects as go

    table = table[table["theme_id"] >= 0]
    groups = table.drop_duplicates(attribute).set_index(attribute)[["group_segments", "group_people", "small"]]
    hidden = groups[groups["small"]] if not show_small else groups.iloc[0:0]
    table = table[~table[attribute].isin(hidden.index)]
    order = table.groupby("theme_id")["segments"].sum().sort_values(ascending=False, kind="stable").index[:max_themes]
    table = table[table["theme_id"].isin(order)]
    pct = table.pivot(index="theme_id", columns=attribute, values="pct_of_group").reindex(order).fillna(0.0)
    counts = table.pivot(index="theme_id", columns=attribute, values="segments").reindex(order).fillna(0).astype(int)
    labels = dict(zip(table["theme_id"], table["label"]))
    heads = [_group_head(g, groups.loc[g]) for g in pct.columns]
    bases = [[int(groups.loc[g, "group_segments"]) for g in pct.columns] for _ in pct.index]
    fig = go.Figure(go.Heatmap(
        z=pct.values, x=heads, y=[f"{t}: {_h(labels[t])}" for t in pct.index], colorscale="Blues",
        colorbar={"title": "% of group"}, customdata=np.dstack([counts.values, np.array(bases)]),
        hovertemplate="%{y}<br>%{x}<br>%{z:.1f}% of the group's segments: %{customdata[0]} of "
                      "%{customdata[1]}<extra></extra>",
        text=[[f"{v:.0f}%" for v in row] for row in pct.values], texttemplate="%{text}", textfont={"size": 9}))
    fig.update_layout(title=_h(title or f"Themes by {attribute}: % of each group's segments (n: the group's base)"),
                      template="plotly_white", width=max(700, 160 + 120 * len(heads)),
                      height=max(400, 190 + 22 * len(pct)), margin={"l": 20, "r": 20, "t": 130, "b": 20})
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(side="top", title=None, tickangle=0, tickfont={"size": 10})
    return fig, [f"{g} (n={int(r.group_segments)}, {int(r.group_people)} people)" for g, r in hidden.iterrows()]


def _h(value) -> str:
    """Data text for a Plotly label: its tags escaped (Plotly draws ``<a href>`` in a label as a live link)."""
    return html.escape(str(value), quote=False)


def _group_head(group, row) -> str:
    """A column's head: the group, its base n (segments), its people, and "(small)" when flagged."""
    people = f"<br>{int(row['group_people'])} people" if row["group_people"] else ""
    return f"{_h(group)}<br>n={int(row['group_segments']):,}{people}" + ("<br>(small)" if row["small"] else "")


def theme_attribute_heatmap(con, attribute: str, run_id: int | None = None, *, study_id: int | None = None,
                            max_themes: int = 40, show_small: bool = False):
    """:func:`attribute_heatmap_figure` of :func:`insight.themes.read.themes_by` (small groups
    left out and named under the title, unless ``show_small``)."""
    from insight.themes.read import resolve_run, themes_by

    run_id = resolve_run(con, run_id, study_id)
    fig, hidden = attribute_heatmap_figure(themes_by(con, attribute, run_id), attribute, show_small=show_small,
                                           max_themes=max_themes,
                                           title=f"Themes by {attribute} (run {run_id}): % of each group's segments")
    if hidden:
        fig.update_layout(title_text=fig.layout.title.text + f"<br><sup>Left out, fewer than {MIN_BASE} people: "
                                                             + _h("; ".join(hidden)) + "</sup>")
    return fig


def code_cooccurrence(con, *, study_id: int | None = None, coder: str | None = None):
    """Segments per pair of codes applied to the same segment (a passage counts on every segment it
    touches; codings not rejected, by
    ``coder`` or anyone); the diagonal is each code's segment count."""
    frame = con.execute(
        """
        WITH coded AS (
            SELECT DISTINCT c.segment_id, c.code FROM coding_segments c JOIN documents d USING (document_id)
            WHERE c.status <> 'rejected' AND (? IS NULL OR c.coder = ?) AND (? IS NULL OR d.study_id = ?)
        )
        SELECT a.code AS code_a, b.code AS code_b, count(*) AS segments
        FROM coded a JOIN coded b USING (segment_id) GROUP BY 1, 2
        """, [coder, coder, study_id, study_id]).df()
    if frame.empty:
        raise InsightError("There are no codings to count." + (f" (coder {coder})" if coder else ""),
                           hint="Code some segments, or import coded data.")
    matrix = frame.pivot(index="code_a", columns="code_b", values="segments").fillna(0).astype(int)
    order = sorted(matrix.index, key=lambda c: (-matrix.loc[c, c], c))
    return matrix.reindex(index=order, columns=order).fillna(0).astype(int)


def code_cooccurrence_heatmap(con, *, study_id: int | None = None, coder: str | None = None):
    """A heatmap of :func:`code_cooccurrence` (codes ordered by frequency)."""
    import plotly.graph_objects as go

    matrix = code_cooccurrence(con, study_id=study_id, coder=coder)
    names = [_h(c) for c in matrix.index]
    fig = go.Figure(go.Heatmap(
        z=matrix.values, x=names, y=names, colorscale="Purples", colorbar={"title": "segments"},
        hovertemplate="%{y} + %{x}<br>%{z} segments<extra></extra>",
        text=matrix.values, texttemplate="%{text}", textfont={"size": 9}))
    side = max(600, 220 + 26 * len(names))
    fig.update_layout(title=_h("Code co-occurrence: segments coded with both" + (f" (coder {coder})" if coder else "")),
                      template="plotly_white", width=side + 120, height=side, margin={"l": 20, "r": 20, "t": 60, "b": 20})
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-45)
    return fig


PERIODS = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


def over_time_figure(table, *, freq: str = "W", top: int = 8, title: str | None = None):
    """Small multiples of a :func:`insight.themes.read.themes_over_time` table: the top row is the
    base (segments per period), then one row per theme (the ``top`` largest) with its share of
    the period's segments, the 95% Wilson band around it, and the count in the hover. Periods with
    a base under :data:`~insight.themes.shares.MIN_BASE` are drawn as open circles."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from insight.themes.layout import theme_colours

    data = table[table["theme_id"] >= 0]
    sizes = data.groupby("theme_id")["segments"].sum().sort_values(ascending=False, kind="stable")
    leaders = list(sizes.index[:top])
    colours = theme_colours({int(t): int(sizes[t]) for t in leaders})
    periods = sorted(table["period"].unique())
    base = table.drop_duplicates("period").set_index("period")["period_segments"].reindex(periods).fillna(0)
    small = base < MIN_BASE
    names = {t: _h(label) for t, label in zip(data["theme_id"], data["label"])}
    fig = make_subplots(rows=len(leaders) + 1, cols=1, shared_xaxes=True, vertical_spacing=0.025,
                        subplot_titles=[f"Segments per {PERIODS[freq.upper()]} (the base, n)"]
                        + [f"{t}: {names[t]}" for t in leaders])
    fig.add_trace(go.Bar(x=periods, y=base.values, marker_color=["#d9d9d9" if s else "#969696" for s in small],
                         name="segments (n)", showlegend=False,
                         hovertemplate="%{x|%d %b %Y}: n=%{y} segments<extra></extra>"), row=1, col=1)
    for row, theme in enumerate(leaders, start=2):
        part = data[data["theme_id"] == theme].set_index("period").reindex(periods)
        count = part["segments"].fillna(0).astype(int).values
        low, high = wilson_interval(count, base.values.astype(int))
        pct, colour = 100 * np.where(base.values > 0, count / np.maximum(base.values, 1), np.nan), colours[int(theme)]
        fig.add_trace(go.Scatter(x=periods + periods[::-1], y=list(100 * high) + list(100 * low[::-1]),
                                 fill="toself", fillcolor=_alpha(colour, 0.18), line={"width": 0}, hoverinfo="skip",
                                 showlegend=False, name="95% interval"), row=row, col=1)
        fig.add_trace(go.Scatter(
            x=periods, y=pct, mode="lines+markers", showlegend=False, name=names[theme],
            line={"color": colour, "width": 2},
            marker={"color": ["white" if s else colour for s in small], "line": {"color": colour, "width": 1.5},
                    "size": 7},
            customdata=np.column_stack([count, base.values.astype(int), 100 * low, 100 * high]),
            hovertemplate="%{x|%d %b %Y}: %{y:.0f}% (%{customdata[0]} of n=%{customdata[1]}); "
                          "95% interval %{customdata[2]:.0f}–%{customdata[3]:.0f}%<extra></extra>"), row=row, col=1)
        fig.update_yaxes(title_text="%", rangemode="tozero", row=row, col=1)
    fig.update_layout(title=title or f"Themes over time: % of each {PERIODS[freq.upper()]}'s segments, "
                                     "with 95% intervals (open circles: n < " + str(MIN_BASE) + ")",
                      template="plotly_white", width=1000, height=160 + 150 * (len(leaders) + 1),
                      margin={"l": 60, "r": 20, "t": 90, "b": 40})
    fig.update_annotations(font_size=11)
    return fig


def _alpha(colour: str, alpha: float) -> str:
    value = colour.lstrip("#")
    return f"rgba({int(value[0:2], 16)}, {int(value[2:4], 16)}, {int(value[4:6], 16)}, {alpha})"


def themes_over_time_chart(con, run_id: int | None = None, *, freq: str = "W", study_id: int | None = None,
                           top: int = 8):
    """:func:`over_time_figure` of :func:`insight.themes.read.themes_over_time`."""
    from insight.themes.read import resolve_run, themes_over_time

    run_id = resolve_run(con, run_id, study_id)
    table = themes_over_time(con, run_id, freq=freq)
    if table.empty:
        raise InsightError("No segment of this run has a date.",
                           hint="Dates come from diary entries, panel response dates or a date attribute.")
    return over_time_figure(table, freq=freq, top=top, title=f"Themes over time (run {run_id}): % of each "
                            f"{PERIODS[freq.upper()]}'s segments, with 95% intervals (open circles: n < {MIN_BASE})")


def write_figure(fig, path: str | Path, *, width: int | None = None, height: int | None = None,
                 scale: float = 1.0) -> Path:
    """Write a figure as ``.html`` (interactive, plotly.js embedded, works offline) or as an
    image (``.png``, ``.svg``, ``.pdf``, ``.jpg``) rendered locally by kaleido."""
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".html", ".htm"):
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)
        return path
    formats = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
    if suffix not in formats:
        raise InsightError(f"Cannot write a figure as {path.name!r}.",
                           hint="Use a file name ending in .html or .png (or .svg, .pdf, .jpg).")
    data = render_image(fig, formats[suffix], width=width, height=height, scale=scale)
    path.write_bytes(data)
    return path


_SCOPE = None


def render_image(fig, fmt: str = "png", *, width: int | None = None, height: int | None = None,
                 scale: float = 1.0) -> bytes:
    """Image bytes of a figure from kaleido 0.2.1's ``PlotlyScope`` with the local plotly.js."""
    global _SCOPE
    try:
        from kaleido.scopes.plotly import PlotlyScope
    except ImportError:
        raise MissingDependency("kaleido==0.2.1", "Writing a chart as an image") from None
    if _SCOPE is None:
        import plotly

        plotlyjs = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        _SCOPE = PlotlyScope(plotlyjs=str(plotlyjs) if plotlyjs.exists() else None, mathjax=False)
    layout = fig.layout
    try:
        return _SCOPE.transform(fig.to_plotly_json(), format=fmt, width=width or layout.width or 1100,
                                height=height or layout.height or 800, scale=scale)
    except Exception as exc:  # kaleido reports a render failure as ValueError with its log
        raise InsightError(f"Could not render the chart as {fmt} ({str(exc).splitlines()[0][:200]}).",
                           hint="Write it as .html instead, which needs no renderer.") from None
