"""Codebook: the code tree; edit, add, move, merge and delete codes (each save is a new version);
compare versions; download as YAML or REFI-QDA .qdc; load a file (YAML, .qdc, or a CSV/XLSX sheet)."""

import tempfile
from pathlib import Path

import streamlit as st

from insight.statuses import ACCEPTED, AUTO
from insight.ui import codebook as ui
from insight.ui import db, safe, shell

shell.page("Codebook", "Every code with its definition, criteria, examples and keywords. Each save is a new, "
           "numbered version; older versions stay as they were.")
state = st.session_state


def saved(version, what: str) -> None:
    """After an edit: say so, show the new version, redraw."""
    if version is None:
        return
    shell.flash(f"{what}: saved as version {version}.")
    state["codebook.goto"] = version
    st.rerun()


def loader() -> None:
    upload = st.file_uploader("Load a codebook file (YAML; REFI-QDA .qdc from NVivo, ATLAS.ti, MAXQDA, QualCoder; or a "
                              "spreadsheet, one row per code, as Taguette exports it)",
                              type=["yaml", "yml", "qdc", "csv", "xlsx"], key="codebook.load")
    if upload is not None and st.button("Load it", key="codebook.load.go"):
        from insight.access import check_upload, current_role, require_edit

        with shell.guard("load the codebook"):
            require_edit(current_role(), "load a codebook")  # before anything is written, even a temporary file
            name = check_upload(upload.name, upload.size)
            with tempfile.TemporaryDirectory(prefix="insight-codebook-") as folder:
                path = Path(folder) / name
                path.write_bytes(upload.getvalue())
                with st.spinner("Loading ..."):
                    result = db.act("load_codebook", path, author=shell.coder() or None, study=shell.study())
            moved = "".join(f" {r['from']} is now {r['to']}: its {r['codings']} coding(s) moved with it."
                            for r in result.get("renamed", []))
            sheet = result.get("sheet")
            read = (" " + " ".join([sheet["columns_line"] + ".", *sheet["notes"]])) if sheet else ""
            shell.flash(f"{result['codebook']}: " + (f"version {result['version']} loaded ({result['codes']} codes)."
                                                     if result["created"] else
                                                     f"unchanged, still version {result['version']}.") + moved + read)
            st.rerun()


