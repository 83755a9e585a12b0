"""Upload: drag and drop files of any supported format; map spreadsheet columns; import."""

import shutil
import tempfile
from pathlib import Path

import streamlit as st

from insight.access import MAX_UPLOAD_MB, check_upload
from insight.errors import InsightError
from insight.readers import supported_suffixes
from insight.ui import db, shell
from insight.ui import upload as ui
from insight.workspace import Workspace

shell.page("Upload", "Transcripts, field notes, diaries, panel exports and REFI-QDA projects into the study. "
           "A bad file is reported with its reason; the rest of the batch goes in.")

KINDS = ["(guess per file)", "interview", "diary", "panel", "fieldnotes"]
state = st.session_state
state.setdefault("upload.nonce", 0)
if "upload.staging" not in state:
    state["upload.staging"] = tempfile.mkdtemp(prefix="insight-upload-")


def uploads_dir() -> Path:
    """Where imported files are kept, beside the database, so documents keep a real source path."""
    path = Path(db.db_path())
    return path.parent / f"{path.stem}-uploads"


studies = []
if db.gate().exists():
    with shell.guard():
        studies = db.read("studies")
c1, c2, c3 = st.columns([2, 1, 1])
study = c1.text_input("Study", value=shell.study() or (studies[0] if studies else "default"), key="upload.study",
                      help="A new name starts a new study.")
kind = c2.selectbox("The documents are", KINDS, key="upload.kind")
unit = c3.selectbox("Segment unit", ["turn", "paragraph", "sentence"], key="upload.unit",
                    help="Whole speaker turns (or answers), paragraphs, or sentences.")

dropped = st.file_uploader("Drop files here", accept_multiple_files=True, key=f"upload.files.{state['upload.nonce']}",
                           help="Formats: " + " ".join(supported_suffixes()), max_upload_size=MAX_UPLOAD_MB)
files, refused = [], []  # files: (upload, a plain file name of a known format)
for upload in dropped or []:
    try:
        files.append((upload, check_upload(upload.name, upload.size)))
    except InsightError as exc:
        refused.append({"path": upload.name, "status": "failed", "documents": 0, "segments": 0, "codings": 0,
                        "participants": 0, "reason": str(exc), "warnings": []})
for item in refused:
    st.error(item["reason"])

mappings: dict[str, dict] = {}
for index, (upload, name) in enumerate(files):
    if not ui.is_tabular(name):
        continue
    staged = Path(state["upload.staging"]) / name
    staged.write_bytes(upload.getvalue())
    with st.expander(f"Columns of {name}", expanded=True):
        with shell.guard("read the spreadsheet"):
            frame = Workspace.preview_table(staged)
            mappings[name] = ui.column_mapping(name, frame, key=f"upload.map.{index}", coder=shell.coder())

if st.button(f"Import {len(files)} file(s)", type="primary", key="upload.import", disabled=not files):
    target = uploads_dir()
    target.mkdir(parents=True, exist_ok=True)
    common = {"unit": unit} | ({"kind": kind} if kind != KINDS[0] else {})
    batches = [([], {})]  # every non-tabular file in one call; each spreadsheet with its own columns
    for upload, name in files:
        path = target / name
        path.write_bytes(upload.getvalue())
        if ui.is_tabular(name):
            batches.append(([path], mappings.get(name, {})))
        else:
            batches[0][0].append(path)
    batches = [b for b in batches if b[0]]
    total = sum(len(paths) for paths, _ in batches)
    bar = st.progress(0.0, text="Importing ...")
    done = [0]
    outcome = list(refused)

    def progress(number, count, path):
        bar.progress(min(1.0, (done[0] + number) / max(total, 1)), text=f"Read {Path(path).name}")

    for paths, options in batches:
        with shell.guard("import files"):
            report = db.act("ingest", paths, study=study.strip() or None, progress=progress, **common, **options)
            outcome += report.to_dict()["files"]
            state["upload.last_study"] = report.study
        done[0] += len(paths)
    bar.empty()
    state["upload.last"] = outcome
    if outcome and all(f["status"] != "failed" for f in outcome):
        state["upload.nonce"] += 1  # a fresh, empty drop zone
        shutil.rmtree(state["upload.staging"], ignore_errors=True)
        state["upload.staging"] = tempfile.mkdtemp(prefix="insight-upload-")
        st.rerun()

if state.get("upload.last"):
    st.subheader("Last import")
    ui.results(state["upload.last"], state.get("upload.last_study", ""))
    st.caption(f"Imported files are kept in `{uploads_dir()}`.")
