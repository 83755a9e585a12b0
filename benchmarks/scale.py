"""Scale: stores of 10,000, 100,000 (and with ``--full`` 1,000,000) segments; time and peak memory
of ingest, a codebook re-test from cached embeddings, agreement and the wide export.

    .venv/bin/python benchmarks/scale.py           # 10k and 100k (what `make bench` runs)
    .venv/bin/python benchmarks/scale.py --full    # adds 1M (about 15 minutes; needs ~8 GB of disk)

Each step runs in its own fresh process, so its peak resident memory (``ru_maxrss`` of that
process, imports and DuckDB's buffers included) is its own:

- **ingest (library)**: plain-text transcripts (100 speaker turns a file, ~13 words a turn) read,
  segmented and written by ``insight.ingest.ingest``, one transaction per file, into a new
  database; words per second. ``--ingest-max`` (default 100,000 segments; ``--full`` raises it
  to 1,000,000) caps the sizes that go through the library.
- **bulk build**: the same number of segments written straight from DataFrames/Arrow with
  documents, participants and attributes, two coders' codings, cached lemmas and a 384-d vector
  per text (``benchmarks/_store.py``): the store the other steps read.
- **re-test**: ``insight.codetest.test_codebook`` (rules and semantic) with 50 codes; the first
  run in the process, then the median of three re-runs each after editing one code's definition
  (a new codebook version). Segment vectors come from the cache; only changed code texts are
  embedded (by a bag-of-words embedder, so the figure is the re-test, not a model).
- **agreement**: ``insight.reliability.agreement`` between the two coders, every code, with its
  bootstrap intervals.
- **export wide CSV / Parquet**: ``insight.export.export_dataset(shape="wide")``, one row per
  segment and a 0/1 column per code.

Growth is the ratio of a step's time at one size to the size ten times smaller (linear: about
10). Results: ``benchmarks/results/scale.json`` (``scale_full.json`` for a run with 1,000,000).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, log, median, row, write_result

STEPS = ("ingest", "build", "retest", "agreement", "export_csv", "export_parquet")
TURNS_PER_FILE = 100
EDITS = 3


# ---------------------------------------------------------------------------------------------
# Workers (one step each, in a fresh process; print one JSON object)


def work_ingest(db: Path, n: int, folder: Path) -> dict:
    from _common import synthetic_texts
    from insight import store
    from insight.ingest import ingest
    from insight.readers.base import IngestOptions

    texts = synthetic_texts(n, 13, seed=7)
    folder.mkdir(parents=True, exist_ok=True)
    for f, start in enumerate(range(0, n, TURNS_PER_FILE)):
        lines = "".join(f"P{f % 500 + 1}: {t}\n" for t in texts[start:start + TURNS_PER_FILE])
        (folder / f"interview_{f:06d}.txt").write_text(lines, encoding="utf-8")
    words = sum(len(t.split()) for t in texts)
    del texts
    con = store.connect(db)
    started = time.perf_counter()
    report = ingest(con, [folder], IngestOptions(study="ingest", kind="interview"))
    seconds = time.perf_counter() - started
    totals = report.totals()
    return {"seconds": seconds, "segments": totals["segments"], "documents": totals["documents"],
            "failed": len(report.failed), "words": words, "words_per_s": words / seconds}


def work_build(db: Path, n: int) -> dict:
    from _store import build_store
    from insight import store

    con = store.connect(db)
    started = time.perf_counter()
    counts = build_store(con, n)
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, **counts, "db_mb": round(os.path.getsize(db) / 2 ** 20, 1)}


def work_retest(db: Path, n: int) -> dict:
    from _store import BagOfWordsEmbedder
    from insight import store
    from insight.codebook import get, save
    from insight.codetest import test_codebook

    con = store.connect(db)
    embedder = BagOfWordsEmbedder(50)
    book = get(con, "synthetic")
    started = time.perf_counter()
    first = test_codebook(con, 1, book, embedder=embedder)
    first_s = time.perf_counter() - started
    again = []
    for i in range(EDITS):
        code = book.codes[(7 * i + 3) % len(book.codes)]
        code.definition = code.definition.rstrip(".") + f", edit {i}."
        save(con, book, author="benchmark", note="one definition edited")
        book = get(con, "synthetic")
        encoded = embedder.texts_encoded
        started = time.perf_counter()
        report = test_codebook(con, 1, book, embedder=embedder)
        again.append({"seconds": time.perf_counter() - started, "texts_embedded": embedder.texts_encoded - encoded,
                      "passed": report["passed"], "failed": report["failed"]})
    return {"seconds": median(a["seconds"] for a in again), "first_run_s": first_s, "reruns": again,
            "codes": len(first["codes"]), "units": first["units"], "passed": first["passed"],
            "methods": first["methods"]}


def work_agreement(db: Path, n: int) -> dict:
    from insight import store
    from insight.reliability import agreement

    con = store.connect(db, read_only=True)
    started = time.perf_counter()
    result = agreement(con, "coder_a", "coder_b", study_id=1)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "kappa": result["overall"]["kappa"], "alpha": result["overall"]["alpha"],
            "units": result["overall"]["n_units"], "codes": len(result["codes"])}


def work_export(db: Path, n: int, fmt: str, folder: Path) -> dict:
    from insight import store
    from insight.export import export_dataset

    con = store.connect(db, read_only=True)
    out = folder / f"wide.{fmt}"
    started = time.perf_counter()
    result = export_dataset(con, study="scale", fmt=fmt, shape="wide", out=out)
    seconds = time.perf_counter() - started
    size = out.stat().st_size
    out.unlink()
    return {"seconds": seconds, "rows": result["rows"], "columns": result["columns"], "mb": round(size / 2 ** 20, 1)}


def worker(step: str, db: Path, n: int, folder: Path) -> dict:
    if step == "ingest":
        return work_ingest(db, n, folder)
    if step == "build":
        return work_build(db, n)
    if step == "retest":
        return work_retest(db, n)
    if step == "agreement":
        return work_agreement(db, n)
    return work_export(db, n, step.split("_")[1], folder)


# ---------------------------------------------------------------------------------------------
# The parent: one process per step (the worker reports its own peak memory)


def run_step(step: str, db: Path, n: int, folder: Path, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", step, "--db", str(db), "--n", str(n),
           "--dir", str(folder)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": f"timed out after {timeout:.0f}s"}
    wall = time.perf_counter() - started
    if proc.returncode:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}",
                "stderr": err[-2000:]}
    result = json.loads(out.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="Add the 1,000,000-segment store.")
    parser.add_argument("--sizes", help="Comma-separated sizes (overrides --full).")
    parser.add_argument("--ingest-max", type=int, help="Largest size ingested through the library.")
    parser.add_argument("--tmp", help="Where to build the stores (default: the system temp folder).")
    parser.add_argument("--worker", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import resource

        result = worker(args.worker, Path(args.db), args.n, Path(args.dir))
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(result, default=float))
        return

    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else [10_000, 100_000, 1_000_000] if args.full else [10_000, 100_000])
    ingest_max = args.ingest_max or (1_000_000 if args.full else 100_000)
    results: dict[int, dict] = {}
    for n in sizes:
        results[n] = {}
        with tempfile.TemporaryDirectory(dir=args.tmp, prefix=f"insight-scale-{n}-") as tmp:
            tmp = Path(tmp)
            db = tmp / "store.duckdb"
            timeout = 3600 if n >= 1_000_000 else 900
            for step in STEPS:
                if step == "ingest":
                    if n > ingest_max:
                        results[n][step] = {"skipped": f"sizes above {ingest_max:,} are not ingested through the "
                                                       "library in this run (see --ingest-max)"}
                        continue
                    r = run_step(step, tmp / "ingest.duckdb", n, tmp / "transcripts", timeout)
                    shutil.rmtree(tmp / "transcripts", ignore_errors=True)
                    for leftover in tmp.glob("ingest.duckdb*"):
                        leftover.unlink()
                else:
                    r = run_step(step, db, n, tmp, timeout)
                results[n][step] = r
                if "error" in r:
                    log(f"{n:>9,} {step:<15} ERROR {r['error']}")
                    if step == "build":
                        break
                    continue
                extra = f"  {r['words_per_s']:,.0f} words/s" if step == "ingest" else (
                    f"  first run {r['first_run_s']:.1f}s" if step == "retest" else "")
                log(f"{n:>9,} {step:<15} {r['seconds']:8.2f}s  peak {r['peak_rss_mb']:8.0f} MB{extra}")

    # growth: time at n over time at n/10
    growth: dict[str, dict] = {}
    for step in STEPS:
        for n in sizes:
            small = n // 10
            a, b = results.get(small, {}).get(step, {}), results[n].get(step, {})
            if "seconds" in a and "seconds" in b and a["seconds"] > 0:
                growth.setdefault(step, {})[f"{small}->{n}"] = round(b["seconds"] / a["seconds"], 2)
            if step == "retest" and "first_run_s" in a and "first_run_s" in b:
                growth.setdefault("retest_first_run", {})[f"{small}->{n}"] = round(b["first_run_s"] / a["first_run_s"], 2)

    summary = []
    biggest = max(sizes)
    for n in sizes:
        r = results[n]
        if "seconds" in r.get("retest", {}):
            summary.append(row(f"re-test after editing one code, {n:,} cached segments, 50 codes",
                               r["retest"]["seconds"], "s", target="< 1 s at 100,000" if n == 100_000 else None,
                               passed=r["retest"]["seconds"] < 1.0 if n == 100_000 else None))
        if "words_per_s" in r.get("ingest", {}):
            summary.append(row(f"ingest of plain-text transcripts through the library, {n:,} segments",
                               r["ingest"]["words_per_s"], "words/s", target=">= 100,000 words/s",
                               passed=r["ingest"]["words_per_s"] >= 100_000))
    peak = max((s.get("peak_rss_mb", 0) for s in results[biggest].values() if isinstance(s, dict)), default=0)
    summary.append(row(f"largest peak memory of any step at {biggest:,} segments", peak / 1024, "GB",
                       target="< 24 GB", passed=peak / 1024 < 24))
    figures = {"sizes": sizes, "steps": {str(n): results[n] for n in sizes}, "growth": growth}
    # a --full run keeps its own file, so the quick run of `make bench` does not overwrite it
    write_result("scale_full" if max(sizes) >= 1_000_000 else "scale", figures=figures, summary=summary,
                 settings={"codes": 50, "turns_per_file": TURNS_PER_FILE, "edits": EDITS,
                           "ingest_max": ingest_max, "embedder": "bag-of-words synthetic (benchmarks/_store.py)"})
    print_table(sizes, results, growth)


def print_table(sizes, results, growth) -> None:
    names = {"ingest": "ingest (library)", "build": "bulk build (Arrow)", "retest": "re-test after one edit",
             "agreement": "agreement (2 coders)", "export_csv": "export wide CSV", "export_parquet": "export wide Parquet"}
    head = f"{'step':<24}" + "".join(f"{f'{n:,} s':>14}{'peak MB':>9}" for n in sizes) + "   growth x10"
    print(head)
    for step in STEPS:
        line = f"{names[step]:<24}"
        for n in sizes:
            r = results[n].get(step, {})
            if "seconds" in r:
                line += f"{r['seconds']:>14.2f}{r['peak_rss_mb']:>9.0f}"
            else:
                line += f"{'-':>14}{'':>9}"
        line += "   " + ", ".join(f"{v}" for v in growth.get(step, {}).values())
        print(line)
    firsts = [results[n].get("retest", {}).get("first_run_s") for n in sizes]
    if any(firsts):
        print(f"{'re-test, first run':<24}" + "".join(f"{(f or 0):>14.2f}{'':>9}" for f in firsts) + "   "
              + ", ".join(str(v) for v in growth.get("retest_first_run", {}).values()))


if __name__ == "__main__":
    main()
