"""Human coding: code passages (and whole segments), remove or recode them, write memos on them,
accept and reject suggestions, relabel, undo.

Writes ``codings`` and ``coverage``; every change is kept in ``coding_history`` (who, what, when)
and the last one can be undone.
"""

from __future__ import annotations

import json
from datetime import datetime

from insight.codebook import Codebook
from insight.codebook_model import nearest_names
from insight.errors import InsightError, NotFound
from insight.statuses import ACCEPTED, AUTO, REJECTED, SUGGESTED
from insight.store import next_ids, transaction


def log_change(con, action: str, *, coding_id=None, segment_id=None, code=None, coder=None, old=None, new=None,
               actor=None, batch=None, passage: tuple | None = None) -> None:
    """One row of ``coding_history``; ``passage`` is the coding's ``(document_id, start, end)``."""
    (change_id,) = next_ids(con, "coding_history", "change_id")
    document_id, start, end = passage or (None, None, None)
    if segment_id is None and passage is not None:  # the first segment it touches, to show where it was
        hit = con.execute("SELECT min(segment_id) FROM segments WHERE document_id = ? AND start < ? AND \"end\" > ?",
                          [document_id, end, start]).fetchone()
        segment_id = hit[0] if hit else None
    con.execute("INSERT INTO coding_history (change_id, coding_id, segment_id, code, coder, action, old_status, "
                "new_status, actor, changed_at, batch, document_id, start, \"end\") "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [change_id, coding_id, segment_id, code, coder, action, old, new, actor, datetime.now(), batch,
                 document_id, start, end])


def _check_coder(coder: str) -> None:
    if not coder or not coder.strip():
        raise InsightError("A coding needs a coder's name.", hint="Give your name (or initials) as the coder.")
    if coder.startswith(AUTO):
        raise InsightError(f"{coder!r} is reserved for auto-coders.", hint="Use your own name as the coder.")


def _check_code(code: str, codebook: Codebook | None) -> str:
    code = (code or "").strip()
    if not code:
        raise InsightError("A coding needs a code.", hint="Choose a code from the codebook.")
    if codebook is not None and code not in codebook.names():
        close = [name for name, _ in nearest_names(code, codebook.names())]
        raise InsightError(f"{code!r} is not a code of {codebook.ref}.",
                           hint=(f"Did you mean {', '.join(map(repr, close))}? " if close else "")
                           + "Add it to the codebook first (on the Codebook page, or Workspace.add_code).")
    return code


def check_passage(con, document_id: int, start: int, end: int) -> str:
    """The text of ``start:end`` (code points, end exclusive) of a document, or a clear error when
    the document does not exist or the range is empty or outside it."""
    if not (isinstance(start, int) and isinstance(end, int)):
        raise InsightError(f"A passage needs whole-number start and end (got {start!r}, {end!r}).")
    row = con.execute("SELECT length(text), substring(text, ?, ?) FROM documents WHERE document_id = ?",
                      [start + 1, max(0, end - start), document_id]).fetchone()
    if row is None:
        raise NotFound("document", str(document_id))
    length, text = int(row[0]), row[1]
    if start < 0 or end > length or start > end:
        raise InsightError(f"The passage {start}\u2013{end} is outside document {document_id}, which has "
                           f"{length:,} characters.", hint="Select text inside the document.")
    if start == end or not text.strip():
        raise InsightError(f"The passage {start}\u2013{end} of document {document_id} has no text.",
                           hint="Select at least one word.")
    return text


def _cover(con, coder: str, document_id: int, start: int, end: int) -> None:
    """Record that ``coder`` has looked at the segments a passage touches."""
    con.execute("INSERT OR IGNORE INTO coverage SELECT ?, segment_id FROM segments WHERE document_id = ? "
                "AND start < ? AND \"end\" > ?", [coder, document_id, end, start])


