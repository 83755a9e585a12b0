"""Agreement: pick two coders (human or automatic); kappa, alpha and percent agreement per code, and
the units they disagree on."""

import streamlit as st

from insight.statuses import AUTO
from insight.ui import agreement as ui
from insight.ui import db, shell

shell.page("Agreement", "Any two coders, human or automatic: Cohen's kappa, Krippendorff's alpha, percent "
           "agreement and F1 per code, with the segments they disagree on.")
state = st.session_state

if shell.require_documents():
    with shell.guard():
        study = shell.study()
        coders = db.read("coders", study)
        if len(coders) < 2:
            st.info("Agreement needs two coders. Import a second coder's codings, code on the Code page, or run the "
                    "auto-coders.")
            st.stop()
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
            st.stop()
        result = db.read("agreement", a, b, study=study, all_units=all_units, bootstrap=500)
        ui.overall(result)
        frame = ui.per_code(result)
        if frame.empty:
            st.info("Neither coder used a code on the segments they share.")
            st.stop()
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
