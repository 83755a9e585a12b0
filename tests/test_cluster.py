"""The Ray cluster path (insight/cluster.py, pipelines/batches.py) on a real local cluster: a head
node and a worker node started with `ray start` on this machine, one CPU each, stopped at the end.

Every figure is checked against the one-machine path on a copy of the same study: the same
vectors (hashing embedder: exact; the real model: mean cosine), the same codings, the same themes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is installed by `make install`; these tests run wherever it is")

from ray_local import LocalCluster  # noqa: E402  (after the skip: it starts `ray` nodes)

WORDS = ("bins collection missed again street rubbish bus late route cancelled rent landlord damp mould repairs "
         "library hours closed children park lights broken night safe doctor appointment wait weeks nurse phone "
         "council tax bill letter housing list school place road pothole cycle lane").split()


@pytest.fixture(scope="module")
def cluster():
    # a dead node is noticed in seconds, not the default half minute
    local = LocalCluster({**os.environ, "RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
                          "RAY_health_check_failure_threshold": "3"})
    try:
        local.head()
        local.worker()
        yield local
    finally:
        local.stop()


@pytest.fixture
def hashing(monkeypatch):
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")


def panel_csv(path: Path, n: int, seed: int = 0) -> Path:
    """A panel export as they come: respondent ids, two questions, blank cells, duplicate answers,
    HTML entities, Windows line endings."""
    rng = np.random.default_rng(seed)
    lines = ["respondent_id,ward,q1_services,q2_change"]
    for i in range(n):
        def answer():
            roll = rng.random()
            if roll < 0.05:
                return ""
            if roll < 0.12:
                return "Nothing to add"
            words = rng.choice(WORDS, size=int(rng.integers(3, 40)))
            return " ".join(words).capitalize() + (" &amp; more" if roll > 0.97 else ".")
        lines.append(f"R{i:05d},{['North', 'South', 'East'][i % 3]},\"{answer()}\",\"{answer()}\"")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


def study(tmp_path: Path, name: str, n: int) -> Path:
    from insight import Workspace

    db = tmp_path / f"{name}.duckdb"
    with Workspace(db) as ws:
        report = ws.ingest([panel_csv(tmp_path / "panel.csv", n)], study="panel", kind="panel",
                           text_cols=["q1_services", "q2_change"], id_col="respondent_id", attr_cols=["ward"])
        assert not report.failed
    return db


def cli(db: Path, *args: str) -> dict:
    from click.testing import CliRunner

    from insight.cli import main

    result = CliRunner().invoke(main, ["--db", str(db), *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def vectors(db: Path, tmp_path: Path) -> dict:
    """segment_id -> vector, through `insight export --format embeddings`."""
    import pyarrow.parquet as pq

    out = tmp_path / f"{db.stem}-vectors.parquet"
    summary = cli(db, "export", "--format", "embeddings", "--out", str(out))
    table = pq.read_table(out)
    assert table.column_names == ["segment_id", "text", "model", "vector"]
    assert summary["rows"] == table.num_rows
    return dict(zip(table.column("segment_id").to_pylist(), map(np.asarray, table.column("vector").to_pylist())))


class SlowBatches:
    """EmbedBatch that leaves a mark (its process id) when it starts a batch and pauses before it,
    so that a node can be killed while it works."""

    marks = ""  # set by the test; pickled with the class
    pause = 1.0

    def __init__(self, model):
        from pipelines.batches import EmbedBatch

        self.inner = EmbedBatch(model)

    def __call__(self, batch):
        if self.marks:
            Path(self.marks, f"{os.getpid()}-{time.time_ns()}").touch()
        time.sleep(self.pause)
        return self.inner(batch)


def test_embed_on_two_nodes_matches_one_machine(cluster, hashing, tmp_path, monkeypatch):
    """Every node with a CPU gets work even when one could do it all at once (the hashing embedder
    takes no time, so nothing queues up), and the vectors are one machine's, bit for bit."""
    import insight.cluster

    monkeypatch.setattr(insight.cluster, "PARTITION_ROWS", 128)  # several partitions (the rest of the run as ever)
    here, there = study(tmp_path, "here", 900), study(tmp_path, "there", 900)
    local = cli(here, "embed")
    remote = cli(there, "embed", "--ray", cluster.address)
    assert remote["embedded"] == local["embedded"] == remote["unique_texts"] > 1000
    assert remote["nodes"] == 2, remote["rows_per_node"]
    assert sum(remote["rows_per_node"].values()) == remote["embedded"]
    step = remote["cluster"]["steps"][0]
    assert step["actors"] == 2 and step["partitions"] == -(-remote["embedded"] // 128)
    a, b = vectors(here, tmp_path), vectors(there, tmp_path)
    assert a.keys() == b.keys() and len(a) == remote["segments"]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    again = cli(there, "embed", "--ray", cluster.address)  # all cached: nothing goes to the cluster
    assert again["embedded"] == 0 and again["nodes"] == 0
    from insight import Workspace

    with Workspace(there, read_only=True) as ws:
        run = ws.runs(step="embed").iloc[0]
    assert json.loads(run["settings"])["cluster"]["nodes"] == 2


CODEBOOK = """
name: services
codes:
  - name: bins
    definition: Household waste and rubbish collection.
    keywords: [bins, rubbish, collection]
  - name: transport
    definition: Buses and roads.
    keywords: [bus, route, road, pothole]
  - name: housing
    definition: Rent, repairs and damp in homes.
    keywords: [rent, landlord, damp, mould]
"""


def test_code_on_cluster_gives_the_same_codings(cluster, hashing, tmp_path):
    (tmp_path / "codebook.yaml").write_text(CODEBOOK)
    here, there = study(tmp_path, "here", 400), study(tmp_path, "there", 400)
    for db in (here, there):
        cli(db, "codebook", "load", str(tmp_path / "codebook.yaml"))
    local = cli(here, "code")
    remote = cli(there, "code", "--ray", cluster.address)
    assert remote["suggestions"] == local["suggestions"] and sum(local["suggestions"].values()) > 100
    assert {s["step"] for s in remote["cluster"]["steps"]} == {"embed", "lemmas"}
    assert all(len(s["rows_per_node"]) == 2 for s in remote["cluster"]["steps"])  # partitions of 256: 3 a step
    from insight import Workspace

    def codings(db):
        with Workspace(db, read_only=True) as ws:
            frame = ws.codings()
        return sorted(zip(frame["document_id"], frame["start"], frame["end"], frame["code"], frame["coder"],
                          frame["score"].round(6)))

    assert codings(here) == codings(there)


@pytest.mark.slow
def test_theme_placement_on_cluster_matches_one_machine(cluster, tmp_path):
    """fit_themes on a sample, the rest placed on the cluster: same themes and map as placed here."""
    import duckdb

    from insight.cluster import Cluster
    from pipelines.themes import fit_themes

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 32))
    X = np.vstack([c + 0.3 * rng.normal(size=(150, 32)) for c in centres]).astype(np.float32)
    docs = [f"{w} {w} service" for w in ("bins", "buses", "rent", "parks") for _ in range(150)]
    here = fit_themes(docs, X, min_size=10, max_fit=300, seed=1)
    con = duckdb.connect()
    with Cluster(cluster.address, database=str(tmp_path / "x.duckdb"), partition_rows=128) as remote:
        there = fit_themes(docs, X, min_size=10, max_fit=300, seed=1, outside=remote.placer(con))
        report = remote.summary()
    assert report["nodes"] == 2 and sum(report["rows_per_node"].values()) == 300
    assert np.array_equal(here.labels, there.labels)
    assert np.allclose(here.probability, there.probability, atol=1e-5)
    assert np.allclose(here.xy, there.xy, atol=1e-4)