def code_passage(con, document_id: int, start: int, end: int, code: str, coder: str, *,
                 codebook: Codebook | None = None, memo: str | None = None) -> int:
    """A human applies ``code`` to ``start:end`` (code points, end exclusive) of a document; returns
    the coding id (the existing one when this coder already coded exactly this passage so). With a
    ``codebook``, the code must be one of its codes. Nothing is written when any check fails."""
    _check_coder(coder)
    code = _check_code(code, codebook)
    check_passage(con, document_id, start, end)
    existing = con.execute("SELECT coding_id FROM codings WHERE document_id = ? AND start = ? AND \"end\" = ? AND "
                           "code = ? AND coder = ? AND status = ?",
                           [document_id, start, end, code, coder, ACCEPTED]).fetchone()
    if existing:
        return existing[0]
    cb_id, version = codebook_ref(con, codebook)
    with transaction(con):
        (coding_id,) = next_ids(con, "codings", "coding_id")
        con.execute("INSERT INTO codings (coding_id, document_id, start, \"end\", code, codebook_id, codebook_version, "
                    "coder, method, status, memo, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'human', ?, ?, ?)",
                    [coding_id, document_id, start, end, code, cb_id, version, coder, ACCEPTED, memo or None,
                     datetime.now()])
        _cover(con, coder, document_id, start, end)
        log_change(con, "added", coding_id=coding_id, code=code, coder=coder, new=ACCEPTED, actor=coder,
                   passage=(document_id, start, end))
    return coding_id


def code_segment(con, segment_id: int, code: str, coder: str, *, codebook: Codebook | None = None,
                 start: int | None = None, end: int | None = None) -> int:
    """A human applies ``code`` to a whole segment (or to ``start:end`` of its document); returns
    the coding id. A shorthand for :func:`code_passage` with the segment's range."""
    row = con.execute("SELECT document_id, start, \"end\" FROM segments WHERE segment_id = ?", [segment_id]).fetchone()
    if row is None:
        raise NotFound("segment", str(segment_id))
    document_id, seg_start, seg_end = row
    return code_passage(con, document_id, seg_start if start is None else start, seg_end if end is None else end,
                        code, coder, codebook=codebook)


def _human_coding(con, coding_id: int, coder: str) -> dict:
    """A human coding ``coder`` may change: theirs (suggestions are accepted or rejected instead)."""
    _check_coder(coder)
    row = con.execute("SELECT coding_id FROM codings WHERE coding_id = ?", [coding_id]).fetchone()
    if row is None:
        raise NotFound("coding", str(coding_id))
    saved = _row(con, coding_id)
    if saved["coder"].startswith(AUTO):
        raise InsightError(f"Coding {coding_id} is a suggestion of {saved['coder']}.",
                           hint="Accept or reject a suggestion; it cannot be removed or changed.")
    if saved["coder"] != coder:
        raise InsightError(f"Coding {coding_id} is {saved['coder']}'s, not {coder}'s.",
                           hint="Each coder changes only their own codings; agreement compares them.")
    return saved


def remove_coding(con, coding_id: int, coder: str) -> dict:
    """A human removes one of their codings (kept in the history, so :func:`undo` restores it)."""
    saved = _human_coding(con, coding_id, coder)
    with transaction(con):
        log_change(con, "removed", coding_id=coding_id, code=saved["code"], coder=coder, old=saved["status"],
                   actor=coder, batch=json.dumps(saved, default=str),
                   passage=(saved["document_id"], saved["start"], saved["end"]))
        con.execute("DELETE FROM codings WHERE coding_id = ?", [coding_id])
    return saved


def recode(con, coding_id: int, code: str, coder: str, *, codebook: Codebook | None = None) -> int:
    """Change the code of one of a human's codings (the passage stays): the old coding is removed
    and a new one added, two logged changes that :func:`undo` reverses together; returns the new id."""
    saved = _human_coding(con, coding_id, coder)
    code = _check_code(code, codebook)
    if code == saved["code"]:
        return coding_id
    with transaction(con):
        remove_coding(con, coding_id, coder)
        new_id = code_passage(con, saved["document_id"], saved["start"], saved["end"], code, coder,
                              codebook=codebook, memo=saved.get("memo"))
        # marks the pair, so undo reverses both
        con.execute("UPDATE coding_history SET batch = 'recode' WHERE change_id = (SELECT max(change_id) "
                    "FROM coding_history) AND action = 'added' AND coding_id = ?", [new_id])
    return new_id


