"""Agreement: figures per code for two coders, a chart, and the segments they disagree on."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.reliability import coverage_lines
from insight.ui import safe
from insight.ui.shell import fmt, quote

EVERY_SEGMENT_HINT = "tick Every segment to count a segment a coder never saw as no code"


def overall(result: dict) -> None:
    a, b = result["coders"]
    o = result["overall"]
    st.markdown(f"**{safe.text(a)}** (as gold) vs **{safe.text(b)}** on {o['n_units']:,} segments "
                f"({safe.text(result['units'])}), "
                f"{o['n_decisions']:,} segment \u00d7 code decisions")
    st.caption(safe.text(" ".join(coverage_lines(result, EVERY_SEGMENT_HINT))))
    cols = st.columns(5)

    def ci(key):
        bounds = o.get(f"{key}_ci")
        return f"95% interval {fmt(bounds[0])} to {fmt(bounds[1])}" if bounds else None

    cols[0].metric("Mean kappa", fmt(o.get("mean_kappa")), help="Cohen's kappa of each code, averaged.")
    cols[1].metric("Pooled kappa", fmt(o.get("kappa")), help=ci("kappa"))
    cols[2].metric("Alpha", fmt(o.get("alpha")), help=ci("alpha"))
    cols[3].metric("Agreement", fmt(o.get("percent_agreement")), help=ci("percent_agreement"))
    cols[4].metric(f"F1 of {safe.text(b)}", fmt(o.get("f1")),
                   help=f"{safe.text(b)} judged against {safe.text(a)}. " + (ci("f1") or ""))


def per_code(result: dict) -> pd.DataFrame:
    a, b = result["coders"]
    rows = [{"code": r["code"], "kappa": r["kappa"], "alpha": r["alpha"], "agreement": r["percent_agreement"],
             "precision": r["precision"], "recall": r["recall"], "f1": r["f1"], a: r["a_count"], b: r["b_count"],
             "both": r["both"],
             "kappa 95%": None if not r.get("kappa_ci") else f"{fmt(r['kappa_ci'][0])} to {fmt(r['kappa_ci'][1])}"}
            for r in result["codes"]]
    return pd.DataFrame(rows)


def table(frame: pd.DataFrame, *, key: str, on_select) -> None:
    def picked():
        rows = st.session_state[key].selection.rows
        if rows:
            on_select(int(rows[0]))

    number = st.column_config.NumberColumn(format="%.2f")
    st.dataframe(frame, hide_index=True, key=key, on_select=picked, selection_mode="single-row",
                 height=min(500, 35 * (len(frame) + 1) + 3),
                 column_config={**{k: number for k in ("kappa", "alpha", "agreement", "precision", "recall")},
                                "f1": st.column_config.NumberColumn("F1", format="%.2f")})


def kappa_chart(frame: pd.DataFrame, *, key: str) -> None:
    """Kappa per code, worst first, coloured by the usual bands."""
    import plotly.express as px

    data = frame.dropna(subset=["kappa"]).sort_values("kappa")
    if data.empty:
        return
    band = pd.cut(data["kappa"], [-1.01, 0.4, 0.6, 0.8, 1.01], labels=["poor (<0.4)", "moderate", "substantial",
                                                                        "almost perfect (>0.8)"])
    fig = px.bar(data.assign(band=band.astype(str), code=data["code"].map(safe.plot)), x="kappa", y="code",
                 orientation="h", color="band",
                 color_discrete_map={"poor (<0.4)": "#d62728", "moderate": "#ff7f0e", "substantial": "#bcbd22",
                                     "almost perfect (>0.8)": "#2ca02c"})
    fig.update_layout(height=max(280, 22 * len(data) + 110), margin=dict(l=10, r=10, t=30, b=10), yaxis_title=None,
                      legend=dict(title=None, orientation="h", y=-0.04, yanchor="top", x=0),
                      xaxis_range=[min(0, float(data["kappa"].min())), 1], yaxis={"autorange": "reversed"})
    st.caption("Cohen's kappa per code, lowest first")
    st.plotly_chart(fig, key=key)


def disagreements(frame: pd.DataFrame, code: str, a: str, b: str) -> None:
    if frame.empty:
        st.caption(f"{safe.text(a)} and {safe.text(b)} agree on every segment for {safe.text(code)}.")
        return
    st.markdown(f"**{len(frame)} segment(s)** where {safe.text(a)} and {safe.text(b)} differ on **{safe.text(code)}**")
    left, right = st.columns(2)
    with left:
        st.markdown(f"*Only {safe.text(a)} coded {safe.text(code)}*")
        for row in frame[frame["coded_by_only"] == a].itertuples():
            quote(row.text, f"{row.document}" + (f" \u00b7 {row.speaker}" if row.speaker else ""))
    with right:
        st.markdown(f"*Only {safe.text(b)} coded {safe.text(code)}*")
        for row in frame[frame["coded_by_only"] == b].itertuples():
            quote(row.text, f"{row.document}" + (f" \u00b7 {row.speaker}" if row.speaker else ""))
