"""Start-up: ``insight --help`` and ``insight stats`` on the sample study, in fresh processes.

    .venv/bin/python benchmarks/startup.py             # 15 runs of each command (medians)
    .venv/bin/python benchmarks/startup.py --numba     # also theme discovery's numba cold start

Like hyperfine: each command runs ``--runs`` times after two warm-up runs, alternating with the
baseline, a bare interpreter (``python -c pass``), so a busy machine slows both alike. Each run
also reports which heavy modules the command imported (torch, sentence_transformers, spacy,
bertopic, umap, hdbscan, numba, sklearn, onnxruntime, streamlit): there must be none.

``--numba`` times ``pipelines.themes.fit_themes`` on 1,000 synthetic vectors in fresh processes:
once with an empty numba cache (the once-per-machine compile) and then with the cache it left
(every later process).

Target (issue 7): each command well under a second, no heavy import on those paths.
Results: ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, log, median, print_rows, row, write_result

HEAVY = ("torch", "sentence_transformers", "transformers", "spacy", "bertopic", "umap", "hdbscan", "numba",
         "sklearn", "onnxruntime", "streamlit")
STUDY = "Living with local services"
PROBE = ("import sys, atexit\n"
         "def _report():\n"
         "    heavy = sorted(m for m in {heavy!r} if m in sys.modules)\n"
         "    sys.stderr.write('HEAVY:' + ','.join(heavy) + '\\n')\n"
         "atexit.register(_report)\n"
         "sys.argv = ['insight'] + {args!r}\n"
         "from insight.cli import main\n"
         "main()\n")


def insight_bin() -> str:
    candidate = Path(sys.executable).with_name("insight")
    return str(candidate) if candidate.exists() else "insight"


def build_sample(db: Path) -> None:
    subprocess.run([insight_bin(), "--db", str(db), "ingest", str(ROOT / "corpora"), "--study", STUDY],
                   check=True, capture_output=True, cwd=ROOT)


def wall(cmd: list[str], env=None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def heavy_imports(args: list[str]) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, args=args)], capture_output=True,
                            text=True, cwd=ROOT)
    line = next((x for x in result.stderr.splitlines() if x.startswith("HEAVY:")), "HEAVY:?")
    return [m for m in line[6:].split(",") if m]


NUMBA_WORKER = """
import time, numpy as np
t = time.perf_counter()
from pipelines.themes import fit_themes
rng = np.random.default_rng(0)
centres = rng.normal(size=(8, 32))
vecs = np.vstack([c + 0.3 * rng.normal(size=(125, 32)) for c in centres]).astype(np.float32)
docs = [f"word{i % 8} other{i % 5} text" for i in range(len(vecs))]
fit_themes(docs, vecs, min_size=20)
print(time.perf_counter() - t)
"""


def numba_cold_start() -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = []
        for _ in range(3):
            result = subprocess.run([sys.executable, "-c", NUMBA_WORKER], capture_output=True, text=True, env=env,
                                    cwd=ROOT, timeout=600)
            if result.returncode:
                return {"error": result.stderr[-500:]}
            out.append(float(result.stdout.strip().splitlines()[-1]))
            log(f"  themes on 1,000 vectors, fresh process, numba cache {'empty' if len(out) == 1 else 'warm'}: "
                f"{out[-1]:.1f}s")
    return {"cold_s": round(out[0], 2), "warm_s": round(median(out[1:]), 2), "runs_s": [round(x, 2) for x in out]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--numba", action="store_true", help="Also time theme discovery's numba cold start.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sample.duckdb"
        log("Building the sample study ...")
        build_sample(db)
        env = {**os.environ, "INSIGHT_DB": str(db)}
        commands = {"insight --help": [insight_bin(), "--help"],
                    "insight stats": [insight_bin(), "--db", str(db), "stats"],
                    "insight --version": [insight_bin(), "--version"]}
        baseline = [sys.executable, "-c", "pass"]
        times = {name: [] for name in [*commands, "python -c pass"]}
        for i in range(args.runs + 2):
            for name, cmd in commands.items():
                t = wall(cmd, env)
                if i >= 2:
                    times[name].append(t)
            t = wall(baseline, env)
            if i >= 2:
                times["python -c pass"].append(t)
        heavy = {name: heavy_imports(cmd[1:] if cmd[1] != "--db" else ["--db", str(db), "stats"])
                 for name, cmd in commands.items()}
    base = median(times["python -c pass"])
    figures = {name: {"median_s": round(median(v), 4), "min_s": round(min(v), 4), "max_s": round(max(v), 4),
                      "runs_s": [round(x, 4) for x in v], "heavy_modules_imported": heavy.get(name, [])}
               for name, v in times.items()}
    summary = []
    for name in ("insight --help", "insight stats"):
        value = median(times[name])
        ok = value < 1.0 and not heavy[name]
        summary.append(row(f"start-up: {name} (sample study), fresh process", value, "s",
                           baseline="python -c pass", baseline_value=base,
                           target="< 1 s, no torch/spaCy/BERTopic", passed=ok))
    if args.numba:
        log("Numba cold start of theme discovery ...")
        figures["numba_themes"] = numba = numba_cold_start()
        if "cold_s" in numba:
            summary.append(row("themes on 1,000 vectors, fresh process, warm numba cache", numba["warm_s"], "s",
                               baseline="same, empty numba cache (first run on a machine)",
                               baseline_value=numba["cold_s"]))
    write_result("startup", figures=figures, summary=summary,
                 settings={"runs": args.runs, "warmup_runs": 2, "heavy_modules_checked": HEAVY})
    print_rows(summary)
    for name, h in heavy.items():
        print(f"  {name}: heavy modules imported: {', '.join(h) or 'none'}")


if __name__ == "__main__":
    main()
