"""Running the per-text steps of a study on a Ray cluster: embedding, lemmas, and placing the
segments outside a theme fit's sample.

Reads ``segments``, ``documents``, ``embeddings`` and ``lemmas``; writes ``embeddings`` and
``lemmas`` (the same caches the one-machine path fills, so every step after is unchanged) and a
``runs`` row (step ``embed``) for an embedding pass, whose settings say which cluster and nodes
made the vectors.

How a step runs (:meth:`Cluster.map`):

1. The texts still to do go into Parquet partitions under the stage folder
   (``stage/<step>-<id>/in``), in the order of the one-machine query, each a multiple of
   :data:`pipelines.batches.CHUNK` rows (so that its batches are one machine's batches) and at
   most :data:`PARTITION_ROWS`; small enough that every worker gets a few.
2. One Ray actor per CPU of every live node (``num_cpus=1``, pinned to its node with a hard
   ``NodeAffinitySchedulingStrategy``) builds the step's class from :mod:`pipelines.batches` once
   (the model loads once per actor). Every actor is handed a partition at once, so every node with
   a CPU does work (a job too small for a partition an actor gets fewer actors, spread over as
   many nodes as it has partitions); after that a free actor takes the next waiting partition.
   Each actor writes its partition's results as Parquet (``.../out``).
3. DuckDB reads the results in one transaction, only when every text came back: a run either
   completes or writes nothing. A partition whose actor is lost (its node died, its worker was
   killed) goes back to the queue for the actors left, at most :data:`TRIES` times; an actor that
   has not started after :data:`START_SECONDS` gives its partition back the same way. If no actor
   is left, or the step itself raised, :class:`ClusterError` says so.

Why not Ray Data's ``map_batches``: an autoscaling actor pool stays at one actor on a short job
(one node does all the work), and a fixed pool of one actor per CPU deadlocks in Ray 2.60, whose
``read_parquet`` plans a ``ListFiles`` task that asks for a CPU the actors already hold. Ray core
actors give each node its share by construction.

The stage folder must be one every node can read and write: on one machine the default (a folder
beside the database) is; on several, give a shared folder (NFS) with ``--stage``. Workers import
Insight from the folder it is installed in, so each node needs the same installation.
"""

from __future__ import annotations

import json
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
PARTITIONS_PER_WORKER = 4  # partitions are made small enough for this many an actor: no node idles at the end
TRIES = 3  # runs of one partition (a lost actor's partition goes to another) before the run stops
START_SECONDS = 300  # an actor not started by then (its node's CPU held by another job) gives its partition back
AGAIN = ("Check that every node is up (`ray status`) and run the command again: texts done before are cached, the "
         "rest are sent again.")
RAY_PACKAGE = "ray==2.60.0"
PASSED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR")


class ClusterError(InsightError):
    """The Ray cluster could not be reached, or a run on it failed; nothing was written."""