def set_memo(con, coding_id: int, memo: str | None, coder: str) -> None:
    """Write (or, empty, clear) the memo on one of a human's codings."""
    saved = _human_coding(con, coding_id, coder)
    memo = (memo or "").strip() or None
    with transaction(con):
        con.execute("UPDATE codings SET memo = ? WHERE coding_id = ?", [memo, coding_id])
        log_change(con, "memo", coding_id=coding_id, code=saved["code"], coder=coder, actor=coder,
                   batch=json.dumps({"old": saved.get("memo"), "new": memo}),
                   passage=(saved["document_id"], saved["start"], saved["end"]))


def uncode_segment(con, segment_id: int, code: str, coder: str) -> int:
    """A human removes their codings of ``code`` that touch a segment; returns codings removed."""
    _check_coder(coder)
    rows = con.execute("SELECT coding_id FROM coding_segments WHERE segment_id = ? AND code = ? AND coder = ? "
                       "AND method = 'human'", [segment_id, code, coder]).fetchall()
    with transaction(con):
        for (coding_id,) in rows:
            remove_coding(con, coding_id, coder)
    return len(rows)


def _row(con, coding_id: int) -> dict:
    cur = con.execute("SELECT * FROM codings WHERE coding_id = ?", [coding_id])
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone()))


def _suggestion(con, coding_id: int) -> dict:
    if not con.execute("SELECT count(*) FROM codings WHERE coding_id = ?", [coding_id]).fetchone()[0]:
        raise NotFound("coding", str(coding_id))
    saved = _row(con, coding_id)
    if not saved["coder"].startswith(AUTO):
        raise InsightError(f"Coding {coding_id} is {saved['coder']}'s, not a suggestion.",
                           hint="Only auto-coders' suggestions can be accepted or rejected.")
    return saved


def accept(con, coding_id: int, coder: str) -> int:
    """Accept a suggestion: it is marked accepted and ``coder`` gets the coding (same passage);
    returns its id."""
    _check_coder(coder)
    saved = _suggestion(con, coding_id)
    passage = (saved["document_id"], saved["start"], saved["end"])
    code, auto = saved["code"], saved["coder"]
    with transaction(con):
        con.execute("UPDATE codings SET status = ? WHERE coding_id = ?", [ACCEPTED, coding_id])
        log_change(con, "accepted", coding_id=coding_id, code=code, coder=auto, old=saved["status"], new=ACCEPTED,
                   actor=coder, passage=passage)
        existing = con.execute("SELECT coding_id FROM codings WHERE document_id = ? AND start = ? AND \"end\" = ? "
                               "AND code = ? AND coder = ? AND status = ?", [*passage, code, coder, ACCEPTED]).fetchone()
        if existing:
            return existing[0]
        (new_id,) = next_ids(con, "codings", "coding_id")
        con.execute("INSERT INTO codings (coding_id, document_id, start, \"end\", code, codebook_id, codebook_version, "
                    "coder, method, status, explanation, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'human', ?, ?, ?)",
                    [new_id, *passage, code, saved["codebook_id"], saved["codebook_version"], coder, ACCEPTED,
                     f"accepted suggestion of {auto}", datetime.now()])
        _cover(con, coder, *passage)
        log_change(con, "added", coding_id=new_id, code=code, coder=coder, new=ACCEPTED, actor=coder, passage=passage)
    return new_id


def reject(con, coding_id: int, coder: str) -> None:
    """Reject a suggestion; ``coder`` is recorded as having looked at the segments it touches."""
    _check_coder(coder)
    saved = _suggestion(con, coding_id)
    passage = (saved["document_id"], saved["start"], saved["end"])
    with transaction(con):
        con.execute("UPDATE codings SET status = ? WHERE coding_id = ?", [REJECTED, coding_id])
        _cover(con, coder, *passage)
        log_change(con, "rejected", coding_id=coding_id, code=saved["code"], coder=saved["coder"],
                   old=saved["status"], new=REJECTED, actor=coder, passage=passage)


