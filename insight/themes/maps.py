"""Theme maps and charts as plotly figures, each one a function of stored results.

- :func:`theme_map`: the 2-D map of segments coloured by theme or by a code, quote on hover;
- :func:`theme_attribute_heatmap`: share of each group's segments in each theme (ward, age band, ...);
- :func:`code_cooccurrence_heatmap`: how often two codes are applied to the same segment;
- :func:`themes_over_time_chart`: segments per theme per week (or day, month, ...).

:func:`write_figure` writes ``.html`` (plotly.js embedded: opens offline) or ``.png``/``.svg``/
``.pdf``. Images are rendered by kaleido 0.2.1 (its bundled headless Chromium) with the plotly.js
that ships inside the plotly package, so nothing is fetched from a CDN. Plotly 6+'s own
``write_image`` wants kaleido 1.x and a system Chrome; this calls kaleido's ``PlotlyScope``
directly instead.
"""

from __future__ import annotations

import html
import textwrap
from pathlib import Path

from insight.errors import InsightError, MissingDependency, NotFound

UNASSIGNED_COLOUR = "#c8c8c8"
OTHER_COLOUR = "#d9d9d9"
HIGHLIGHT_COLOUR = "#d62728"
MAX_LEGEND = 30
MAX_ANNOTATIONS = 12


def _palette(n: int) -> list[str]:
    import plotly.express as px

    colours = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24 + px.colors.qualitative.Alphabet
    return [colours[i % len(colours)] for i in range(n)]


def _wrap(text: str, width: int = 70, limit: int = 400) -> str:
    """Data text for a Plotly label: wrapped with ``<br>``, its own tags escaped (Plotly draws
    ``<a href>`` in a label as a live link)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return "<br>".join(html.escape(line, quote=False) for line in textwrap.wrap(text, width)) or ""


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


def theme_map(con, run_id: int | None = None, *, colour_by: str = "theme", coder: str | None = None,
              study_id: int | None = None, max_points: int = 30000, title: str | None = None, seed: int = 0):
    """The 2-D map of a theme run's segments, coloured by theme (``colour_by="theme"``) or by a
    code (segments with a coding of it that is not rejected, by ``coder`` or anyone, in colour;
    the rest grey). Hovering a point shows its quote, speaker and theme. Theme labels sit at their
    centres. Above ``max_points`` segments a seeded sample is drawn (the title says so).
    """
    import plotly.graph_objects as go

    from insight.themes.read import resolve_run

    run_id = resolve_run(con, run_id, study_id)
    points = _points(con, run_id)
    shown = points
    if len(points) > max_points:
        shown = points.sample(n=max_points, random_state=seed).sort_values("segment_id")
    shown = shown.assign(hover=[
        f"<b>{_wrap(lbl or 'Unassigned', 60)}</b><br>{_wrap(text)}<br>"
        f"<i>{html.escape(' · '.join(str(v) for v in (spk, part, doc) if v is not None and v == v), quote=False)}</i>"
        for lbl, text, spk, part, doc in zip(shown["label"], shown["text"], shown["speaker"], shown["participant"],
                                             shown["document"])])
    fig = go.Figure()
    if colour_by == "theme":
        sizes = points[points["theme_id"] >= 0].groupby("theme_id").size().sort_values(ascending=False)
        colours = dict(zip(sizes.index, _palette(len(sizes))))
        labels = {t: html.escape(str(label), quote=False) for t, label in zip(points["theme_id"], points["label"])}
        unassigned = shown[shown["theme_id"] < 0]
        if len(unassigned):
            fig.add_trace(_scatter(unassigned, f"Unassigned ({(points['theme_id'] < 0).sum()})", UNASSIGNED_COLOUR, 4))
        for rank, theme in enumerate(sizes.index):
            part = shown[shown["theme_id"] == theme]
            fig.add_trace(_scatter(part, f"{theme}: {labels[theme]} ({sizes[theme]})", colours[theme], 6,
                                   legend=rank < MAX_LEGEND))
        centres = points[points["theme_id"] >= 0].groupby("theme_id")[["x", "y"]].median()
        for theme in sizes.index[:MAX_ANNOTATIONS]:
            fig.add_annotation(x=centres.loc[theme, "x"], y=centres.loc[theme, "y"], showarrow=False,
                               text=f"<b>{labels[theme]}</b>", font={"size": 10, "color": "#222"},
                               bgcolor="rgba(255,255,255,0.7)")
        heading = title or f"Themes (run {run_id}): {len(sizes)} themes, {len(points):,} segments"
    else:
        coded = _coded_segments(con, colour_by, coder)
        mask = shown["segment_id"].isin(coded)
        fig.add_trace(_scatter(shown[~mask], "other segments", OTHER_COLOUR, 4))
        fig.add_trace(_scatter(shown[mask], f"{html.escape(colour_by, quote=False)} "
                                            f"({int(points['segment_id'].isin(coded).sum())})",
                               HIGHLIGHT_COLOUR, 6))
        heading = title or html.escape(f"Code “{colour_by}” on the theme map (run {run_id})"
                                       + (f", coder {coder}" if coder else ""), quote=False)
    if len(shown) < len(points):
        heading += f" — {len(shown):,} of {len(points):,} segments shown"
    fig.update_layout(title=heading, template="plotly_white", width=1100, height=800, hovermode="closest",
                      legend={"font": {"size": 10}, "itemsizing": "constant"}, margin={"l": 20, "r": 20, "t": 60, "b": 20})
    # a few far-off points (a lone greeting, a transcript header) should not shrink the rest
    x_range, y_range = _robust_range(points["x"]), _robust_range(points["y"])
    fig.update_xaxes(visible=False, range=x_range)
    fig.update_yaxes(visible=False, range=y_range)
    return fig


def _robust_range(values, tail: float = 0.005, pad: float = 0.06) -> list[float] | None:
    if not len(values):
        return None
    lo, hi = float(values.quantile(tail)), float(values.quantile(1 - tail))
    span = (hi - lo) or 1.0
    return [lo - pad * span, hi + pad * span]


def _scatter(frame, name: str, colour: str, size: int, legend: bool = True):
    import plotly.graph_objects as go

    return go.Scatter(x=frame["x"], y=frame["y"], mode="markers", name=name, showlegend=legend,
                      marker={"color": colour, "size": size, "opacity": 0.75, "line": {"width": 0}},
                      hovertext=frame["hover"], hoverinfo="text", customdata=frame["segment_id"])


def _coded_segments(con, code: str, coder: str | None) -> set[int]:
    known = [r[0] for r in con.execute("SELECT DISTINCT code FROM codings ORDER BY 1").fetchall()]
    if code not in known:
        raise NotFound("code", code, ["theme"] + known)
    return {r[0] for r in con.execute(
        "SELECT DISTINCT segment_id FROM coding_segments WHERE code = ? AND status <> 'rejected' "
        "AND (? IS NULL OR coder = ?)",
        [code, coder, coder]).fetchall()}


def theme_attribute_heatmap(con, attribute: str, run_id: int | None = None, *, study_id: int | None = None,
                            max_themes: int = 40):
    """A heatmap of :func:`insight.themes.read.themes_by`: the share (%) of each group's segments in
    each theme, with the count in each cell's hover."""
    import plotly.graph_objects as go

    from insight.themes.read import resolve_run, themes_by

    run_id = resolve_run(con, run_id, study_id)
    table = themes_by(con, attribute, run_id)
    table = table[table["theme_id"] >= 0]
    order = table.groupby("theme_id")["segments"].sum().sort_values(ascending=False).index[:max_themes]
    table = table[table["theme_id"].isin(order)]
    pct = table.pivot(index="theme_id", columns=attribute, values="pct_of_group").reindex(order).fillna(0.0)
    counts = table.pivot(index="theme_id", columns=attribute, values="segments").reindex(order).fillna(0).astype(int)
    labels = dict(zip(table["theme_id"], table["label"]))
    rows = [f"{t}: {labels[t]}" for t in pct.index]
    fig = go.Figure(go.Heatmap(
        z=pct.values, x=[str(c) for c in pct.columns], y=rows, colorscale="Blues", colorbar={"title": "% of group"},
        customdata=counts.values, hovertemplate="%{y}<br>" + attribute + ": %{x}<br>%{z:.1f}% of the group's segments"
                                                "<br>%{customdata} segments<extra></extra>",
        text=[[f"{v:.0f}" for v in row] for row in pct.values], texttemplate="%{text}", textfont={"size": 9}))
    fig.update_layout(title=f"Themes by {attribute} (run {run_id}): % of each group's segments",
                      template="plotly_white", width=max(700, 160 + 90 * len(pct.columns)),
                      height=max(400, 140 + 22 * len(rows)), margin={"l": 20, "r": 20, "t": 60, "b": 20})
    fig.update_yaxes(autorange="reversed")
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
    names = list(matrix.index)
    fig = go.Figure(go.Heatmap(
        z=matrix.values, x=names, y=names, colorscale="Purples", colorbar={"title": "segments"},
        hovertemplate="%{y} + %{x}<br>%{z} segments<extra></extra>",
        text=matrix.values, texttemplate="%{text}", textfont={"size": 9}))
    side = max(600, 220 + 26 * len(names))
    fig.update_layout(title="Code co-occurrence: segments coded with both" + (f" (coder {coder})" if coder else ""),
                      template="plotly_white", width=side + 120, height=side, margin={"l": 20, "r": 20, "t": 60, "b": 20})
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-45)
    return fig