@dataclass
class StepReport:
    """What one step did on the cluster: rows per node and where the seconds went."""

    step: str
    rows: int = 0
    partitions: int = 0
    actors: int = 0  # one a CPU of each live node
    lost: int = 0  # actors lost during the run (a node died, a worker was killed, one never started)
    retried: int = 0  # partitions run again on another actor after theirs was lost
    rows_per_node: dict = field(default_factory=dict)
    busy_seconds_per_node: dict = field(default_factory=dict)  # wall seconds inside the step
    cpu_seconds_per_node: dict = field(default_factory=dict)  # CPU seconds of the actors in it (all threads)
    seconds: dict = field(default_factory=dict)  # stage (write partitions), cluster (Ray), load (DuckDB)

    def to_dict(self) -> dict:
        return {"step": self.step, "rows": self.rows, "partitions": self.partitions, "actors": self.actors,
                "lost": self.lost, "retried": self.retried,
                "nodes": len(self.rows_per_node),
                "rows_per_node": self.rows_per_node, "busy_seconds_per_node": self.busy_seconds_per_node,
                "cpu_seconds_per_node": self.cpu_seconds_per_node,
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

    def slots(self) -> list[str]:
        """One node id per whole CPU of each live node, where the actors of a step go: the nodes
        taken in turn (each node's first CPU, then each one's second, ...), so that the first ``k``
        slots are on as many nodes as can be."""
        import ray

        cpus = {node["NodeID"]: int(node.get("Resources", {}).get("CPU", 0)) for node in ray.nodes()
                if node.get("Alive")}
        return [node for turn in range(max(cpus.values(), default=0)) for node, n in cpus.items() if n > turn]

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

        from pipelines.batches import CHUNK

        report = StepReport(step, rows=table.num_rows)
        slots = self.slots()
        if not slots:
            raise ClusterError(f"The Ray cluster at {self.address} has no live node with a whole CPU to run the "
                               f"{step} step on; nothing was written.",
                               hint="Start a worker with `ray start --address=HEAD:6379 --num-cpus=1` or more, "
                                    "and check `ray status`.")
        folder = self.stage / f"{step}-{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        (folder / "in").mkdir(parents=True)
        (folder / "out").mkdir()
        size = self.partition_rows
        if size % CHUNK == 0:  # smaller partitions for a small job, still whole CHUNKs
            share = -(-table.num_rows // (len(slots) * PARTITIONS_PER_WORKER))
            size = min(size, max(CHUNK, -(-share // CHUNK) * CHUNK))
        names = []
        for start in range(0, table.num_rows, size):
            names.append(f"part-{len(names):05d}.parquet")
            pq.write_table(table.slice(start, size), folder / "in" / names[-1])
        report.seconds["stage"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        slots = slots[:len(names)]  # no actor (and no model loaded) without a partition to start on
        report.partitions, report.actors = len(names), len(slots)
        try:
            self._run(report, folder, names, slots, worker, kwargs or {})
        except Exception as exc:  # noqa: BLE001 (ClusterError, or Ray's own: the head lost, ...): nothing written
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(exc, ClusterError):
                raise
            raise ClusterError(f"The {step} run on the Ray cluster at {self.address} failed ({_first_line(exc)}); "
                               "nothing was written.", hint=AGAIN) from None
        except BaseException:  # Ctrl-C: no half-written stage left behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
        report.seconds["cluster"] = round(time.perf_counter() - started, 2)
        self.steps.append(report)
        return folder / "out"

    def _run(self, report: StepReport, folder: Path, names: list[str], slots: list[str], worker, kwargs: dict) -> None:
        """Hand the partitions ``names`` to one actor per slot, a free actor taking the next; a lost
        actor's partition goes to another. Returns when every partition has its results."""
        import ray
        from ray.exceptions import RayError, RayTaskError
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from pipelines.batches import PartitionWorker

        remote = ray.remote(PartitionWorker)
        shared = ray.put(kwargs)  # once, not once per actor (the theme step's centroids and anchors)
        actors = [remote.options(num_cpus=1, max_restarts=0, max_task_retries=0,
                                 scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
                                 ).remote(worker, shared, 1) for node in slots]  # one CPU: one thread
        live, idle = list(actors), list(actors)
        starting = {actor.ready.remote(): actor for actor in actors}
        queue, tries, running = list(range(len(names))), [0] * len(names), {}
        deadline = time.monotonic() + START_SECONDS
        def fail(what: str, hint: str = AGAIN) -> ClusterError:
            return ClusterError(f"The {report.step} run on the Ray cluster at {self.address} failed ({what}); "
                                "nothing was written.", hint=hint)

        def lost_or_broken(exc, actor) -> None:
            """An actor whose step could not be built stops the run (it would fail on any node); one
            lost otherwise is dropped."""
            if getattr(exc, "actor_init_failed", False):
                raise fail(_last_line(exc), "Check that Insight and its models are installed the same way on "
                           "every node, then run the command again.") from None
            drop(actor, _first_line(exc))

        def drop(actor, why: str) -> None:
            """Stop using ``actor``; its partition (if it has one) fails and goes back to the queue."""
            _kill(ray, actor)
            report.lost += actor in live
            for ref in [ref for ref, waiting in starting.items() if waiting is actor]:
                del starting[ref]
            if actor in idle:
                idle.remove(actor)
            if actor in live:
                live.remove(actor)
            if not live:
                raise fail(f"no worker left: {why}")

        def hand_out() -> None:
            while queue and idle:
                actor, part = idle.pop(0), queue.pop(0)
                tries[part] += 1
                ref = actor.run.remote(str(folder / "in" / names[part]), str(folder / "out" / names[part]))
                running[ref] = (actor, part)

        try:
            hand_out()  # every actor has a partition now: every node with a CPU does work
            while running:
                done, _ = ray.wait([*running, *starting], num_returns=1, timeout=5.0)
                for ref in done:
                    if ref in starting:
                        actor = starting.pop(ref)
                        try:
                            ray.get(ref)
                        except RayError as exc:  # lost before it started, or its step could not be built
                            lost_or_broken(exc, actor)
                        continue
                    actor, part = running.pop(ref)
                    try:
                        ray.get(ref)
                    except RayTaskError as exc:  # the step raised: it would on any node
                        raise fail(_first_line(exc.cause or exc),
                                   "Run the command without --ray to see the whole error.") from None
                    except RayError as exc:  # the actor is lost (its node died, its worker was killed)
                        if tries[part] >= TRIES:
                            raise fail(f"partition {part} lost {TRIES} times, last: {_first_line(exc)}") from None
                        queue.insert(0, part)
                        report.retried += 1
                        lost_or_broken(exc, actor)
                        continue
                    if actor in live:
                        idle.append(actor)
                if starting and time.monotonic() > deadline:
                    if len(starting) >= len(live):
                        raise fail(f"no worker started in {START_SECONDS} s", "The cluster's CPUs may be held by "
                                   "another job: check `ray status`.")
                    for actor in list(starting.values()):  # its CPU is held elsewhere: the others go on
                        drop(actor, "not started")  # its partition's call fails as a lost actor's does
                hand_out()
        finally:
            for actor in actors:
                _kill(ray, actor)

    def counted(self, con, out: Path, key: str = "text_hash") -> None:
        """Rows, busy (wall) and CPU seconds per node from the last step's results (each key once,
        whichever retry wrote it)."""
        report = self.steps[-1]
        rows = con.execute(f"SELECT node, count(*), sum(seconds), sum(cpu_seconds) FROM (SELECT DISTINCT ON ({key}) * "
                           f"FROM read_parquet(?)) GROUP BY node ORDER BY node", [_glob(out)]).fetchall()
        report.rows_per_node = {node[:12]: int(n) for node, n, _, _ in rows}
        report.busy_seconds_per_node = {node[:12]: round(float(s), 2) for node, _, s, _ in rows}
        report.cpu_seconds_per_node = {node[:12]: round(float(c), 2) for node, _, _, c in rows}

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


def _kill(ray, actor) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # noqa: BLE001 (already gone with its node)
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text.splitlines()[0][:300] if text else ''}"


def _last_line(exc: BaseException) -> str:
    """The last line of a remote traceback: the error itself (``ValueError: ...``)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:300] if lines else exc.__class__.__name__


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
