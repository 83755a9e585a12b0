"""The embeddings cache: vectors of segment and code texts, kept in DuckDB.

Reads ``segments`` (``text``, ``text_hash``); writes ``embeddings`` (``text_hash``, ``model``,
``vector``). A text is embedded once per model, across runs and studies: re-running embeds only
texts that are not cached yet. Each embedding pass that embeds something is a row of ``runs``
(step ``embed``) whose settings are the embedder's info (:func:`pipelines.embed.embedder_info`,
:func:`embedding_provenance`). The embedders themselves are :mod:`pipelines.embed`.
"""

from __future__ import annotations

import itertools
import json
import os
import weakref
from typing import Callable

import numpy as np
import pandas as pd

from insight.errors import InsightError
from insight.store import frames, record_run, text_hash
from pipelines.embed import Embedder, embedder_info, get_embedder, model_name


_MEMO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
MEMO_LIMIT = 50_000
WRITE_ROWS = 8_192  # vectors written to the table at a time while embedding
READ_ROWS = 65_536  # vectors read from it at a time


def _memo_for(embedder) -> dict:
    """Vectors this embedder already produced or read in this process, by text hash. Looking a
    handful of code texts up in a table of millions of vectors costs milliseconds a query, and a
    codebook test asks for each code's texts several times, so they are remembered here."""
    try:
        memo = _MEMO.setdefault(embedder, {})
    except TypeError:  # not weak-referenceable: no memo
        return {}
    if len(memo) > MEMO_LIMIT:
        memo.clear()
    return memo


def embed_texts(con, texts: list[str], embedder: Embedder | None = None) -> np.ndarray:
    """Vectors for arbitrary texts (code definitions, examples) through the same cache."""
    embedder = embedder or get_embedder()
    hashes = [text_hash(t) for t in texts]
    memo = _memo_for(embedder)
    cached = {h: memo[h] for h in hashes if h in memo}
    wanted = [h for h in dict.fromkeys(hashes) if h not in cached]
    if wanted:
        with frames(con, _insight_hashes=pd.DataFrame({"text_hash": wanted})):
            cached.update(con.execute(
                "SELECT e.text_hash, e.vector FROM embeddings e JOIN _insight_hashes USING (text_hash) "
                "WHERE e.model = ?", [embedder.name]).fetchall())
    missing = [(h, t) for h, t in dict(zip(hashes, texts)).items() if h not in cached]
    if missing:
        vectors = embedder.encode([t for _, t in missing])
        for (h, _), v in zip(missing, vectors):
            cached[h] = v
        rows = pd.DataFrame({"text_hash": [h for h, _ in missing], "model": embedder.name,
                             "vector": list(vectors.astype(np.float32))})
        try:
            with frames(con, _insight_vectors=rows):
                con.execute("INSERT OR IGNORE INTO embeddings SELECT text_hash, model, vector FROM _insight_vectors")
        except Exception:  # a read-only workspace still gets its vectors, just not cached
            pass
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    out = np.stack([np.asarray(cached[h], dtype=np.float32) for h in hashes])
    memo.update(zip(hashes, out))
    return out


def embed_segments(con, *, study_id: int | None = None, embedder: Embedder | None = None,
                   progress: Callable[[int, int], None] | None = None, batch_size: int = 256) -> dict:
    """Embed every segment text of a study (or all) that is not cached for the model yet.

    Returns ``{"model", "segments", "unique_texts", "cached", "embedded"}``.
    """
    name = embedder.name if embedder is not None else model_name()
    todo = con.execute(
        """
        SELECT g.text_hash, any_value(g.text) AS text
        FROM segments g JOIN documents d USING (document_id)
        WHERE (? IS NULL OR d.study_id = ?)
          AND g.text_hash NOT IN (SELECT text_hash FROM embeddings WHERE model = ?)
        GROUP BY g.text_hash
        ORDER BY length(any_value(g.text)), g.text_hash
        """,
        [study_id, study_id, name],
    ).fetchall()
    counts = con.execute(
        "SELECT count(*), count(DISTINCT text_hash) FROM segments g JOIN documents d USING (document_id) "
        "WHERE ? IS NULL OR d.study_id = ?", [study_id, study_id]).fetchall()[0]
    summary = {"model": name, "segments": counts[0], "unique_texts": counts[1],
               "cached": counts[1] - len(todo), "embedded": 0}
    if embedder is not None:
        summary["embedder"] = embedder_info(embedder)
    if not todo:
        return summary
    if embedder is None:
        embedder = get_embedder(name)
    done = 0
    hashes: list[str] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        """Write the vectors made so far (an Arrow list column: no Python object per vector)."""
        import pyarrow as pa

        from pipelines.batches import vector_column

        if not hashes:
            return
        rows = pa.table({"text_hash": pa.array(hashes, pa.string()), "vector": vector_column(np.concatenate(pending))})
        with frames(con, _insight_vectors=rows):
            con.execute("INSERT OR IGNORE INTO embeddings SELECT text_hash, ?, vector FROM _insight_vectors", [name])
        hashes.clear()
        pending.clear()

    # texts are encoded batch_size at a time (the batches the cluster path makes too); the vectors are
    # written every WRITE_ROWS texts: one insert per batch cost more than embedding with a fast model
    for start in range(0, len(todo), batch_size):
        chunk = todo[start:start + batch_size]
        pending.append(np.asarray(embedder.encode([t for _, t in chunk]), dtype=np.float32))
        hashes.extend(h for h, _ in chunk)
        done += len(chunk)
        if len(hashes) >= WRITE_ROWS:
            flush()
        if progress:
            progress(done, len(todo))
    flush()
    summary["embedded"] = done
    summary["embedder"] = embedder_info(embedder)
    _record_run(con, study_id, summary)
    return summary


