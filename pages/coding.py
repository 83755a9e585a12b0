"""Code: code a transcript by selecting text (suggestions accepted or rejected in place), review the
auto-coders' suggestions (least certain first) with the keyboard, write memos, re-run the
auto-coders, and see or undo the history."""

import pandas as pd
import streamlit as st

from insight.errors import DatabaseLocked, InsightError
from insight.statuses import ACCEPTED, AUTO, SUGGESTED, auto_coder
from insight.ui import coding as ui
from insight.ui import db, shell
from insight.ui.passages import passage_view

shell.page("Code", "Select text in a transcript to code it, or review suggestions with the keyboard (A accept, X reject, "
           "S skip, U undo). Your name (sidebar) "
           "is recorded on every coding.")
state = st.session_state
skipped = state.setdefault("coding.skipped", set())


def decide(verb: str, coding_id: int, code: str, coder: str) -> None:
    """Button callback: accept or reject one suggestion (runs before the page redraws)."""
    try:
        db.act(verb, coding_id, coder)
        shell.flash(f"{'Accepted' if verb == 'accept' else 'Rejected'} {code}.", "success")
    except InsightError as exc:
        shell.flash(str(exc), "error")


def undo(coder: str) -> None:
    try:
        done = db.act("undo", coder)
        who = f" ({done['coder']})" if done.get("coder") else ""
        shell.flash(f"Undid {done['undone']} of {done['code']!r}{who}.", "info")
    except InsightError as exc:
        shell.flash(str(exc), "error")


