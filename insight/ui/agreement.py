"""Agreement: figures per code for two coders, a chart, and the segments they disagree on."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight import access
from insight.errors import InsightError
from insight.reliability import coverage_lines
from insight.ui import db, safe
from insight.ui.shell import flash, fmt, quote, short

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


# -- a team's samples ------------------------------------------------------------------------------


def act(verb: str, *args, **kwargs) -> None:
    """Button callback: one team action, its outcome flashed above the page."""
    try:
        done = db.act(verb, *args, **kwargs)
    except InsightError as exc:
        flash(str(exc), "error")
        return
    messages = {"team.unblind": lambda d: f"\u201c{d['name']}\u201d is unblinded.",
                "team.assign": lambda d: f"Assigned {d['units']:,} units in {d['documents']:,} documents to "
                                         f"{d['coder']} as \u201c{d['name']}\u201d (blind).",
                "team.settle_agreed": lambda d: f"The consensus took {d} code(s) both coders gave.",
                "team.adjudicate": lambda d: f"Consensus: {d['code']} "
                                             f"{'applied' if d['decision'] == 'apply' else 'left off'}."}
    flash(messages[verb](done))


def assign_form(study, coders: list[str], participants: pd.DataFrame, lead: str) -> None:
    """Draw a sample for a second coder: who, how many, stratified how, from whose work, which seed."""
    from insight.statuses import AUTO

    people = [c for c in coders if not c.startswith(AUTO)]
    attributes = [c for c in participants.columns if c not in ("participant_id", "study", "external_id", "name",
                                                               "documents", "segments")]
    with st.form("agreement.assign"):
        c1, c2, c3 = st.columns(3)
        coder = c1.text_input("Second coder (their account name)", key="agreement.assign.coder")
        reference = c2.selectbox("Checking the work of", ["(the whole study)", *people], key="agreement.assign.ref")
        by = c3.selectbox("Stratified by", ["(none)", "question", "document", *attributes], key="agreement.assign.by")
        c1, c2, c3, c4 = st.columns(4)
        share = c1.number_input("Share of units (%)", 0, 100, 20, key="agreement.assign.share",
                                help="Or give a number of units (which then wins).")
        units = c2.number_input("Or a number of units", 0, 100000, 0, key="agreement.assign.units")
        seed = c3.number_input("Seed", 0, 2 ** 31, 0, key="agreement.assign.seed",
                               help="The same seed draws the same sample.")
        name = c4.text_input("Name (optional)", key="agreement.assign.name")
        if st.form_submit_button("Assign the sample"):
            try:
                access.require_account(db.db_path(), coder.strip())
            except InsightError as exc:
                flash(str(exc), "error")
                st.rerun()
            act("team.assign", coder.strip(), study=study, share=None if units else share / 100,
                units=int(units) or None, by=None if by == "(none)" else by, seed=int(seed),
                reference=None if reference.startswith("(") else reference, name=name.strip() or None, lead=lead)
            st.rerun()


def assignments(frame: pd.DataFrame) -> None:
    shown = frame.assign(state=frame["blind"].map({True: "blind", False: "unblinded"}))
    st.dataframe(shown[["assignment_id", "name", "coder", "reference", "units", "documents", "coded", "state",
                        "created_by", "unblinded_by"]], hide_index=True, key="agreement.assignments",
                 height=min(300, 35 * (len(shown) + 1) + 3))


def sample_agreement(result: dict) -> None:
    """Per coder pair: the overall figures and the figures per code, on the units named."""
    st.caption(safe.text(result["units_note"] + " Coded so far: " + ", ".join(
        f"{who} {n:,}" for who, n in result["coded"].items()) + "."))
    if not result["pairs"]:
        st.info("Nobody has coded this sample yet.")
    for pair in result["pairs"]:
        a, b = pair["coders"]
        o = pair["overall"]
        st.markdown(f"**{safe.text(a)}** vs **{safe.text(b)}** on {o['n_units']:,} units: kappa "
                    f"{fmt(o.get('kappa'))}, alpha {fmt(o.get('alpha'))}, agreement "
                    f"{fmt(o.get('percent_agreement'))}, mean kappa {fmt(o.get('mean_kappa'))}")
        rows = [{"code": r["code"], "kappa": r["kappa"], "alpha": r["alpha"], "agreement": r["percent_agreement"],
                 a: r["a_count"], b: r["b_count"], "both": r["both"]} for r in pair["codes"]]
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"agreement.pair.{a}.{b}",
                         column_config={k: st.column_config.NumberColumn(format="%.2f")
                                        for k in ("kappa", "alpha", "agreement")})


def side_by_side(frame: pd.DataFrame, people: list[str]) -> None:
    """One document's segments, a column of codes per coder; the sample's units marked."""
    shown = frame.assign(text=frame["text"].map(lambda t: short(t, 160)), in_sample=frame["sample"].notna())
    st.dataframe(shown[["in_sample", "speaker", "text", *people]], hide_index=True, key="agreement.side",
                 column_config={"in_sample": st.column_config.CheckboxColumn("sample")})


def adjudication(assignment_id: int, split: pd.DataFrame, lead: str | None) -> None:
    """Each disagreement with Apply and Omit: the lead's decision becomes the Consensus coder's coding."""
    st.subheader("Adjudicate")
    if split.empty:
        st.success("The two coders agree on every unit of the sample.")
        return
    a, b = split["coder_a"].iloc[0], split["coder_b"].iloc[0]
    open_ = split[split["decision"].isna()]
    st.caption(f"{len(split):,} disagreement(s) between {safe.text(a)} and {safe.text(b)}, {len(open_):,} "
               "undecided. Apply gives the Consensus coder the code on that unit; Omit leaves it off. Every "
               "decision is kept with your name.")
    st.button("Settle the agreements first (codes both gave go to the consensus)", key="agreement.settle",
              on_click=act, args=("team.settle_agreed", assignment_id), kwargs={"lead": lead})
    show_all = st.toggle("Show decided ones too", key="agreement.adjudicate.all")
    for row in (split if show_all else open_).head(30).itertuples():
        left, right = st.columns([5, 2], vertical_alignment="center")
        with left:
            decided = f" \u00b7 decided: {row.decision} by {row.decided_by}" if isinstance(row.decision, str) else ""
            quote(row.text, f"{row.document} \u00b7 {row.code}: only {row.coded_by}{decided}")
        key = f"agreement.adj.{int(row.segment_id)}.{row.code}"
        c1, c2 = right.columns(2)
        for column, decision, label in ((c1, "apply", "Apply"), (c2, "omit", "Omit")):
            column.button(label, key=f"{key}.{decision}", on_click=act,
                          args=("team.adjudicate", assignment_id, int(row.segment_id), row.code, decision),
                          kwargs={"lead": lead})


def decisions(frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    with st.expander(f"Who decided what ({len(frame):,} decisions)"):
        st.dataframe(frame[["decided_at", "decided_by", "code", "decision", "coded_by", "note", "document", "text"]],
                     hide_index=True, key="agreement.decisions",
                     column_config={"decided_at": st.column_config.DatetimeColumn("when",
                                                                                  format="YYYY-MM-DD HH:mm:ss")})