def test_a_worker_node_killed_mid_run_costs_only_its_partitions(cluster, hashing, tmp_path, monkeypatch):
    from ray import cloudpickle

    import insight.cluster
    import pipelines.batches
    from insight import Workspace

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    monkeypatch.setattr(pipelines.batches, "EmbedBatch", SlowBatches)
    monkeypatch.setattr(SlowBatches, "marks", str(tmp_path / "marks"))
    monkeypatch.setattr(SlowBatches, "pause", 2.0)  # the victim is killed in this pause, its partition half done
    (tmp_path / "marks").mkdir()
    monkeypatch.setattr(insight.cluster, "PARTITION_ROWS", 64)
    victim = cluster.worker()  # a third node, killed once the run is under way
    here, there = study(tmp_path, "here", 300), study(tmp_path, "there", 300)
    local = cli(here, "embed")

    def on_victim(mark: Path) -> bool:
        """Whether the batch that left ``mark`` runs on the victim node (its workers are in the
        session of the victim's `ray start`)."""
        try:
            return os.getsid(int(mark.name.split("-")[0])) == victim.pid
        except ProcessLookupError:
            return False

    def kill_when_working():
        deadline = time.time() + 300
        while time.time() < deadline:
            if any(on_victim(mark) for mark in (tmp_path / "marks").iterdir()):  # the victim is mid-batch
                cluster.kill(victim)
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_when_working, daemon=True)
    killer.start()
    from click.testing import CliRunner

    from insight.cli import main

    result = CliRunner().invoke(main, ["--db", str(there), "embed", "--ray", cluster.address, "--json"])
    killer.join(timeout=5)
    marks = len(list((tmp_path / "marks").iterdir()))
    assert victim.poll() is not None, f"not killed mid-run ({marks} batches started): {result.output[-6000:]}"
    assert result.exit_code == 0, result.output[-6000:]  # the nodes left took over the victim's partitions
    assert result.stdout.startswith("{"), result.stdout[:3000]
    remote = json.loads(result.stdout)
    step = remote["cluster"]["steps"][0]
    assert step["actors"] == 3 and step["lost"] == 1 and step["retried"] >= 1, step
    with Workspace(there, read_only=True) as ws:
        cached = ws.con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    assert remote["embedded"] == local["embedded"] == cached == sum(remote["rows_per_node"].values())
    a, b = vectors(here, tmp_path), vectors(there, tmp_path)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