def _record_run(con, study_id: int | None, summary: dict) -> None:
    """A finished ``embed`` row in ``runs``: settings = the embedder's info, summary = the counts."""
    try:
        record_run(con, "embed", study_id, summary["embedder"],
                   {k: v for k, v in summary.items() if k != "embedder"})
    except Exception:  # a read-only workspace embeds without caching or logging
        pass


def embedding_provenance(con, model: str) -> list[dict]:
    """How the cached vectors of ``model`` were made: the distinct embedder infos of its ``embed``
    runs, newest first (several when machines or variants differed)."""
    rows = con.execute("SELECT settings FROM runs WHERE step = 'embed' AND json_extract_string(settings, '$.model') = ? "
                       "ORDER BY run_id DESC", [model]).fetchall()
    seen, out = set(), []
    for (settings,) in rows:
        info = json.loads(settings) if isinstance(settings, str) else dict(settings or {})
        key = (info.get("backend"), info.get("cpu"))
        if key not in seen:
            seen.add(key)
            out.append(info)
    return out


def _arrow(result):
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        return result.to_arrow_table()


def _vector_rows(table, key: str = "pos") -> tuple[np.ndarray, np.ndarray, int]:
    """``(keys, vectors, dim)`` from an Arrow table of ``key`` and ``vector`` columns: one copy of
    the floats instead of a Python list per row (100,000 rows: 0.1 s, not 10 s)."""
    import pyarrow.compute as pc

    column = table.column("vector").combine_chunks()
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    positions = table.column(key).to_numpy(zero_copy_only=False)[valid]
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)[valid]
    dim = int(lengths[0]) if len(lengths) else 0
    if len(lengths) and (lengths != dim).any():
        raise InsightError("The embeddings cache holds vectors of different lengths under one model name.",
                           hint="Delete that model's rows from the embeddings table and embed again.")
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return positions, values.reshape(len(positions), dim) if dim else values.reshape(0, 0), dim


def _vector_batches(con, query: str, params: list, key: str = "pos"):
    """``(keys, vectors)`` of a query's rows, :data:`READ_ROWS` at a time: streamed from DuckDB, so that a
    million vectors are not held two or three times over (DuckDB's result, Arrow's copy of it and
    the memo) while they are read."""
    import pyarrow as pa

    for batch in con.sql(query, params=params).to_arrow_reader(READ_ROWS):
        keys, vectors, dim = _vector_rows(pa.Table.from_batches([batch]), key)
        if dim:
            yield np.asarray(keys, dtype=np.int64), vectors


class _Loaded:
    """Vectors of one database and model already read in this process, by text hash."""

    def __init__(self, dim: int):
        self.index: dict[str, int] = {}
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.rows = 0  # the model's row count when last checked

    def fill(self, hashes: list[str], batches) -> None:
        """Read ``batches`` of ``(slots, vectors)`` (``vectors[k]`` is the vector of
        ``hashes[slots[k]]``) into the memo, in the order of ``hashes`` (the callers' order: next time
        one slice copies). Each batch is copied once, into its rows; a hash with no vector is left out."""
        at, dim = len(self.index), self.matrix.shape[1]
        if at + len(hashes) > self.matrix.shape[0]:
            size = at + len(hashes) if not at else max(2 * self.matrix.shape[0], at + len(hashes))
            grown = np.empty((size, dim), dtype=np.float32)
            grown[:at] = self.matrix[:at]
            self.matrix = grown
        got = np.zeros(len(hashes), dtype=bool)
        for slots, vectors in batches:
            if vectors.shape[1] != dim:
                raise InsightError("The embeddings cache holds vectors of different lengths under one model name.",
                                   hint="Delete that model's rows from the embeddings table and embed again.")
            self.matrix[at + slots] = vectors
            got[slots] = True
        if not got.all():
            kept = np.flatnonzero(got)
            self.matrix[at:at + len(kept)] = self.matrix[at + kept]
            hashes = [hashes[i] for i in kept]
        self.index.update(zip(hashes, range(at, at + len(hashes))))


_LOADED: dict[tuple, _Loaded] = {}
LOADED_LIMIT = 3_000_000  # vectors kept (about 4.5 GB at 384 floats); beyond it, read from the table


