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
