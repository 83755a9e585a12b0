"""Export: coded datasets (CSV, Parquet, XLSX; long and wide), quotes reports, framework matrix,
co-occurrence and crosstabs, REFI-QDA project and codebook, each with a download button."""

import streamlit as st

from insight.statuses import ACCEPTED, REJECTED, SUGGESTED
from insight.ui import db, safe, shell
from insight.ui import export as ui

shell.page("Export", "Everything leaves as a file you download: for R, Stata, Excel, NVivo, ATLAS.ti, MAXQDA "
           "and QualCoder. Nothing is sent anywhere.")
state = st.session_state
ID_COLUMNS = ("participant_id", "study", "external_id", "name")


def prepare(slot: str, suffix: str, **options) -> None:
    """One ``Workspace.export`` call; the file's bytes wait in the session for the download button,
    under the export's default name (``<study>_coded_long.csv``)."""
    with shell.guard(f"write the {slot} file"):
        with st.spinner("Writing ..."):
            data, summary = db.export(suffix, study=shell.study(), **options)
        state[f"export.{slot}"] = {"data": data, "summary": summary, "name": summary["file_name"]}


if shell.require_documents():
    with shell.guard():
        study = shell.study()
        coders = db.read("coders", study)
        allowed = shell.coders_allowed(coders)
        if allowed is not None:
            coders = allowed
            if not allowed:
                st.info("Nothing to export yet: the codings here are in blind samples until a lead unblinds them.")
                st.stop()
        with st.expander("Which codings", expanded=False):
            c1, c2 = st.columns(2)
            chosen = c1.multiselect("Coders (default: everyone)", coders, key="export.coders")
            statuses = c2.multiselect("Statuses (default: accepted, i.e. what the team decided)",
                                      [ACCEPTED, SUGGESTED, REJECTED], key="export.statuses")
        scope = {"coders": chosen or allowed or None, "statuses": statuses or None}

        st.subheader("Coded dataset")
        st.caption("By default, what the team decided: human codings and accepted suggestions. Long: one row per "
                   "coding, with participant attributes. Wide: one row per segment with a 0/1 column per code. A CSV "
                   "opens in Excel as UTF-8; spreadsheet cells that would run as a formula are prefixed with '.")
        c1, c2, c3, c4 = st.columns([1, 1, 2, 2], vertical_alignment="bottom")
        fmt = c1.selectbox("Format", ["csv", "xlsx", "parquet"], key="export.dataset.format")
        shape = c2.selectbox("Shape", ["long", "wide"], key="export.dataset.shape")
        suggestions = c3.checkbox("Include open suggestions", key="export.dataset.suggestions",
                                  help="The auto-coders' suggestions nobody has reviewed yet, marked as such: status "
                                       "suggested and decided no (wide: their own <code>_suggested columns).")
        if c4.button("Prepare the dataset", key="export.dataset.go"):
            prepare("dataset", f".{fmt}", format=fmt, shape=shape, include_suggestions=suggestions, **scope)
        ui.download(state.get("export.dataset"), key="export.dataset.download")

        st.subheader("Quotes report")
        c1, c2, c3, c4 = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
        per = c1.selectbox("One section per", ["code", "theme"], key="export.report.per")
        report_format = c2.selectbox("Format", ["docx", "html", "md"], key="export.report.format")
        max_quotes = c3.number_input("Quotes per section", 0, 1000, 50, key="export.report.max",
                                     help="0 for every quote.")
        if c4.button("Prepare the report", key="export.report.go"):
            prepare("report", f".{report_format}", format="report", per=per, report_format=report_format,
                    max_quotes=int(max_quotes), **scope)
        ui.download(state.get("export.report"), key="export.report.download")

        st.subheader("Tables")
        participants = db.read("participants", study)
        attributes = [c for c in participants.columns if c not in ID_COLUMNS]
        c1, c2, c3 = st.columns(3)
        with c1:
            st.markdown("**Framework matrix** (participants \u00d7 codes, with quotes)")
            if st.button("Prepare the framework matrix", key="export.framework.go"):
                prepare("framework", ".xlsx", format="framework", **scope)
            ui.download(state.get("export.framework"), key="export.framework.download")
        with c2:
            st.markdown("**Co-occurrence** (codes \u00d7 codes)")
            if st.button("Prepare the co-occurrence table", key="export.cooccurrence.go"):
                prepare("cooccurrence", ".xlsx", format="cooccurrence", **scope)
            ui.download(state.get("export.cooccurrence"), key="export.cooccurrence.download")
        with c3:
            st.markdown("**Crosstab** (codes by a participant attribute)")
            by = st.selectbox("Attribute", attributes, key="export.crosstab.by") if attributes else None
            unit = st.selectbox("Count", ["participants", "segments"], key="export.crosstab.unit")
            if st.button("Prepare the crosstab", key="export.crosstab.go", disabled=by is None):
                prepare("crosstab", ".xlsx", format="crosstab", by=by, unit=unit, **scope)
            ui.download(state.get("export.crosstab"), key="export.crosstab.download")

        st.subheader("REFI-QDA")
        st.caption("A .qdpx project (sources, cases, codes and codings) and a .qdc codebook, for NVivo, ATLAS.ti, "
                   "MAXQDA and QualCoder.")
        c1, c2 = st.columns(2)
        with c1:
            if st.button("Prepare the .qdpx project", key="export.qdpx.go"):
                prepare("project", ".qdpx", format="qdpx", **scope)
            ui.download(state.get("export.project"), key="export.qdpx.download")
        with c2:
            if st.button("Prepare the .qdc codebook", key="export.qdc.go"):
                prepare("codebook", ".qdc", format="qdc")
            ui.download(state.get("export.codebook"), key="export.qdc.download")

        st.subheader("Preview")
        tab_cross, tab_co = st.tabs(["Codes by attribute", "Co-occurrence"])
        with tab_cross:
            if attributes:
                by = st.selectbox("Attribute", attributes, key="export.preview.by")
                counts, percents, base = db.read("crosstab", by, study, **scope)
                ui.heatmap(percents, title=f"% of participants in each {safe.text(by)} group with the code",
                           key="export.heat",
                           zlabel="%")
            else:
                st.caption("The participants have no attributes.")
        with tab_co:
            ui.heatmap(db.read("cooccurrence", study, **scope), title="Segments coded with both codes",
                       key="export.co", zlabel="segments")
