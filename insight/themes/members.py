"""A theme run's segments as the fit saw them: text, speaker, participant, document and vector,
and the quote records stored with each theme.

Reads ``runs`` (the run's embedding model), ``segment_themes``, ``segments``, ``documents``,
``participants`` and ``embeddings``; writes nothing.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd


def quote_record(frame: pd.DataFrame, i: int) -> dict:
    """The quote stored for row ``i`` of a run frame: segment id, text, speaker, participant, document."""
    row = frame.iloc[i]
    return {"segment_id": int(row.segment_id), "text": row.text, "speaker": _none(row.speaker),
            "participant": _none(row.participant), "document": row.document}


def current_quotes(con, quotes: list[list[dict]]) -> list[list[dict]]:
    """Stored quotes (lists of :func:`quote_record` dicts) with their text, speaker, participant and
    document as the database holds them now, by segment id: a study pseudonymised after a run
    shows its quotes pseudonymised too. A quote whose segment is gone is left out."""
    ids = sorted({int(q["segment_id"]) for qs in quotes for q in qs if q.get("segment_id") is not None})
    if not ids:
        return quotes
    rows = con.execute(
        "SELECT g.segment_id, g.text, g.speaker, p.external_id AS participant, d.title AS document "
        "FROM segments g JOIN documents d USING (document_id) "
        "LEFT JOIN participants p ON p.participant_id = g.participant_id WHERE list_contains(?, g.segment_id)",
        [ids]).fetchall()
    now = {r[0]: {"text": r[1], "speaker": r[2], "participant": r[3], "document": r[4]} for r in rows}
    return [[{**q, **now[int(q["segment_id"])]} for q in qs if int(q.get("segment_id", -1)) in now] for qs in quotes]


def _none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def run_frame(con, run_id: int) -> pd.DataFrame:
    """Every segment of a theme run with its theme, text, speaker, participant, document and
    vector (from the embeddings cache, under the model the run used), by segment id."""
    settings = json.loads(con.execute("SELECT settings FROM runs WHERE run_id = ?", [run_id]).fetchone()[0] or "{}")
    return con.execute(
        """
        SELECT s.segment_id, s.theme_id, g.text, g.speaker, p.external_id AS participant, d.title AS document,
               e.vector
        FROM segment_themes s JOIN segments g USING (segment_id) JOIN documents d USING (document_id)
        LEFT JOIN embeddings e ON e.text_hash = g.text_hash AND e.model = ?
        LEFT JOIN participants p ON p.participant_id = g.participant_id
        WHERE s.run_id = ? ORDER BY s.segment_id
        """, [settings.get("embedding_model"), run_id]).df()


def unit_vectors(frame: pd.DataFrame) -> np.ndarray:
    """The frame's vectors as unit rows (a segment whose vector is gone gets zeros)."""
    from pipelines.themes import normalise

    dim = next((len(v) for v in frame["vector"] if v is not None and not isinstance(v, float)), 1)
    rows = [np.asarray(v, dtype=np.float32) if v is not None and not isinstance(v, float)
            else np.zeros(dim, dtype=np.float32) for v in frame["vector"]]
    return normalise(np.stack(rows)) if rows else np.zeros((0, dim), dtype=np.float32)
