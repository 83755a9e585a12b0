"""Upload: how each file will be read (its kind changeable), column mapping for spreadsheets,
keeping imported files, and the per-file result of an import.

Every message names the file as the user uploaded it, never the temporary or kept copy, and in the
app's words (no command-line flags: :func:`insight.errors.without_flags`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import pandas as pd
import streamlit as st

from insight.access import current_role, require_edit
from insight.codebook_model import merge_unknown_codes, unknown_codes_note
from insight.errors import InsightError, without_flags
from insight.readers import FilePreview
from insight.ui import safe
from insight.workspace import Workspace

TABULAR = (".csv", ".tsv", ".xlsx", ".xlsm")
NONE = "(none)"
KINDS = ("interview", "fieldnotes", "diary", "panel")
AS_READ = "(as read)"  # a file whose documents have no one kind (none yet): leave each as its reader says
READERS = {"text": "plain text", "tabular": "spreadsheet", "docx": "Word document", "pdf": "PDF text",
           "vtt": "WebVTT captions", "srt": "SubRip captions", "qdpx": "REFI-QDA project", "diary-json": "JSON diary"}
KEPT = ("added", "changed", "attached")  # statuses whose file documents point to


def is_tabular(name: str) -> bool:
    return name.lower().endswith(TABULAR)


def app_words(message: str, path: str | Path, name: str) -> str:
    """``message`` about the copy at ``path`` as the app says it: about ``name`` (other files in its
    folder by their names), without flags."""
    message = without_flags(message.replace(str(path), name).replace(str(Path(path).parent) + os.sep, ""))
    return message if message.startswith(name) else f"{name}: {message}"


def note(message: str, path: str | Path, name: str) -> str:
    """A reader's note shown beside its file: :func:`app_words` without the leading file name."""
    return re.sub(rf"^{re.escape(name)}(: |, )", "", app_words(message, path, name))


@st.cache_data(show_spinner=False, max_entries=256)
def _preview(_path: str, version: str, name: str, options: dict) -> FilePreview:
    # The upload's id, name and options are the cache key; the staged copy's path is not (each run
    # stages the file in a new temporary folder), so the messages are put in app words here.
    found = Workspace.preview_file(_path, **options)
    return FilePreview(found.reader, found.kinds, found.speakers, [note(n, _path, name) for n in found.notes],
                       app_words(found.problem, _path, name) if found.problem else None)


def preview(path: Path, name: str, version: str, options: dict) -> FilePreview:
    """:meth:`Workspace.preview_file` of a staged upload, cached, its messages in app words."""
    return _preview(str(path), version, name, options)


def describe(found: FilePreview) -> str:
    """How a file will be read, in a line: the reader, the documents, the speakers (or paragraphs)."""
    parts = [READERS.get(found.reader, found.reader)]
    if found.documents != 1 or len(found.kinds) > 1:
        parts.append(", ".join(f"{n} {kind}" for kind, n in found.kinds.items()) + " documents")
    if found.speakers:
        more = len(found.speakers) - 4
        who = "diarists " if found.kind == "diary" else "speakers "
        parts.append(who + ", ".join(found.speakers[:4]) + (f" and {more} more" if more > 0 else ""))
    elif found.reader in ("text", "docx", "pdf"):
        parts.append("no speakers: paragraphs")
    return " · ".join(parts)


def file_row(name: str, look: Callable[[str | None], FilePreview], *, key: str,
             mapped: bool = False) -> tuple[str | None, str | None]:
    """One file before import: its name, how it will be read, and the kind of its documents, guessed
    and changeable. ``look(kind)`` previews the file (``None``: let the reader guess). Returns the
    kind to pass to ingest (``None``: the guess stands) and the problem that keeps the file out,
    shown here once: as a warning when ``mapped`` (the column choices below can fix it), else as an
    error."""
    say = st.warning if mapped else st.error
    guessed = look(None)
    c1, c2, c3 = st.columns([2, 4, 2], vertical_alignment="center")
    c1.markdown(f"**{safe.text(name)}**")
    if guessed.problem:
        c2.caption(READERS.get(guessed.reader, guessed.reader or "no reader"))
        say(safe.text(guessed.problem))
        return None, guessed.problem
    guess = guessed.kind if guessed.kind in KINDS and len(guessed.kinds) == 1 else AS_READ
    choices = [guess, *[k for k in KINDS if k != guess]]
    chosen = c3.selectbox(f"Kind of {safe.text(name)}", choices, key=key, label_visibility="collapsed",
                          format_func=lambda k: f"{k} (guessed)" if k == guess and k != AS_READ else k,
                          help="Interview, field notes, diary or panel: guessed from the file; change it if the "
                               "guess is wrong. Field notes are read as paragraphs, without speakers.")
    kind = None if chosen == guess else chosen
    found = guessed if kind is None else look(kind)
    if found.problem:
        say(safe.text(found.problem))
        return kind, found.problem
    c2.caption(safe.text(describe(found)))
    for line in found.notes:
        st.caption(safe.text(line))
    return kind, None


