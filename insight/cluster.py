"""Running the per-text steps of a study on a Ray cluster: embedding, lemmas, and placing the
segments outside a theme fit's sample.

Reads ``segments``, ``documents``, ``embeddings`` and ``lemmas``; writes ``embeddings`` and
``lemmas`` (the same caches the one-machine path fills, so every step after is unchanged) and a
``runs`` row (step ``embed``) for an embedding pass, whose settings say which cluster and nodes
made the vectors.

How a step runs (:meth:`Cluster.map`):

1. The texts still to do go into Parquet partitions of :data:`PARTITION_ROWS` rows under the
   stage folder (``stage/<step>-<id>/in``), in the order of the one-machine query.
2. Ray Data reads them (``read_parquet``), runs the step's class from :mod:`pipelines.batches` on
   an actor pool (one CPU an actor, up to as many actors as the cluster has CPUs: Ray Data adds
   actors while partitions wait; the model is loaded once per actor) and writes the results as
   Parquet (``.../out``).
3. DuckDB reads the results in one transaction, only when every text came back: a run either
   completes or writes nothing. Ray retries the partitions of a node that dies (its tasks and
   actors are restarted elsewhere); if the run still fails, :class:`ClusterError` says so.

The stage folder must be one every node can read and write: on one machine the default (a folder
beside the database) is; on several, give a shared folder (NFS) with ``--stage``. Workers import
Insight from the folder it is installed in, so each node needs the same installation.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from insight.errors import InsightError, MissingDependency
from insight.store import frames, record_run, transaction
from pipelines.embed import model_name

PARTITION_ROWS = 256 * 16  # a multiple of pipelines.batches.CHUNK, so a partition's batches match one machine's
RAY_PACKAGE = "ray[data]==2.60.0"
PASSED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR")


class ClusterError(InsightError):
    """The Ray cluster could not be reached, or a run on it failed; nothing was written."""


@dataclass
class StepReport:
    """What one step did on the cluster: rows per node and where the seconds went."""

    step: str
    rows: int = 0
    rows_per_node: dict = field(default_factory=dict)
    busy_seconds_per_node: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)  # stage (write partitions), cluster (Ray), load (DuckDB)

    def to_dict(self) -> dict:
        return {"step": self.step, "rows": self.rows, "nodes": len(self.rows_per_node),
                "rows_per_node": self.rows_per_node, "busy_seconds_per_node": self.busy_seconds_per_node,
                "seconds": self.seconds}


class Cluster:
    """A connection to a Ray cluster for one command: ``address`` is ``auto`` or ``host:port``;
    ``stage`` the shared folder for partitions (default: beside ``database``, else the temp folder).

    >>> Cluster("127.0.0.1:1", connect=False).address
    '127.0.0.1:1'
    """

    def __init__(self, address: str, *, stage: str | os.PathLike | None = None, database: str | None = None,
                 connect: bool = True, partition_rows: int | None = None):
        self.address = address
        self.partition_rows = partition_rows or PARTITION_ROWS
        base = Path(stage) if stage else (Path(database).resolve().parent if database and database != ":memory:"
                                          else Path(os.environ.get("TMPDIR", "/tmp")))
        self.stage = base / f".insight-ray-{uuid.uuid4().hex[:8]}"
        self.steps: list[StepReport] = []
        self.started = time.perf_counter()
        if connect:
            self._connect()

    # -- the connection -----------------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            import ray
        except ImportError:
            raise MissingDependency(RAY_PACKAGE, "Running on a Ray cluster (--ray)") from None
        root = str(Path(__file__).resolve().parent.parent)
        env = {k: v for k, v in os.environ.items() if k.startswith("INSIGHT_") or k in PASSED_ENV}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        if ray.is_initialized():
            ray.shutdown()
        try:
            ray.init(address=self.address, runtime_env={"env_vars": env}, log_to_driver=False,
                     logging_level="ERROR", include_dashboard=False)
        except Exception as exc:  # noqa: BLE001 (ConnectionError, RuntimeError, ValueError by Ray version)
            raise ClusterError(f"Could not reach a Ray cluster at {self.address!r} ({exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}).",
                               hint="Start one with `ray start --head --port=6379` (and `ray start --address="
                                    "HEAD:6379` on each worker), then pass --ray HEAD:6379 (or --ray auto on a node).")
        from ray.data import DataContext

        logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # a failure is one ClusterError line, not a trace
        context = DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False

    def cpus(self) -> int:
        """CPUs of the cluster's live nodes (the size of an actor pool)."""
        import ray

        return max(1, int(sum(n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive"))))

    def close(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)
        try:
            import ray

            ray.shutdown()
        except ImportError:
            pass

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one step -------------------------------------------------------------------------------

    def map(self, step: str, table, worker, *, kwargs: dict | None = None):
        """Run ``worker`` (a class of :mod:`pipelines.batches`) over the Arrow ``table`` on the
        cluster; returns the folder of result Parquet files (every key of ``table`` in them)."""
        import pyarrow.parquet as pq
        import ray

        report = StepReport(step, rows=table.num_rows)
        folder = self.stage / f"{step}-{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        (folder / "in").mkdir(parents=True)
        partitions = 0
        for start in range(0, table.num_rows, self.partition_rows):
            pq.write_table(table.slice(start, self.partition_rows), folder / "in" / f"part-{partitions:05d}.parquet")
            partitions += 1
        report.seconds["stage"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        try:
            # reading and writing Parquet take no CPU of their own: every CPU holds one actor
            data = ray.data.read_parquet(str(folder / "in"), override_num_blocks=partitions, num_cpus=0)
            pool = ray.data.ActorPoolStrategy(min_size=1, max_size=self.cpus())
            data = data.map_batches(worker, fn_constructor_kwargs=kwargs or {}, batch_size=self.partition_rows,
                                    batch_format="pyarrow", num_cpus=1, compute=pool)
            data.write_parquet(str(folder / "out"), ray_remote_args={"num_cpus": 0})
        except Exception as exc:  # noqa: BLE001 (RayError and its kin: the run failed, nothing written)
            shutil.rmtree(folder, ignore_errors=True)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ClusterError(f"The {step} run on the Ray cluster at {self.address} failed ({exc.__class__.__name__}"
                               f": {first[:300]}); nothing was written.",
                               hint="Check that every node is up (`ray status`) and run the command again: texts "
                                    "done before are cached, the rest are sent again.") from None
        report.seconds["cluster"] = round(time.perf_counter() - started, 2)
        report.seconds["partitions"] = partitions
        self.steps.append(report)
        return folder / "out"

    def counted(self, con, out: Path, key: str = "text_hash") -> None:
        """Rows and busy seconds per node from the last step's results (each key once, whichever retry
        wrote it)."""
        report = self.steps[-1]
        rows = con.execute(f"SELECT node, count(*), sum(seconds) FROM (SELECT DISTINCT ON ({key}) * "
                           f"FROM read_parquet(?)) GROUP BY node ORDER BY node", [_glob(out)]).fetchall()
        report.rows_per_node = {node[:12]: int(n) for node, n, _ in rows}
        report.busy_seconds_per_node = {node[:12]: round(float(s), 2) for node, _, s in rows}

    def summary(self) -> dict:
        """``nodes`` (how many nodes did work), rows per node over all steps, seconds, and each step."""
        per_node: dict[str, int] = {}
        for report in self.steps:
            for node, n in report.rows_per_node.items():
                per_node[node] = per_node.get(node, 0) + n
        return {"address": self.address, "nodes": len(per_node), "rows_per_node": per_node,
                "seconds": round(time.perf_counter() - self.started, 2), "steps": [s.to_dict() for s in self.steps]}

    # -- the steps --------------------------------------------------------------------------------

    def embed(self, con, study_id: int | None, model: str | None = None) -> dict:
        """Embed every segment text of a study not cached for the model yet, on the cluster; the
        same counts as :func:`insight.embeddings.embed_segments`, plus ``cluster`` (this step)."""
        from pipelines.batches import EmbedBatch

        name = model_name(model)
        todo = _arrow(con.execute(
            """
            SELECT g.text_hash, any_value(g.text) AS text FROM segments g JOIN documents d USING (document_id)
            WHERE (? IS NULL OR d.study_id = ?)
              AND g.text_hash NOT IN (SELECT text_hash FROM embeddings WHERE model = ?)
            GROUP BY g.text_hash ORDER BY length(any_value(g.text)), g.text_hash
            """, [study_id, study_id, name]))
        counts = con.execute("SELECT count(*), count(DISTINCT text_hash) FROM segments g JOIN documents d "
                             "USING (document_id) WHERE ? IS NULL OR d.study_id = ?", [study_id, study_id]).fetchone()
        summary = {"model": name, "segments": counts[0], "unique_texts": counts[1],
                   "cached": counts[1] - todo.num_rows, "embedded": 0}
        if not todo.num_rows:
            return summary
        out = self.map("embed", todo, EmbedBatch, kwargs={"model": name})
        started = time.perf_counter()
        with frames(con, _insight_todo=todo.select(["text_hash"])):
            _check_complete(con, out, "embed", todo.num_rows, self.address)
            infos = [json.loads(i) for (i,) in con.execute(
                "SELECT DISTINCT info FROM read_parquet(?)", [_glob(out)]).fetchall()]
            self.counted(con, out)
            report = self.steps[-1]
            info = {**infos[0], "cluster": {"address": self.address, "nodes": len(report.rows_per_node),
                                            "variants": sorted({i.get("backend", "") for i in infos})}}
            with transaction(con):
                con.execute("INSERT OR IGNORE INTO embeddings SELECT DISTINCT ON (text_hash) text_hash, ?, vector "
                            "FROM read_parquet(?)", [name, _glob(out)])
                summary["embedded"] = todo.num_rows
                record_run(con, "embed", study_id, info, {**summary, "cluster": report.to_dict()})
        report.seconds["load"] = round(time.perf_counter() - started, 2)
        summary["embedder"] = info
        return summary

    def lemmas(self, con, study_id: int | None) -> int:
        """Cache lemmas (:func:`insight.coding.units.ensure_lemmas`) on the cluster; returns texts done."""
        from pipelines.batches import LemmaBatch

        todo = _arrow(con.execute(
            "SELECT g.text_hash, any_value(g.text) AS text FROM segments g JOIN documents d USING (document_id) "
            "WHERE (? IS NULL OR d.study_id = ?) AND g.text_hash NOT IN (SELECT text_hash FROM lemmas) "
            "GROUP BY 1 ORDER BY 1", [study_id, study_id]))
        if not todo.num_rows:
            return 0
        out = self.map("lemmas", todo, LemmaBatch)
        started = time.perf_counter()
        with frames(con, _insight_todo=todo.select(["text_hash"])):
            _check_complete(con, out, "lemmas", todo.num_rows, self.address)
            self.counted(con, out)
            with transaction(con):
                con.execute("INSERT OR IGNORE INTO lemmas SELECT DISTINCT ON (text_hash) text_hash, pipeline, lemmas "
                            "FROM read_parquet(?)", [_glob(out)])
        self.steps[-1].seconds["load"] = round(time.perf_counter() - started, 2)
        return todo.num_rows

    def placer(self, con):
        """The ``outside`` step of :func:`pipelines.themes.fit_themes` on the cluster: each segment
        outside the fitted sample joins the theme of its nearest centroid and gets its map position,
        by :class:`pipelines.batches.AssignBatch`."""
        from pipelines.batches import AssignBatch, vector_column

        def outside(vectors, centroids, threshold, anchors, anchor_xy):
            import pyarrow as pa

            n = len(vectors)
            table = pa.table({"pos": pa.array(np.arange(n, dtype=np.int64)), "vector": vector_column(vectors)})
            out = self.map("themes", table, AssignBatch,
                           kwargs={"centroids": centroids, "threshold": threshold, "anchors": anchors,
                                   "anchor_xy": anchor_xy})
            started = time.perf_counter()
            frame = con.execute("SELECT DISTINCT ON (pos) pos, theme, score, x, y FROM read_parquet(?) ORDER BY pos",
                                [_glob(out)]).df()
            if len(frame) != n or not np.array_equal(frame["pos"].to_numpy(), np.arange(n)):
                raise ClusterError(f"The themes run on the Ray cluster at {self.address} returned {len(frame):,} of "
                                   f"{n:,} segments; nothing was written.", hint="Run the command again.")
            self.counted(con, out, key="pos")
            self.steps[-1].seconds["load"] = round(time.perf_counter() - started, 2)
            return (frame["theme"].to_numpy(np.int64), frame["score"].to_numpy(np.float32),
                    frame[["x", "y"]].to_numpy(np.float32))

        outside.where = f"Ray cluster {self.address}"
        return outside


def _glob(out: Path) -> str:
    return str(out / "*.parquet")


def _arrow(result):
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        return result.to_arrow_table()


def _check_complete(con, out: Path, step: str, expected: int, address: str) -> None:
    """Raise :class:`ClusterError` unless every text of ``_insight_todo`` is in the results."""
    files = list(out.glob("*.parquet")) if out.exists() else []
    got = con.execute("SELECT count(DISTINCT text_hash) FROM read_parquet(?) WHERE text_hash IN "
                      "(SELECT text_hash FROM _insight_todo)", [_glob(out)]).fetchone()[0] if files else 0
    if got != expected:
        raise ClusterError(f"The {step} run on the Ray cluster at {address} returned {got:,} of {expected:,} texts; "
                           "nothing was written.", hint="Run the command again: nothing was cached from this run.")
