"""Code: the review card for one suggestion, the queue, the history and memos."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from insight.ui.shell import chip, fmt, short


def review_card(item: dict, context: pd.DataFrame, colours: dict[str, str], *, remaining: int) -> None:
    """One suggestion: the code, the auto-coder's confidence and reason, the segment in context."""
    st.markdown(f"{chip(item['code'], colours)} suggested by **{html.escape(item['coder'])}** \u00b7 confidence "
                f"{fmt(item['score'])} \u00b7 {remaining:,} open suggestion(s) left", unsafe_allow_html=True)
    parts = []
    for row in context.itertuples():
        speaker = f"<b>{html.escape(str(row.speaker))}</b>: " if row.speaker and pd.notna(row.speaker) else ""
        text = html.escape(" ".join(str(row.text).split()))
        if row.is_target:
            parts.append(f"<div style='font-size:1.15em;padding:10px 14px;margin:6px 0;border-left:5px solid "
                         f"{colours.get(item['code'], '#1f77b4')};background:#f7f9fc'>{speaker}{text}</div>")
        else:
            parts.append(f"<div style='color:#888;font-size:0.9em;padding:2px 14px'>{speaker}{short(text, 240)}</div>")
    where = html.escape(str(item.get("document") or ""))
    parts.append(f"<div style='color:#666;font-size:0.8em;padding:2px 14px'>{where} \u00b7 segment "
                 f"{int(item['segment_id'])}</div>")
    st.markdown("".join(parts), unsafe_allow_html=True)
    if item.get("explanation"):
        st.caption("Why: " + str(item["explanation"]))


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
        target = row.target_kind + (f" {row.target_id}" if row.target_id else "")
        st.markdown(f"<div style='border-left:3px solid #e0c060;padding:2px 10px;margin-bottom:6px'>"
                    f"{html.escape(row.text)}<div style='color:#777;font-size:0.8em'>{html.escape(str(row.author))} "
                    f"on {html.escape(target)} \u00b7 {row.created_at:%Y-%m-%d %H:%M}</div></div>",
                    unsafe_allow_html=True)
