"""Browse: documents and participants with attribute filters, transcripts with codings, search,
and segments by code, coder and theme."""

from pathlib import Path

import pandas as pd
import streamlit as st

from insight.access import can_reidentify, current_role
from insight.statuses import ACCEPTED, REJECTED, SUGGESTED
from insight.ui import browse as ui
from insight.ui import db, safe, shell

shell.page("Browse", "Documents and participants, transcripts with their codings, and search across segments.")


def codes_by_segment(codings, coders=None) -> dict[int, list[str]]:
    kept = codings[codings["status"] == ACCEPTED]
    if coders:
        kept = kept[kept["coder"].isin(coders)]
    return kept.groupby("segment_id")["code"].agg(lambda s: sorted(set(s))).to_dict()


if shell.require_documents():
    with shell.guard():
        study = shell.study()
        book = shell.current_codebook()
        colours = shell.code_colours(book)
        participants = db.read("participants", study)
        documents = db.read("documents", study)
        documents = shell.transcripts_first(documents)
        codings = shell.visible(db.read("codings", study=study))
        tab_docs, tab_people, tab_search, tab_codes = st.tabs(["Documents", "Participants", "Search",
                                                               "By code or theme"])

        with tab_docs:
            left, right = st.columns([1, 3])
            kinds = sorted(documents["kind"].unique())
            chosen_kinds = left.multiselect("Kind", kinds, key="browse.kinds")
            with right.expander("Filter by participant attributes"):
                kept = ui.attribute_filters(participants, key="browse.attrs")
            shown = documents
            if chosen_kinds:
                shown = shown[shown["kind"].isin(chosen_kinds)]
            if len(kept) < len(participants):
                shown = shown[shown["participant"].isin(kept["external_id"])]
            document_id = ui.document_picker(shown, key="browse.docs")
            if document_id is not None:
                show_suggestions = st.toggle("Show auto-coder suggestions (marked ?)", key="browse.suggestions")
                doc = documents[documents["document_id"] == document_id].iloc[0]
                st.subheader(safe.text(doc["title"]))
                date = doc["doc_date"].date() if hasattr(doc["doc_date"], "date") and not pd.isna(doc["doc_date"]) else None
                # the file's name may hold a person's name that pseudonymisation left (it is the file on
                # disk): researchers see it, viewers only the (pseudonymised) title above
                source = Path(str(doc["source_path"])).name if can_reidentify(current_role()) else None
                st.caption(" \u00b7 ".join(safe.text(x) for x in (doc["kind"], doc["participant"], date, source)
                                           if x is not None and str(x) not in ("", "NaT", "nan", "None")))
                ui.transcript(db.read("segments", study, document_id=int(document_id)),
                              codings[codings["document_id"] == document_id], colours,
                              show_suggestions=show_suggestions)

        with tab_people:
            kept = ui.attribute_filters(participants, key="browse.people")
            st.dataframe(kept.drop(columns=["participant_id"]), hide_index=True, key="browse.people.table")
            st.caption(f"{len(kept):,} of {len(participants):,} participants.")

        with tab_search:
            query = st.text_input("Search the text of every segment", key="browse.query",
                                  placeholder="e.g. on hold, damp, bus")
            if query.strip():
                ui.quotes(db.read("search", query.strip(), study=study), codes_by_segment(codings), colours)

        with tab_codes:
            runs = db.read("theme_runs", study=study)
            if not runs.empty:
                themes = db.read("theme_table", int(runs["run_id"].iloc[0]), study=study)
                labels = dict(zip(themes["id"], themes["label"].fillna("Unassigned")))
                theme = st.selectbox(f"Theme (run {runs['run_id'].iloc[0]})", list(labels), key="browse.theme",
                                     index=None, placeholder="Choose a theme", format_func=lambda t: f"{t}: {labels[t]}")
                if theme is not None:
                    members = db.read("segment_themes", int(runs["run_id"].iloc[0]), study=study)
                    members = members[members["theme_id"] == theme]
                    segments = db.read("segments", study)
                    rows = segments[segments["segment_id"].isin(members["segment_id"])].rename(columns={"title": "document"})
                    ui.quotes(rows, codes_by_segment(codings), colours)
                    st.divider()
            used = sorted(codings["code"].unique())
            names = [c for c in (book.names() if book else []) if c in used] + [c for c in used if not book or c not in book.names()]
            c1, c2, c3 = st.columns([2, 2, 1])
            code = c1.selectbox("Code", names, key="browse.code", index=None, placeholder="Choose a code")
            coders = c2.multiselect("Coders", sorted(codings["coder"].unique()), key="browse.coders")
            status = c3.selectbox("Status", [ACCEPTED, SUGGESTED, REJECTED], key="browse.status")
            if code:
                rows = codings[(codings["code"] == code) & (codings["status"] == status)]
                if coders:
                    rows = rows[rows["coder"].isin(coders)]
                # one quote per coded passage (several coders' identical passages are one)
                rows = rows.drop_duplicates(["document_id", "start", "end"]).merge(
                    documents[["document_id", "title"]].rename(columns={"title": "document"}), on="document_id")
                rows = rows.assign(speaker=None)
                ui.quotes(rows, codes_by_segment(codings, coders), colours)
