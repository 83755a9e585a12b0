"""Pseudonymisation: the review list, accept, undo, add, rename, reveal and reverse (read and
write ``pii_mentions``, ``pii_entities`` and the texts they touch)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime

from insight.errors import InsightError, NotFound
from insight.privacy.entities import STATUSES, _Entities, _check_kind
from insight.privacy.render import _Renderer, _original_text, _render_fields
from insight.privacy.step import _crosses, _segment_bounds
from insight.store import next_ids, transaction
from pipelines.pseudonymise import Mention

# ---------------------------------------------------------------------------------------------
# Review: the list, accept, undo, add, rename, reveal, reverse


def review(con, study_id: int | None = None, *, status: str | None = None, kind: str | None = None,
           label: str | None = None, limit: int | None = None):
    """Every replacement (and candidate) with its document, pseudonym, rule, score and a line of
    context from the stored text. Shows originals: researchers only."""
    if status and status not in STATUSES:
        raise InsightError(f"Unknown status {status!r}.", hint="Use one of: " + ", ".join(STATUSES) + ".")
    kind = _check_kind(kind) if kind else None
    frame = con.execute(
        "SELECT m.mention_id, m.document_id, d.title AS document, m.kind, m.original, e.label AS pseudonym, m.status, "
        "m.source, m.score, m.start, m.\"end\", m.applied_start, m.applied_end, m.actor, m.changed_at "
        "FROM pii_mentions m JOIN documents d USING (document_id) LEFT JOIN pii_entities e "
        "ON e.study_id = m.study_id AND e.entity_id = m.entity_id "
        "WHERE (? IS NULL OR m.study_id = ?) AND (? IS NULL OR m.status = ?) AND (? IS NULL OR m.kind = ?) "
        "AND (? IS NULL OR e.label = ?) ORDER BY m.document_id, m.start" + (f" LIMIT {int(limit)}" if limit else ""),
        [study_id, study_id, status, status, kind, kind, label, label]).df()
    if frame.empty:
        frame["context"] = []
        return frame.drop(columns=["applied_start", "applied_end"])
    import pandas as pd

    texts = dict(con.execute("SELECT document_id, text FROM documents WHERE document_id IN (SELECT DISTINCT document_id "
                             "FROM pii_mentions WHERE ? IS NULL OR study_id = ?)", [study_id, study_id]).fetchall())
    originals = {}

    def context(row) -> str:
        if pd.notna(row.applied_start):
            text, a, b = texts[row.document_id], int(row.applied_start), int(row.applied_end)
        else:
            if row.document_id not in originals:
                originals[row.document_id] = _original_text(con, row.document_id)
            text, a, b = originals[row.document_id], int(row.start), int(row.end)
        left = text[max(0, a - 40):a].split("\n")[-1]
        right = text[b:b + 40].split("\n")[0]
        return f"{left}«{text[a:b]}»{right}"

    frame["context"] = [context(r) for r in frame.itertuples()]
    return frame.drop(columns=["applied_start", "applied_end"])


def _mentions(con, mention_ids) -> list[tuple]:
    ids = [int(i) for i in mention_ids]
    if not ids:
        raise InsightError("No replacement named.", hint="Give the ids shown by `insight pseudonyms`.")
    rows = con.execute("SELECT mention_id, study_id, document_id, kind, original, entity_id, status FROM pii_mentions "
                       "WHERE mention_id IN (" + ",".join(map(str, ids)) + ")").fetchall()
    missing = sorted(set(ids) - {r[0] for r in rows})
    if missing:
        raise NotFound("replacement", ", ".join(map(str, missing)))
    return rows


def _rerender(con, study_id: int, document_ids) -> None:
    renderer = _Renderer(con, study_id)
    for doc_id in sorted(set(document_ids)):
        renderer.document(doc_id)
    renderer.flush()
    _render_fields(con, study_id, _Entities(con, study_id))


def accept(con, mention_ids, *, actor: str | None = None) -> int:
    """Confirm replacements; a candidate or an undone one is (re)applied. Returns how many changed."""
    rows = _mentions(con, mention_ids)
    with transaction(con):
        docs = defaultdict(set)
        for mid, study_id, doc_id, kind, original, eid, status in rows:
            if eid is None:
                entities = _Entities(con, study_id)
                eid = entities.resolve(kind, original)
                entities.flush()
            con.execute("UPDATE pii_entities SET status = 'active' WHERE study_id = ? AND entity_id = ?", [study_id, eid])
            con.execute("UPDATE pii_mentions SET status = 'accepted', entity_id = ?, actor = ?, changed_at = ? "
                        "WHERE mention_id = ?", [eid, actor, datetime.now(), mid])
            if status != "replaced":
                docs[study_id].add(doc_id)
        for study_id, doc_ids in docs.items():
            _rerender(con, study_id, doc_ids)
    return len(rows)


def undo(con, mention_ids=(), *, study_id: int | None = None, label: str | None = None,
         actor: str | None = None) -> int:
    """Show the original again: for these replacements, or (``label``) for every mention of one
    pseudonym in ``study_id``, speaker labels and participant names included. Returns mentions undone."""
    with transaction(con):
        if label is not None:
            row = con.execute("SELECT entity_id FROM pii_entities WHERE study_id = ? AND label = ?",
                              [study_id, label]).fetchone()
            if not row:
                raise NotFound("pseudonym", label, [r[0] for r in con.execute(
                    "SELECT label FROM pii_entities WHERE study_id = ? ORDER BY entity_id", [study_id]).fetchall()])
            con.execute("UPDATE pii_entities SET status = 'undone' WHERE study_id = ? AND entity_id = ?", [study_id, row[0]])
            rows = con.execute("SELECT mention_id, study_id, document_id FROM pii_mentions WHERE study_id = ? AND "
                               "entity_id = ?", [study_id, row[0]]).fetchall()
        else:
            rows = [(r[0], r[1], r[2]) for r in _mentions(con, mention_ids)]
        if rows:
            con.execute("UPDATE pii_mentions SET status = 'undone', actor = ?, changed_at = ? WHERE mention_id IN ("
                        + ",".join(str(r[0]) for r in rows) + ")", [actor, datetime.now()])
        by_study = defaultdict(set)
        for _, sid, doc_id in rows:
            by_study[sid].add(doc_id)
        for sid, doc_ids in by_study.items():
            _rerender(con, sid, doc_ids)
        if label is not None and not rows:
            _rerender(con, study_id, [])
    return len(rows)


def add(con, study_id: int, text: str, *, kind: str = "PERSON", label: str | None = None,
        actor: str | None = None, document_id: int | None = None) -> dict:
    """Replace something the rules missed, wherever it occurs in the study (or one document), and
    in future runs. ``label``: a pseudonym to use (an existing one joins that entity)."""
    kind = _check_kind(kind)
    text = " ".join(text.split())
    if len(text) < 2:
        raise InsightError("Say what to replace: at least two characters.")
    rx = re.compile(r"(?<!\w)" + re.escape(text).replace(r"\ ", r"\s+") + r"(?!\w)", re.IGNORECASE)
    with transaction(con):
        entities = _Entities(con, study_id)
        eid = entities.resolve(kind, text, label=label)
        con.execute("UPDATE pii_entities SET status = 'active' WHERE study_id = ? AND entity_id = ?", [study_id, eid])
        entities.flush()
        docs = [document_id] if document_id is not None else [r[0] for r in con.execute(
            "SELECT document_id FROM documents WHERE study_id = ? ORDER BY document_id", [study_id]).fetchall()]
        added, changed = 0, set()
        now = datetime.now()
        for doc_id in docs:
            original = _original_text(con, doc_id)
            bounds = None
            for m in rx.finditer(original):
                if bounds is None:
                    bounds = _segment_bounds(con, doc_id)
                if _crosses(Mention(m.start(), m.end(), kind, m.group(), "manual", 1.0), bounds):
                    continue
                con.execute("DELETE FROM pii_mentions WHERE document_id = ? AND start < ? AND \"end\" > ?",
                            [doc_id, m.end(), m.start()])
                (mid,) = next_ids(con, "pii_mentions", "mention_id")
                con.execute("INSERT INTO pii_mentions (mention_id, study_id, document_id, start, \"end\", original, kind, "
                            "entity_id, source, score, status, actor, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                            "'manual', 1.0, 'accepted', ?, ?)",
                            [mid, study_id, doc_id, m.start(), m.end(), m.group(), kind, eid, actor, now])
                added += 1
                changed.add(doc_id)
        _rerender(con, study_id, changed)
    return {"pseudonym": entities.rows[eid]["label"], "replaced": added, "documents": len(changed)}


def rename(con, study_id: int, label: str, new_label: str) -> dict:
    """Use a researcher-chosen pseudonym (``"[PERSON 3]"`` -> ``"Anna"``) everywhere in the study."""
    new_label = new_label.strip()
    if not new_label:
        raise InsightError("A pseudonym cannot be empty.")
    with transaction(con):
        row = con.execute("SELECT entity_id FROM pii_entities WHERE study_id = ? AND label = ?", [study_id, label]).fetchone()
        if not row:
            raise NotFound("pseudonym", label, [r[0] for r in con.execute(
                "SELECT label FROM pii_entities WHERE study_id = ? ORDER BY entity_id", [study_id]).fetchall()])
        if con.execute("SELECT count(*) FROM pii_entities WHERE study_id = ? AND label = ?", [study_id, new_label]).fetchone()[0]:
            raise InsightError(f"The pseudonym {new_label!r} is already in use in this study.", hint="Choose another.")
        con.execute("UPDATE pii_entities SET label = ? WHERE study_id = ? AND entity_id = ?", [new_label, study_id, row[0]])
        docs = [r[0] for r in con.execute("SELECT DISTINCT document_id FROM pii_mentions WHERE study_id = ? AND "
                                          "entity_id = ?", [study_id, row[0]]).fetchall()]
        _rerender(con, study_id, docs)
    return {"from": label, "to": new_label, "documents": len(docs)}


def reveal(con, study_id: int, label: str) -> dict:
    """Re-identification: the original forms behind a pseudonym. Researchers only."""
    row = con.execute("SELECT entity_id, kind, original, status FROM pii_entities WHERE study_id = ? AND label = ?",
                      [study_id, label]).fetchone()
    if not row:
        raise NotFound("pseudonym", label)
    forms = [r[0] for r in con.execute("SELECT original, count(*) FROM pii_mentions WHERE study_id = ? AND entity_id = ? "
                                       "GROUP BY original ORDER BY 2 DESC", [study_id, row[0]]).fetchall()]
    return {"pseudonym": label, "kind": row[1], "original": row[2], "forms": forms, "status": row[3]}


def reverse(con, study_id: int) -> dict:
    """Put every original back and forget the mapping for the study (researchers only)."""
    with transaction(con):
        docs = [r[0] for r in con.execute("SELECT document_id FROM pii_documents WHERE study_id = ?", [study_id]).fetchall()]
        con.execute("UPDATE pii_entities SET status = 'undone' WHERE study_id = ?", [study_id])
        _rerender(con, study_id, docs)
        for table in ("pii_mentions", "pii_entities", "pii_documents", "pii_fields"):
            con.execute(f"DELETE FROM {table} WHERE study_id = ?", [study_id])
    return {"documents": len(docs)}


def summary(con, study_id: int | None = None) -> dict:
    """Counts of replacements by kind and status, and pseudonyms in use (no originals)."""
    rows = con.execute("SELECT kind, status, count(*) FROM pii_mentions WHERE ? IS NULL OR study_id = ? GROUP BY 1, 2",
                       [study_id, study_id]).fetchall()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, status, n in rows:
        out[kind][status] = n
    pseudonyms = con.execute("SELECT count(*) FROM pii_entities WHERE (? IS NULL OR study_id = ?) AND status = 'active'",
                             [study_id, study_id]).fetchone()[0]
    return {"by_kind": dict(out), "pseudonyms": pseudonyms}
