"""Upload: drag and drop files of any supported format; see how each will be read and change the
kind of document where the guess is wrong; map spreadsheet columns; import."""

import tempfile
from pathlib import Path

import streamlit as st

from insight.access import MAX_UPLOAD_MB, can_edit, check_upload, current_role
from insight.errors import InsightError, without_flags
from insight.readers import supported_suffixes
from insight.ui import db, safe, shell
from insight.ui import upload as ui
from insight.workspace import Workspace

shell.page("Upload", "Transcripts, field notes, diaries, panel exports and REFI-QDA projects into the study. "
           "A bad file is reported with its reason; the rest of the batch goes in.")

state = st.session_state
state.setdefault("upload.nonce", 0)


def uploads_dir() -> Path:
    """Where imported files are kept, beside the database, so documents keep a real source path."""
    path = Path(db.db_path())
    return path.parent / f"{path.stem}-uploads"


def page(staging: Path) -> None:
    """The drop zone, each file's row, the Import button; uploads are staged in ``staging`` (a
    temporary folder of this run) for their previews."""
    studies = []
    if db.gate().exists():
        with shell.guard():
            studies = db.read("studies")
    c1, c2 = st.columns([3, 1])
    study = c1.text_input("Study", value=shell.study() or (studies[0] if studies else "default"), key="upload.study",
                          help="A new name starts a new study.")
    unit = c2.selectbox("Segment unit", ["turn", "paragraph", "sentence"], key="upload.unit",
                        help="Whole speaker turns (or answers), paragraphs, or sentences.")

    dropped = st.file_uploader("Drop files here", accept_multiple_files=True,
                               key=f"upload.files.{state['upload.nonce']}",
                               help="Formats: " + " ".join(supported_suffixes()), max_upload_size=MAX_UPLOAD_MB)
    files, left_out = [], []  # files: (upload, a plain file name of a known format); left_out: result rows
    for upload in dropped or []:
        try:
            name = check_upload(upload.name, upload.size)
            ui.refuse_duplicate(name, [n for _, n in files])
            files.append((upload, name))
        except InsightError as exc:
            left_out.append(ui.not_imported(upload.name, without_flags(str(exc))))
            st.error(safe.text(left_out[-1]["reason"]))

    ready = []  # (upload, name, ingest options): what the Import button sends, one file at a time
    if files:
        st.caption("How each file will be read. Change the kind where the guess is wrong.")
    for index, (upload, name) in enumerate(files):
        staged = staging / name
        staged.write_bytes(upload.getvalue())
        row = st.container()  # drawn after the column mapping, which the preview depends on
        options: dict = {}
        frame = None
        if ui.is_tabular(name):
            try:
                frame = Workspace.preview_table(staged)
            except InsightError:
                pass  # the row says why, once
            if frame is not None:
                with st.expander(f"Columns of {safe.text(name)}", expanded=True):
                    options = ui.column_mapping(name, frame, key=f"upload.map.{index}", coder=shell.coder())
        with row:
            kind, problem = ui.file_row(
                name, lambda k: ui.preview(staged, name, upload.file_id, options | ({"kind": k} if k else {})),
                key=f"upload.kind.{name}", mapped=frame is not None)
        if problem:
            left_out.append(ui.not_imported(name, problem))
        else:
            ready.append((upload, name, options | ({"kind": kind} if kind else {})))

    if st.button(f"Import {len(ready)} file(s)", type="primary", key="upload.import", disabled=not ready):
        target = uploads_dir()
        common = {"unit": unit}
        bar = st.progress(0.0, text="Importing ...")
        outcome, finished = [], False
        with shell.guard("import files"):
            target.mkdir(parents=True, exist_ok=True)
            for number, (upload, name, options) in enumerate(ready):
                bar.progress(number / len(ready), text=f"Reading {safe.text(name)}")
                outcome.append(ui.keep_and_ingest(target, name, upload.getvalue(), lambda path: db.act(
                    "ingest", [path], study=study.strip() or None, **common, **options).to_dict()["files"][0]))
            finished = True
            state["upload.last_study"] = study.strip() or db.read("default_study")
        bar.empty()
        if finished:  # else the drop zone keeps the files, to try again
            state["upload.last"] = outcome + left_out
            state["upload.nonce"] += 1  # a fresh, empty drop zone: what was left out is listed below
            st.rerun()

    if state.get("upload.last"):
        st.subheader("Last import")
        ui.results(state["upload.last"], state.get("upload.last_study", ""))
        st.caption(f"Imported files are kept in the folder {safe.text(uploads_dir().name)} beside the database; "
                   "a file that was not imported is not kept.")


if not can_edit(current_role()):
    # before the drop zone: a viewer's files are neither staged nor kept
    st.info("A viewer cannot add files to the study. Ask a researcher, or log in with the researcher password.")
else:
    # the staged copies live for one run: every run (and every session) leaves no folder behind
    with tempfile.TemporaryDirectory(prefix="insight-upload-") as folder:
        page(Path(folder))