def themes_over_time_chart(con, run_id: int | None = None, *, freq: str = "W", study_id: int | None = None,
                           top: int = 8, share: bool = False):
    """Lines of segments per period for the ``top`` largest themes (``share=True``: as a share
    of the period's segments)."""
    import plotly.graph_objects as go

    from insight.themes.read import resolve_run, themes_over_time

    run_id = resolve_run(con, run_id, study_id)
    table = themes_over_time(con, run_id, freq=freq)
    if table.empty:
        raise InsightError("No segment of this run has a date.",
                           hint="Dates come from diary entries, panel response dates or a date attribute.")
    leaders = (table[table["theme_id"] >= 0].groupby("theme_id")["segments"].sum()
               .sort_values(ascending=False).index[:top])
    periods = sorted(table["period"].unique())
    colours = _palette(len(leaders))
    fig = go.Figure()
    value = "share" if share else "segments"
    for colour, theme in zip(colours, leaders):
        part = table[table["theme_id"] == theme].set_index("period").reindex(periods)
        ys = part[value].fillna(0.0) * (100 if share else 1)
        fig.add_trace(go.Scatter(x=periods, y=ys, mode="lines+markers", name=f"{theme}: {part['label'].dropna().iloc[0]}",
                                 line={"color": colour, "width": 2}))
    names = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
    fig.update_layout(title=f"Themes over time (run {run_id}): segments per {names[freq.upper()]}"
                            + (", % of the period" if share else ""),
                      template="plotly_white", width=1100, height=550, legend={"font": {"size": 10}},
                      yaxis_title="% of segments" if share else "segments", margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return fig


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