def keep_and_ingest(folder: Path, name: str, data: bytes, ingest: Callable[[Path], dict]) -> dict:
    """Keep an upload in ``folder`` (documents point to it) and ingest it with ``ingest(path)``,
    which returns the file's result. A file that does not go in is not kept: the folder is left as
    it was (an earlier file of the same name back as it was, or none), whether the import failed or
    raised (the database in use). Only a researcher may: the role is checked before anything is
    written (a viewer's upload must not replace a kept file of the same name)."""
    require_edit(current_role(), "change the study (add files)")
    path = folder / name
    before = path.read_bytes() if path.exists() else None
    path.write_bytes(data)
    item = None
    try:
        item = ingest(path)
    finally:
        if item is None or item["status"] not in KEPT:
            if before is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(before)
    return {**item, "file": name, "reason": app_words(item["reason"], path, name) if item["reason"] else "",
            "warnings": [note(w, path, name) for w in item["warnings"]]}


def not_imported(name: str, reason: str) -> dict:
    """The result row of a file left out before import (refused, or a problem shown above)."""
    return {"file": name, "status": "failed", "documents": 0, "segments": 0, "participants": 0, "codings": 0,
            "reason": reason, "warnings": []}


def refuse_duplicate(name: str, names: list[str]) -> None:
    """Two uploads of one name would overwrite each other's copy."""
    if name in names:
        raise InsightError(f"{name}: another file in this batch has the same name.",
                           hint="Rename one of them and upload it again.")


def column_mapping(name: str, frame: pd.DataFrame, *, key: str, coder: str = "") -> dict:
    """Preview a spreadsheet and ask which column is what; returns ``Workspace.ingest`` options
    (only those chosen: an empty mapping lets the reader guess)."""
    st.dataframe(frame, height=180, hide_index=True, key=f"{key}.preview")
    columns = list(frame.columns)
    one = [NONE, *columns]
    st.caption("Leave these empty to let Insight guess the shape (survey, transcript or diary) and the columns; "
               "the guess is shown beside the file.")
    c1, c2, c3 = st.columns(3)
    options: dict = {}
    options["text_cols"] = c1.multiselect("Open-ended text columns", columns, key=f"{key}.text")
    options["id_col"] = c2.selectbox("Respondent id column", one, key=f"{key}.id")
    options["attr_cols"] = c3.multiselect("Participant attribute columns", columns, key=f"{key}.attrs",
                                          help="Ward, age band, tenure ...: they become filters and cross-tabs.")
    c1, c2, c3, c4 = st.columns(4)
    options["speaker_col"] = c1.selectbox("Speaker column (transcripts)", one, key=f"{key}.speaker")
    options["time_col"] = c2.selectbox("Time column (transcripts)", one, key=f"{key}.time")
    options["participant_col"] = c3.selectbox("Participant column (diaries)", one, key=f"{key}.participant")
    options["date_col"] = c4.selectbox("Date column", one, key=f"{key}.date")
    c1, c2 = st.columns([2, 1])
    code_cols = c1.multiselect("Columns of codes that came with the data", columns, key=f"{key}.codes",
                               help="Codes separated by ';'. They come in as codings of the coder named here.")
    if code_cols:
        coder_name = c2.text_input("Who coded them", value=coder, key=f"{key}.coder")
        if c2.checkbox("A blank code cell means no code applies", key=f"{key}.blank",
                       help="Off: a row with no code in any of these columns is one the coder did not code (a "
                            "second coder's sub-sample), left out of agreement. On: the coder coded every row."):
            options["blank_means_no_code"] = True
        targets = options["text_cols"]
        specs = []
        for col in code_cols:
            if len(targets) > 1:
                target = st.selectbox(f"Text column that {safe.text(repr(col))} codes", targets,
                                      key=f"{key}.target.{col}")
                specs.append(f"{col}={target}")
            else:
                specs.append(col)
        options["code_cols"] = specs
        options["coder"] = coder_name.strip() or None
    return {k: v for k, v in options.items() if v not in (None, NONE, [], "")}


def results(files: list[dict], study: str = "") -> None:
    """A row per file (status, what was added, notes), once each why a file was not imported, and
    the codes that came with the data but are not in the codebook (with the nearest names).
    ``files``: :func:`keep_and_ingest` and :func:`not_imported` rows, messages in app words."""
    if not files:
        return
    frame = pd.DataFrame(files)
    failed = frame["status"] == "failed"
    frame["notes"] = [("" if bad else reason + "; " * bool(reason and notes)) + "; ".join(notes)
                      for bad, reason, notes in zip(failed, frame["reason"], frame["warnings"])]
    shown = frame[["file", "status", "documents", "segments", "participants", "codings", "notes"]]
    st.dataframe(shown, hide_index=True, key="upload.results",
                 column_config={"notes": st.column_config.TextColumn("notes", width="large")})
    for row in frame[failed].itertuples():
        st.error(f"Not imported: {safe.text(row.reason)}")
    unknown = merge_unknown_codes(files)
    if unknown:
        st.warning(safe.text(" ".join(unknown_codes_note(unknown, study))))
    ok = frame[frame["status"] != "failed"]
    if len(ok):
        st.success(f"{len(ok)} file(s) imported or already there: {int(ok['documents'].sum())} documents, "
                   f"{int(ok['segments'].sum())} segments, {int(ok['participants'].sum())} new participants, "
                   f"{int(ok['codings'].sum())} codings.")
