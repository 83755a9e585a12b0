"""The units auto-coders score, read from a study: segment texts (less the researcher's turns,
unless asked), cached lemmas and vectors, and a gold coder's labels.

Reads ``segments``, ``documents``, ``coverage`` and ``codings``; writes the ``lemmas`` cache (and,
through :mod:`insight.embeddings`, the ``embeddings`` cache). The scoring itself is
:mod:`pipelines.autocode`, over what this module hands it.
"""

from __future__ import annotations

import numpy as np

from insight.readers.base import researcher_turn
from insight.statuses import REJECTED
from insight.store import frames
from pipelines.autocode import Setting, Units, lemmatize


def ensure_lemmas(con, study_id: int | None) -> int:
    """Cache lemmas for every segment text of a study not cached yet; returns texts lemmatised."""
    import pandas as pd

    from pipelines.nlp import get_nlp

    todo = con.execute(
        "SELECT g.text_hash, any_value(g.text) FROM segments g JOIN documents d USING (document_id) "
        "WHERE (? IS NULL OR d.study_id = ?) AND g.text_hash NOT IN (SELECT text_hash FROM lemmas) GROUP BY 1",
        [study_id, study_id]).fetchall()
    if not todo:
        return 0
    pipeline = get_nlp().meta.get("insight_path", "")
    for start in range(0, len(todo), 5000):
        chunk = todo[start:start + 5000]
        lemmas = pd.DataFrame({"text_hash": [h for h, _ in chunk], "pipeline": pipeline,
                               "lemmas": lemmatize([t for _, t in chunk])})
        with frames(con, _insight_lemmas=lemmas):
            con.execute("INSERT OR IGNORE INTO lemmas SELECT text_hash, pipeline, lemmas FROM _insight_lemmas")
    return len(todo)


def load_units(con, study_id: int | None, *, embedder=None, need_vectors: bool = True,
               need_lemmas: bool = True, include_interviewer: bool = False) -> Units:
    """Every segment of a study with its text, cached lemmas and vectors (embedding what is missing),
    less the researcher's turns (:func:`researcher_segments`) unless ``include_interviewer``.
    Callers must not modify the units: they are shared with the next call on the same segments."""
    from pipelines.embed import get_embedder

    if need_lemmas:
        ensure_lemmas(con, study_id)
    # The same segments as last time (count, last id and a sum of text hashes all agree): reuse
    # the units read then, so a re-test after an edit does not read 100,000 rows again.
    state = con.execute(
        "SELECT count(*), max(g.segment_id), sum(hash(g.segment_id, g.text_hash)) FROM segments g "
        "JOIN documents d USING (document_id) WHERE ? IS NULL OR d.study_id = ?", [study_id, study_id]).fetchone()
    name = (embedder or get_embedder()).name if need_vectors else None
    key = ("units", _con_key(con), study_id, tuple(state), need_lemmas, name, include_interviewer)
    cached = _UNITS.get(key)
    if cached is not None:  # nothing new to lemmatise or embed either: the segments are the same
        return cached
    units = _read_units(con, study_id, embedder=embedder, need_vectors=need_vectors, need_lemmas=need_lemmas,
                        include_interviewer=include_interviewer)
    _UNITS.clear()  # one study's units at a time: they can be large
    _UNITS[key] = units
    return units


_UNITS: dict[tuple, Units] = {}


def _con_key(con) -> str:
    """The database a connection is on (its file path, or the connection itself when in memory)."""
    try:
        path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    except Exception:  # noqa: BLE001
        path = None
    return path or f"memory:{id(con)}"