if shell.require_documents():
    with shell.guard():
        study = shell.study()
        coder = shell.coder()
        book = shell.current_codebook()
        colours = shell.code_colours(book)
        counts = db.read("code_counts", study=study)
        open_by_auto = (counts[counts["coder"].str.startswith(AUTO) & (counts["status"] == SUGGESTED)]
                        .groupby("coder")["codings"].sum())
        current_segment = 0
        # One view at a time (not tabs, which all run): the review's keyboard shortcuts exist only
        # while the review is on screen, so a key pressed beside a transcript decides nothing unseen.
        views = ["Code the transcript", "Review suggestions", "Memos"] + ["Run auto-coders"] * shell.is_lead() + [
            "History"]
        blind = ui.blind_sample(db.read("team.blind_for", coder) if coder and not shell.is_lead() else None)
        view = st.segmented_control("View", views, default=views[0], key="coding.view",
                                    label_visibility="collapsed") or views[0]

        if view == "Review suggestions":
            if open_by_auto.empty:
                st.info("There are no open suggestions. Run the auto-coders (tab above) to get some.")
            else:
                autos, best = open_by_auto.index.tolist(), auto_coder("best")
                auto = st.selectbox("Suggestions from", autos, key="coding.auto",
                                    index=autos.index(best) if best in autos else 0)
                queue = db.read("review_queue", study=study, coder=auto, limit=50)
                queue = shell.visible(queue[~queue["coding_id"].isin(skipped)])
                if queue.empty:
                    st.success("You have been through this batch. Clear the skipped ones to see them again.")
                    if st.button("Show skipped suggestions again", key="coding.unskip"):
                        skipped.clear()
                        st.rerun()
                else:
                    item = queue.iloc[0].to_dict()
                    cid, code = int(item["coding_id"]), item["code"]
                    current_segment = int(item["segment_id"])
                    # The decision buttons come first, so they are first in the tab order too.
                    b1, b2, b3, b4, _ = st.columns([1, 1, 1, 1, 3])
                    b1.button("Accept", key="coding.accept", shortcut="A", type="primary", icon=":material/check:",
                              disabled=not coder, on_click=decide, args=("accept", cid, code, coder))
                    b2.button("Reject", key="coding.reject", shortcut="X", icon=":material/close:",
                              disabled=not coder, on_click=decide, args=("reject", cid, code, coder))
                    b3.button("Skip", key="coding.skip", shortcut="S", icon=":material/skip_next:",
                              on_click=skipped.add, args=(cid,))
                    b4.button("Undo", key="coding.undo", shortcut="U", icon=":material/undo:", disabled=not coder,
                              on_click=undo, args=(coder,), help="Undo your last accept, reject or coding.")
                    if not coder:
                        shell.require_coder()
                    ui.review_card(item, db.read("segment_context", int(item["segment_id"])), colours,
                                   remaining=int(open_by_auto[auto]))
                    with st.expander("Next in the queue"):
                        ui.queue_table(queue.iloc[1:11], key="coding.queue")

        if view == "Code the transcript":
            documents = db.read("documents", study)
            if documents.empty:
                st.info("No documents yet.")
            else:
                documents = shell.transcripts_first(documents)
                if blind is not None:  # a blind sample: its documents, and nobody else's codings on its units
                    documents = documents[documents["document_id"].isin(blind["document_id"])]
                c1, c2, c3 = st.columns([3, 2, 2])
                doc_labels = dict(zip(documents["document_id"], documents["title"] + " \u00b7 " + documents["kind"]))
                doc = int(c1.selectbox("Document", list(doc_labels), format_func=doc_labels.get,
                                       key="coding.hand.doc"))
                codings = shell.visible(db.read("codings", study=study, document_id=doc))
                if blind is not None:
                    ui.sample_turns(blind, db.read("document", doc))
                coders_here = sorted(c for c in codings["coder"].unique() if not c.startswith(AUTO))
                shown_coders = c2.multiselect("Codings of", coders_here, key="coding.hand.coders",
                                              placeholder="every coder", help="Whose codings to show (default: all).")
                autos = sorted(c for c in codings.loc[codings["status"] == SUGGESTED, "coder"].unique())
                best = auto_coder("best")
                suggest_from = c3.selectbox("Suggestions from", ["none"] + autos, key="coding.hand.auto",
                                            index=(["none"] + autos).index(best) if best in autos else 0,
                                            help="Auto-coder suggestions shown in place (dashed), to accept or "
                                                 "reject where you read them.")
                human = codings[(codings["status"] == ACCEPTED) & ~codings["coder"].str.startswith(AUTO)]
                if shown_coders:
                    human = human[human["coder"].isin(shown_coders)]
                suggestions = codings[(codings["status"] == SUGGESTED) & (codings["coder"] == suggest_from)]
                if not coder:
                    shell.require_coder()
                st.caption("Select text with the mouse to code it: type to search the codebook, Enter or a click "
                           "applies, keys 1\u20139 apply a recent code, Esc closes. Click a coded passage to "
                           "remove it, change its code or write a memo.")
                inputs = ui.transcript_inputs(db.read("document", doc), pd.concat([human, suggestions]), book, colours)
                mine = codings[codings["coder"] == coder] if coder else codings.iloc[:0]
                event = passage_view(**inputs, recent=ui.recent_codes(mine), coder=coder or "", height=640,
                                     key=f"coding.passages.{doc}")
                done = state.setdefault("coding.events", set())
                if event and event.get("nonce") not in done:
                    done.add(event.get("nonce"))
                    if not coder:
                        shell.flash("Type your name in the sidebar first: every coding records its coder.", "error")
                        st.rerun()
                    verb, args, kwargs, message = ui.event_call(event, doc, coder, book.ref if book else None)
                    try:
                        db.act(verb, *args, **kwargs)
                        shell.flash(message)
                    except DatabaseLocked as exc:  # nothing was written: say so, and how to go on
                        shell.flash(f"{exc} Nothing was coded; try again when the other process is done.", "error")
                    except InsightError as exc:
                        shell.flash(str(exc), "error")
                    st.rerun()

        if view == "Memos":
            kinds = ["study", "code", "segment", "document"]
            c1, c2 = st.columns([1, 3])
            kind = c1.selectbox("About", kinds, key="coding.memo.kind")
            target = None
            if kind == "code":
                target = c2.selectbox("Code", book.names() if book else [], key="coding.memo.code")
            elif kind == "segment":
                target = c2.number_input("Segment id (the one under review)", min_value=0, value=current_segment, step=1,
                                         key="coding.memo.segment")
            elif kind == "document":
                documents = db.read("documents", study)
                target = c2.selectbox("Document", documents["document_id"].tolist(), key="coding.memo.document",
                                      format_func=dict(zip(documents["document_id"], documents["title"])).get)
            with st.form("coding.memo", clear_on_submit=True):
                text = st.text_area("Memo", key="coding.memo.text", height=100)
                if st.form_submit_button("Add memo", disabled=not coder):
                    if shell.run_action("add the memo", "add_memo", text, author=coder, target_kind=kind,
                                        target_id=target, study=study) is not None:
                        shell.flash("Memo added.")
                        st.rerun()
            if not coder:
                shell.require_coder()
            ui.memos(db.read("memos", study=study))

        if view == "Run auto-coders":
            humans = sorted(c for c in counts["coder"].unique() if not c.startswith(AUTO))
            c1, c2 = st.columns(2)
            methods = c1.multiselect("Auto-coders", ["rules", "semantic", "classifier"], default=["rules", "semantic"],
                                     key="coding.auto.methods")
            train = c2.selectbox("Train the classifier on", humans, key="coding.auto.train", index=None,
                                 placeholder="(needed for the classifier)")
            st.caption("Suggestions replace that auto-coder's open ones; human codings and decided suggestions are "
                       "never touched.")
            if st.button("Run the auto-coders", key="coding.auto.run", type="primary", disabled=not methods):
                if "semantic" in methods or "classifier" in methods:
                    db.embedder()
                result = shell.run_action("run the auto-coders", "code", study=study, methods=methods,
                                          train_coder=train, spinner="Coding every segment ...")
                if result is not None:
                    made = ", ".join(f"{c} {n:,}" for c, n in result["suggestions"].items())
                    shell.flash(f"Coded {result['units']:,} segments with {result['codebook']}: {made} suggestions.")
                    st.rerun()

        if view == "History":
            st.button("Undo my last change", key="coding.history.undo", disabled=not coder, on_click=undo, args=(coder,))
            changes = shell.visible(db.read("history", study=study, limit=200))
            if blind is not None:  # blind: their own changes only
                changes = changes[changes["actor"] == coder]
            elif not shell.is_lead():  # nor the changes of someone coding blind
                changes = changes[~changes["coder"].isin(db.read("team.blind_coders", coder or None))]
            ui.history(changes, key="coding.history.table")
