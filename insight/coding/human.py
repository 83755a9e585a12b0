"""Human coding: code and uncode segments, accept and reject suggestions, relabel, undo.

Writes ``codings`` and ``coverage``; every change is kept in ``coding_history`` (who, what, when)
and the last one can be undone.
"""

from __future__ import annotations

import json
from datetime import datetime

from insight.codebook import Codebook
from insight.errors import InsightError, NotFound
from insight.statuses import ACCEPTED, AUTO, REJECTED, SUGGESTED
from insight.store import next_ids, transaction


def log_change(con, action: str, *, coding_id=None, segment_id=None, code=None, coder=None, old=None, new=None,
               actor=None, batch=None) -> None:
    """One row of ``coding_history``."""
    (change_id,) = next_ids(con, "coding_history", "change_id")
    con.execute("INSERT INTO coding_history (change_id, coding_id, segment_id, code, coder, action, old_status, "
                "new_status, actor, changed_at, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [change_id, coding_id, segment_id, code, coder, action, old, new, actor, datetime.now(), batch])


def _check_coder(coder: str) -> None:
    if not coder or not coder.strip():
        raise InsightError("A coding needs a coder's name.", hint="Give your name (or initials) as the coder.")
    if coder.startswith(AUTO):
        raise InsightError(f"{coder!r} is reserved for auto-coders.", hint="Use your own name as the coder.")


def code_segment(con, segment_id: int, code: str, coder: str, *, codebook: Codebook | None = None,
                 start: int | None = None, end: int | None = None) -> int:
    """A human applies ``code`` to a segment (or to ``start:end`` of its document); returns the coding id."""
    _check_coder(coder)
    if not con.execute("SELECT count(*) FROM segments WHERE segment_id = ?", [segment_id]).fetchone()[0]:
        raise NotFound("segment", str(segment_id))
    existing = con.execute("SELECT coding_id FROM codings WHERE segment_id = ? AND code = ? AND coder = ? AND "
                           "status = ? AND start IS NOT DISTINCT FROM ? AND \"end\" IS NOT DISTINCT FROM ?",
                           [segment_id, code, coder, ACCEPTED, start, end]).fetchone()
    if existing:
        return existing[0]
    cb_id, version = codebook_ref(con, codebook)
    with transaction(con):
        (coding_id,) = next_ids(con, "codings", "coding_id")
        con.execute("INSERT INTO codings (coding_id, segment_id, code, codebook_id, codebook_version, coder, method, "
                    "status, start, \"end\", created_at) VALUES (?, ?, ?, ?, ?, ?, 'human', ?, ?, ?, ?)",
                    [coding_id, segment_id, code, cb_id, version, coder, ACCEPTED, start, end, datetime.now()])
        con.execute("INSERT OR IGNORE INTO coverage VALUES (?, ?)", [coder, segment_id])
        log_change(con, "added", coding_id=coding_id, segment_id=segment_id, code=code, coder=coder, new=ACCEPTED,
                   actor=coder)
    return coding_id


def uncode_segment(con, segment_id: int, code: str, coder: str) -> int:
    """A human removes their own coding of ``code`` from a segment; returns codings removed."""
    _check_coder(coder)
    rows = con.execute("SELECT coding_id FROM codings WHERE segment_id = ? AND code = ? AND coder = ? AND method = 'human'",
                       [segment_id, code, coder]).fetchall()
    with transaction(con):
        for (coding_id,) in rows:
            log_change(con, "removed", coding_id=coding_id, segment_id=segment_id, code=code, coder=coder,
                       old=ACCEPTED, actor=coder, batch=json.dumps(_row(con, coding_id), default=str))
            con.execute("DELETE FROM codings WHERE coding_id = ?", [coding_id])
    return len(rows)


def _row(con, coding_id: int) -> dict:
    cur = con.execute("SELECT * FROM codings WHERE coding_id = ?", [coding_id])
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone()))