if shell.require_database():
    with shell.guard():
        books = db.read("codebooks")
        if books.empty:
            st.info("There is no codebook yet. Load one (the sample study's is `codebooks/lived_experience.yaml`).")
            loader()
        else:
            c1, c2 = st.columns([3, 1])
            names = books["name"].tolist()
            default = shell.current_codebook()
            name = c1.selectbox("Codebook", names, key="codebook.name",
                                index=names.index(default.name) if default is not None and default.name in names else 0) \
                if len(names) > 1 else names[0]
            versions = db.read("codebook_versions", name)
            numbers = versions["version"].tolist()
            if state.get("codebook.goto") in numbers:
                state["codebook.version"] = state.pop("codebook.goto")
            version = c2.selectbox("Version", numbers, key="codebook.version",
                                   format_func=lambda v: f"{v} (latest)" if v == numbers[0] else str(v))
            book = db.read("codebook", f"{name}@{version}")
            if version != numbers[0]:
                st.warning(f"You are looking at version {version}. A save here starts from it and becomes version "
                           f"{numbers[0] + 1}.")
            colours = shell.code_colours(book)
            counts = db.read("code_counts", study=shell.study())
            human = counts[(counts["status"] == ACCEPTED) & ~counts["coder"].str.startswith(AUTO)]
            per_code = human.groupby("code")["segments"].sum().to_dict()

            left, right = st.columns([2, 3])
            with left:
                st.markdown(f"**{safe.text(book.title or book.name)}** \u00b7 {len(book.codes)} codes")
                if book.description:
                    with st.expander("About this codebook"):
                        st.markdown(safe.text(book.description))
                ui.tree(book, colours, per_code)
                st.caption("The numbers are segments coded by people (accepted codings).")
            with right:
                labels = ui.depth_labels(book)
                chosen = st.selectbox("Code to edit", book.names(), key="codebook.code",
                                      format_func=lambda n: labels[n])
                if chosen:
                    code = book.code(chosen)
                    with shell.guard("save the code"):
                        changes = ui.code_form(book, code, key="codebook.form", default_colour=colours[code.name])
                        if changes is not None:
                            note = changes.pop("note")
                            if not changes:
                                st.info("Nothing changed, so no new version was made.")
                            else:
                                saved(shell.run_action("save the code", "edit_code", code.name, codebook=book.ref,
                                                       author=shell.coder() or None, note=note, **changes),
                                      f"{code.name} edited")

            tab_add, tab_merge, tab_delete, tab_versions, tab_files = st.tabs(
                ["Add a code", "Merge codes", "Delete a code", "Versions", "Download and load"])
            with tab_add:
                with st.form("codebook.add"):
                    c1, c2 = st.columns(2)
                    new = c1.text_input("Name", key="codebook.add.name")
                    parent = c2.selectbox("Parent", [ui.TOP, *book.names()], key="codebook.add.parent",
                                          format_func=lambda n: labels.get(n, n))
                    definition = st.text_area("Definition", key="codebook.add.definition", height=80)
                    if st.form_submit_button("Add the code", type="primary"):
                        saved(shell.run_action("add the code", "add_code", new, parent=None if parent == ui.TOP else parent,
                                               definition=" ".join(definition.split()), codebook=book.ref,
                                               author=shell.coder() or None), f"{new.strip()} added")
            with tab_merge:
                with st.form("codebook.merge"):
                    c1, c2 = st.columns(2)
                    source = c1.selectbox("Merge this code", book.names(), key="codebook.merge.source",
                                          format_func=lambda n: labels[n])
                    target = c2.selectbox("into this one", book.names(), key="codebook.merge.target",
                                          format_func=lambda n: labels[n], index=min(1, len(book.codes) - 1))
                    st.caption("The second code gains the first one's examples, counter-examples, keywords and "
                               "children, and its codings (undo on the Code page's History puts them back).")
                    if st.form_submit_button("Merge"):
                        saved(shell.run_action("merge the codes", "merge_codes", source, target, codebook=book.ref,
                                               author=shell.coder() or None), f"{source} merged into {target}")
            with tab_delete:
                with st.form("codebook.delete"):
                    gone = st.selectbox("Code", book.names(), key="codebook.delete.code", format_func=lambda n: labels[n])
                    sure = st.checkbox("Yes, remove it from the next version (its children move up a level)",
                                       key="codebook.delete.sure")
                    if st.form_submit_button("Delete"):
                        if not sure:
                            st.warning("Tick the box to confirm.")
                        else:
                            saved(shell.run_action("delete the code", "delete_code", gone, codebook=book.ref,
                                                   author=shell.coder() or None), f"{gone} deleted")
            with tab_versions:
                ui.versions(versions, key="codebook.versions.table")
                if len(numbers) > 1:
                    c1, c2 = st.columns(2)
                    a = c1.selectbox("Compare version", numbers, index=1, key="codebook.diff.a")
                    b = c2.selectbox("with version", numbers, index=0, key="codebook.diff.b")
                    ui.diff(db.read("diff_codebooks", f"{name}@{a}", f"{name}@{b}"))
            with tab_files:
                c1, c2 = st.columns(2)
                c1.download_button("Download YAML", book.to_yaml(), file_name=f"{name}@{version}.yaml",
                                   mime="application/yaml", key="codebook.download.yaml", icon=":material/download:")
                with shell.guard("write the .qdc file"):
                    data, _ = db.export(".qdc", format="qdc", codebook=book.ref)
                    c2.download_button("Download REFI-QDA .qdc", data, file_name=f"{name}@{version}.qdc",
                                       mime="application/xml", key="codebook.download.qdc", icon=":material/download:")
                loader()
