"""Themes: the run summary, theme cards with quotes, tables by attribute, over time and by code,
and the gap finder's candidates."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.ui import safe
from insight.ui.shell import parse_json, quote


def run_summary(run: pd.Series) -> None:
    summary = parse_json(run["summary"])
    settings = parse_json(run["settings"])
    share = summary.get("outlier_share")
    bits = [f"run {run['run_id']}", f"{run['finished_at']:%Y-%m-%d %H:%M}" if pd.notna(run["finished_at"]) else "",
            f"{summary.get('themes', '?')} themes" if "themes" in summary else "",
            f"{summary['segments']:,} segments" if summary.get("segments") else "",
            f"{share:.0%} unassigned" if isinstance(share, (int, float)) else "",
            f"smallest theme {settings['min_size']}" if settings.get("min_size") else "",
            settings.get("embedding_model") or settings.get("model") or ""]
    st.caption(" \u00b7 ".join(safe.text(b) for b in bits if b))


def plotly(fig, *, key: str) -> None:
    """A library figure, fitted to the page width."""
    fig.update_layout(width=None, autosize=True)
    st.plotly_chart(fig, key=key)


def theme_cards(table: pd.DataFrame, *, limit: int = 40) -> None:
    """Each theme: label, size and share, keywords, and the quotes nearest its centre."""
    for row in table.head(limit).itertuples():
        unassigned = row.id < 0
        title = ("Unassigned" if unassigned else f"{row.id}: {safe.text(row.label)}") + \
            f" \u00b7 {row.size:,} segments ({row.share:.0%})"
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
    data = data.assign(theme=data["id"].astype(str) + ": " + data["label"].astype(str).map(safe.plot))
    fig = px.bar(data, x="size", y="theme", orientation="h", title="Theme sizes (segments)",
                 hover_data={"share": ":.1%"})
    fig.update_layout(height=max(300, 24 * len(data) + 80), margin=dict(l=10, r=10, t=40, b=10), yaxis_title=None,
                      yaxis={"autorange": "reversed"})
    st.plotly_chart(fig, key=key)


def by_attribute(table: pd.DataFrame, attribute: str, *, key: str) -> None:
    """Share of each group's segments in each theme, as a heatmap (the numbers are % of the group)."""
    import plotly.express as px

    data = table[table["theme_id"] >= 0]
    if data.empty:
        st.caption("No theme has segments with this attribute.")
        return
    data = data.assign(theme=data["theme_id"].astype(str) + ": " + data["label"].astype(str).map(safe.plot),
                       **{attribute: data[attribute].map(lambda v: safe.plot(v) if pd.notna(v) else v)})
    pct = data.pivot_table(index="theme", columns=attribute, values="pct_of_group", aggfunc="sum").fillna(0.0)
    order = data.groupby("theme")["segments"].sum().sort_values(ascending=False).index
    pct = pct.reindex(order)
    fig = px.imshow(pct.round(0), text_auto=True, aspect="auto", color_continuous_scale="Blues",
                    labels={"color": "% of group", "x": safe.plot(attribute)})
    fig.update_layout(height=max(320, 24 * len(pct) + 120), margin=dict(l=10, r=10, t=30, b=10))
    fig.update_xaxes(side="top", title=None)
    fig.update_yaxes(title=None)
    st.caption(f"Each column is a {safe.text(attribute)} group; a cell is the share of that group's segments in the "
               "theme.")
    st.plotly_chart(fig, key=key)


def over_time(table: pd.DataFrame, *, key: str, top: int = 8) -> None:
    import plotly.express as px

    data = table[table["theme_id"] >= 0]
    if data.empty:
        st.caption("No segment of this run has a date (dates come from diary entries and panel response dates).")
        return
    leaders = data.groupby("theme_id")["segments"].sum().sort_values(ascending=False).index[:top]
    data = data[data["theme_id"].isin(leaders)]
    data = data.assign(theme=data["theme_id"].astype(str) + ": " + data["label"].astype(str).map(safe.plot),
                       percent=100 * data["share"])
    fig = px.line(data, x="period", y="percent", color="theme", markers=True,
                  labels={"percent": "% of the period's segments", "period": ""})
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), legend_title=None)
    st.plotly_chart(fig, key=key)


def code_overlap(table: pd.DataFrame, *, key: str) -> None:
    """Which codes cover each theme (% of the theme's segments)."""
    import plotly.express as px

    if table.empty:
        st.caption("No coded segment falls in this run's themes.")
        return
    data = table[table["theme_id"] >= 0]
    data = data.assign(theme=data["theme_id"].astype(str) + ": " + data["label"].astype(str).map(safe.plot),
                       code=data["code"].astype(str).map(safe.plot))
    pct = data.pivot_table(index="theme", columns="code", values="pct_of_theme", aggfunc="sum").fillna(0.0)
    top_codes = data.groupby("code")["segments"].sum().sort_values(ascending=False).index[:25]
    pct = pct[[c for c in top_codes if c in pct.columns]]
    fig = px.imshow(pct.round(0), text_auto=True, aspect="auto", color_continuous_scale="Greens",
                    labels={"color": "% of theme"})
    fig.update_layout(height=max(320, 24 * len(pct) + 160), margin=dict(l=10, r=10, t=30, b=10))
    fig.update_xaxes(side="top", title=None, tickangle=-40)
    fig.update_yaxes(title=None)
    st.caption("A cell is the share of the theme's segments that carry the code. A theme no code covers is a "
               "candidate for a new code (see the gap finder).")
    st.plotly_chart(fig, key=key)


def candidate(cand: dict) -> None:
    st.markdown(f"**{safe.text(cand['label'])}** \u00b7 {cand['size']} uncoded segments")
    if cand.get("keywords"):
        st.caption("Keywords: " + safe.text(", ".join(cand["keywords"][:10])))
    for q in cand.get("quotes", [])[:3]:
        who = " \u00b7 ".join(str(q[k]) for k in ("participant", "document") if q.get(k))
        quote(q.get("text", ""), who or None)
