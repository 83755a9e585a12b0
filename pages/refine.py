"""Test & refine: test a codebook version against a gold coder, read the disagreeing quotes of a
code, edit it right there and re-test (per-code scores are cached, so a re-test takes about a second)."""

import streamlit as st

from insight.codetest import compare_reports
from insight.statuses import ACCEPTED, AUTO
from insight.ui import codebook as book_ui
from insight.ui import db, safe, shell
from insight.ui import refine as ui

shell.page("Test & refine", "A codebook is tested like code: each example must be coded, each counter-example "
           "must not, and against a gold coder every code gets precision, recall, F1 and kappa.")
state = st.session_state
reports = state.setdefault("refine.reports", {})
NO_GOLD = "(none: examples only)"


def run(ref: str, gold: str | None, methods: tuple, min_f1: float) -> dict | None:
    """The test report of one version (kept for the session: figures of a version do not change
    unless the gold coder codes more, and then "Run tests" again refreshes them)."""
    if "semantic" in methods or gold:
        db.embedder()
    step = st.empty()  # each step as it starts: the first run embeds and fits, later ones take seconds
    report = shell.run_action("test the codebook", "test_codebook", codebook=ref, gold=gold, methods=list(methods),
                              min_f1=min_f1, study=shell.study(),
                              progress=lambda m: step.caption(f"\u2026 {safe.text(m)}"),
                              spinner=f"Testing {ref} (the first run scores every segment; later ones reuse that) ...")
    step.empty()
    if report is not None:
        reports[(ref, gold, methods, min_f1)] = report
    return report


if shell.require_documents():
    with shell.guard():
        books = db.read("codebooks")
        if books.empty:
            st.info("Load a codebook first (Codebook page).")
            st.stop()
        default = shell.current_codebook()
        name = default.name if default is not None else books["name"].iloc[0]
        versions = db.read("codebook_versions", name)["version"].tolist()
        if state.get("refine.goto") in versions:
            state["refine.version"] = state.pop("refine.goto")
        counts = db.read("code_counts", study=shell.study())
        humans = (counts[~counts["coder"].str.startswith(AUTO) & (counts["status"] == ACCEPTED)]
                  .groupby("coder")["segments"].sum().sort_values(ascending=False).index.tolist())
        allowed = shell.coders_allowed(humans)  # a blind sample's coder is no one's gold coder until unblinded
        humans = humans if allowed is None else [h for h in humans if h in allowed]

        c1, c2, c3, c4 = st.columns([1, 2, 2, 1])
        version = c1.selectbox("Version", versions, key="refine.version",
                               format_func=lambda v: f"{v} (latest)" if v == versions[0] else str(v))
        gold = c2.selectbox("Gold coder", [*humans, NO_GOLD], key="refine.gold",
                            help="Whose codings are the reference for precision, recall, F1 and kappa.")
        methods = c3.multiselect("Auto-coders", ["rules", "semantic"], default=["rules", "semantic"],
                                 key="refine.methods", help="With a gold coder a classifier trained on their codings "
                                                            "is added; each code uses whichever tests best.")
        min_f1 = c4.number_input("Pass at F1", 0.0, 1.0, 0.5, 0.05, key="refine.min_f1")
        gold = None if gold == NO_GOLD else gold
        ref = f"{name}@{version}"
        key = (ref, gold, tuple(methods), float(min_f1))
        go = st.button("Run tests", type="primary", key="refine.run", icon=":material/play_arrow:",
                       disabled=not methods)
        if (go or state.pop("refine.autorun", False)) and methods:
            run(ref, gold, key[2], key[3])
        report = reports.get(key)
        if report is None:
            st.info("Choose a version and a gold coder, then run the tests. The first run loads the embedding model "
                    "and scores every segment; after an edit only the edited code is scored again.")
            st.stop()

        previous = None
        if version > 1:
            prev_key = (f"{name}@{version - 1}", *key[1:])
            previous = reports.get(prev_key) or run(prev_key[0], *key[1:])
        changes = compare_reports(previous, report) if previous else None
        ui.summary(report, previous)
        frame = ui.table(report, changes)
        failing = [r["code"] for r in report["codes"] if not r["passed"]]
        names = frame["code"].tolist()
        if state.get("refine.code") not in names:
            # start with the first failing code that coders apply (parents only group their children)
            book_now = db.read("codebook", ref)
            leaves = [n for n in failing if not book_now.children(n)]
            state["refine.code"] = (leaves or failing or names)[0]

        def pick(index: int) -> None:
            state["refine.code"] = names[index]

        ui.results(frame, key=f"refine.table.{version}", on_select=pick)
        if changes:
            st.caption(f"Changes are against version {version - 1} with the same gold coder and auto-coders.")
        ui.calibration_chart(report, key=f"refine.calibration.{version}")

        st.divider()
        chosen = st.selectbox("Code to refine (or click its row)", names, key="refine.code",
                              format_func=lambda n: ("PASS  " if n not in failing else "FAIL  ") + n)
        row = next(r for r in report["codes"] if r["code"] == chosen)
        change = next((c for c in changes or [] if c["code"] == chosen), None)
        ui.figures(row, change)
        book = db.read("codebook", ref)
        code = book.code(chosen)
        colours = shell.code_colours(book)
        keys = book_ui.seed_form(code, book.version, "refine.form", colours[code.name])
        if code.definition:
            st.markdown(f"**Definition.** {safe.text(code.definition)}")
        left, right = st.columns(2)
        # a quote already added as an example (or counter-example) is known: it leaves the lists
        known = {" ".join(t.split()) for t in [*code.examples, *code.counter_examples]}
        missed = [q for q in row["false_negatives"] if " ".join(q["text"].split()) not in known]
        wrong = [q for q in row["false_positives"] if " ".join(q["text"].split()) not in known]
        with left:
            ui.failing_cases(row)
            ui.disagreeing_quotes(missed, row.get("false_negative_count"),
                                  f"Missed: {gold} coded these" if gold else "Missed", "Add as example",
                                  lambda text: book_ui.append_line(keys["examples"], text), key=f"refine.fn.{chosen}")
        with right:
            ui.disagreeing_quotes(wrong, row.get("false_positive_count"),
                                  f"Wrongly coded: {gold} did not code these" if gold else "Wrongly coded",
                                  "Add as counter-example",
                                  lambda text: book_ui.append_line(keys["counter_examples"], text),
                                  key=f"refine.fp.{chosen}")
            if gold and not row["false_positives"] and not row["false_negatives"]:
                st.caption(f"No disagreements with {safe.text(gold)} on this code.")
        if gold:
            ui.rule_table(row.get("rules"), gold, key=f"refine.rules.{chosen}")

        st.subheader(f"Edit {safe.text(chosen)}")
        if version != versions[0]:
            st.caption(f"Saving makes version {versions[0] + 1} from version {version}.")
        with shell.guard("save the code"):
            edits = book_ui.code_form(book, code, key="refine.form", default_colour=colours[code.name],
                                      submit="Save as a new version and re-test")
            if edits is not None:
                note = edits.pop("note")
                if not edits:
                    st.info("Nothing changed, so no new version was made.")
                else:
                    new = shell.run_action("save the code", "edit_code", code.name, codebook=ref,
                                           author=shell.coder() or None, note=note, **edits)
                    if new is not None:
                        shell.flash(f"{code.name} saved as version {new}; the tests ran again on it.")
                        state["refine.goto"] = new
                        state["refine.autorun"] = True
                        st.rerun()
