"""Themes: the run summary, theme cards with quotes, tables by attribute, over time and by code,
and the gap finder's candidates. Every percentage is shown with its base (``42% (n=12)``); tables
are DataFrames with numeric columns, so that they sort as numbers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.themes import maps
from insight.themes.shares import MIN_BASE, pct_n
from insight.ui import safe
from insight.ui.shell import parse_json, quote

PERCENT = {"format": "%.1f%%"}


def run_summary(run: pd.Series) -> None:
    summary = parse_json(run["summary"])
    settings = parse_json(run["settings"])
    share = summary.get("outlier_share")
    segments = summary.get("segments")
    bits = [f"run {run['run_id']}", f"{run['finished_at']:%Y-%m-%d %H:%M}" if pd.notna(run["finished_at"]) else "",
            f"{summary.get('themes', '?')} themes" if "themes" in summary else "",
            f"{segments:,} segments" if segments else "",
            f"{share:.0%} unassigned (n={segments:,})" if isinstance(share, (int, float)) and segments else "",
            f"smallest theme {settings['min_size']}" if settings.get("min_size") else "",
            settings.get("embedding_model") or settings.get("model") or ""]
    st.caption(" \u00b7 ".join(safe.text(b) for b in bits if b))


def plotly(fig, *, key: str) -> None:
    """A library figure, fitted to the page width (a wider map only gives its labels more room)."""
    fig.update_layout(width=None, autosize=True)
    st.plotly_chart(fig, key=key)


def theme_cards(table: pd.DataFrame, *, limit: int = 40) -> None:
    """Each theme: label, size and share of the run's segments (with its base), keywords, and the
    quotes nearest its centre."""
    for row in table.head(limit).itertuples():
        unassigned = row.id < 0
        title = (("Unassigned" if unassigned else f"{row.id}: {safe.text(row.label)}")
                 + f" \u00b7 {row.size:,} segments, {pct_n(row.size, row.base)}")
        with st.expander(title, expanded=False):
            if isinstance(row.parent_label, str) and row.parent_label:
                st.caption(f"In the group: {safe.text(row.parent_label)}")
            if row.keywords:
                st.markdown("**Keywords** " + safe.text(", ".join(row.keywords[:12])))
            for q in row.quotes or []:
                who = " \u00b7 ".join(str(q[k]) for k in ("participant", "speaker", "document")
                                      if q.get(k) and q.get(k) == q.get(k))
                quote(q.get("text", ""), who or None)
            if unassigned:
                st.caption("Segments close to no theme (short replies, greetings): left out rather than forced in.")


def sizes_chart(table: pd.DataFrame, *, key: str, top: int = 25) -> None:
    import plotly.express as px

    data = table[table["id"] >= 0].head(top)
    if data.empty:
        return
    data = data.assign(theme=data["id"].astype(str) + ": " + data["label"].astype(str).map(safe.plot),
                       shown=[pct_n(s, b) for s, b in zip(data["size"], data["base"])])
    base = int(data["base"].iloc[0])
    fig = px.bar(data, x="size", y="theme", orientation="h", text="shown",
                 title=f"Theme sizes: segments, and % of the run's {base:,}")
    fig.update_traces(textposition="outside", cliponaxis=False)
    fig.update_layout(height=max(300, 24 * len(data) + 80), margin=dict(l=10, r=60, t=40, b=10), yaxis_title=None,
                      yaxis={"autorange": "reversed"})
    st.plotly_chart(fig, key=key)


def by_attribute(table: pd.DataFrame, attribute: str, *, key: str, show_small: bool = False) -> None:
    """Share of each group's segments in each theme, as a heatmap whose columns carry their base
    (n segments, people); groups under :data:`MIN_BASE` people are left out (named in a note)
    unless ``show_small``; then the same figures as a sortable table."""
    data = table[table["theme_id"] >= 0]
    if data.empty:
        st.caption("No theme has segments with this attribute.")
        return
    fig, hidden = maps.attribute_heatmap_figure(table, attribute, show_small=show_small,
                                                title=f"% of each {attribute} group's segments in each theme")
    st.caption(f"Each column is a {safe.text(attribute)} group with its base (n: its segments; and its people); a cell is "
               "the share of that group's segments in the theme.")
    if hidden:
        st.info(f"Left out: {len(hidden)} group(s) with fewer than {MIN_BASE} people, whose percentages would swing "
                f"on one person: {safe.text('; '.join(hidden))}. Tick “Show small groups” to see them, marked.",
                icon=":material/visibility_off:")
    plotly(fig, key=key)
    st.dataframe(group_table(data, attribute), hide_index=True, key=f"{key}.table", column_config={
        "% of group": st.column_config.NumberColumn(**PERCENT), "% of theme": st.column_config.NumberColumn(**PERCENT),
        "small group": st.column_config.CheckboxColumn(help=f"Fewer than {MIN_BASE} people")})


def group_table(data: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """A :func:`insight.themes.read.themes_by` table with readable headers, numbers kept numeric."""
    return pd.DataFrame({
        "theme": data["theme_id"].astype("int64"), "label": data["label"].astype(str),
        attribute: data[attribute].astype(str), "segments": data["segments"].astype("int64"),
        "% of group": data["pct_of_group"].astype(float), "group n": data["group_segments"].astype("int64"),
        "group people": data["group_people"].astype("int64"), "% of theme": data["pct_of_theme"].astype(float),
        "theme n": data["theme_segments"].astype("int64"), "small group": data["small"].astype(bool)})


def over_time(table: pd.DataFrame, *, freq: str, key: str, top: int = 8) -> None:
    """Each large theme's share of the period's segments with its 95% Wilson interval, under a row
    of the base (segments per period)."""
    data = table[table["theme_id"] >= 0]
    if data.empty:
        st.caption("No segment of this run has a date (dates come from diary entries and panel response dates).")
        return
    small = int(table.drop_duplicates("period")["small"].sum())
    st.caption("A line is the theme's share of that period's segments; the band its 95% interval (Wilson). "
               "Hover a point for the count and its base."
               + (f" {small} period(s) have fewer than {MIN_BASE} segments: drawn as open circles, their "
                  "shares say little." if small else ""))
    plotly(maps.over_time_figure(table, freq=freq, top=top, title=" "), key=key)


def code_overlap(table: pd.DataFrame, *, key: str) -> None:
    """Which codes cover each theme (% of the theme's segments), themes in number order."""
    import plotly.express as px

    data = table[table["theme_id"] >= 0]
    if data.empty:
        st.caption("No coded segment falls in this run's themes.")
        return
    order = sorted(data["theme_id"].unique())
    data = data.assign(theme=data["theme_id"].astype(str) + ": " + data["label"].astype(str).map(safe.plot)
                       + " (n=" + data["theme_segments"].astype(str) + ")", code=data["code"].astype(str).map(safe.plot))
    rows = list(dict.fromkeys(data.sort_values("theme_id")["theme"]))
    pct = data.pivot_table(index="theme", columns="code", values="pct_of_theme", aggfunc="sum").fillna(0.0)
    top_codes = data.groupby("code")["segments"].sum().sort_values(ascending=False).index[:25]
    pct = pct.reindex(rows)[[c for c in top_codes if c in pct.columns]]
    fig = px.imshow(pct.round(0), text_auto=True, aspect="auto", color_continuous_scale="Greens",
                    labels={"color": "% of theme"})
    fig.update_layout(height=max(320, 24 * len(pct) + 160), margin=dict(l=10, r=10, t=30, b=10))
    fig.update_xaxes(side="top", title=None, tickangle=-40)
    fig.update_yaxes(title=None)
    st.caption(f"A cell is the share of the theme's segments (n after its name) that carry the code; {len(order)} "
               "themes in number order. A theme no code covers is a candidate for a new code (see the gap finder).")
    st.plotly_chart(fig, key=key)
    st.dataframe(code_table(data), hide_index=True, key=f"{key}.table", column_config={
        "% of theme": st.column_config.NumberColumn(**PERCENT), "% of code": st.column_config.NumberColumn(**PERCENT)})


def code_table(data: pd.DataFrame) -> pd.DataFrame:
    """A :func:`insight.themes.read.theme_code_overlap` table with readable headers, numeric columns."""
    return pd.DataFrame({
        "theme": data["theme_id"].astype("int64"), "label": data["label"].astype(str), "code": data["code"].astype(str),
        "segments": data["segments"].astype("int64"), "% of theme": data["pct_of_theme"].astype(float),
        "theme n": data["theme_segments"].astype("int64"), "% of code": data["pct_of_code"].astype(float),
        "code n": data["code_segments"].astype("int64")}).sort_values(["theme", "segments"], ascending=[True, False])


def candidate(cand: dict) -> None:
    st.markdown(f"**{safe.text(cand['label'])}** \u00b7 {cand['size']} uncoded segments")
    if cand.get("keywords"):
        st.caption("Keywords: " + safe.text(", ".join(cand["keywords"][:10])))
    for q in cand.get("quotes", [])[:3]:
        who = " \u00b7 ".join(str(q[k]) for k in ("participant", "document") if q.get(k))
        quote(q.get("text", ""), who or None)
