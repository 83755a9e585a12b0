"""Agreement: any two coders (human or automatic), per code, with the units they disagree on; and
for a team, the samples assigned blind to a second coder: agreement per coder pair, coders side by
side on one document, and the lead's adjudication into the Consensus coder."""

import streamlit as st

from insight.statuses import AUTO
from insight.ui import agreement as ui
from insight.ui import db, shell

shell.page("Agreement", "Any two coders, human or automatic: Cohen's kappa, Krippendorff's alpha, percent "
           "agreement and F1 per code, with the segments they disagree on; and the team's blind samples.")
state = st.session_state


def two_coders(study) -> None:
    coders = db.read("coders", study)
    allowed = shell.coders_allowed(coders)
    if allowed is not None:
        if shell.coder() and allowed == [shell.coder()]:
            st.info("Your sample is blind: agreement opens when a lead unblinds it.")
            return
        coders = allowed
    if len(coders) < 2:
        st.info("Agreement needs two coders. Import a second coder's codings, code on the Code page, or run the "
                "auto-coders.")
        return
    humans = [c for c in coders if not c.startswith(AUTO)]
    first = humans[0] if humans else coders[0]
    second = next((c for c in humans[1:]), next(c for c in coders if c != first))
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    a = c1.selectbox("Coder A (the gold for precision and recall)", coders, index=coders.index(first),
                     key="agreement.a")
    b = c2.selectbox("Coder B", coders, index=coders.index(second), key="agreement.b")
    all_units = c3.checkbox("Every segment", key="agreement.all_units",
                            help="Off: only the segments both coders looked at. On: every segment of the study, "
                                 "a segment a coder never saw counting as 'no code'.")
    if a == b:
        st.warning("Pick two different coders.")
        return
    result = db.read("agreement", a, b, study=study, all_units=all_units, bootstrap=500)
    ui.overall(result)
    frame = ui.per_code(result)
    if frame.empty:
        st.info("Neither coder used a code on the segments they share.")
        return
    names = frame["code"].tolist()
    if state.get("agreement.code") not in names:
        worst = frame.dropna(subset=["kappa"]).sort_values("kappa")
        state["agreement.code"] = worst["code"].iloc[0] if len(worst) else names[0]

    def pick(index: int) -> None:
        state["agreement.code"] = names[index]

    left, right = st.columns([3, 2])
    with left:
        ui.table(frame, key=f"agreement.table.{a}.{b}", on_select=pick)
    with right:
        ui.kappa_chart(frame, key="agreement.chart")
    code = st.selectbox("Read the disagreements on (or click a row)", names, key="agreement.code")
    ui.disagreements(db.read("disagreements", a, b, code, study=study, all_units=all_units), code, a, b)


def samples(study) -> None:
    lead = shell.is_lead()
    if lead:
        with st.expander("Assign a sample to a second coder", expanded=False):
            ui.assign_form(study, db.read("coders", study), db.read("participants", study), shell.coder())
    table = db.read("team.assignments", study)
    if table.empty:
        st.info("No samples yet. " + ("Assign one above." if lead else "A lead assigns them."))
        return
    ui.assignments(table)
    names = dict(zip(table["assignment_id"], table["name"]))
    chosen = st.selectbox("Sample", list(names), format_func=names.get, key="agreement.sample",
                          index=len(names) - 1)
    row = table[table["assignment_id"] == chosen].iloc[0]
    if row["blind"] and not lead:
        st.info(f"\u201c{row['name']}\u201d is blind: a lead reads its agreement and unblinds it.")
        return
    if row["blind"]:
        st.button("Unblind this sample", key="agreement.unblind", on_click=ui.act,
                  args=("team.unblind", int(chosen)), kwargs={"lead": shell.coder() or None},
                  help="Everyone then sees its codings; the coder's own figures too.")
    result = db.read("team.sample_agreement", int(chosen))
    ui.sample_agreement(result)
    st.subheader("Side by side")
    documents = db.read("team.sample_documents", int(chosen))
    titles = dict(zip(documents["document_id"], documents["title"] + " \u00b7 " + documents["units"].astype(str)
                      + " unit(s) in the sample"))
    doc = st.selectbox("Document", list(titles), format_func=titles.get, key="agreement.side.doc")
    people = list(result["coded"]) or [row["coder"]]
    ui.side_by_side(db.read("team.side_by_side", int(doc), people), people)
    if lead and len(result["coded"]) > 1:
        ui.adjudication(int(chosen), db.read("team.disagreements", int(chosen)), shell.coder() or None)
        ui.decisions(db.read("team.decisions", int(chosen)))


if shell.require_documents():
    with shell.guard():
        study = shell.study()
        view = st.segmented_control("View", ["Two coders", "Samples"], default="Two coders", key="agreement.view",
                                    label_visibility="collapsed") or "Two coders"
        if view == "Two coders":
            two_coders(study)
        else:
            samples(study)
