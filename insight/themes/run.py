"""Storing theme runs: discovery and the gap finder over the cached segment embeddings.

Reads ``segments``, ``documents``, ``participants``, ``embeddings`` (and ``codings`` for the gap
finder); writes one ``runs`` row per call (step ``'themes'`` or ``'gaps'``, with every resolved
setting and the model names and package versions), and for themes the ``themes`` and
``segment_themes`` rows of that run. Re-running makes a new run; nothing is overwritten, and the
researcher's names, merges and pins of the previous run are carried into it
(:func:`insight.themes.edit.carry_forward`, recorded in ``theme_edits``). The fit itself is
:func:`pipelines.themes.fit_themes`.
"""

from __future__ import annotations

import json
import time
from typing import Callable

import numpy as np
import pandas as pd

from insight.embeddings import embed_segments, embedding_provenance, load_vectors
from insight.errors import InsightError, NotFound
from insight.readers.base import researcher_turn
from insight.themes.maps import precompute_map
from insight.store import frames, record_run, transaction
from insight.themes.edit import carry_forward
from insight.themes.members import quote_record
from pipelines.embed import get_embedder, model_name
from pipelines.themes import (
    DEFAULT_SEED, MAX_FIT, OUTLIER_THRESHOLD, default_min_size, fit_themes, versions,
)


def _segments(con, study_id: int | None, model: str, *, include_interviewer: bool):
    frame = con.execute(
        """
        SELECT g.segment_id, g.text, g.speaker, p.external_id AS participant, d.title AS document
        FROM segments g JOIN documents d USING (document_id)
        JOIN embeddings e ON e.text_hash = g.text_hash AND e.model = ?
        LEFT JOIN participants p ON p.participant_id = g.participant_id
        WHERE (? IS NULL OR d.study_id = ?)
        ORDER BY g.segment_id
        """, [model, study_id, study_id]).df()
    if not include_interviewer and len(frame):
        asks = [researcher_turn(s if isinstance(s, str) else None, not pd.isna(p))
                for s, p in zip(frame["speaker"], frame["participant"])]
        frame = frame[~np.array(asks, dtype=bool)].reset_index(drop=True)
    return frame


def _ensure_embedded(con, study_id: int | None, model, progress) -> str:
    """Embed segments not in the cache yet (with the default embedder unless ``model`` says
    otherwise); returns the model name the vectors are cached under."""
    if model is not None and not isinstance(model, str):
        embed_segments(con, study_id=study_id, embedder=model)
        return model.name
    name = model_name(model)
    missing = con.execute(
        "SELECT count(*) FROM segments g JOIN documents d USING (document_id) WHERE (? IS NULL OR d.study_id = ?) "
        "AND g.text_hash NOT IN (SELECT text_hash FROM embeddings WHERE model = ?)", [study_id, study_id, name]).fetchall()[0][0]
    if missing:
        if progress:
            progress(0, 1, f"embedding {missing:,} new segments with {name}")
        embed_segments(con, study_id=study_id, embedder=get_embedder(model))
    return name


def discover_themes(con, study_id: int | None, *, min_size: int | None = None, seed: int = DEFAULT_SEED, model=None,
                    progress: Callable[[int, int, str], None] | None = None, max_fit: int = MAX_FIT,
                    outlier_threshold: float | None = OUTLIER_THRESHOLD, include_interviewer: bool = False,
                    outside=None) -> int:
    """Discover themes in a study (``None``: all studies) and store them as a new run; returns
    its ``run_id``.

    ``model`` is the embedding model name (default: the packaged all-MiniLM-L6-v2) or an embedder
    object. ``progress(step, steps, message)`` is told each stage. ``outside`` places the segments
    outside a fitted sample elsewhere (see :func:`pipelines.themes.fit_themes`; a Ray cluster:
    :meth:`insight.cluster.Cluster.placer`).

    >>> from insight import Workspace  # doctest: +SKIP
    >>> run_id = discover_themes(Workspace("insight.duckdb").con, 1)  # doctest: +SKIP
    """
    started = time.time()
    name = _ensure_embedded(con, study_id, model, progress)
    frame = _segments(con, study_id, name, include_interviewer=include_interviewer)
    if frame.empty:
        raise InsightError("There are no segments to find themes in.", hint="Ingest something first: insight ingest PATH")
    # read apart, a block at a time: a column of a million Python arrays, stacked, held them three times
    vectors = load_vectors(con, frame["segment_id"].to_numpy(np.int64), name)
    docs = frame["text"].tolist()
    fit = fit_themes(docs, vectors, min_size=min_size, seed=seed, max_fit=max_fit,
                     outlier_threshold=outlier_threshold, progress=progress, outside=outside)
    settings = {**fit.settings, "study_id": study_id, "embedding_model": name,
                "embeddings": embedding_provenance(con, name),
                "include_interviewer": include_interviewer, "versions": versions(),
                "outside_sample_placed_on":
                    getattr(outside, "where", "this machine") if fit.settings["sampled"] else None}
    summary = {**fit.summary, "excluded_interviewer_segments": _excluded(con, study_id, name, len(frame)),
               "wall_seconds": round(time.time() - started, 2)}
    theme_rows = pd.DataFrame([
        {"theme_id": t["theme_id"], "label": t["label"], "keywords": json.dumps(t["keywords"], ensure_ascii=False),
         "size": t["size"], "parent_id": t["parent_id"], "kind": t["kind"],
         "quotes": json.dumps([quote_record(frame, i) for i in t["quote_idx"]], ensure_ascii=False, default=str)}
        for t in fit.themes] + [{"theme_id": -1, "label": "Unassigned", "keywords": "[]", "kind": "unassigned",
                                 "size": int((fit.labels == -1).sum()), "parent_id": None, "quotes": "[]"}])
    segment_rows = pd.DataFrame({
        "segment_id": frame["segment_id"].astype("int64"), "theme_id": fit.labels.astype("int64"),
        "probability": fit.probability.astype("float64"), "reassigned": fit.reassigned,
        "x": fit.xy[:, 0].astype("float64"), "y": fit.xy[:, 1].astype("float64")})
    if progress:
        progress(1, 1, "saving the run")
    with transaction(con), frames(con, _themes_rows=theme_rows, _segment_rows=segment_rows):
        run_id = record_run(con, "themes", study_id, settings, summary, started=started)
        con.execute("INSERT INTO themes (run_id, theme_id, label, keywords, size, parent_id, quotes, kind) "
                    "SELECT ?, theme_id, label, keywords, size, parent_id, quotes, kind FROM _themes_rows", [run_id])
        con.execute("INSERT INTO segment_themes (run_id, segment_id, theme_id, probability, reassigned, x, y) "
                    "SELECT ?, segment_id, theme_id, probability, reassigned, x, y FROM _segment_rows", [run_id])
        carried = carry_forward(con, run_id)
        if carried:
            con.execute("UPDATE runs SET summary = json_merge_patch(summary, ?) WHERE run_id = ?",
                        [json.dumps({"carried": len(carried)}), run_id])
        precompute_map(con, run_id)
    return run_id


