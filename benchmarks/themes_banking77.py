"""Theme discovery against plain BERTopic on BANKING77: wall time of a fresh process, NMI and ARI.

    .venv/bin/python benchmarks/themes_banking77.py            # 3 timed runs of each (median)
    .venv/bin/python benchmarks/themes_banking77.py --runs 1   # quicker

The data: 10,000 customer queries drawn (seed 0) from BANKING77's train.csv, 77 intent labels, in
``../shared/data/banking77``. They are embedded once with Insight's default model
(all-MiniLM-L6-v2) and cached in ``benchmarks/results/.cache/`` as ``.npy``; both sides get the
same vectors, so neither pays for embedding.

Each timed run is a fresh Python process (``python this_file.py --worker NAME``): start-up,
imports, reading the cached vectors and texts, fitting, writing the labels. The two sides run
interleaved, so a busy machine slows both alike:

- **baseline**: ``BERTopic().fit_transform(docs, embeddings)``, BERTopic's defaults (UMAP with
  NN-descent and 500 epochs, HDBSCAN ``min_cluster_size=10``), labels as returned (-1 = outlier);
- **insight**: :func:`pipelines.themes.fit_themes`, all of what ``insight themes`` computes between
  reading the cached vectors and writing the run: themes, outlier reassignment, c-TF-IDF labels,
  quotes, hierarchy and the 2-D map layout.

NMI and ARI are against the 77 intent labels (scikit-learn), on every one of the 10,000 texts;
an outlier (-1) counts as one more cluster, for both sides.

Names: **name match** is the share of all texts whose theme's name contains a word of the name of
the intent that dominates that theme ("card_arrival" -> card, arrival; English stop words left
out; plurals folded: cards = card). Unassigned texts (-1) never match. Insight's names are its
theme labels ("Card arrival and delivery"); the baseline's are BERTopic's default labels, the
``Name`` of ``get_topic_info()`` ("12_card_arrival_delivery_track", the topic's four top words).

Why Insight is faster (details in ``pipelines/themes/``):

1. exact cosine neighbours by BLAS matrix products, given to UMAP as ``precomputed_knn``, instead
   of NN-descent (whose cost in a fresh process is mostly numba compiling its kernels);
2. UMAP with 200 epochs from a PCA start instead of 500 from a spectral one;
3. numba compilation made a one-time cost per machine: UMAP's hot kernels are re-wrapped with
   ``cache=True`` and ``NUMBA_CACHE_DIR`` points at ``~/.cache/insight/numba``;
4. no probability matrix (``calculate_probabilities=False``) and no HDBSCAN prediction data.

Outliers: HDBSCAN's noise is reassigned to the theme with the most similar centroid when the
cosine similarity is at least 0.3 (BERTopic's ``reduce_outliers(strategy="embeddings")`` rule);
the rest stay -1. The baseline's outliers stay -1, as plain BERTopic leaves them.

The first Insight run on a machine compiles and caches numba kernels; ``--cold`` adds one run with
an empty, temporary numba cache to show that one-time cost (it is not in the medians).

Results go to ``benchmarks/results/themes_banking77.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "banking77"
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / ".cache"
N_TEXTS = 10000
SAMPLE_SEED = 0
PREVIOUS_NMI = 0.8056  # Insight's NMI before theme names were reworked (results of 2026-11-24)
KEYS = ("wall_s", "nmi", "ari", "clusters", "outlier_share", "name_match")


def _paths(n: int, model: str) -> dict:
    stem = f"banking77_{n}"
    return {"texts": CACHE / f"{stem}_texts.json", "vectors": CACHE / f"{stem}_{model}.npy",
            "key": CACHE / f"{stem}_{model}.key"}


def prepare(n: int) -> dict:
    """Sample the texts and embed them once (cached as .npy); returns the paths and labels."""
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from pipelines.embed import get_embedder, model_name

    frame = pd.read_csv(DATA / "train.csv")
    if len(frame) < n:
        raise SystemExit(f"train.csv has {len(frame)} rows; asked for {n}.")
    frame = frame.sample(n=n, random_state=SAMPLE_SEED).reset_index(drop=True)
    model = model_name()
    paths = _paths(n, model)
    CACHE.mkdir(parents=True, exist_ok=True)
    texts = frame["text"].tolist()
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    paths["texts"].write_text(json.dumps({"texts": texts, "labels": frame["category"].tolist()}))
    cached = paths["key"].exists() and paths["key"].read_text().strip() == key and paths["vectors"].exists()
    if not cached:
        print(f"Embedding {n:,} texts with {model} (once; cached in {CACHE}) ...", file=sys.stderr, flush=True)
        started = time.time()
        np.save(paths["vectors"], get_embedder().encode(texts))
        paths["key"].write_text(key)
        print(f"  {time.time() - started:.0f}s", file=sys.stderr)
    return {"paths": paths, "labels": frame["category"].tolist(), "model": model}


def worker(name: str, n: int, model: str, out: str) -> None:
    """One fresh-process run: fit, then write the labels (timed from outside)."""
    import numpy as np

    paths = _paths(n, model)
    docs = json.loads(paths["texts"].read_text())["texts"]
    embeddings = np.load(paths["vectors"])
    info = {}
    if name == "baseline":
        from bertopic import BERTopic

        model = BERTopic()
        topics, _ = model.fit_transform(docs, embeddings)
        labels = np.asarray(topics)
        info = {"names": {str(t): name for t, name in zip(model.get_topic_info()["Topic"],
                                                          model.get_topic_info()["Name"]) if t != -1}}
    else:
        sys.path.insert(0, str(ROOT))
        from pipelines.themes import fit_themes

        fit = fit_themes(docs, embeddings)
        labels = fit.labels
        info = {"settings": {k: v for k, v in fit.settings.items() if k != "numba_cache"},
                "stage_seconds": fit.summary["seconds"], "groups": fit.summary["groups"],
                "hdbscan_outliers": fit.summary["hdbscan_outliers"],
                "names": {str(t["theme_id"]): t["label"] for t in fit.themes if not t["group"]},
                "top_level": [t["label"] for t in fit.themes if t["parent_id"] is None],
                "labels_sample": [t["label"] for t in fit.themes if not t["group"]][:10]}
    np.save(out, labels)
    Path(out + ".json").write_text(json.dumps(info, default=str))


def run_once(name: str, n: int, model: str, labels_true: list, env: dict | None = None) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "labels.npy")
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", name, "--n", str(n),
                               "--model", model, "--out", out], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode:
            raise SystemExit(f"{name} worker failed:\n{proc.stderr[-3000:]}")
        labels = np.load(out)
        info = json.loads(Path(out + ".json").read_text())
    names = info.pop("names", {})
    return {"wall_s": round(wall, 2), "nmi": round(float(normalized_mutual_info_score(labels_true, labels)), 4),
            "ari": round(float(adjusted_rand_score(labels_true, labels)), 4),
            "clusters": int(len(set(labels.tolist()) - {-1})), "outlier_share": round(float((labels == -1).mean()), 4),
            "name_match": name_match(labels_true, labels, names), **info}


def _name_words(text: str) -> set[str]:
    """The words of a name or intent, lower case, English stop words out, plurals folded."""
    import re

    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    sys.path.insert(0, str(ROOT))
    from pipelines.themes.names import stem

    return {stem(w) for w in re.findall(r"[a-z]+", text.lower().replace("_", " ")) if w not in ENGLISH_STOP_WORDS}


def name_match(labels_true: list, labels, names: dict) -> float:
    """The share of all texts whose theme's name holds a word of its theme's dominant intent."""
    import pandas as pd

    frame = pd.DataFrame({"intent": labels_true, "theme": labels})
    hits = 0
    for theme, group in frame[frame["theme"] != -1].groupby("theme"):
        name = str(names.get(str(theme), ""))
        name = name.split("_", 1)[1] if name[:1].isdigit() or name.startswith("-") else name  # "12_card_..."
        if _name_words(group["intent"].mode().iloc[0]) & _name_words(name):
            hits += len(group)
    return round(hits / len(frame), 4)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("bertopic", "umap-learn", "hdbscan", "pynndescent", "numba", "scikit-learn", "numpy",
                    "sentence-transformers", "torch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Timed runs of each side (the median is reported).")
    parser.add_argument("--n", type=int, default=N_TEXTS, help="Number of texts.")
    parser.add_argument("--cold", action="store_true", help="Also time one Insight run with an empty numba cache.")
    parser.add_argument("--worker", choices=["baseline", "insight"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.n, args.model, args.out)
        return
    if not (DATA / "train.csv").exists():
        print(f"Skipped: BANKING77 is not at {DATA} (train.csv with text,category columns).", file=sys.stderr)
        sys.exit(0)
    prep = prepare(args.n)
    labels, model = prep["labels"], prep["model"]
    load_before = os.getloadavg()
    print("Warm-up (untimed): one run of each, so files are in the page cache and numba's cache exists ...",
          file=sys.stderr, flush=True)
    run_once("insight", args.n, model, labels)
    run_once("baseline", args.n, model, labels)
    runs = {"baseline": [], "insight": []}
    for i in range(args.runs):
        for name in ("baseline", "insight"):
            result = run_once(name, args.n, model, labels)
            runs[name].append(result)
            print(f"run {i + 1}/{args.runs} {name:<8} {result['wall_s']:7.1f}s  NMI {result['nmi']:.4f}  "
                  f"ARI {result['ari']:.4f}  clusters {result['clusters']}  outliers {result['outlier_share']:.1%}",
                  file=sys.stderr, flush=True)
    cold = None
    if args.cold:
        with tempfile.TemporaryDirectory() as empty:
            cold = run_once("insight", args.n, model, labels, env={**os.environ, "NUMBA_CACHE_DIR": empty})
        print(f"cold insight run (empty numba cache): {cold['wall_s']:.1f}s", file=sys.stderr)
    load_after = os.getloadavg()

    def median(name, key):
        return statistics.median(r[key] for r in runs[name])

    summary = {name: {key: median(name, key) for key in KEYS} for name in runs}
    ratio = summary["insight"]["wall_s"] / summary["baseline"]["wall_s"]
    ins, base = summary["insight"], summary["baseline"]
    names_ahead = ins["name_match"] > base["name_match"] and ins["outlier_share"] < base["outlier_share"]
    passed = ratio <= 0.5 and ins["nmi"] >= base["nmi"] and ins["nmi"] >= PREVIOUS_NMI and names_ahead
    print()
    print(f"BANKING77, {args.n:,} texts, {model} embeddings, median of {args.runs} fresh processes each")
    print(f"{'':<10}{'wall s':>8}{'NMI':>8}{'ARI':>8}{'clusters':>10}{'outliers':>10}{'name match':>12}")
    for name in ("baseline", "insight"):
        s = summary[name]
        print(f"{name:<10}{s['wall_s']:>8.1f}{s['nmi']:>8.4f}{s['ari']:>8.4f}{s['clusters']:>10.0f}"
              f"{s['outlier_share']:>10.1%}{s['name_match']:>12.1%}")
    print(f"time ratio insight/baseline: {ratio:.2f} (target <= 0.50); NMI "
          f"{'>=' if summary['insight']['nmi'] >= summary['baseline']['nmi'] else '<'} baseline: "
          f"{'PASS' if passed else 'FAIL'}")
    print(f"names: Insight {ins['name_match']:.1%} of texts in a theme whose name holds a word of its dominant intent "
          f"(BERTopic's default labels {base['name_match']:.1%}); unassigned {ins['outlier_share']:.1%} "
          f"({base['outlier_share']:.1%}); NMI {ins['nmi']:.4f} (before the new names: {PREVIOUS_NMI})")
    if cold:
        print(f"first Insight run on a machine (empty numba cache, one-time): {cold['wall_s']:.1f}s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "themes_banking77", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {"source": str(DATA / "train.csv"), "texts": args.n, "sample_seed": SAMPLE_SEED, "labels": 77,
                 "embedding_model": model},
        "method": "wall time of a fresh Python process per run (start-up, imports, fit, write labels); "
                  "runs interleaved; after one untimed warm-up of each",
        "runs_per_side": args.runs, "summary": summary, "ratio_insight_over_baseline": round(ratio, 3),
        "target": "ratio <= 0.5, NMI >= baseline and >= the previous Insight NMI, name match above and unassigned "
                  "share below the baseline's", "previous_insight_nmi": PREVIOUS_NMI, "passed": passed, "runs": runs,
        "cold_insight_run": cold,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in load_after]},
        "versions": _versions(),
    }
    out = RESULTS / "themes_banking77.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"Wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
