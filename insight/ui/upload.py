"""Upload: column mapping for spreadsheets and the per-file result of an import."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.codebook_model import merge_unknown_codes, unknown_codes_note

TABULAR = (".csv", ".tsv", ".xlsx", ".xlsm")
NONE = "(none)"


def is_tabular(name: str) -> bool:
    return name.lower().endswith(TABULAR)


def column_mapping(name: str, frame: pd.DataFrame, *, key: str, coder: str = "") -> dict:
    """Preview a spreadsheet and ask which column is what; returns ``Workspace.ingest`` options
    (only those chosen: an empty mapping lets the reader guess)."""
    st.dataframe(frame, height=180, hide_index=True, key=f"{key}.preview")
    columns = list(frame.columns)
    one = [NONE, *columns]
    st.caption("Leave these empty to let Insight guess the shape (survey, transcript or diary) and the columns; "
               "the guess is reported after the import.")
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
                target = st.selectbox(f"Text column that {col!r} codes", targets, key=f"{key}.target.{col}")
                specs.append(f"{col}={target}")
            else:
                specs.append(col)
        options["code_cols"] = specs
        options["coder"] = coder_name.strip() or None
    return {k: v for k, v in options.items() if v not in (None, NONE, [], "")}


def results(files: list[dict], study: str = "") -> None:
    """A row per file (status, what was added), each failure's reason in full, and the codes that
    came with the data but are not in the codebook (with the nearest names)."""
    if not files:
        return
    frame = pd.DataFrame(files)
    frame["file"] = frame["path"].map(lambda p: p.replace("\\", "/").rsplit("/", 1)[-1])
    frame["notes"] = frame.apply(lambda r: "; ".join([r["reason"]] * bool(r["reason"]) + list(r["warnings"])), axis=1)
    shown = frame[["file", "status", "documents", "segments", "participants", "codings", "notes"]]
    st.dataframe(shown, hide_index=True, key="upload.results",
                 column_config={"notes": st.column_config.TextColumn("reason / notes", width="large")})
    for row in frame[frame["status"] == "failed"].itertuples():
        st.error(f"{row.file} was not imported: {row.reason}")
    unknown = merge_unknown_codes(files)
    if unknown:
        st.warning(" ".join(unknown_codes_note(unknown, study)))
    ok = frame[frame["status"] != "failed"]
    if len(ok):
        st.success(f"{len(ok)} file(s) imported or already there: {int(ok['documents'].sum())} documents, "
                   f"{int(ok['segments'].sum())} segments, {int(ok['participants'].sum())} new participants, "
                   f"{int(ok['codings'].sum())} codings.")
