"""Coding: humans code and uncode segments and review suggestions; auto-coders write suggestions.

Every coding records coder, method, codebook version, score, status and time; every change is kept
in ``coding_history`` (who, what, when) and the last one can be undone. Auto-coding never changes
a human coding: a re-run replaces only that auto-coder's open suggestions, and keeps the ones a
human has already accepted or rejected.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np

from insight.codebook import Codebook
from insight.errors import InsightError, NotFound
from insight.store import next_ids

AUTO = "auto:"


def _log(con, action: str, *, coding_id=None, segment_id=None, code=None, coder=None, old=None, new=None,
         actor=None, batch=None) -> None:
    (change_id,) = next_ids(con, "coding_history", "change_id")
    con.execute("INSERT INTO coding_history (change_id, coding_id, segment_id, code, coder, action, old_status, "
                "new_status, actor, changed_at, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [change_id, coding_id, segment_id, code, coder, action, old, new, actor, datetime.now(), batch])


def _transaction(con):
    class _Tx:
        def __enter__(self):
            con.execute("BEGIN TRANSACTION")

        def __exit__(self, kind, *_):
            con.execute("ROLLBACK" if kind else "COMMIT")

    return _Tx()


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
                           "status = 'accepted' AND start IS NOT DISTINCT FROM ? AND \"end\" IS NOT DISTINCT FROM ?",
                           [segment_id, code, coder, start, end]).fetchone()
    if existing:
        return existing[0]
    cb_id, version = _codebook_ref(con, codebook)
    with _transaction(con):
        (coding_id,) = next_ids(con, "codings", "coding_id")
        con.execute("INSERT INTO codings (coding_id, segment_id, code, codebook_id, codebook_version, coder, method, "
                    "status, start, \"end\", created_at) VALUES (?, ?, ?, ?, ?, ?, 'human', 'accepted', ?, ?, ?)",
                    [coding_id, segment_id, code, cb_id, version, coder, start, end, datetime.now()])
        con.execute("INSERT OR IGNORE INTO coverage VALUES (?, ?)", [coder, segment_id])
        _log(con, "added", coding_id=coding_id, segment_id=segment_id, code=code, coder=coder, new="accepted", actor=coder)
    return coding_id


def uncode_segment(con, segment_id: int, code: str, coder: str) -> int:
    """A human removes their own coding of ``code`` from a segment; returns codings removed."""
    _check_coder(coder)
    rows = con.execute("SELECT coding_id FROM codings WHERE segment_id = ? AND code = ? AND coder = ? AND method = 'human'",
                       [segment_id, code, coder]).fetchall()
    with _transaction(con):
        for (coding_id,) in rows:
            _log(con, "removed", coding_id=coding_id, segment_id=segment_id, code=code, coder=coder, old="accepted",
                 actor=coder, batch=json.dumps(_row(con, coding_id), default=str))
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
    with _transaction(con):
        con.execute("UPDATE codings SET status = 'accepted' WHERE coding_id = ?", [coding_id])
        _log(con, "accepted", coding_id=coding_id, segment_id=segment_id, code=code, coder=auto, old=status,
             new="accepted", actor=coder)
        existing = con.execute("SELECT coding_id FROM codings WHERE segment_id = ? AND code = ? AND coder = ? "
                               "AND status = 'accepted'", [segment_id, code, coder]).fetchone()
        if existing:
            return existing[0]
        (new_id,) = next_ids(con, "codings", "coding_id")
        con.execute("INSERT INTO codings (coding_id, segment_id, code, codebook_id, codebook_version, coder, method, "
                    "status, start, \"end\", explanation, created_at) VALUES (?, ?, ?, ?, ?, ?, 'human', 'accepted', ?, ?, ?, ?)",
                    [new_id, segment_id, code, cb_id, version, coder, start, end, f"accepted suggestion of {auto}",
                     datetime.now()])
        con.execute("INSERT OR IGNORE INTO coverage VALUES (?, ?)", [coder, segment_id])
        _log(con, "added", coding_id=new_id, segment_id=segment_id, code=code, coder=coder, new="accepted", actor=coder)
    return new_id


def reject(con, coding_id: int, coder: str) -> None:
    """Reject a suggestion; ``coder`` is recorded as having looked at the segment."""
    _check_coder(coder)
    segment_id, code, auto, status, *_ = _suggestion(con, coding_id)
    with _transaction(con):
        con.execute("UPDATE codings SET status = 'rejected' WHERE coding_id = ?", [coding_id])
        con.execute("INSERT OR IGNORE INTO coverage VALUES (?, ?)", [coder, segment_id])
        _log(con, "rejected", coding_id=coding_id, segment_id=segment_id, code=code, coder=auto, old=status,
             new="rejected", actor=coder)


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
    with _transaction(con):
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
            _log(con, "relabelled", code=old, actor=actor, old=old, new=new,
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
    with _transaction(con):
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
            con.execute("UPDATE codings SET status = ? WHERE coding_id = ?", [old or "suggested", coding_id])
        _log(con, "undo", coding_id=coding_id, segment_id=segment_id, code=code, coder=coder, actor=actor,
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


def _codebook_ref(con, codebook: Codebook | None) -> tuple[int | None, int | None]:
    if codebook is None:
        return None, None
    from insight.codebook import codebook_id

    return codebook_id(con, codebook.name), codebook.version


# ---------------------------------------------------------------------------------------------
# Auto-coding


def run_autocoders(con, study_id: int | None, codebook: Codebook, *, methods=("rules", "semantic"),
                   train_coder: str | None = None, embedder=None, cv: int = 5, seed: int = 0,
                   progress=None) -> dict:
    """Run auto-coders over a study and write their suggestions; see :mod:`pipelines.autocode`.

    Writes one coder per method (``auto:rules``, ``auto:semantic``, ``auto:classifier``) and, with
    more than one method, ``auto:best``, the per-code combination that tests best against
    ``train_coder`` (the gold coder) when given.
    """
    from pipelines import autocode
    from pipelines.embed import get_embedder

    methods = [m.strip() for m in methods if m.strip()]
    unknown = [m for m in methods if m not in autocode.METHODS]
    if unknown or not methods:
        raise InsightError(f"Unknown auto-coding method {', '.join(unknown) or '(none)'}.",
                           hint="Use any of: " + ", ".join(autocode.METHODS) + ".")
    if "classifier" in methods and not train_coder:
        raise InsightError("The classifier needs codings to learn from.", hint="Name a coder with --train-coder.")
    # Parent codes group their children (a parent applies wherever a child does), so only codes
    # without children are auto-coded.
    codes = [c.name for c in codebook.codes if not codebook.children(c.name)]
    need_vectors = "semantic" in methods or "classifier" in methods
    embedder = (embedder or get_embedder()) if need_vectors else None

    def say(message):
        if progress:
            progress(message)

    say("reading segments" + (" and embedding new ones" if need_vectors else ""))
    units = autocode.load_units(con, study_id, embedder=embedder, need_vectors=need_vectors,
                                need_lemmas="rules" in methods)
    if not len(units.texts):
        raise InsightError("The study has no segments.", hint="Ingest some documents first.")
    gold = None
    if train_coder:
        mask, labels = autocode.gold_labels(con, train_coder, units.segment_ids, codes)
        if not mask.any():
            raise NotFound("coder", train_coder, [r[0] for r in con.execute(
                "SELECT DISTINCT coder FROM codings ORDER BY 1").fetchall()])
        gold = (mask, labels)
    scores: dict[str, autocode.Scores] = {}
    if "rules" in methods:
        say("matching keywords")
        scores["rules"] = autocode.rules_scores(codebook, units, codes)
    if "semantic" in methods:
        say("scoring similarity to definitions and examples")
        thresholds = None
        if gold is not None:
            raw, _, _ = autocode.semantic_raw(con, codebook, units, codes, embedder)
            thresholds = np.array([autocode.best_f1_threshold(raw[gold[0], j], gold[1][gold[0], j],
                                                              autocode.DEFAULT_SEMANTIC_THRESHOLD)
                                   for j in range(len(codes))], dtype=np.float32)
        scores["semantic"] = autocode.semantic_scores(con, codebook, units, codes, embedder, thresholds)
    if "classifier" in methods:
        say(f"training classifiers on {train_coder}'s codings")
        scores["classifier"] = autocode.classifier_scores(units, codes, gold[0], gold[1], cv=cv, seed=seed,
                                                          coder=train_coder)
    combined, chosen = autocode.combine(scores, gold) if len(scores) > 1 else (None, None)

    say("writing suggestions")
    cb_id, version = _codebook_ref(con, codebook)
    settings = {"codebook": codebook.ref, "methods": methods, "train_coder": train_coder, "cv": cv, "seed": seed,
                "model": embedder.name if embedder else None}
    from insight.embeddings import embedding_provenance
    from pipelines.nlp import get_nlp

    if embedder is not None:
        settings["embeddings"] = embedding_provenance(con, embedder.name)

    if "rules" in methods:
        settings["spacy"] = get_nlp().meta.get("insight_path")
    written: dict[str, int] = {}
    with _transaction(con):
        (run_id,) = next_ids(con, "runs", "run_id")
        con.execute("INSERT INTO runs (run_id, study_id, step, settings, status) VALUES (?, ?, 'code', ?, 'running')",
                    [run_id, study_id, json.dumps(settings)])
        confidence = {m: _confidence(m, sc) for m, sc in scores.items()}
        for method, sc in scores.items():
            dec = sc.decisions()
            written[AUTO + method] = _write(con, AUTO + method, method, units, codes, dec, confidence[method],
                                            sc.explain, cb_id, version, run_id)
        if combined is not None:
            def best_score(i, j):
                rule = chosen[j]
                parts = [m for m in rule.split("|") if scores[m].decisions()[i, j]] or rule.split("|")
                return max(float(confidence[m][i, j]) for m in parts), parts

            def explain_best(i, j):
                _, parts = best_score(i, j)
                return f"{chosen[j]}: " + "; ".join(scores[m].explain(i, j) for m in parts)

            matrix = np.zeros(combined.shape, dtype=np.float32)
            for i, j in zip(*np.nonzero(combined)):
                matrix[i, j] = best_score(i, j)[0]
            written[AUTO + "best"] = _write(con, AUTO + "best", "best", units, codes, combined, matrix, explain_best,
                                            cb_id, version, run_id)
        skipped = {code: reason for sc in scores.values() for code, reason in sc.skipped.items()}
        summary = {"run_id": run_id, "codebook": codebook.ref, "methods": methods, "units": len(units.texts),
                   "suggestions": written, "skipped": skipped,
                   "chosen": dict(zip(codes, chosen)) if chosen else None,
                   "thresholds": {m: {c: round(float(t), 3) for c, t in zip(codes, sc.thresholds)}
                                  for m, sc in scores.items()}}
        con.execute("UPDATE runs SET summary = ?, status = 'done', finished_at = now() WHERE run_id = ?",
                    [json.dumps(summary, default=str), run_id])
        _log(con, "auto-run", actor="insight", batch=str(run_id))
    return summary


# How far past its threshold a raw score must be to count as sure, per method (raw scales differ:
# rules count keywords, semantic is a cosine, the classifier a probability).
_SPREAD = {"rules": 0.25, "semantic": 0.05, "classifier": 0.15}


def _confidence(method: str, scores) -> np.ndarray:
    """Raw scores mapped to a 0-1 confidence that is 0.5 exactly at each code's threshold, so
    suggestions from every auto-coder can be ranked by how sure they are."""
    with np.errstate(invalid="ignore"):
        margin = (scores.matrix - scores.thresholds[None, :]) / _SPREAD.get(method, 0.1)
    return np.nan_to_num(0.5 + 0.5 * np.tanh(margin), nan=0.0).astype(np.float32)


def _write(con, coder, method, units, codes, decisions, matrix, explain, cb_id, version, run_id) -> int:
    """Replace ``coder``'s open suggestions over these units; keep those a human decided on."""
    import pandas as pd

    _insight_units = pd.DataFrame({"segment_id": units.segment_ids})  # noqa: F841
    con.execute("DELETE FROM codings WHERE coder = ? AND status = 'suggested' AND segment_id IN "
                "(SELECT segment_id FROM _insight_units)", [coder])
    decided = {(s, c) for s, c in con.execute(
        "SELECT segment_id, code FROM codings WHERE coder = ? AND status <> 'suggested'", [coder]).fetchall()}
    rows_i, cols_j = np.nonzero(decisions)
    keep = [(i, j) for i, j in zip(rows_i, cols_j) if (int(units.segment_ids[i]), codes[j]) not in decided]
    if keep:
        ids = next_ids(con, "codings", "coding_id", len(keep))
        now = datetime.now()
        _insight_rows = pd.DataFrame({  # noqa: F841
            "coding_id": list(ids),
            "segment_id": [int(units.segment_ids[i]) for i, _ in keep],
            "code": [codes[j] for _, j in keep],
            "codebook_id": cb_id, "codebook_version": version, "coder": coder, "method": method,
            "status": "suggested",
            "score": [float(matrix[i, j]) for i, j in keep],
            "explanation": [explain(i, j) for i, j in keep],
            "run_id": run_id, "created_at": now,
        })
        con.execute("INSERT INTO codings (coding_id, segment_id, code, codebook_id, codebook_version, coder, method, "
                    "status, score, explanation, run_id, created_at) SELECT coding_id, segment_id, code, codebook_id, "
                    "codebook_version, coder, method, status, score, explanation, run_id, created_at FROM _insight_rows")
    con.execute("INSERT OR IGNORE INTO coverage SELECT ?, segment_id FROM _insight_units", [coder])
    return len(keep)


def review_queue(con, study_id: int | None, *, coder: str = "auto:best", limit: int = 50):
    """Open suggestions, most uncertain first: a suggestion's score is a confidence that is 0.5 at
    its code's threshold, so the nearest to 0.5 come first (each decision there teaches the
    classifier most)."""
    return con.execute(
        """
        SELECT c.coding_id, c.segment_id, c.code, c.coder, c.score, c.explanation, g.text, g.speaker, d.title AS document,
               abs(c.score - 0.5) AS margin
        FROM codings c JOIN segments g USING (segment_id) JOIN documents d USING (document_id)
        WHERE c.status = 'suggested' AND c.coder = ? AND (? IS NULL OR d.study_id = ?)
        ORDER BY margin, c.coding_id LIMIT ?
        """, [coder, study_id, study_id, limit]).df()


# ---------------------------------------------------------------------------------------------
# Memos


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
