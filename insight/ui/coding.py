"""Code: the transcript to code by selecting text, the review card for one suggestion, the queue, the
history and memos."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from insight.ui import safe
from insight.ui.shell import chip, clock, colour_for, fmt, short


def review_card(item: dict, context: pd.DataFrame, colours: dict[str, str], *, remaining: int) -> None:
    """One suggestion: the code, the auto-coder's confidence and reason, the segment in context."""
    st.markdown(f"{chip(item['code'], colours)} suggested by **{safe.text(item['coder'])}** \u00b7 confidence "
                f"{fmt(item['score'])} \u00b7 {remaining:,} open suggestion(s) left", unsafe_allow_html=True)
    parts = []
    for row in context.itertuples():
        speaker = f"<b>{safe.text(row.speaker)}</b>: " if row.speaker and pd.notna(row.speaker) else ""
        if row.is_target:
            parts.append(f"<div style='font-size:1.15em;padding:10px 14px;margin:6px 0;border-left:5px solid "
                         f"{colours.get(item['code'], '#1f77b4')};background:#f7f9fc'>{speaker}"
                         f"{safe.text(row.text)}</div>")
        else:
            parts.append(f"<div style='color:#888;font-size:0.9em;padding:2px 14px'>{speaker}"
                         f"{safe.text(short(row.text, 240))}</div>")
    where = safe.text(item.get("document") or "")
    parts.append(f"<div style='color:#666;font-size:0.8em;padding:2px 14px'>{where} \u00b7 segment "
                 f"{int(item['segment_id'])}</div>")
    st.markdown("".join(parts), unsafe_allow_html=True)
    if item.get("explanation"):
        st.caption("Why: " + safe.text(item["explanation"]))


def queue_table(queue: pd.DataFrame, *, key: str) -> None:
    if queue.empty:
        return
    shown = queue.assign(text=queue["text"].map(lambda t: short(t, 120)))[["code", "score", "text", "document"]]
    st.dataframe(shown, hide_index=True, key=key, height=min(400, 35 * (len(shown) + 1) + 3),
                 column_config={"score": st.column_config.NumberColumn("confidence", format="%.2f")})


