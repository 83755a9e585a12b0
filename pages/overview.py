"""Overview: documents by kind, participants, segments, codings by coder, agreement, latest runs."""

import streamlit as st

from insight.errors import InsightError
from insight.statuses import AUTO, REJECTED, auto_coder
from insight.ui import db, shell
from insight.ui import overview as ui

shell.page("Overview", "The study at a glance.")


def pairs(counts) -> list[tuple[str, str]]:
    """The two busiest human coders, and the busiest human against the auto-coder."""
    if counts.empty:
        return []
    busy = counts[counts["status"] != REJECTED].groupby("coder")["segments"].sum().sort_values(ascending=False)
    humans = [c for c in busy.index if not c.startswith(AUTO)]
    autos = [c for c in busy.index if c.startswith(AUTO)]
    out = []
    if len(humans) >= 2:
        out.append((humans[0], humans[1]))
    if humans and autos:
        best = auto_coder("best")
        out.append((humans[0], best if best in autos else autos[0]))
    return out


if shell.require_database():
    with shell.guard():
        study = shell.study()
        stats = db.read("stats", study)
        if not stats["documents"]:
            st.info("The database is empty. Import transcripts, notes, diaries or panel exports on the Upload page.")
            st.page_link("pages/upload.py", label="Upload files", icon=":material/upload:")
        ui.metrics(stats)
        counts = db.read("code_counts", study=study)
        allowed = shell.coders_allowed(sorted(counts["coder"].unique())) if not counts.empty else None
        if allowed is not None:  # while samples are blind, their coders' figures wait for the lead
            hidden = counts.loc[~counts["coder"].isin(allowed), "coder"].nunique()
            counts = counts[counts["coder"].isin(allowed)]
            if hidden:
                st.caption(f"{hidden} coder(s) left out of these figures while samples are blind (a lead "
                           "unblinds them).")
        left, right = st.columns(2)
        with left:
            ui.documents_by_kind(stats, key="overview.kinds")
        with right:
            ui.codings_by_coder(counts, key="overview.coders")

        st.subheader("Agreement")
        chosen = pairs(counts)
        if not chosen:
            ui.agreement_card(None)
        for a, b in chosen:
            try:
                result = db.read("agreement", a, b, study=study, bootstrap=0)
            except InsightError as exc:
                ui.agreement_card(None, note=str(exc))
                continue
            ui.agreement_card(result)
        if chosen:
            st.page_link("pages/agreement.py", label="Agreement per code and the segments coders disagree on",
                         icon=":material/handshake:")

        st.subheader("Codebook and pipelines")
        book = shell.current_codebook()
        if book is not None:
            ui.codebook_line(db.read("codebook_versions", book.name), book.name)
        else:
            st.markdown("**Codebook**: none loaded yet (Codebook page, or `insight codebook load FILE`).")
        ui.latest_runs(db.read("runs", study=study))
        left, right = st.columns(2)
        with left:
            ui.code_frequencies(counts, shell.code_colours(book), key="overview.codes")
        with right:
            theme_runs = db.read("theme_runs", study=study)
            if not theme_runs.empty:
                run_id = int(theme_runs["run_id"].iloc[0])
                ui.largest_themes(db.read("theme_table", run_id, study=study), run_id, key="overview.themes")
                st.page_link("pages/themes.py", label="The theme map, quotes and groups", icon=":material/bubble_chart:")