def _suggestion(con, coding_id: int):
    row = con.execute("SELECT segment_id, code, coder, status, codebook_id, codebook_version, start, \"end\" "
                      "FROM codings WHERE coding_id = ?", [coding_id]).fetchone()
    if not row:
        raise NotFound("coding", str(coding_id))
    if not row[2].startswith(AUTO):
        raise InsightError(f"Coding {coding_id} is {row[2]}'s, not a suggestion.", hint="Only auto-coders' suggestions "
                           "can be accepted or rejected.")
    return row


def accept(con, coding_id: int, coder: str) -> int:
    """Accept a suggestion: it is marked accepted and ``coder`` gets the coding; returns its id."""
    _check_coder(coder)
    segment_id, code, auto, status, cb_id, version, start, end = _suggestion(con, coding_id)
    with transaction(con):
        con.execute("UPDATE codings SET status = ? WHERE coding_id = ?", [ACCEPTED, coding_id])
        log_change(con, "accepted", coding_id=coding_id, segment_id=segment_id, code=code, coder=auto, old=status,
                   new=ACCEPTED, actor=coder)
        existing = con.execute("SELECT coding_id FROM codings WHERE segment_id = ? AND code = ? AND coder = ? "
                               "AND status = ?", [segment_id, code, coder, ACCEPTED]).fetchone()
        if existing:
            return existing[0]
        (new_id,) = next_ids(con, "codings", "coding_id")
        con.execute("INSERT INTO codings (coding_id, segment_id, code, codebook_id, codebook_version, coder, method, "
                    "status, start, \"end\", explanation, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'human', ?, ?, ?, ?, ?)",
                    [new_id, segment_id, code, cb_id, version, coder, ACCEPTED, start, end,
                     f"accepted suggestion of {auto}", datetime.now()])
        con.execute("INSERT OR IGNORE INTO coverage VALUES (?, ?)", [coder, segment_id])
        log_change(con, "added", coding_id=new_id, segment_id=segment_id, code=code, coder=coder, new=ACCEPTED,
                   actor=coder)
    return new_id


def reject(con, coding_id: int, coder: str) -> None:
    """Reject a suggestion; ``coder`` is recorded as having looked at the segment."""
    _check_coder(coder)
    segment_id, code, auto, status, *_ = _suggestion(con, coding_id)
    with transaction(con):
        con.execute("UPDATE codings SET status = ? WHERE coding_id = ?", [REJECTED, coding_id])
        con.execute("INSERT OR IGNORE INTO coverage VALUES (?, ?)", [coder, segment_id])
        log_change(con, "rejected", coding_id=coding_id, segment_id=segment_id, code=code, coder=auto, old=status,
                   new=REJECTED, actor=coder)


def relabel(con, old: str, new: str, *, actor: str | None = None) -> dict:
    """Move every coding of code ``old`` to ``new``, as a rename or merge in a codebook needs: human
    codings and suggestions alike, whichever codebook they were made or imported under (a code's
    name is what joins codings to codes, in tests, agreement and exports). A coding that would then
    repeat one already there (same segment, coder, span and status) is removed instead. One logged
    change, which :func:`undo` reverses; returns the counts."""
    if old == new:
        return {"moved": 0, "removed": 0}
    scope = "c.code = ?"
    params = [old]
    with transaction(con):
        dupes = [r[0] for r in con.execute(
            f"SELECT c.coding_id FROM codings c WHERE {scope} AND EXISTS (SELECT 1 FROM codings t WHERE t.code = ? "
            "AND t.segment_id = c.segment_id AND t.coder = c.coder AND t.status = c.status "
            "AND t.start IS NOT DISTINCT FROM c.start AND t.\"end\" IS NOT DISTINCT FROM c.\"end\")",
            [*params, new]).fetchall()]
        removed = [_row(con, i) for i in dupes]
        if dupes:
            con.execute(f"DELETE FROM codings WHERE coding_id IN ({', '.join('?' for _ in dupes)})", dupes)
        moved = [r[0] for r in con.execute(f"SELECT c.coding_id FROM codings c WHERE {scope}", params).fetchall()]
        if moved:
            con.execute(f"UPDATE codings SET code = ? WHERE coding_id IN ({', '.join('?' for _ in moved)})",
                        [new, *moved])
        if moved or removed:
            log_change(con, "relabelled", code=old, actor=actor, old=old, new=new,
                       batch=json.dumps({"moved": moved, "removed": removed}, default=str))
    return {"moved": len(moved), "removed": len(removed)}


