"""Overview: the study at a glance (render functions; they draw what they are given)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.statuses import ACCEPTED, AUTO, REJECTED, SUGGESTED
from insight.themes.shares import pct_n
from insight.ui import safe
from insight.ui.shell import PALETTE, fmt, parse_json


def metrics(stats: dict) -> None:
    cols = st.columns(6)
    for col, key in zip(cols, ("documents", "participants", "segments", "words", "speakers", "codes")):
        col.metric(key.title(), f"{stats.get(key, 0):,}")


def documents_by_kind(stats: dict, *, key: str) -> None:
    import plotly.express as px

    kinds = stats.get("documents_by_kind") or {}
    if not kinds:
        st.caption("No documents yet.")
        return
    frame = pd.DataFrame({"kind": list(kinds), "documents": list(kinds.values())})
    fig = px.bar(frame, x="kind", y="documents", text="documents", color="kind",
                 color_discrete_sequence=PALETTE, title="Documents by kind")
    fig.update_layout(showlegend=False, height=300, margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, key=key)


def codings_by_coder(counts: pd.DataFrame, *, key: str) -> None:
    import plotly.express as px

    if counts.empty:
        st.caption("No codings yet: load a codebook and code on the Code page, or run the auto-coders.")
        return
    frame = counts.groupby(["coder", "status"], as_index=False)["codings"].sum()
    frame["coder"] = frame["coder"].map(safe.plot)
    fig = px.bar(frame, y="coder", x="codings", color="status", orientation="h", title="Codings by coder",
                 color_discrete_map={ACCEPTED: "#2ca02c", SUGGESTED: "#1f77b4", REJECTED: "#d62728"})
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), yaxis_title=None, legend_title=None)
    st.plotly_chart(fig, key=key)


def code_frequencies(counts: pd.DataFrame, colours: dict[str, str], *, key: str, top: int = 20) -> None:
    """Segments per code, human codings and open suggestions side by side."""
    import plotly.express as px

    if counts.empty:
        return
    frame = counts[counts["status"] != REJECTED].copy()
    frame["who"] = frame["coder"].map(lambda c: "auto-coder suggestions" if c.startswith(AUTO) else "human codings")
    frame = frame.groupby(["code", "who"], as_index=False)["segments"].sum()
    order = frame.groupby("code")["segments"].sum().sort_values(ascending=False).head(top).index.tolist()
    frame = frame[frame["code"].isin(order)].assign(code=lambda f: f["code"].map(safe.plot))
    order = [safe.plot(c) for c in order]
    fig = px.bar(frame, y="code", x="segments", color="who", orientation="h", barmode="group",
                 category_orders={"code": order, "who": ["human codings", "auto-coder suggestions"]},
                 title=f"Most used codes (top {min(top, len(order))}): segments",
                 color_discrete_map={"human codings": "#2ca02c", "auto-coder suggestions": "#9ecae1"})
    fig.update_layout(height=max(300, 26 * len(order) + 80), margin=dict(l=10, r=10, t=40, b=10),
                      yaxis_title=None, legend_title=None)
    st.plotly_chart(fig, key=key)


def largest_themes(table: pd.DataFrame, run_id: int, *, key: str, top: int = 12) -> None:
    """The biggest themes of the latest run: each bar its share of the run's segments, labelled
    with that share and its base (``13% (n=1,302)``); the count is in the hover."""
    import plotly.express as px

    data = table[table["id"] >= 0].head(top)
    if data.empty:
        return
    base = int(data["base"].iloc[0])
    data = data.assign(theme=data["id"].astype(str) + ": " + data["label"].astype(str).map(safe.plot),
                       percent=100 * data["share"],
                       shown=[pct_n(s, base) for s in data["size"]])
    fig = px.bar(data, x="percent", y="theme", orientation="h", text="shown", hover_data={"size": True},
                 labels={"size": "segments", "percent": "% of segments"},
                 title=f"Largest themes (run {run_id}): % of {base:,} segments",
                 color_discrete_sequence=["#6a51a3"])
    fig.update_traces(textposition="outside", cliponaxis=False)
    fig.update_layout(height=max(300, 26 * len(data) + 80), margin=dict(l=10, r=70, t=40, b=10), yaxis_title=None,
                      xaxis_title="% of segments", yaxis={"autorange": "reversed"})
    st.plotly_chart(fig, key=key)


def agreement_card(result: dict | None, *, note: str | None = None) -> None:
    """Overall kappa, alpha and percent agreement of one pair of coders."""
    if result is None:
        st.caption(safe.text(note) if note else "No two coders have coded the same segments yet.")
        return
    a, b = result["coders"]
    o = result["overall"]
    st.markdown(f"**{safe.text(a)}** vs **{safe.text(b)}** on {o['n_units']:,} segments")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Mean kappa", fmt(o.get("mean_kappa")), help="Cohen's kappa per code, averaged over codes.")
    c2.metric("Pooled kappa", fmt(o.get("kappa")), help="Every segment x code decision pooled.")
    c3.metric("Alpha", fmt(o.get("alpha")), help="Krippendorff's alpha (nominal), pooled.")
    c4.metric("Agreement", fmt(o.get("percent_agreement")), help="Share of segment x code decisions that agree.")


def latest_runs(runs: pd.DataFrame) -> None:
    """The latest auto-coding and theme runs, in words."""
    if runs.empty:
        st.caption("No pipeline runs yet.")
        return
    for step, label in (("code", "Auto-coding"), ("themes", "Themes")):
        rows = runs[runs["step"] == step]
        if rows.empty:
            st.markdown(f"**{label}**: not run yet.")
            continue
        row = rows.iloc[0]
        summary = parse_json(row["summary"])
        when = row["finished_at"] if pd.notna(row["finished_at"]) else row["started_at"]
        detail = ""
        if step == "code":
            made = summary.get("suggestions") or {}
            detail = ", ".join(f"{safe.text(c)} {n:,}" for c, n in made.items())
            book = safe.text(summary.get("codebook", ""))
            detail = f"{book}: {detail} suggestions" if detail else book
        else:
            themes = summary.get("themes") or summary.get("n_themes")
            detail = f"{themes} themes" if themes is not None else ""
            if summary.get("segments"):
                detail += f" over {summary['segments']:,} segments"
        st.markdown(f"**{label}**: run {row['run_id']} ({row['status']}), {when:%Y-%m-%d %H:%M}. {detail}")
    embedding_line(runs)


def embedding_line(runs: pd.DataFrame) -> None:
    """How the latest vectors were made: backend, variant, fidelity to PyTorch, CPU."""
    rows = runs[runs["step"] == "embed"]
    if rows.empty:
        return
    info = parse_json(rows.iloc[0]["settings"])
    model, backend = info.get("model", "?"), info.get("backend", "?")
    text = f"**Embeddings**: {safe.text(model)}" + (f", {safe.text(backend)}" if backend != model else "")
    if backend == "hashing":
        text += " (word-hashing vectors: no transformer, no synonyms)"
    elif info.get("mean_cosine") is not None:
        text += (f": against PyTorch on {info.get('probes', '?')} real texts, mean cosine {info['mean_cosine']:.4f}"
                 f" and the same nearest neighbour for {info.get('neighbours', 0):.0%} of texts (bar: 0.995 and 90%),"
                 f" measured on {safe.text(info.get('cpu', 'this CPU'))}")
    elif info.get("backend") == "torch":
        text += " (the reference PyTorch model)"
    st.markdown(text + ".", help="The fast embedder checks itself against PyTorch on the CPU it runs on and uses "
                                 "the most quantised variant that stays within the bar (see README, Speed).")


def codebook_line(versions: pd.DataFrame, name: str) -> None:
    if versions.empty:
        return
    row = versions.iloc[0]
    st.markdown(f"**Codebook** {safe.text(name)}@{row['version']}: {row['codes']} codes, last changed "
                f"{row['created_at']:%Y-%m-%d %H:%M} by {safe.text(row['author'] or 'unknown')}"
                + (f" ({safe.text(row['note'])})" if row["note"] else "") + ".")
