"""Test & refine: the per-code test table with changes against the previous version, and one
code's figures and disagreeing quotes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.ui import safe
from insight.ui.shell import fmt, quote

FIGURES = ("precision", "recall", "f1", "kappa", "alpha")


def summary(report: dict, previous: dict | None) -> None:
    """One line: passed and failed, against what, how long it took."""
    line = (f"**{report['passed']} passed, {report['failed']} failed** \u00b7 {safe.text(report['codebook'])}"
            + (f" against **{safe.text(report['gold'])}**" if report["gold"]
               else " (examples and counter-examples only)")
            + f" on {report['units']:,} segments \u00b7 {safe.text(', '.join(report['methods']))} \u00b7 "
              f"{report['seconds']:.1f} s")
    if previous is not None:
        moved = report["passed"] - previous["passed"]
        line += f" \u00b7 {safe.text(previous['codebook'])}: {previous['passed']} passed ({moved:+d})"
    st.markdown(line)
    if report.get("folds_by"):
        st.caption(f"Out of fold, {report['folds']} folds by {safe.text(report['folds_by'])}: no document or "
                   "respondent is on "
                   f"both sides of a fold ({report['fold_groups']:,} groups), so the figures say how well the codebook "
                   "will code the next interview or respondent.")


def table(report: dict, changes: list[dict] | None) -> pd.DataFrame:
    """The per-code rows as a frame: pass/fail, figures and their change against the previous version."""
    delta = {c["code"]: c for c in changes or []}
    rows = []
    for row in report["codes"]:
        change = delta.get(row["code"], {})
        was = change.get("was_passed")
        rows.append({
            "code": row["code"],
            "result": ("PASS" if row["passed"] else "FAIL") + ("" if was is None or was == row["passed"]
                                                               else (" (new)" if row["passed"] else " (was PASS)")),
            "examples": row["examples"], "counter": row["counter_examples"],
            **{k: row.get(k) for k in FIGURES},
            "F1 change": change.get("f1_change"), "kappa change": change.get("kappa_change"),
            "gold": row.get("gold_positives"), "coded": row.get("predicted"), "rule": row.get("rule"),
            "why": row.get("why") or "",  # last: the figures come first, the reason beside them
        })
    frame = pd.DataFrame(rows)
    for column in (*FIGURES, "F1 change", "kappa change", "gold", "coded"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if changes is None:
        frame = frame.drop(columns=["F1 change", "kappa change"])
    return frame


def _style(frame: pd.DataFrame):
    def result(value):
        return "color:#1b7f3a;font-weight:600" if str(value).startswith("PASS") else "color:#c62828;font-weight:600"

    def change(value):
        if value is None or pd.isna(value) or abs(value) < 1e-9:
            return "color:#999"
        return "color:#1b7f3a" if value > 0 else "color:#c62828"

    styled = frame.style.map(result, subset=["result"])
    deltas = [c for c in ("F1 change", "kappa change") if c in frame.columns]
    return styled.map(change, subset=deltas) if deltas else styled


def results(frame: pd.DataFrame, *, key: str, on_select) -> None:
    """The table; clicking a row picks that code (``on_select`` receives the row index)."""
    def picked():
        rows = st.session_state[key].selection.rows
        if rows:
            on_select(int(rows[0]))

    number = st.column_config.NumberColumn(format="%.2f")
    change = st.column_config.NumberColumn(format="%+.2f", help="Against the previous version")
    st.dataframe(_style(frame), hide_index=True, key=key, on_select=picked, selection_mode="single-row",
                 height=min(600, 35 * (len(frame) + 1) + 3),
                 column_config={"code": st.column_config.TextColumn(width="medium"),
                                **{k: number for k in FIGURES}, "F1 change": change, "kappa change": change,
                                "f1": st.column_config.NumberColumn("F1", format="%.2f"),
                                "gold": st.column_config.NumberColumn(help="Segments the gold coder gave this code"),
                                "coded": st.column_config.NumberColumn(help="Segments the auto-coder gave this code"),
                                "rule": st.column_config.TextColumn(help="The auto-coder chosen for this code"),
                                "why": st.column_config.TextColumn(help="Why the code failed")})


def figures(row: dict, change: dict | None) -> None:
    """The code's figures with their change against the previous version."""
    cols = st.columns(len(FIGURES) + 1)
    cols[0].metric("Result", "PASS" if row["passed"] else "FAIL",
                   help=None if row["passed"] else safe.text(row.get("why")) or None)
    for col, key in zip(cols[1:], FIGURES):
        d = (change or {}).get(f"{key}_change")
        same = d is not None and round(d, 2) == 0
        col.metric(key.title() if key != "f1" else "F1", fmt(row.get(key)),
                   delta=None if d is None else "unchanged" if same else f"{d:+.2f}",
                   delta_color="off" if same else "normal", delta_arrow="off" if same else "auto")