def _excluded(con, study_id, model, kept: int) -> int:
    total = con.execute(
        "SELECT count(*) FROM segments g JOIN documents d USING (document_id) JOIN embeddings e "
        "ON e.text_hash = g.text_hash AND e.model = ? WHERE (? IS NULL OR d.study_id = ?)",
        [model, study_id, study_id]).fetchall()[0][0]
    return int(total - kept)


def find_gaps(con, study_id: int | None, coders: list[str] | None = None, *, min_size: int | None = None,
              seed: int = DEFAULT_SEED, model=None, progress: Callable[[int, int, str], None] | None = None,
              include_interviewer: bool = False) -> dict:
    """Cluster the segments no code covers into candidate new codes; stored as a ``runs`` row
    (step ``'gaps'``, candidates in its summary). Returns ``{"run_id", "segments", "uncovered",
    "candidates": [{id, label, keywords, size, quotes, segment_ids}]}``.

    A segment is covered when it has a coding that is not rejected, by one of ``coders`` (default:
    any coder). Uncovered segments HDBSCAN calls noise stay out of every candidate: a candidate
    code should be coherent.
    """
    started = time.time()
    name = _ensure_embedded(con, study_id, model, progress)
    frame = _segments(con, study_id, name, include_interviewer=include_interviewer)
    covered = {r[0] for r in con.execute(
        "SELECT DISTINCT segment_id FROM coding_segments WHERE status <> 'rejected' "
        "AND (? IS NULL OR list_contains(?, coder))",
        [None if not coders else list(coders), list(coders or [])]).fetchall()}
    if coders:
        known = {r[0] for r in con.execute("SELECT DISTINCT coder FROM codings").fetchall()}
        unknown = [c for c in coders if c not in known]
        if unknown:
            raise NotFound("coder", unknown[0], sorted(known))
    open_ = frame[~frame["segment_id"].isin(covered)].reset_index(drop=True)
    candidates: list[dict] = []
    settings = {"study_id": study_id, "coders": list(coders) if coders else "any", "embedding_model": name,
                "include_interviewer": include_interviewer, "versions": versions()}
    size = int(min_size) if min_size else default_min_size(len(open_))
    if len(open_) >= max(2 * size, 10):
        vectors = load_vectors(con, open_["segment_id"].to_numpy(np.int64), name)
        fit = fit_themes(open_["text"].tolist(), vectors, min_size=size, seed=seed, outlier_threshold=None,
                         progress=progress, layout=False)
        settings.update(fit.settings)
        for t in fit.themes:
            if t["kind"] != "theme":
                continue
            ids = open_["segment_id"].to_numpy()[fit.labels == t["theme_id"]]
            candidates.append({"id": t["theme_id"], "label": t["label"], "keywords": t["keywords"], "size": t["size"],
                               "quotes": [quote_record(open_, i) for i in t["quote_idx"]],
                               "segment_ids": [int(s) for s in ids]})
    else:
        settings.update({"min_size": size, "seed": seed})
    summary = {"segments": int(len(frame)), "uncovered": int(len(open_)), "candidates": candidates,
               "wall_seconds": round(time.time() - started, 2)}
    with transaction(con):
        run_id = record_run(con, "gaps", study_id, settings, summary, started=started)
    return {"run_id": run_id, **summary}