class BrokenBatches:
    """EmbedBatch that fails on its third partition, as a step with a bug would on any node, or
    (``at = "start"``) when it is built, as one whose model is missing would."""

    at = "third"  # set by the test; pickled with the class

    def __init__(self, model):
        from pipelines.batches import EmbedBatch

        if self.at == "start":
            raise ValueError("vector width 0 for 'bins'")
        self.inner, self.calls = EmbedBatch(model), 0

    def __call__(self, batch):
        self.calls += 1
        if self.calls == 3:
            raise ValueError("vector width 0 for 'bins'")
        return self.inner(batch)


@pytest.mark.parametrize("at", ["third", "start"])
def test_a_step_that_fails_on_the_cluster_stops_the_run_and_writes_nothing(cluster, hashing, tmp_path,
                                                                           monkeypatch, at):
    from ray import cloudpickle

    import insight.cluster
    import pipelines.batches
    from insight import Workspace

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    monkeypatch.setattr(pipelines.batches, "EmbedBatch", BrokenBatches)
    monkeypatch.setattr(BrokenBatches, "at", at)
    monkeypatch.setattr(insight.cluster, "PARTITION_ROWS", 32)  # more than two partitions an actor
    there = study(tmp_path, "there", 200)
    from click.testing import CliRunner

    from insight.cli import main

    result = CliRunner().invoke(main, ["--db", str(there), "embed", "--ray", cluster.address, "--json"])
    assert result.exit_code != 0
    assert "ValueError: vector width 0 for 'bins'" in result.output and "nothing was written" in result.output
    assert "Traceback" not in result.output
    with Workspace(there, read_only=True) as ws:
        assert ws.con.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0
        assert ws.runs(step="embed").empty
    assert not list(tmp_path.glob(".insight-ray-*/*")), "the stage folder was left behind"


def test_without_ray_option_ray_is_not_imported(tmp_path, hashing):
    """`insight --help`, `insight embed --help` and a plain `insight embed` never import Ray."""
    db = study(tmp_path, "plain", 20)
    probe = ("import sys, atexit\n"
             "atexit.register(lambda: sys.stderr.write('RAY:%s\\n' % ('ray' in sys.modules)))\n"
             "sys.argv = ['insight'] + {args!r}\nfrom insight.cli import main\nmain()\n")
    for args in (["--help"], ["embed", "--help"], ["--db", str(db), "embed"]):
        result = subprocess.run([sys.executable, "-c", probe.format(args=args)], capture_output=True, text=True,
                                timeout=300, env={**os.environ, "INSIGHT_MODEL": "hashing"})
        assert result.returncode == 0, result.stderr
        assert "RAY:False" in result.stderr, (args, result.stderr[-500:])


def test_actors_go_to_every_node_before_a_second_cpu_of_any(monkeypatch):
    """The slots are each node's first CPU, then each one's second, ...: a job with fewer partitions
    than CPUs still reaches as many nodes as it has partitions; a head with no CPU gets none."""
    from insight.cluster import Cluster

    nodes = [{"NodeID": "head", "Alive": True, "Resources": {"CPU": 0.0}},
             {"NodeID": "big", "Alive": True, "Resources": {"CPU": 3.0}},
             {"NodeID": "dead", "Alive": False, "Resources": {"CPU": 8.0}},
             {"NodeID": "small", "Alive": True, "Resources": {"CPU": 1.0, "memory": 1e9}},
             {"NodeID": "half", "Alive": True, "Resources": {"CPU": 0.5}}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    assert Cluster("127.0.0.1:1", connect=False).slots() == ["big", "small", "big", "big"]