def failing_cases(row: dict) -> None:
    if row["failing_examples"]:
        st.markdown(f"**Examples it does not code** ({len(row['failing_examples'])} of {row['examples'].split('/')[1]})")
        for text in row["failing_examples"]:
            quote(text)
    if row["failing_counter_examples"]:
        st.markdown(f"**Counter-examples it codes** ({len(row['failing_counter_examples'])})")
        for text in row["failing_counter_examples"]:
            quote(text)


def disagreeing_quotes(items: list[dict], total: int | None, title: str, button: str, on_click, *, key: str) -> None:
    """False negatives or false positives, each with a button that copies it into the form."""
    if not items:
        return
    st.markdown(f"**{safe.text(title)}** ({total if total is not None else len(items)}"
                + (f", first {len(items)} shown)"
                                                                              if total and total > len(items) else ")"))
    for item in items:
        quote(item["text"], f"segment {item['segment_id']}")
        st.button(button, key=f"{key}.{item['segment_id']}", on_click=on_click, args=(item["text"],), type="tertiary",
                  icon=":material/add:", help="Copies the quote into the form below; save to test it.")


def rule_table(rules: list[dict] | None, gold: str, *, key: str) -> None:
    """Each keyword or pattern tested on its own against the gold coder, worst precision first: a
    rule that mostly disagrees is found, and removed in the form below, in one look."""
    if not rules:
        return
    frame = pd.DataFrame(rules)[["rule", "matches", "agreed", "precision", "recall"]]
    gold = safe.text(gold)
    st.markdown(f"**Its rules, each against {safe.text(gold)}**")
    st.dataframe(frame, hide_index=True, key=key, height=min(300, 35 * (len(frame) + 1) + 3),
                 column_config={"rule": st.column_config.TextColumn("keyword or pattern"),
                                "matches": st.column_config.NumberColumn(help=f"Segments {gold} saw that it matches"),
                                "agreed": st.column_config.NumberColumn(help=f"Of those, segments {gold} coded so"),
                                "precision": st.column_config.ProgressColumn(format="%.2f", min_value=0, max_value=1),
                                "recall": st.column_config.NumberColumn(format="%.2f",
                                                                        help=f"Share of {gold}'s segments it finds")})


def calibration_chart(report: dict, *, key: str) -> None:
    """Per method, the reliability diagram of its scores made probabilities (the diagonal is perfect):
    a reader sees whether "0.8" means eight in ten."""
    import plotly.graph_objects as go

    methods = report.get("calibration") or {}
    if not methods:
        return
    with st.expander("Can the scores be read as probabilities? (reliability per method)"):
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                                 line={"dash": "dot", "color": "#999"}, hoverinfo="skip"))
        for method, figures in methods.items():
            points = figures["points"]
            fig.add_trace(go.Scatter(
                x=[q["stated"] for q in points], y=[q["observed"] for q in points], mode="lines+markers",
                name=f"{method} (ECE {figures['ece']:.3f})", customdata=[q["n"] for q in points],
                marker={"size": [6 + 10 * min(1.0, q["n"] / 200) ** 0.5 for q in points]},
                hovertemplate="stated %{x:.2f}, happened %{y:.2f} of %{customdata:,} units<extra></extra>"))
        fig.update_layout(xaxis_title="probability stated (calibrated score)",
                          yaxis_title=f"share {safe.plot(report['gold'])} coded", xaxis_range=[0, 1], yaxis_range=[0, 1],
                          height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h"})
        st.plotly_chart(fig, key=key)
        st.caption("Each method's scores are turned into the probability that the gold coder applies the code "
                   "(isotonic regression, out of fold by the same groups), as `insight code --train-coder` writes "
                   "them on suggestions. Points are bins of stated probability (marker size: units in the bin); "
                   "ECE is the average gap between stated and happened, weighted by units.")