def _read_units(con, study_id: int | None, *, embedder=None, need_vectors: bool = True,
                need_lemmas: bool = True, include_interviewer: bool = False) -> Units:
    from insight.embeddings import embed_segments, load_vectors
    from pipelines.embed import get_embedder

    frame = con.execute(
        "SELECT g.segment_id, g.text, g.text_hash, l.lemmas, "
        # the cross-validation group: the respondent for a panel answer, else the document
        "CASE WHEN d.kind = 'panel' AND coalesce(g.participant_id, d.participant_id) IS NOT NULL "
        "     THEN 'respondent ' || coalesce(g.participant_id, d.participant_id) "
        "     ELSE 'document ' || d.document_id END AS fold_group, d.kind "
        "FROM segments g JOIN documents d USING (document_id) "
        "LEFT JOIN lemmas l USING (text_hash) WHERE ? IS NULL OR d.study_id = ? ORDER BY g.segment_id",
        [study_id, study_id]).df()
    if not include_interviewer:
        frame = frame[~frame["segment_id"].isin(researcher_segments(con, study_id))].reset_index(drop=True)
    units = Units(texts=frame["text"].tolist(), segment_ids=frame["segment_id"].to_numpy(np.int64),
                  text_hashes=frame["text_hash"].tolist(),
                  lemmas=frame["lemmas"].fillna("").tolist() if need_lemmas else None,
                  groups=np.unique(frame["fold_group"].to_numpy(str), return_inverse=True)[1],
                  folds_by=folds_by(frame["kind"].unique()))
    if need_vectors:
        embedder = embedder or get_embedder()
        embed_segments(con, study_id=study_id, embedder=embedder)
        units.vectors = load_vectors(con, units.segment_ids, embedder.name)
    return units


KIND_WORDS = {"interview": "interviews", "diary": "diaries", "fieldnotes": "field notes"}


def folds_by(kinds) -> str:
    """How out-of-fold figures are grouped, in words, for the kinds of document in a study.

    >>> folds_by(["panel", "interview", "diary"])
    'document (diaries, interviews) and respondent (panel answers)'
    """
    kinds = set(kinds)
    parts = []
    if kinds - {"panel"}:
        parts.append("document (" + ", ".join(sorted(KIND_WORDS.get(k, k) for k in kinds - {"panel"})) + ")")
    if "panel" in kinds:
        parts.append("respondent (panel answers)")
    return " and ".join(parts) or "document"


def researcher_segments(con, study_id: int | None) -> list[int]:
    """The study's segments that are the researcher's turns (interviewer, moderator...: see
    :func:`insight.readers.base.researcher_turn`), which auto-coding leaves out by default, as
    theme discovery does."""
    rows = con.execute(
        "SELECT g.segment_id, g.speaker, g.participant_id IS NOT NULL FROM segments g JOIN documents d "
        "USING (document_id) WHERE (? IS NULL OR d.study_id = ?) AND g.speaker IS NOT NULL",
        [study_id, study_id]).fetchall()
    return [sid for sid, speaker, has_participant in rows if researcher_turn(speaker, has_participant)]


def text_units(con, texts: list[str], *, embedder=None, need_vectors: bool = True) -> Units:
    """Units for free texts (codebook examples): lemmatised and embedded through the cache."""
    from insight.embeddings import embed_texts

    units = Units(texts=list(texts), lemmas=lemmatize(list(texts)))
    if need_vectors:
        units.vectors = embed_texts(con, list(texts), embedder)
    return units


def gold_labels(con, coder: str, segment_ids: np.ndarray, codes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(mask of units the coder saw, units x codes 0/1 labels)`` over ``segment_ids``."""
    from insight.reliability import decisions

    seen = {r[0] for r in con.execute(
        "SELECT segment_id FROM coverage WHERE coder = ? UNION SELECT segment_id FROM coding_segments WHERE coder = ? "
        "AND status <> ?", [coder, coder, REJECTED]).fetchall()}
    mask = np.array([s in seen for s in segment_ids], dtype=bool)
    labels = decisions(con, coder, segment_ids, codes)
    return mask, labels


def setting(con, embedder=None, **options) -> Setting:
    """The auto-coders' :class:`~pipelines.autocode.Setting`, embedding through the study's
    embeddings cache with ``embedder``."""
    from insight.embeddings import embed_texts

    if embedder is None:
        return Setting(**options)
    return Setting(embed=lambda texts: embed_texts(con, texts, embedder), model=embedder.name, **options)