def relabel(con, old: str, new: str, *, actor: str | None = None, codebook: tuple[int, int] | None = None) -> dict:
    """Move every coding of code ``old`` to ``new``, as a rename or merge in a codebook needs: human
    codings and suggestions alike, whichever codebook they were made or imported under (a code's
    name is what joins codings to codes, in tests, agreement and exports). A coding that would then
    repeat one already there (same passage, coder and status) is removed instead. ``codebook``
    (``(codebook_id, version)``) ties the moved codings to that codebook version too, as folding an
    imported code into a codebook's code does. One logged change, which :func:`undo` reverses;
    returns the counts."""
    if old == new:
        return {"moved": 0, "removed": 0}
    scope = "c.code = ?"
    params = [old]
    with transaction(con):
        dupes = [r[0] for r in con.execute(
            f"SELECT c.coding_id FROM codings c WHERE {scope} AND EXISTS (SELECT 1 FROM codings t WHERE t.code = ? "
            "AND t.document_id = c.document_id AND t.start = c.start AND t.\"end\" = c.\"end\" "
            "AND t.coder = c.coder AND t.status = c.status)",
            [*params, new]).fetchall()]
        removed = [_row(con, i) for i in dupes]
        if dupes:
            con.execute(f"DELETE FROM codings WHERE coding_id IN ({', '.join('?' for _ in dupes)})", dupes)
        rows = con.execute(f"SELECT c.coding_id, c.codebook_id, c.codebook_version FROM codings c WHERE {scope}",
                           params).fetchall()
        moved = [r[0] for r in rows]
        tied = [list(r) for r in rows if codebook is not None and (r[1], r[2]) != tuple(codebook)]
        if moved:
            con.execute(f"UPDATE codings SET code = ? WHERE coding_id IN ({', '.join('?' for _ in moved)})",
                        [new, *moved])
        if tied:
            con.execute(f"UPDATE codings SET codebook_id = ?, codebook_version = ? WHERE coding_id IN "
                        f"({', '.join('?' for _ in tied)})", [*codebook, *(r[0] for r in tied)])
        if moved or removed:
            saved = {"moved": moved, "removed": removed, **({"codebooks": tied} if tied else {})}
            log_change(con, "relabelled", code=old, actor=actor, old=old, new=new,
                       batch=json.dumps(saved, default=str))
    return {"moved": len(moved), "removed": len(removed)}


def history(con, *, study_id: int | None = None, limit: int = 200):
    """The latest changes to codings, newest first, with the passage each one was about."""
    return con.execute(
        "SELECT h.change_id, h.changed_at, h.actor, h.action, h.code, h.coder, h.old_status, h.new_status, "
        "coalesce(h.document_id, g.document_id) AS document_id, d.title AS document, h.start, h.\"end\", "
        "CASE WHEN h.start IS NOT NULL THEN substring(d.text, h.start + 1, h.\"end\" - h.start) END AS passage, "
        "h.segment_id, h.coding_id FROM coding_history h LEFT JOIN segments g USING (segment_id) "
        "LEFT JOIN documents d ON d.document_id = coalesce(h.document_id, g.document_id) "
        "WHERE ? IS NULL OR d.study_id = ? OR d.document_id IS NULL ORDER BY h.change_id DESC LIMIT ?",
        [study_id, study_id, limit]).df()


UNDOABLE = ("added", "removed", "accepted", "rejected", "relabelled", "memo")


