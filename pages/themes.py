"""Themes: run theme discovery; the theme map, the themes with quotes, themes by attribute and over
time, themes against codes, co-occurrence; the gap finder with "add as code"."""

import streamlit as st

from insight.ui import db, shell
from insight.ui import export as export_ui
from insight.ui import theme_edit
from insight.ui import themes as ui

shell.page("Themes", "What people talk about, found from the text itself: each theme with its size and the real "
           "quotes behind it, by group and over time, against the codebook.")
ID_COLUMNS = ("participant_id", "study", "external_id", "name")
VIEWS = ["Map", "Themes and quotes", "By group", "Over time", "Against codes", "Co-occurrence", "Gap finder"]


def progress_bar(label: str):
    bar = st.progress(0.0, text=label)

    def update(*args):  # (step, steps, message) or (done, total)
        step, steps = (args + (0, 1))[:2]
        message = args[2] if len(args) > 2 else label
        bar.progress(min(1.0, step / max(steps, 1)), text=str(message))

    return bar, update


if shell.require_documents():
    with shell.guard():
        study = shell.study()
        runs = db.read("theme_runs", study=study)
        book = shell.current_codebook()
        with st.expander("Discover themes" + (" again" if len(runs) else ""), expanded=runs.empty):
            c1, c2, c3 = st.columns([1, 2, 1], vertical_alignment="bottom")
            min_size = c1.number_input("Smallest theme (0: automatic)", 0, 500, 0, key="themes.min_size",
                                       help="In segments; automatic is sqrt(segments) / 2.5, within 5 to 60.")
            interviewer = c2.checkbox("Include interviewer turns", key="themes.interviewer")
            if c3.button("Discover themes", type="primary", key="themes.run", icon=":material/bubble_chart:"):
                db.embedder()
                bar, update = progress_bar("Finding themes ...")
                result = shell.run_action("discover themes", "themes", study=study, min_size=int(min_size) or None,
                                          include_interviewer=interviewer, progress=update,
                                          spinner="Finding themes (the first run in a server loads BERTopic) ...")
                bar.empty()
                if result is not None:
                    shell.flash(f"Theme run {result['run_id']}: {len(result['themes'])} themes over "
                                f"{result['segments']:,} segments.")
                    st.rerun()
            st.caption("Each run is kept; the newest is shown. Same data and seed, same themes.")

        view = VIEWS[-1]
        if runs.empty:
            st.info("No theme run yet. Discover themes above (or run `insight themes`).")
        else:
            run_ids = runs["run_id"].tolist()
            run_id = st.selectbox("Theme run", run_ids, key="themes.run_id",
                                  format_func=lambda r: f"run {r}" + (" (latest)" if r == run_ids[0] else ""))
            ui.run_summary(runs[runs["run_id"] == run_id].iloc[0])
            # What the run's figures are drawn from: they are cached by it, so a gap finder run or a
            # coding elsewhere does not redraw them.
            key = db.theme_run_key(run_id)
            # A segmented control kept in session_state, not st.tabs: only the chosen view is drawn,
            # and it stays chosen after an action reruns the page.
            view = st.segmented_control("View", VIEWS, default=VIEWS[0], key="themes.view",
                                        label_visibility="collapsed") or VIEWS[0]
            if view == "Map":
                colour = st.selectbox("Colour by", ["theme", *(book.names() if book else [])], key="themes.colour",
                                      help="A code: its segments in colour, the rest grey.")
                if colour == "theme":
                    fig = db.read_keyed(key, "theme_map", run_id=run_id, study=study)
                else:
                    fig = db.read("theme_map", run_id=run_id, colour_by=colour, study=study)
                ui.plotly(fig, key="themes.map")
                st.caption("Hover a point to read its quote and who said it. Nearby points say similar things.")
            elif view == "Themes and quotes":
                table = db.read_keyed(key, "theme_table", run_id, study=study)
                left, right = st.columns([3, 2])
                with left:
                    ui.theme_cards(table)
                with right:
                    ui.sizes_chart(table, key="themes.sizes")
                with st.expander("Rename, merge, split or pin themes"):
                    theme_edit.editor(table, run_id, study=study)
            elif view == "By group":
                participants = db.read("participants", study)
                attributes = [c for c in participants.columns if c not in ID_COLUMNS] + ["kind"]
                c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
                by = c1.selectbox("Group by", attributes, key="themes.by")
                small = c2.checkbox("Show small groups", key="themes.by.small",
                                    help="Groups of fewer than 5 people, marked “small”.")
                ui.by_attribute(db.read("themes_by", by, run_id, study=study), by, key="themes.by.chart",
                                show_small=small)
            elif view == "Over time":
                freq = st.selectbox("Per", ["W", "M", "Q"], key="themes.freq",
                                    format_func={"W": "week", "M": "month", "Q": "quarter"}.get)
                ui.over_time(db.read("themes_over_time", run_id, study=study, freq=freq), freq=freq,
                             key="themes.time")
            elif view == "Against codes":
                coders = db.read("coders", study)
                allowed = shell.coders_allowed(coders)  # a blind sample's coder is not shown to others yet
                who = st.selectbox("Codings by", ["anyone", *(coders if allowed is None else allowed)],
                                   key="themes.codes.coder")
                anyone = None if allowed is None else allowed
                ui.code_overlap(db.read("theme_code_overlap", run_id, study=study,
                                        coder=anyone if who == "anyone" else who), key="themes.codes.chart")
            elif view == "Co-occurrence":
                export_ui.heatmap(db.read("cooccurrence", study), title="Segments coded with both codes (accepted)",
                                  key="themes.co", zlabel="segments")

        if view == VIEWS[-1]:
            st.markdown("**Gap finder**: segments no code covers, clustered into candidate new codes.")
            coders = db.read("coders", study)
            allowed = shell.coders_allowed(coders)
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            covered_by = c1.multiselect("Covered means coded by (default: anyone)",
                                        coders if allowed is None else allowed, key="themes.gaps.coders")
            covered_by = covered_by or allowed
            if c2.button("Find gaps", key="themes.gaps.run"):
                db.embedder()
                result = shell.run_action("find gaps", "gaps", study=study, coders=covered_by or None,
                                          spinner="Clustering the uncoded segments ...")
                if result is not None:
                    shell.flash(f"Gap finder: {len(result['candidates'])} candidate code(s) from "
                                f"{result['uncovered']:,} uncoded segments.")
                    st.rerun()
            gap_runs = db.read("runs", step="gaps", study=study)
            if gap_runs.empty:
                st.caption("Not run yet.")
            else:
                found = db.read("gap_candidates", study=study)
                st.caption(f"Gaps run {found['run_id']}: {found['uncovered']:,} of {found['segments']:,} segments "
                           f"uncoded; {len(found['candidates'])} candidate(s).")
                if book is None and found["candidates"]:
                    st.info("Load a codebook to add candidates to it.")
                for cand in found["candidates"]:
                    with st.container(border=True):
                        ui.candidate(cand)
                        if book is not None:
                            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
                            name = c1.text_input("Code name (blank: from the keywords)",
                                                 key=f"themes.gap.name.{found['run_id']}.{cand['id']}")
                            if c2.button("Add as code", key=f"themes.gap.add.{found['run_id']}.{cand['id']}"):
                                added = shell.run_action("add the code", "add_gap_as_code",
                                                         f"{found['run_id']}:{cand['id']}", book.name,
                                                         name=name.strip() or None, author=shell.coder() or None,
                                                         study=study)
                                if added is not None:
                                    shell.flash(f"Added {added['code']!r} to {added['codebook']} as version "
                                                f"{added['version']}: edit its definition on the Codebook page.")
                                    st.rerun()
