"""Browse: attribute filters, the document list, a transcript with codings in colour, quotes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.statuses import ACCEPTED
from insight.ui import safe
from insight.ui.shell import chip, clock, colour_for

ID_COLUMNS = ("participant_id", "study", "external_id", "name")
MAX_CHOICES = 40


def attribute_filters(participants: pd.DataFrame, *, key: str) -> pd.DataFrame:
    """A multiselect per participant attribute with few values; returns the participants kept."""
    attrs = [c for c in participants.columns if c not in ID_COLUMNS
             and 1 < participants[c].nunique(dropna=True) <= MAX_CHOICES]
    if not attrs:
        return participants
    kept = participants
    cols = st.columns(min(len(attrs), 5))
    for i, attr in enumerate(attrs):
        values = sorted(participants[attr].dropna().astype(str).unique())
        chosen = cols[i % len(cols)].multiselect(safe.text(attr.replace("_", " ")), values, key=f"{key}.{attr}")
        if chosen:
            kept = kept[kept[attr].astype(str).isin(chosen)]
    return kept


def document_picker(documents: pd.DataFrame, *, key: str) -> int | None:
    """The document list (click a row) and a searchable select box; returns the chosen id."""
    if documents.empty:
        st.caption("No documents match.")
        return None
    ids = documents["document_id"].tolist()
    labels = {row.document_id: f"{row.title} \u00b7 {row.kind}" + (f" \u00b7 {row.participant}" if row.participant else "")
              for row in documents.itertuples()}
    select_key, table_key = f"{key}.document", f"{key}.table"
    if st.session_state.get(select_key) not in labels:
        st.session_state[select_key] = ids[0]

    def picked():
        rows = st.session_state[table_key].selection.rows
        if rows:
            st.session_state[select_key] = ids[rows[0]]

    shown = documents[["title", "kind", "participant", "doc_date", "segments", "characters"]]
    st.dataframe(shown, hide_index=True, height=240, key=table_key, on_select=picked, selection_mode="single-row",
                 column_config={"doc_date": st.column_config.DateColumn("date")})
    return st.selectbox("Document", ids, format_func=labels.get, key=select_key)


def _highlight(text: str, start: int, spans: list[tuple[int, int, str]], colours: dict[str, str]) -> str:
    """The segment text with coded spans (document offsets) marked in their code's colour."""
    marks = sorted((max(0, s - start), min(len(text), e - start), code) for s, e, code in spans
                   if e > start and s < start + len(text))
    out, at = [], 0
    for s, e, code in marks:
        if s < at:
            continue  # overlapping spans: the first one is marked, the chip still lists both
        out.append(safe.text(text[at:s], breaks=True))
        out.append(f"<mark title='{safe.text(code)}' style='background:{colour_for(code, colours)}44;"
                   f"padding:0 1px'>{safe.text(text[s:e], breaks=True)}</mark>")
        at = e
    out.append(safe.text(text[at:], breaks=True))
    return "".join(out)


def transcript(segments: pd.DataFrame, codings: pd.DataFrame, colours: dict[str, str], *,
               show_suggestions: bool = False) -> None:
    """Speaker turns with timestamps; each turn's codes as chips, coded spans highlighted."""
    if segments.empty:
        st.caption("This document has no segments.")
        return
    if not show_suggestions and not codings.empty:
        codings = codings[codings["status"] == ACCEPTED]
    rows = []
    for seg in segments.itertuples():
        # every passage that touches this turn (a passage across turns shows on each of them)
        group = None
        if not codings.empty:
            group = codings[(codings["start"] < seg.end) & (codings["end"] > seg.start)]
            group = group if len(group) else None
        chips, spans, border = [], [], "#e6e6e6"
        if group is not None:
            for code, per_code in group.groupby("code", sort=False):
                coders = ", ".join(sorted(per_code["coder"].unique()))
                suggested = (per_code["status"] != ACCEPTED).all()
                label = chip(code + (" ?" if suggested else ""), colours)
                chips.append(f"<span title='{safe.text(coders)}'>{label}</span>")
                spans += [(int(r.start), int(r.end), code) for r in per_code.itertuples()
                          if pd.notna(r.start) and pd.notna(r.end)]
            border = colour_for(group["code"].iloc[0], colours)
        speaker = f"<b>{safe.text(seg.speaker)}</b>: " if seg.speaker and pd.notna(seg.speaker) else ""
        field = (f"<span style='color:#888'>[{safe.text(seg.field)}]</span> "
                 if seg.field and pd.notna(seg.field) else "")
        body = _highlight(seg.text, int(seg.start), spans, colours)
        rows.append(
            f"<div style='display:flex;gap:12px;padding:6px 0 6px 10px;border-left:4px solid {border};margin-bottom:4px'>"
            f"<div style='min-width:64px;color:#888;font-size:0.8em;font-variant-numeric:tabular-nums'>"
            f"{clock(seg.start_ms) or '#' + str(seg.ordinal)}</div>"
            f"<div>{field}{speaker}{body}<div style='margin-top:3px'>{''.join(chips)}</div></div></div>")
    st.markdown("".join(rows), unsafe_allow_html=True)


def quotes(frame: pd.DataFrame, codes_by_segment: dict[int, list[str]], colours: dict[str, str], *,
           limit: int = 100) -> None:
    """Matching segments as quotes with their document, speaker and codes."""
    if frame.empty:
        st.caption("Nothing matches.")
        return
    st.caption(f"{len(frame):,} segment(s)" + (f"; the first {limit} are shown." if len(frame) > limit else "."))
    parts = []
    for row in frame.head(limit).itertuples():
        where = safe.text(row.document) + (f" \u00b7 {safe.text(row.speaker)}"
                                           if row.speaker and pd.notna(row.speaker) else "")
        chips = "".join(chip(c, colours) for c in codes_by_segment.get(row.segment_id, []))
        parts.append(f"<blockquote style='margin:0 0 8px 0;padding:4px 10px;border-left:3px solid #bbb'>"
                     f"{safe.text(row.text)}"
                     f"<div style='color:#666;font-size:0.8em;margin-top:2px'>{where} {chips}</div></blockquote>")
    st.markdown("".join(parts), unsafe_allow_html=True)