def _restore(con, saved: dict) -> None:
    """Put back a coding saved in the history (one saved before passages had ``segment_id`` instead
    of a document and range: that segment's range)."""
    saved = dict(saved)
    segment_id = saved.pop("segment_id", None)
    if saved.get("document_id") is None and segment_id is not None:
        document_id, start, end = con.execute("SELECT document_id, start, \"end\" FROM segments WHERE segment_id = ?",
                                              [segment_id]).fetchone()
        saved["document_id"] = document_id
        saved["start"] = start if saved.get("start") is None else saved["start"]
        saved["end"] = end if saved.get("end") is None else saved["end"]
    if con.execute("SELECT count(*) FROM codings WHERE coding_id = ?", [saved.get("coding_id")]).fetchone()[0]:
        # ids are max + 1, so a removed coding's id may have been given to a new one since
        (saved["coding_id"],) = next_ids(con, "codings", "coding_id")
    known = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                       "WHERE table_name = 'codings'").fetchall()}
    cols = [c for c in saved if c in known]
    con.execute(f"INSERT INTO codings ({', '.join(chr(34) + c + chr(34) for c in cols)}) VALUES "
                f"({', '.join('?' for _ in cols)})", [saved[c] for c in cols])


def undo(con, actor: str | None = None) -> dict:
    """Undo the last change (by ``actor`` if given) and log the undo; returns what was undone."""
    row = con.execute("SELECT change_id, coding_id, segment_id, code, coder, action, old_status, batch, document_id, "
                      "start, \"end\" FROM coding_history WHERE list_contains(?, action) AND undone_by IS NULL "
                      "AND (? IS NULL OR actor = ?) ORDER BY change_id DESC LIMIT 1",
                      [list(UNDOABLE), actor, actor]).fetchone()
    if row is None:
        raise InsightError("There is nothing to undo.")
    change_id, coding_id, segment_id, code, coder, action, old, batch, *passage = row
    with transaction(con):
        if action == "added":
            con.execute("DELETE FROM codings WHERE coding_id = ?", [coding_id])
        elif action == "removed" and batch:
            _restore(con, json.loads(batch))
        elif action == "relabelled":
            saved = json.loads(batch)
            if saved["moved"]:
                con.execute(f"UPDATE codings SET code = ? WHERE coding_id IN ({', '.join('?' for _ in saved['moved'])})",
                            [code, *saved["moved"]])
            for coding_id_, codebook_id, version in saved.get("codebooks", []):
                con.execute("UPDATE codings SET codebook_id = ?, codebook_version = ? WHERE coding_id = ?",
                            [codebook_id, version, coding_id_])
            for removed in saved["removed"]:
                _restore(con, removed)
        elif action == "memo":
            con.execute("UPDATE codings SET memo = ? WHERE coding_id = ?", [json.loads(batch)["old"], coding_id])
        elif action in ("accepted", "rejected"):
            con.execute("UPDATE codings SET status = ? WHERE coding_id = ?", [old or SUGGESTED, coding_id])
        log_change(con, "undo", coding_id=coding_id, segment_id=segment_id, code=code, coder=coder, actor=actor,
                   batch=str(change_id), passage=tuple(passage) if passage[0] is not None else None)
        con.execute("UPDATE coding_history SET undone_by = (SELECT max(change_id) FROM coding_history) "
                    "WHERE change_id = ?", [change_id])
    # accepting and recoding made two changes (the suggestion's status or the old coding's removal,
    # then the new coding): undo both
    if action == "added":
        prior = con.execute("SELECT action, coding_id, undone_by FROM coding_history WHERE change_id = ?",
                            [change_id - 1]).fetchone()
        paired = "accepted" if batch != "recode" else "removed"
        if prior and prior[0] == paired and prior[2] is None:
            undo(con, actor)
    return {"undone": "recode" if batch == "recode" else action, "code": code, "coder": coder,
            "segment_id": segment_id}


def coding_codebook(con, ref: str | None) -> Codebook | None:
    """The codebook a human coding must use: the named one, else the study's current one (none when
    the database has no codebook yet: then any code is allowed)."""
    from insight import codebook as cb
    from insight import scope

    if ref is None and not cb.list_codebooks(con).shape[0]:
        return None
    return cb.get(con, scope.resolve_codebook(con, ref))


def codebook_ref(con, codebook: Codebook | None) -> tuple[int | None, int | None]:
    if codebook is None:
        return None, None
    from insight.codebook import codebook_id

    return codebook_id(con, codebook.name), codebook.version
