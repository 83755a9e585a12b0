"""Auto-coding a study: run the auto-coders of :mod:`pipelines.autocode` and write their suggestions.

Writes ``codings`` (status suggested), ``coverage``, a ``runs`` row (step ``code``) and a
``coding_history`` entry. Auto-coding never changes a human coding: a re-run replaces only that
auto-coder's open suggestions, and keeps the ones a human has already accepted or rejected.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from insight.codebook import Codebook
from insight.coding.human import codebook_ref, log_change
from insight.coding.units import gold_labels, load_units, researcher_segments, setting
from insight.errors import InsightError, NotFound
from insight.statuses import SUGGESTED, auto_coder
from insight.store import finish_run, frames, next_ids, record_run, transaction

WRITE_ROWS = 200_000  # suggestions written at a time: their texts of explanation are the bulk of the memory


def run_autocoders(con, study_id: int | None, codebook: Codebook, *, methods=("rules", "semantic"),
                   train_coder: str | None = None, embedder=None, cv: int = 5, seed: int = 0,
                   progress=None, include_interviewer: bool = False) -> dict:
    """Run auto-coders over a study and write their suggestions; see :mod:`pipelines.autocode`.

    Writes one coder per method (``auto:rules``, ``auto:semantic``, ``auto:classifier``) and, with
    more than one method, ``auto:best``, the per-code combination that tests best against
    ``train_coder`` (the gold coder) when given. The researcher's turns (interviewer, moderator)
    are left out, as theme discovery leaves them out, unless ``include_interviewer``.
    """
    from pipelines import autocode, folds
    from pipelines.autocode_combine import combine
    from pipelines.embed import get_embedder

    methods = [m.strip() for m in methods if m.strip()]
    unknown = [m for m in methods if m not in autocode.AUTOCODERS]
    if unknown or not methods:
        raise InsightError(f"Unknown auto-coding method {', '.join(unknown) or '(none)'}.",
                           hint="Use any of: " + ", ".join(autocode.METHODS) + ".")
    need_vectors = any(autocode.AUTOCODERS[m].needs_vectors for m in methods)
    if any(autocode.AUTOCODERS[m].needs_gold for m in methods) and not train_coder:
        raise InsightError("The classifier needs codings to learn from.", hint="Name a coder with --train-coder.")
    # Parent codes group their children (a parent applies wherever a child does), so only codes
    # without children are auto-coded.
    codes = [c.name for c in codebook.codes if not codebook.children(c.name)]
    embedder = (embedder or get_embedder()) if need_vectors else None
    coders = autocode.autocoders(methods, setting(con, embedder, coder=train_coder or "", cv=cv, seed=seed))

    def say(message):
        if progress:
            progress(message)

    say("reading segments" + (" and embedding new ones" if need_vectors else ""))
    units = load_units(con, study_id, embedder=embedder, need_vectors=need_vectors,
                       need_lemmas=any(c.needs_lemmas for c in coders), include_interviewer=include_interviewer)
    left_out = [] if include_interviewer else researcher_segments(con, study_id)
    if not len(units.texts):
        raise InsightError("The study has no segments" + (" besides the interviewer's" if left_out else "") + ".",
                           hint="Ingest some documents first." if not left_out else
                           "To code the interviewer's turns too: insight code --include-interviewer.")
    gold = None
    if train_coder:
        mask, labels = gold_labels(con, train_coder, units.segment_ids, codes)
        if not mask.any():
            raise NotFound("coder", train_coder, [r[0] for r in con.execute(
                "SELECT DISTINCT coder FROM codings ORDER BY 1").fetchall()])
        gold = (mask, labels)
    scores: dict[str, autocode.Scores] = {}
    for coder in coders:
        say(coder.activity())
        scores[coder.name] = coder.score(units, [codebook.code(c) for c in codes], gold)
    combined, chosen = combine(scores, gold) if len(scores) > 1 else (None, None)

    say("writing suggestions")
    cb_id, version = codebook_ref(con, codebook)
    settings = {"codebook": codebook.ref, "methods": methods, "train_coder": train_coder, "cv": cv, "seed": seed,
                "model": embedder.name if embedder else None, "include_interviewer": include_interviewer}
    from insight.embeddings import embedding_provenance
    from pipelines.nlp import get_nlp

    if embedder is not None:
        settings["embeddings"] = embedding_provenance(con, embedder.name)

    if any(c.needs_lemmas for c in coders):
        settings["spacy"] = get_nlp().meta.get("insight_path")
    written: dict[str, int] = {}
    with transaction(con):
        run_id = record_run(con, "code", study_id, settings, status="running")
        if gold is not None:
            # with a gold coder, a score is the probability that the coder applies the code,
            # calibrated out of fold (by document or respondent, like every figure)
            confidence = {c.name: folds.calibrate(scores[c.name].matrix, gold, units.groups, max(2, cv), seed)[0]
                          for c in coders}
            calibration = {auto_coder(m): folds.expected_calibration_error(p[gold[0]], gold[1][gold[0]])
                           for m, p in confidence.items()}
        else:
            confidence = {c.name: autocode.confidence(scores[c.name], c.spread) for c in coders}
            calibration = None
        for method, sc in scores.items():
            written[auto_coder(method)] = _write(con, auto_coder(method), method, units, codes, sc.decisions(),
                                                 confidence[method], sc.explain, cb_id, version, run_id, left_out)
        if combined is not None:
            decided = {m: sc.decisions() for m, sc in scores.items()}  # once: per call it was units x codes each time

            def best_score(i, j):
                rule = chosen[j]
                parts = [m for m in rule.split("|") if decided[m][i, j]] or rule.split("|")
                return max(float(confidence[m][i, j]) for m in parts), parts

            def explain_best(i, j):
                _, parts = best_score(i, j)
                return f"{chosen[j]}: " + "; ".join(scores[m].explain(i, j) for m in parts)

            matrix = np.zeros(combined.shape, dtype=np.float32)
            for i, j in zip(*np.nonzero(combined)):
                matrix[i, j] = best_score(i, j)[0]
            written[auto_coder("best")] = _write(con, auto_coder("best"), "best", units, codes, combined, matrix,
                                                 explain_best, cb_id, version, run_id, left_out)
        skipped = {code: reason for sc in scores.values() for code, reason in sc.skipped.items()}
        summary = {"run_id": run_id, "codebook": codebook.ref, "methods": methods, "units": len(units.texts),
                   "scores": (f"calibrated probability that {train_coder} applies the code (out of fold, by "
                              f"{units.folds_by})" if calibration is not None else
                              "uncalibrated confidence (0.5 at each code's threshold): name a --train-coder to "
                              "calibrate"),
                   "calibration_error": calibration,
                   "interviewer_units_left_out": len(left_out), "suggestions": written, "skipped": skipped,
                   "chosen": dict(zip(codes, chosen)) if chosen else None,
                   "thresholds": {m: {c: round(float(t), 3) for c, t in zip(codes, sc.thresholds)}
                                  for m, sc in scores.items()}}
        finish_run(con, run_id, summary)
        log_change(con, "auto-run", actor="insight", batch=str(run_id))
    return summary


def _write(con, coder, method, units, codes, decisions, matrix, explain, cb_id, version, run_id, left_out=()) -> int:
    """Replace ``coder``'s open suggestions over these units (and over ``left_out`` segments, which
    an earlier run may have coded); keep those a human decided on."""
    import pandas as pd

    scope = pd.DataFrame({"segment_id": np.concatenate([units.segment_ids, np.asarray(left_out, dtype=np.int64)])})
    with frames(con, _insight_units=pd.DataFrame({"segment_id": units.segment_ids}), _insight_scope=scope):
        con.execute("DELETE FROM codings WHERE coder = ? AND status = ? AND coding_id IN (SELECT coding_id "
                    "FROM coding_segments WHERE segment_id IN (SELECT segment_id FROM _insight_scope))",
                    [coder, SUGGESTED])
        decided = {(s, c) for s, c in con.execute(
            "SELECT segment_id, code FROM coding_segments WHERE coder = ? AND status <> ?",
            [coder, SUGGESTED]).fetchall()}
        rows_i, cols_j = np.nonzero(decisions)
        if decided:
            fresh = np.array([(int(units.segment_ids[i]), codes[j]) not in decided for i, j in zip(rows_i, cols_j)],
                             dtype=bool)
            rows_i, cols_j = rows_i[fresh], cols_j[fresh]
        names = np.asarray(codes, dtype=object)
        for at in range(0, len(rows_i), WRITE_ROWS):  # a million answers make millions of suggestions
            ri, cj = rows_i[at:at + WRITE_ROWS], cols_j[at:at + WRITE_ROWS]
            rows = pd.DataFrame({
                "n": np.arange(len(ri)),
                "segment_id": units.segment_ids[ri].astype(np.int64),
                "code": names[cj],
                "codebook_id": cb_id, "codebook_version": version, "coder": coder, "method": method,
                "status": SUGGESTED,
                "score": np.asarray(matrix[ri, cj], dtype=np.float64),
                "explanation": [explain(int(i), int(j)) for i, j in zip(ri, cj)],
                "run_id": run_id, "created_at": datetime.now(),
            })
            with frames(con, _insight_rows=rows):
                first = next_ids(con, "codings", "coding_id", len(ri)).start
                # a suggestion is a passage too: its segment's range
                con.execute("INSERT INTO codings (coding_id, document_id, start, \"end\", code, codebook_id, "
                            "codebook_version, coder, method, status, score, explanation, run_id, created_at) "
                            "SELECT ? + r.n, g.document_id, g.start, g.\"end\", r.code, r.codebook_id, "
                            "r.codebook_version, r.coder, r.method, r.status, r.score, r.explanation, r.run_id, "
                            "r.created_at FROM _insight_rows r JOIN segments g USING (segment_id)", [first])
        con.execute("INSERT OR IGNORE INTO coverage SELECT ?, segment_id FROM _insight_units", [coder])
    return int(len(rows_i))


def review_queue(con, study_id: int | None, *, coder: str = auto_coder("best"), limit: int = 50):
    """Open suggestions, most uncertain first: a suggestion's score is a confidence that is 0.5 at
    its code's threshold, so the nearest to 0.5 come first (each decision there teaches the
    classifier most)."""
    return con.execute(
        """
        SELECT c.coding_id, c.segment_id, c.code, c.coder, c.score, c.explanation, g.text, g.speaker, d.title AS document,
               c.document_id, c.start, c."end", abs(c.score - 0.5) AS margin
        FROM coding_segments c JOIN segments g USING (segment_id) JOIN documents d ON d.document_id = c.document_id
        WHERE c.status = ? AND c.coder = ? AND (? IS NULL OR d.study_id = ?)
        ORDER BY margin, c.coding_id LIMIT ?
        """, [SUGGESTED, coder, study_id, study_id, limit]).df()