def history(con, *, study_id: int | None = None, limit: int = 200):
    """The latest changes to codings, newest first."""
    return con.execute(
        "SELECT h.change_id, h.changed_at, h.actor, h.action, h.code, h.coder, h.old_status, h.new_status, h.segment_id, "
        "h.coding_id FROM coding_history h LEFT JOIN segments g USING (segment_id) LEFT JOIN documents d USING (document_id) "
        "WHERE ? IS NULL OR d.study_id = ? OR h.segment_id IS NULL ORDER BY h.change_id DESC LIMIT ?",
        [study_id, study_id, limit]).df()


def undo(con, actor: str | None = None) -> dict:
    """Undo the last change (by ``actor`` if given) and log the undo; returns what was undone."""
    row = con.execute("SELECT change_id, coding_id, segment_id, code, coder, action, old_status, batch FROM coding_history "
                      "WHERE action IN ('added', 'removed', 'accepted', 'rejected', 'relabelled') AND undone_by IS NULL "
                      "AND (? IS NULL OR actor = ?) ORDER BY change_id DESC LIMIT 1", [actor, actor]).fetchone()
    if row is None:
        raise InsightError("There is nothing to undo.")
    change_id, coding_id, segment_id, code, coder, action, old, batch = row
    with transaction(con):
        if action == "added":
            con.execute("DELETE FROM codings WHERE coding_id = ?", [coding_id])
        elif action == "removed" and batch:
            saved = json.loads(batch)
            cols = list(saved)
            con.execute(f"INSERT INTO codings ({', '.join(chr(34) + c + chr(34) for c in cols)}) VALUES "
                        f"({', '.join('?' for _ in cols)})", [saved[c] for c in cols])
        elif action == "relabelled":
            saved = json.loads(batch)
            if saved["moved"]:
                con.execute(f"UPDATE codings SET code = ? WHERE coding_id IN ({', '.join('?' for _ in saved['moved'])})",
                            [code, *saved["moved"]])
            for row in saved["removed"]:
                cols = list(row)
                con.execute(f"INSERT INTO codings ({', '.join(chr(34) + c + chr(34) for c in cols)}) VALUES "
                            f"({', '.join('?' for _ in cols)})", [row[c] for c in cols])
        elif action in ("accepted", "rejected"):
            con.execute("UPDATE codings SET status = ? WHERE coding_id = ?", [old or SUGGESTED, coding_id])
        log_change(con, "undo", coding_id=coding_id, segment_id=segment_id, code=code, coder=coder, actor=actor,
                   batch=str(change_id))
        con.execute("UPDATE coding_history SET undone_by = (SELECT max(change_id) FROM coding_history) "
                    "WHERE change_id = ?", [change_id])
    # accepting made two changes (the suggestion's status and the human's coding): undo both
    if action == "added":
        prior = con.execute("SELECT action, coding_id, undone_by FROM coding_history WHERE change_id = ?",
                            [change_id - 1]).fetchone()
        if prior and prior[0] == "accepted" and prior[2] is None:
            undo(con, actor)
    return {"undone": action, "code": code, "coder": coder, "segment_id": segment_id}


def codebook_ref(con, codebook: Codebook | None) -> tuple[int | None, int | None]:
    if codebook is None:
        return None, None
    from insight.codebook import codebook_id

    return codebook_id(con, codebook.name), codebook.version
