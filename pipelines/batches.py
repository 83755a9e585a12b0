"""Per-batch steps for a Ray cluster: the same embedder, lemmatiser and theme assignment as on one
machine, packed as callable classes (pure: Arrow tables in, Arrow tables out; no database), and
:class:`PartitionWorker`, the Ray actor that runs one of them over Parquet partition files.

Each actor builds one instance of its step, so a model is loaded once per actor, not once per
batch; each call gets one whole Parquet partition (``pyarrow.Table``) and returns its results with
the Ray node that computed them (``node``) and the wall and CPU seconds the step took
(``seconds``, ``cpu_seconds``), which the caller adds up per node. The driver's side, staging the
partitions, handing them to the actors and loading the results, is :mod:`insight.cluster`.

>>> import pyarrow as pa
>>> out = EmbedBatch("hashing")(pa.table({"text_hash": ["a", "b"], "text": ["bins missed", "bus late"]}))
>>> out.column_names, out.num_rows, len(out["vector"][0])
(['text_hash', 'vector', 'info', 'node', 'seconds', 'cpu_seconds'], 2, 512)
"""

from __future__ import annotations

import json
import time

import numpy as np

CHUNK = 256  # texts per encode call: the one-machine path (insight.embeddings.embed_segments) uses the same


def node_id() -> str:
    """The Ray node this process runs on (``local`` outside Ray)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    except Exception:  # noqa: BLE001 (no Ray, or no runtime context): not on a cluster
        return "local"


def vector_column(vectors: np.ndarray):
    """A float32 matrix as an Arrow ``list<float>`` column (DuckDB reads it as ``FLOAT[]``)."""
    import pyarrow as pa

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    rows, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
    offsets = pa.array(np.arange(0, rows * dim + 1, max(dim, 1))[:rows + 1], type=pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1)))


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _stamp(table, started: tuple[float, float]):
    """``table`` with ``node``, and a share of the wall and CPU seconds (every thread of this
    process) the step took since ``started`` (:func:`_clock`) in ``seconds`` and ``cpu_seconds``."""
    import pyarrow as pa

    n = table.num_rows
    wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    return (table.append_column("node", pa.array([node_id()] * n))
            .append_column("seconds", pa.array([wall / max(n, 1)] * n, type=pa.float64()))
            .append_column("cpu_seconds", pa.array([cpu / max(n, 1)] * n, type=pa.float64())))


class EmbedBatch:
    """``text_hash``, ``text`` -> ``text_hash``, ``vector``: the embedder of :func:`pipelines.embed.get_embedder`
    (the fast ONNX one where it can serve the model), loaded once per actor. Texts are encoded
    ``CHUNK`` at a time in the order given, as the one-machine path does, so that a partition
    sorted like its query makes the same batches (the int8 graph quantises per batch)."""

    def __init__(self, model: str):
        from pipelines.embed import embedder_info, get_embedder

        self.embedder = get_embedder(model)
        self.info = json.dumps(embedder_info(self.embedder), sort_keys=True)

    def __call__(self, batch):
        import pyarrow as pa

        started = _clock()
        texts = batch.column("text").to_pylist()
        parts = [self.embedder.encode(texts[i:i + CHUNK]) for i in range(0, len(texts), CHUNK)]
        vectors = np.vstack(parts) if parts else np.zeros((0, 0), np.float32)
        out = pa.table({"text_hash": batch.column("text_hash"), "vector": vector_column(vectors),
                        "info": [self.info] * batch.num_rows})
        return _stamp(out, started)


class LemmaBatch:
    """``text_hash``, ``text`` -> ``text_hash``, ``lemmas``: :func:`pipelines.autocode.lemmatize` with
    the spaCy pipeline loaded once per actor."""

    def __init__(self):
        from pipelines.nlp import get_nlp

        self.pipeline = get_nlp().meta.get("insight_path", "")

    def __call__(self, batch):
        import pyarrow as pa

        from pipelines.autocode import lemmatize

        started = _clock()
        lemmas = lemmatize(batch.column("text").to_pylist())
        out = pa.table({"text_hash": batch.column("text_hash"), "pipeline": [self.pipeline] * batch.num_rows,
                        "lemmas": lemmas})
        return _stamp(out, started)


class AssignBatch:
    """``pos``, ``vector`` -> ``pos``, ``theme``, ``score``, ``x``, ``y``: the rule of
    :func:`pipelines.themes.fit_themes` for segments outside the fitted sample: the theme with the
    nearest centroid (cosine >= ``threshold``, else -1) and a map position at the
    similarity-weighted mean of the 5 nearest ``anchors`` (their positions ``anchor_xy``)."""

    def __init__(self, centroids: np.ndarray, threshold: float | None, anchors: np.ndarray, anchor_xy: np.ndarray):
        self.centroids, self.threshold = centroids, threshold
        self.anchors, self.anchor_xy = anchors, anchor_xy

    def __call__(self, batch):
        import pyarrow as pa

        from pipelines.themes import assign_to_centroids, place_on_map

        started = _clock()
        column = batch.column("vector").combine_chunks()
        X = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(batch.num_rows, -1)
        X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        best, score = assign_to_centroids(X, self.centroids, self.threshold)
        xy = place_on_map(X, self.anchors, self.anchor_xy)
        out = pa.table({"pos": batch.column("pos"), "theme": best.astype(np.int64), "score": score.astype(np.float32),
                        "x": xy[:, 0], "y": xy[:, 1]})
        return _stamp(out, started)


class PartitionWorker:
    """The body of one Ray actor: builds ``step(**kwargs)`` once (a class above: the model loads
    here) and runs it over whole Parquet partitions. A result file appears whole or not at all
    (written beside its name, then renamed), so a partition run again after a lost node simply
    replaces it.

    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> pq.write_table(pa.table({"text_hash": ["a"], "text": ["bins"]}), os.path.join(folder, "in.parquet"))
    >>> worker = PartitionWorker(EmbedBatch, {"model": "hashing"})
    >>> worker.run(os.path.join(folder, "in.parquet"), os.path.join(folder, "out.parquet"))
    1
    """

    def __init__(self, step, kwargs: dict, threads: int | None = None):
        if threads:  # the CPUs this actor holds: the embedder's threads (pipelines.embed_onnx.usable_cpus)
            import os

            os.environ["INSIGHT_THREADS"] = str(threads)
        self.step = step(**kwargs)

    def ready(self) -> str:
        """The node this actor runs on, once its step is built."""
        return node_id()

    def run(self, source: str, target: str) -> int:
        """Run the step over the partition ``source``; its results go to ``target``. Returns the rows."""
        import os

        import pyarrow.parquet as pq

        out = self.step(pq.read_table(source))
        partial = f"{target}.{os.getpid()}.partial"  # not *.parquet: the loader never sees it
        pq.write_table(out, partial)
        os.replace(partial, target)
        return out.num_rows
