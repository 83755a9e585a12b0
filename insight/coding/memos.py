"""Memos: a researcher's notes on a segment, code, document, participant or the study (``memos``)."""

from __future__ import annotations

from datetime import datetime

from insight.errors import InsightError
from insight.store import next_ids


MEMO_TARGETS = ("segment", "code", "document", "participant", "study")


def add_memo(con, text: str, *, author: str, target_kind: str = "study", target_id: str | None = None,
             study_id: int | None = None, title: str | None = None) -> int:
    """A researcher's note on a segment, code, document, participant or the study; returns its id."""
    if target_kind not in MEMO_TARGETS:
        raise InsightError(f"Unknown memo target {target_kind!r}.", hint="Use one of: " + ", ".join(MEMO_TARGETS) + ".")
    if not text or not text.strip():
        raise InsightError("A memo needs some text.")
    (memo_id,) = next_ids(con, "memos", "memo_id")
    con.execute("INSERT INTO memos (memo_id, study_id, target_kind, target_id, author, title, text, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [memo_id, study_id, target_kind, None if target_id is None else str(target_id), author, title,
                 text.strip(), datetime.now()])
    return memo_id


def memos(con, *, study_id: int | None = None, target_kind: str | None = None, target_id: str | None = None):
    return con.execute(
        "SELECT memo_id, target_kind, target_id, author, title, text, created_at FROM memos "
        "WHERE (? IS NULL OR study_id = ? OR study_id IS NULL) AND (? IS NULL OR target_kind = ?) "
        "AND (? IS NULL OR target_id = ?) ORDER BY memo_id",
        [study_id, study_id, target_kind, target_kind, target_id, target_id]).df()