def history(frame: pd.DataFrame, *, key: str) -> None:
    if frame.empty:
        st.caption("No changes yet.")
        return
    shown = frame.assign(passage=frame["passage"].map(lambda t: short(t, 80) if isinstance(t, str) else None))
    st.dataframe(shown[["changed_at", "actor", "action", "code", "coder", "document", "passage"]], hide_index=True,
                 key=key, height=300,
                 column_config={"changed_at": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm:ss")})


def memos(frame: pd.DataFrame) -> None:
    if frame.empty:
        st.caption("No memos yet.")
        return
    for row in frame.iloc[::-1].head(30).itertuples():
        st.markdown(f"<div style='border-left:3px solid #e0c060;padding:2px 10px;margin-bottom:6px'>"
                    f"{safe.text(row.text, breaks=True)}<div style='color:#777;font-size:0.8em'>"
                    f"{safe.text(row.author)} on {safe.text(memo_target(row.target_kind, row.target_id))} "
                    f"\u00b7 {row.created_at:%Y-%m-%d %H:%M}</div></div>", unsafe_allow_html=True)


def memo_target(kind: str, target_id) -> str:
    """What a memo is about, in words: ``study``, ``code Damp``, ``segment 12`` (a memo on the
    study has no target id: an empty cell, which pandas reads as NaN, not as "nan").

    >>> memo_target("study", float("nan")), memo_target("segment", "12"), memo_target("code", "Damp")
    ('study', 'segment 12', 'code Damp')
    """
    if target_id is None or pd.isna(target_id) or str(target_id).strip() == "":
        return kind
    return f"{kind} {target_id}"


def transcript_inputs(document: dict, codings: pd.DataFrame, book, colours: dict[str, str]) -> dict:
    """What :func:`insight.ui.passages.passage_view` draws: turns from the segments, passages from
    the codings (accepted and suggested), the codebook with its coding rules."""
    turns = [{"start": int(r.start), "end": int(r.end), "speaker": r.speaker if isinstance(r.speaker, str) else None,
              "label": clock(r.start_ms)} for r in document["segments"].itertuples()]
    passages = [{"id": int(r.coding_id), "start": int(r.start), "end": int(r.end), "code": r.code, "coder": r.coder,
                 "status": r.status, "score": None if pd.isna(r.score) else float(r.score),
                 "reason": r.explanation if isinstance(r.explanation, str) else None,
                 "memo": r.memo if isinstance(r.memo, str) else None, "created_at": r.created_at,
                 "colour": colour_for(r.code, colours)} for r in codings.itertuples()]
    codes = [] if book is None else [
        {"name": c.name, "parent": c.parent, "definition": c.definition, "include": c.include, "exclude": c.exclude,
         "example": c.examples[0] if c.examples else None, "colour": colours.get(c.name)} for c in book.codes]
    return {"text": document["text"], "turns": turns, "passages": passages, "codes": codes}


def recent_codes(mine: pd.DataFrame, limit: int = 9) -> list[str]:
    """The codes this coder applied last, newest first (the chooser lists them first; keys 1 to 9)."""
    if mine.empty:
        return []
    ordered = mine.sort_values("created_at", ascending=False)["code"]
    return list(dict.fromkeys(ordered))[:limit]


EVENT_VERBS = {"code": "code_passage", "remove": "remove_coding", "recode": "recode", "memo": "set_coding_memo",
               "accept": "accept", "reject": "reject"}


def event_call(event: dict, document_id: int, coder: str, codebook_ref: str | None) -> tuple[str, tuple, dict, str]:
    """The workspace call an event from the passage view asks for: ``(verb, args, kwargs, message)``."""
    action = event.get("action")
    if action == "code":
        return ("code_passage", (document_id, int(event["start"]), int(event["end"]), event["code"], coder),
                {"codebook": codebook_ref}, f"Coded \u201c{short(event.get('text') or '', 60)}\u201d as {event['code']}.")
    if action == "remove":
        return "remove_coding", (int(event["id"]), coder), {}, "Removed the coding (Undo puts it back)."
    if action == "recode":
        return ("recode", (int(event["id"]), event["code"], coder), {"codebook": codebook_ref},
                f"Changed the code to {event['code']}.")
    if action == "memo":
        return "set_coding_memo", (int(event["id"]), event.get("memo"), coder), {}, "Saved the memo."
    if action in ("accept", "reject"):
        return action, (int(event["id"]), coder), {}, f"{action.capitalize()}ed the suggestion."
    raise ValueError(f"unknown event {action!r}")


def blind_sample(rows: pd.DataFrame | None) -> pd.DataFrame | None:
    """Say which blind sample this coder codes (``None`` when there is none)."""
    if rows is None or rows.empty:
        return None
    names = ", ".join(f"\u201c{n}\u201d" for n in dict.fromkeys(rows["name"]))
    st.info(f"Blind coding: {names}, {len(rows):,} units in {rows['document_id'].nunique():,} documents. Only their "
            "documents are listed; on their units you see your own codings only, no one else's and no "
            "suggestions, until a lead unblinds the sample.")
    return rows


def sample_turns(blind: pd.DataFrame, document: dict) -> None:
    """Which turns of this document are in the sample (by position and speaker)."""
    segments = document["segments"].reset_index(drop=True)
    mine = segments[segments["segment_id"].isin(blind["segment_id"])]
    if mine.empty:
        return
    where = ", ".join(f"{i + 1}" + (f" ({r.speaker})" if isinstance(r.speaker, str) else "")
                      for i, r in zip(mine.index, mine.itertuples()))
    st.caption(f"In your sample here: turn(s) {where} of {len(segments)}.")
