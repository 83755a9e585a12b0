"""Citizen-panel answers end to end, on one machine and on a local Ray cluster of 1 and 2 worker
nodes, with the real embedding model.

    .venv/bin/python benchmarks/scale_ray.py --answers 1000000 --cluster-answers 20000
    nice -n 10 .venv/bin/python benchmarks/scale_ray.py --answers 100000 --cluster-answers 20000

**One machine**: a synthetic panel export (respondent ids, three open questions, answers of 1 to
120 words, blank cells, duplicates such as "No comment", HTML entities, ward and age band) goes
through the CLI, each step in its own process under ``/usr/bin/time -v`` (wall seconds and peak
resident memory of that process): ``ingest``, ``embed``, ``code`` (rules and semantic, the
lived-experience codebook), ``themes`` (fitted on a seeded sample of 20,000, the rest assigned),
``export`` (the coded dataset as Parquet, and ``--format embeddings``).

**Cluster**: a second export of ``--cluster-answers`` answers, ingested once and copied; ``embed``
on one machine, then ``embed --ray`` on a local cluster (a head node with no CPUs for work, and 1
or 2 worker nodes of one CPU each, all on this machine): seconds, rows per node, and where the
time goes (writing partitions, Ray, loading into DuckDB). The vectors of each cluster run are
compared with the one-machine run's (``--format embeddings``: mean and lowest cosine), and
``code --ray`` (rules and semantic) on the cluster gives the codings ``code`` gives on one machine. The
projection for N nodes: ``move + rows / (N * per_node_rate)``, with the per-node rate and the cost
of moving data (stage + load, per row) measured here.

Results: ``benchmarks/results/scale_ray.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, log, write_result

sys.path.insert(0, str(ROOT / "tests"))
from ray_local import LocalCluster  # noqa: E402  (the tests' local cluster: one way to start one)

INSIGHT = str(Path(sys.executable).with_name("insight"))
CODEBOOK = ROOT / "codebooks" / "lived_experience.yaml"
TOPICS = {
    "bins": "bins collection missed rubbish recycling street litter fly tipping",
    "buses": "bus route late cancelled timetable fares stop shelter",
    "housing": "rent landlord damp mould repairs boiler heating council flat",
    "care": "carer care package social worker assessment mum dad home visits",
    "money": "council tax bill arrears benefit cost of living food bank",
    "contact": "phone call wait hold email reply online form office",
    "parks": "park playground green space trees benches dog walking",
    "safety": "street lights dark unsafe night antisocial police",
    "roads": "pothole road repair pavement cycle lane traffic parking",
    "library": "library opening hours books children computers closed",
}
FILLERS = ["No comment", "Nothing to add", "n/a", "Don't know", "As above", "Same as before", "Keep it up"]


def panel(path: Path, answers: int, seed: int) -> int:
    """Write ``answers`` answers (three a respondent) as a panel CSV; returns the words written."""
    rng = np.random.default_rng(seed)
    topics = list(TOPICS.values())
    glue = "the and it is was our we my a to of in for that this but very really".split()
    words = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("respondent_id,ward,age_band,q1_services,q2_change,q3_anything_else\r\n")
        for r in range(answers // 3):
            cells = []
            for _ in range(3):
                roll = rng.random()
                if roll < 0.06:
                    cells.append("")
                elif roll < 0.14:
                    cells.append(FILLERS[int(rng.integers(len(FILLERS)))])
                else:
                    n = int(min(120, max(1, rng.lognormal(2.6, 0.7))))
                    pool = topics[int(rng.integers(len(topics)))].split() + glue
                    text = " ".join(rng.choice(pool, size=n)).capitalize() + "."
                    cells.append(text.replace(" and ", " &amp; ", 1) if roll > 0.97 else text)
                words += len(cells[-1].split())
            f.write(f"R{r:07d},{['North', 'South', 'East', 'West'][r % 4]},{['18-34', '35-54', '55+'][r % 3]},"
                    + ",".join(f'"{c}"' for c in cells) + "\r\n")
    return words


def step(name: str, args: list[str], env: dict, out: dict) -> dict:
    """Run ``insight ARGS --json`` under /usr/bin/time -v; record seconds and peak memory."""
    log(f"  {name}: insight {' '.join(args)}")
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", INSIGHT, *args, "--json"], capture_output=True, text=True,
                            env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", result.stderr))
    data = json.loads(result.stdout)
    # CPU seconds of the command's own process: on a machine shared with others, wall time measures them too
    out[name] = {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "peak_mb": round(peak_kb / 1024),
                 "result": data}
    log(f"    {seconds:.1f} s ({cpu:.1f} CPU s), peak {peak_kb / 1024:.0f} MB")
    if "cluster" in data:
        log("    cluster: " + json.dumps(data["cluster"]["steps"]))
    return data


def one_machine(folder: Path, answers: int, env: dict, out: dict | None = None, save=lambda: None) -> dict:
    """Each step in turn; ``save`` is called after each, so a long run that stops keeps what it measured."""
    out = {} if out is None else out
    csv = folder / "panel.csv"
    words = panel(csv, answers, seed=1)
    db = str(folder / "one.duckdb")
    base = ["--db", db]
    out["words"] = words
    steps = [("ingest", ["ingest", str(csv), "--study", "panel", "--kind", "panel", "--id-col", "respondent_id",
                         "--text-col", "q1_services", "--text-col", "q2_change", "--text-col", "q3_anything_else",
                         "--attr-col", "ward", "--attr-col", "age_band"]),
             ("embed", ["embed"]),
             ("codebook", ["codebook", "load", str(CODEBOOK)]),
             ("code", ["code", "--methods", "rules,semantic"]),
             ("themes", ["themes"]),
             ("export", ["export", "--out", str(folder / "coded.parquet"), "--include-suggestions"]),
             ("export_embeddings", ["export", "--format", "embeddings", "--out", str(folder / "vec.parquet")])]
    for name, args in steps:
        step(name, base + args, env, out)
        save()
    return out


def cosines(a: Path, b: Path) -> dict:
    import pyarrow.parquet as pq

    ta, tb = pq.read_table(a), pq.read_table(b)
    va = dict(zip(ta.column("segment_id").to_pylist(), ta.column("vector").to_pylist()))
    ids = tb.column("segment_id").to_pylist()
    A = np.asarray([va[i] for i in ids], dtype=np.float32)
    B = np.asarray(tb.column("vector").to_pylist(), dtype=np.float32)
    cos = (A * B).sum(1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))
    return {"segments": len(ids), "mean_cosine": round(float(cos.mean()), 6), "min_cosine": round(float(cos.min()), 6)}


def same_codings(a: Path, b: Path) -> dict:
    """The auto-coder's suggestions of two studies compared: (document, start, end, code, coder) and
    score to 6 places; how many each has, how many differ."""
    sys.path.insert(0, str(ROOT))
    from insight import Workspace

    def rows(db: Path) -> set:
        with Workspace(db, read_only=True) as ws:
            frame = ws.codings()
        return set(zip(frame["document_id"], frame["start"], frame["end"], frame["code"], frame["coder"],
                       frame["score"].astype(float).round(6)))

    ra, rb = rows(a), rows(b)
    return {"one_machine": len(ra), "cluster": len(rb), "only_one_machine": len(ra - rb),
            "only_cluster": len(rb - ra), "same": ra == rb}


def on_cluster(folder: Path, answers: int, env: dict, worker_counts=(1, 2), out: dict | None = None,
               save=lambda: None) -> dict:
    """The cluster runs; ``save`` is called after each, so a run that stops keeps what it measured."""
    out = {} if out is None else out
    csv = folder / "panel_cluster.csv"
    panel(csv, answers, seed=2)
    seed_db = folder / "cluster_seed.duckdb"
    step("ingest", ["--db", str(seed_db), "ingest", str(csv), "--study", "panel", "--kind", "panel", "--id-col",
                    "respondent_id", "--text-col", "q1_services", "--text-col", "q2_change", "--text-col",
                    "q3_anything_else"], env, out)
    local = folder / "cluster_local.duckdb"
    shutil.copy(seed_db, local)
    step("embed_one_machine", ["--db", str(local), "embed"], env, out)
    step("export_one_machine", ["--db", str(local), "export", "--format", "embeddings", "--out",
                                str(folder / "c_local.parquet")], env, out)
    step("codebook_one_machine", ["--db", str(local), "codebook", "load", str(CODEBOOK)], env, out)
    step("code_one_machine", ["--db", str(local), "code", "--methods", "rules,semantic"], env, out)
    for workers in worker_counts:
        db = folder / f"cluster_{workers}.duckdb"
        shutil.copy(seed_db, db)
        cluster = LocalCluster(env)  # a head with no CPU for work and `workers` nodes of one CPU
        try:
            cluster.head(cpus=0)
            for _ in range(workers):
                cluster.worker(cpus=1)
            load_before = os.getloadavg()
            data = step(f"embed_ray_{workers}", ["--db", str(db), "embed", "--ray", cluster.address], env, out)
            step(f"codebook_ray_{workers}", ["--db", str(db), "codebook", "load", str(CODEBOOK)], env, out)
            coded = step(f"code_ray_{workers}", ["--db", str(db), "code", "--methods", "rules,semantic", "--ray",
                                                 cluster.address], env, out)
        finally:
            cluster.stop()
        load_after = os.getloadavg()
        step(f"export_ray_{workers}", ["--db", str(db), "export", "--format", "embeddings", "--out",
                                       str(folder / f"c_{workers}.parquet")], env, out)
        out[f"embed_ray_{workers}"]["node_restarts"] = cluster.restarts
        report = data["cluster"]["steps"][0]
        busy, cpu = report["busy_seconds_per_node"], report.get("cpu_seconds_per_node", {})
        out[f"embed_ray_{workers}"].update({
            "nodes": data["nodes"], "rows": report["rows"], "rows_per_node": report["rows_per_node"],
            "partitions": report.get("partitions"), "actors": report.get("actors"),
            "lost": report.get("lost"), "retried": report.get("retried"),
            # wall seconds inside the step; on a shared machine its CPU seconds say what the node itself did
            "busy_seconds_per_node": busy, "cpu_seconds_per_node": cpu,
            "rows_per_s_per_node": {n: round(report["rows_per_node"][n] / max(s, 1e-9), 1) for n, s in busy.items()},
            "rows_per_cpu_s_per_node": {n: round(report["rows_per_node"][n] / max(s, 1e-9), 1)
                                        for n, s in cpu.items()},
            "load_average_before_after": [round(x, 2) for x in (*load_before, *load_after)],
            "seconds_split": report["seconds"],
            "fidelity_to_one_machine": cosines(folder / "c_local.parquet", folder / f"c_{workers}.parquet")})
        out[f"code_ray_{workers}"].update({"nodes": coded.get("nodes"),
                                           "same_codings_as_one_machine": same_codings(local, db)})
        save()
    return out


def projection(cluster: dict, rows: int) -> dict:
    """Seconds to embed ``rows`` texts on N nodes, from the 2-node run's per-node rate and data cost."""
    run = cluster.get("embed_ray_2") or cluster["embed_ray_1"]
    rates = list(run["rows_per_s_per_node"].values())
    rate = float(np.mean(rates))
    cpu_rate = float(np.mean(list(run.get("rows_per_cpu_s_per_node", {}).values()) or [np.nan]))
    split = run["seconds_split"]
    move_per_row = (split["stage"] + split.get("load", 0.0)) / max(run["rows"], 1)
    overhead = max(0.0, run["seconds"] - split["stage"] - split.get("load", 0.0) - run["rows"] / (rate * len(rates)))
    serial = overhead + rows * move_per_row  # the driver's part: staging, loading into DuckDB, starting actors
    return {"per_node_rows_per_s": round(rate, 1), "per_node_rows_per_cpu_s": round(cpu_rate, 1),
            "move_seconds_per_row": round(move_per_row, 7),
            "fixed_overhead_s": round(overhead, 1),
            "seconds_for": {n: round(serial + rows / (n * rate), 1) for n in (1, 2, 4, 8, 16, 32, 64)},
            # what stops scaling: the serial part, which no node count shortens (Amdahl)
            "serial_seconds": round(serial, 1), "nodes_at_half_serial": round(rows / (rate * max(serial, 1e-9)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--cluster-answers", type=int, default=20_000)
    parser.add_argument("--skip-one-machine", action="store_true")
    parser.add_argument("--model", default=None, help="embedding model of the one-machine run (default: the "
                        "packaged all-MiniLM-L6-v2); 'hashing' measures every other step at full size in minutes, "
                        "its results kept apart as one_machine_hashing")
    parser.add_argument("--skip-cluster", action="store_true", help="only the one-machine run (the cluster's "
                        "figures already in the results file are kept)")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("INSIGHT_MODEL", None)
    machine_env = {**env, "INSIGHT_MODEL": args.model} if args.model else env
    part = "one_machine" if not args.model else f"one_machine_{args.model}"
    folder = Path(tempfile.mkdtemp(prefix="scale-ray-"))
    figures: dict = {}
    if not args.skip_one_machine and not args.model:
        figures["answers"] = args.answers
    if not args.skip_cluster:
        figures["cluster_answers"] = args.cluster_answers
    try:
        if not args.skip_cluster:
            log(f"Cluster runs ({args.cluster_answers:,} answers) in {folder}")
            figures["cluster"] = {}
            on_cluster(folder, args.cluster_answers, env, out=figures["cluster"], save=lambda: report(figures, args))
            figures["projection_1M"] = projection(figures["cluster"], 1_000_000)
            report(figures, args)  # written now too: the one-machine run can be long
        if not args.skip_one_machine:
            log(f"One machine ({args.answers:,} answers)")
            figures[part] = {"model": args.model or "all-MiniLM-L6-v2", "answers": args.answers}
            one_machine(folder, args.answers, machine_env, figures[part], lambda: report(figures, args))
        report(figures, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def previous() -> dict:
    """The figures of the last run in ``benchmarks/results/scale_ray.json``, if any."""
    path = ROOT / "benchmarks" / "results" / "scale_ray.json"
    try:
        return json.loads(path.read_text()).get("figures", {})
    except (OSError, ValueError):
        return {}


def report(figures: dict, args) -> None:
    """Write the figures, keeping those of the part (cluster or one machine) this run skipped:
    read back at each write, so the two parts may run at different times."""
    figures = {**previous(), **figures}
    summary = [{"measured": f"{name} ({run.get('answers', figures.get('answers', 0)):,} answers, "
                            f"{run.get('model', 'all-MiniLM-L6-v2')})", "value": f["seconds"], "unit": "s",
                "cpu_seconds": f.get("cpu_seconds"), "peak_mb": f["peak_mb"]}
               for key, run in figures.items() if key.startswith("one_machine") and isinstance(run, dict)
               for name, f in run.items() if isinstance(f, dict)]
    summary += [{"measured": f"cluster {name} ({figures.get('cluster_answers', 0):,} answers)", "value": f["seconds"], "unit": "s",
                 "nodes": f.get("nodes"), "rows_per_s_per_node": f.get("rows_per_s_per_node"),
                 "fidelity": f.get("fidelity_to_one_machine"),
                 "same_codings": f.get("same_codings_as_one_machine")} for name, f in figures.get("cluster", {}).items()
                 if isinstance(f, dict) and "seconds" in f]
    write_result("scale_ray", figures=figures, summary=summary, settings=vars(args))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