def _database_key(con) -> tuple | None:
    """The open database file (path, inode) for the in-process vector memo; ``None`` in memory."""
    rows = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    row = rows[0] if rows else None
    if not row or not row[0]:
        return None
    try:
        stat = os.stat(row[0])
    except OSError:
        return None
    return (os.path.realpath(row[0]), stat.st_ino, stat.st_dev)


def load_vectors(con, segment_ids, model: str | None = None) -> np.ndarray:
    """Cached vectors for ``segment_ids`` in order (a row of NaN where a text is not embedded).

    A cached vector never changes (the table is keyed by text hash and model and only ever gains
    rows), so vectors read once are kept in this process and a second call reads only the text
    hashes: re-testing a codebook on 100,000 segments reads 150 MB of vectors once, not per run.
    The memo is dropped when the model's row count falls (rows were deleted).
    """
    if not len(segment_ids):
        return np.zeros((0, 0), dtype=np.float32)
    n = len(segment_ids)
    ids = pd.DataFrame({"segment_id": np.asarray(segment_ids, dtype=np.int64), "pos": np.arange(n, dtype=np.int64)})
    with frames(con, _insight_ids=ids):
        return _load_vectors(con, n, model_name(model))


def _load_vectors(con, n: int, name: str) -> np.ndarray:
    db = _database_key(con)
    if db is None:  # in memory: read the vectors themselves
        positions, vectors, dim = _vector_rows(_arrow(con.execute(
            "SELECT i.pos, e.vector FROM _insight_ids i JOIN segments g USING (segment_id) "
            "JOIN embeddings e ON e.text_hash = g.text_hash AND e.model = ?", [name])))
        out = np.full((n, dim), np.nan, np.float32) if len(positions) < n else np.empty((n, dim), np.float32)
        out[positions] = vectors
        return out
    found = con.execute("SELECT i.pos, g.text_hash FROM _insight_ids i JOIN segments g USING (segment_id)").fetchnumpy()
    count = con.execute("SELECT count(*) FROM embeddings WHERE model = ?", [name]).fetchall()[0][0]
    loaded = _LOADED.get((db, name))
    if loaded is None or count < loaded.rows or len(loaded.index) > LOADED_LIMIT:
        _LOADED.clear()
        loaded = None
    hashes = found["text_hash"].tolist()
    index = loaded.index if loaded else {}
    need = list(dict.fromkeys(h for h in hashes if h not in index))
    if need:
        with frames(con, _insight_need=pd.DataFrame({"text_hash": need, "ord": np.arange(len(need))})):
            batches = _vector_batches(
                con, "SELECT n.ord, e.vector FROM embeddings e JOIN _insight_need n USING (text_hash) WHERE e.model = ?",
                [name], key="ord")
            first = next(batches, None)
            if first is not None:
                if loaded is None:
                    loaded = _LOADED[(db, name)] = _Loaded(first[1].shape[1])
                loaded.fill(need, itertools.chain([first], batches))
    if loaded is None:  # nothing embedded for these segments
        return np.full((n, 0), np.nan, np.float32)
    loaded.rows = count
    rows = np.fromiter((loaded.index.get(h, -1) for h in hashes), dtype=np.int64, count=len(hashes))
    positions = np.asarray(found["pos"], dtype=np.int64)
    have = rows >= 0
    if (len(positions) == n and n and rows[0] >= 0 and rows[-1] - rows[0] == n - 1
            and np.array_equal(rows, np.arange(rows[0], rows[0] + n)) and np.array_equal(positions, np.arange(n))):
        return loaded.matrix[rows[0]:rows[0] + n].copy()
    if have.all() and len(positions) == n:  # every position once: one gather, no temporary copy
        return loaded.matrix[rows[np.argsort(positions, kind="stable")]]
    out = np.full((n, loaded.matrix.shape[1]), np.nan, np.float32)
    positions, rows = positions[have], rows[have]
    for at in range(0, len(rows), READ_ROWS):  # a block at a time: the gathered rows are a temporary copy
        out[positions[at:at + READ_ROWS]] = loaded.matrix[rows[at:at + READ_ROWS]]
    return out


def study_vectors(con, study_id: int | None, model: str | None = None):
    """``(segments DataFrame, vectors)`` for every embedded segment of a study, in segment order."""
    name = model_name(model)
    positions, vectors, dim = _vector_rows(_arrow(con.execute(
        "SELECT g.segment_id AS pos, e.vector FROM segments g JOIN documents d USING (document_id) "
        "JOIN embeddings e ON e.text_hash = g.text_hash AND e.model = ? "
        "WHERE ? IS NULL OR d.study_id = ? ORDER BY g.segment_id", [name, study_id, study_id])))
    frame = pd.DataFrame({"segment_id": positions.astype(np.int64)})
    if not len(positions):
        return frame, np.zeros((0, 0), dtype=np.float32)
    return frame, vectors
