"""Insight's classifier auto-coder on the ANES 2008 open-ended answers, beside Card & Smith (2015).

    .venv/bin/python benchmarks/anes_autocode.py                      # the default embedder
    .venv/bin/python benchmarks/anes_autocode.py --backends onnx,torch  # fast path vs PyTorch

Data: ``../shared/data/anes2008/traintest_data/dataset{1..10}_{X,y}{train,test}.csv``, the 90/10
iteratively stratified splits of the co_benchmark repository; ``y`` columns are ANES code ids,
multi-label 0/1. Skipped with a message when the folder is missing.

For each dataset, on the test split:

- **insight**: ``pipelines.autocode.classifier_scores``, the ``auto:classifier`` coder exactly as
  ``insight code --methods classifier`` runs it: a balanced logistic regression per code on the
  all-MiniLM-L6-v2 embeddings beside TF-IDF word and word-pair weights, trained on the train split
  (the "human coder"), each code's threshold chosen for best F1 on 5-fold out-of-fold scores,
  codes with fewer than 5 positive answers skipped (never predicted), a code on all but a handful
  of training answers suggested everywhere;
- **insight, at least one code**: the same scores, but an answer with no code above its threshold
  gets the code whose score is furthest above (or least below) its threshold: every answer in
  these datasets has at least one code, a fact a researcher can tell the tool;
- **baseline**: TF-IDF (words and word pairs) + one-vs-rest logistic regression (scikit-learn
  defaults, 0.5 cut-off), measured in the same run.

The figure is sample-based F1 (``sklearn.metrics.f1_score(average="samples")``), as in Card &
Smith (2015), whose figures are copied from the data's README. Embeddings of the ANES texts are
cached in ``benchmarks/results/.cache/`` (keyed by texts, model and backend), so reruns are quick.
Results: ``benchmarks/results/anes_autocode.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

from _common import CACHE, SHARED, log, print_rows, row, write_result
from pipelines.folds import expected_calibration_error

DATA = SHARED / "data" / "anes2008" / "traintest_data"
TOPICS = {1: "why Obama won / McCain lost", 2: "why Obama beat Clinton", 3: "likes/dislikes, parties",
          4: "likes/dislikes, candidates", 5: "who was responsible for 9/11", 6: "most important problem",
          7: "office: Gordon Brown", 8: "office: Dick Cheney", 9: "office: Nancy Pelosi",
          10: "office: John Roberts"}
# Card & Smith (2015), sample-based F1, from ../shared/data/anes2008/README.upstream.md
PUBLISHED = {1: 0.55, 2: 0.67, 3: 0.71, 4: 0.71, 5: 0.81, 6: 0.86, 7: 0.94, 8: 0.96, 9: 0.93, 10: 0.96}
ROBERTA = {1: 0.00, 2: 0.00, 3: 0.56, 4: 0.55, 5: 0.57, 6: 0.85, 7: 0.95, 8: 0.97, 9: 0.93, 10: 0.94}


def load(i: int):
    import pandas as pd

    X = {s: pd.read_csv(DATA / f"dataset{i}_X{s}.csv") for s in ("train", "test")}
    y = {s: pd.read_csv(DATA / f"dataset{i}_y{s}.csv") for s in ("train", "test")}
    texts = {s: X[s]["verbatim"].fillna("").astype(str).str.strip().tolist() for s in X}
    codes = [str(c) for c in y["train"].columns]
    return texts, {s: y[s].to_numpy(dtype=np.int8) for s in y}, codes


def embedder_for(backend: str):
    from pipelines import embed, embed_onnx

    if backend == "default":
        return embed.get_embedder()
    if backend == "torch":
        return embed.SentenceTransformerEmbedder(quiet=True)
    return embed_onnx.OnnxEmbedder(quiet=True)


def vectors(embedder, texts: list[str]) -> tuple[np.ndarray, bool]:
    """Embeddings of ``texts``, cached on disk by texts, model and backend."""
    backend = getattr(embedder, "backend", "unknown")
    key = hashlib.sha256(("\n".join(texts) + "\0" + embedder.name + "\0" + backend).encode()).hexdigest()[:20]
    path = CACHE / f"anes_{backend}_{key}.npy"
    if path.exists():
        return np.load(path), True
    CACHE.mkdir(parents=True, exist_ok=True)
    out = embedder.encode(texts)
    np.save(path, out)
    return out, False


def insight_predictions(train_vec, test_vec, y_train, codes, cv: int, texts: list[str]):
    """``(decisions, margins, skipped, probabilities)`` on the test answers from ``auto:classifier``;
    ``probabilities`` are its scores calibrated as ``insight code --train-coder`` does (isotonic on
    the train split's out-of-fold scores), for the codes it fitted (``fitted``, a mask)."""
    from pipelines.autocode import Units, classifier_scores
    from pipelines.folds import calibrate

    n_train = len(train_vec)
    every = np.vstack([train_vec, test_vec]).astype(np.float32)
    digest = hashlib.blake2b(every.tobytes(), digest_size=8).hexdigest()  # the in-process score cache's key
    units = Units(texts=texts, vectors=every, text_hashes=[f"{digest}:{i}" for i in range(len(every))])
    mask = np.zeros(len(units.texts), dtype=bool)
    mask[:n_train] = True
    labels = np.zeros((len(units.texts), len(codes)), dtype=np.int8)
    labels[:n_train] = y_train  # the test answers' codes are never shown to the coder
    scores = classifier_scores(units, codes, mask, labels, cv=cv, coder="ANES coders")
    matrix = scores.matrix[n_train:]
    decisions = matrix >= scores.thresholds[None, :]
    margins = np.where(np.isfinite(scores.thresholds)[None, :], matrix - scores.thresholds[None, :], -np.inf)
    fitted = np.isfinite(scores.thresholds) & (scores.matrix >= 0).all(axis=0)
    prob, _ = calibrate(scores.matrix[:, fitted], (mask, labels[:, fitted]), None, folds=cv)
    return decisions, margins, len(scores.skipped), (prob[n_train:], fitted)


def at_least_one(decisions: np.ndarray, margins: np.ndarray) -> np.ndarray:
    out = decisions.copy()
    empty = ~out.any(1)
    out[np.flatnonzero(empty), margins[empty].argmax(1)] = True
    return out


def tfidf_baseline(train_texts, test_texts, y_train) -> np.ndarray:
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    X_train = vectorizer.fit_transform(train_texts)
    X_test = vectorizer.transform(test_texts)
    keep = y_train.sum(0) > 0  # a code never used in training is never predicted
    out = np.zeros((len(test_texts), y_train.shape[1]), dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OneVsRestClassifier(LogisticRegression(max_iter=1000)).fit(X_train, y_train[:, keep])
        out[:, keep] = model.predict(X_test).astype(bool)
    return out


def sample_f1(y_true, y_pred) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred.astype(np.int8), average="samples", zero_division=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="default",
                        help="Comma-separated: default (what get_embedder() gives), onnx, torch.")
    parser.add_argument("--datasets", default="1,2,3,4,5,6,7,8,9,10")
    parser.add_argument("--cv", type=int, default=5, help="Folds for the thresholds (the library's default).")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"Skipped: the ANES 2008 data is not at {DATA}.")
        return
    datasets = [int(d) for d in args.datasets.split(",")]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results: dict[str, dict] = {}
    embed_info: dict[str, dict] = {}
    loaded = {i: load(i) for i in datasets}
    for backend in backends:
        embedder = embedder_for(backend)
        label = getattr(embedder, "backend", backend)
        embed_info[label] = {"model": embedder.name, "seconds": 0.0, "texts": 0, "cached": True}
        for i in datasets:
            texts, y, codes = loaded[i]
            started = time.perf_counter()
            train_vec, hit_a = vectors(embedder, texts["train"])
            test_vec, hit_b = vectors(embedder, texts["test"])
            if not (hit_a and hit_b):
                embed_info[label]["cached"] = False
                embed_info[label]["seconds"] += time.perf_counter() - started
                embed_info[label]["texts"] += len(texts["train"]) + len(texts["test"])
            started = time.perf_counter()
            decisions, margins, skipped, (prob, fitted) = insight_predictions(
                train_vec, test_vec, y["train"], codes, args.cv, texts["train"] + texts["test"])
            fit_s = time.perf_counter() - started
            entry = results.setdefault(str(i), {"dataset": i, "topic": TOPICS[i], "train": len(texts["train"]),
                                                "test": len(texts["test"]), "codes": len(codes),
                                                "published_card_smith_2015": PUBLISHED[i],
                                                "published_roberta_2021": ROBERTA[i]})
            entry[f"insight_{label}"] = round(sample_f1(y["test"], decisions), 4)
            entry[f"insight_{label}_at_least_one"] = round(sample_f1(y["test"], at_least_one(decisions, margins)), 4)
            entry[f"insight_{label}_seconds"] = round(fit_s, 1)
            entry[f"insight_{label}_calibration_error"] = round(
                expected_calibration_error(prob, y["test"][:, fitted]), 4)
            entry["codes_skipped"] = skipped
            log(f"dataset {i:>2} ({label}): insight {entry[f'insight_{label}']:.3f}, at least one "
                f"{entry[f'insight_{label}_at_least_one']:.3f} (published {PUBLISHED[i]:.2f}; {fit_s:.0f}s)")
    for i in datasets:
        texts, y, codes = loaded[i]
        started = time.perf_counter()
        results[str(i)]["tfidf_logreg"] = round(sample_f1(y["test"], tfidf_baseline(texts["train"], texts["test"],
                                                                                    y["train"])), 4)
        results[str(i)]["tfidf_seconds"] = round(time.perf_counter() - started, 1)

    labels = list(embed_info)
    main_label = labels[0]

    def mean(key):
        return float(np.mean([results[str(i)][key] for i in datasets]))

    summary = [
        row(f"ANES 2008 auto:classifier ({main_label}), mean sample F1 over {len(datasets)} datasets",
            mean(f"insight_{main_label}"), "F1", baseline="TF-IDF + logistic regression (same run)",
            baseline_value=mean("tfidf_logreg")),
        row(f"ANES 2008 auto:classifier ({main_label}) + at least one code, mean sample F1",
            mean(f"insight_{main_label}_at_least_one"), "F1", baseline="Card & Smith (2015), published",
            baseline_value=float(np.mean([PUBLISHED[i] for i in datasets]))),
        row(f"ANES 2008 calibrated suggestion scores ({main_label}): expected calibration error on the test splits, "
            "worst dataset", max(results[str(i)][f"insight_{main_label}_calibration_error"] for i in datasets), "ECE",
            target="<= 0.05", passed=max(results[str(i)][f"insight_{main_label}_calibration_error"]
                                         for i in datasets) <= 0.05),
    ]
    if len(labels) > 1:
        other = labels[1]
        summary.append(row(f"ANES sample F1 with {main_label} embeddings vs {other}", mean(f"insight_{main_label}"),
                           "F1", baseline=f"{other} embeddings (same classifier)",
                           baseline_value=mean(f"insight_{other}"),
                           target="no worse (ratio >= 0.99)",
                           passed=mean(f"insight_{main_label}") >= 0.99 * mean(f"insight_{other}")))
    write_result("anes_autocode", figures={"datasets": results, "embeddings": embed_info}, summary=summary,
                 settings={"cv": args.cv, "backends": labels, "metric": "sklearn f1_score(average='samples')",
                           "classifier": "pipelines.autocode.classifier_scores (embeddings + TF-IDF, logistic "
                                         "regression C=8, balanced, every code fitted at once by pipelines.linear, "
                                         "per-code F1-best threshold on out-of-fold scores)",
                           "calibration": "pipelines.folds.calibrate: isotonic on the train split's out-of-fold "
                                          "scores; ECE (10 bins) over test answers x fitted codes",
                           "baseline": "TfidfVectorizer(ngram_range=(1,2), sublinear_tf) + OneVsRest "
                                       "LogisticRegression defaults, 0.5 cut-off"})
    print_rows(summary)
    head = f"{'ds':>3} {'topic':<30}{'C&S 2015':>9}{'RoBERTa':>8}{'TF-IDF':>8}"
    for label in labels:
        head += f"{label[:12]:>13}{'+1 code':>9}"
    print(head)
    for i in datasets:
        r = results[str(i)]
        line = (f"{i:>3} {r['topic']:<30}{r['published_card_smith_2015']:>9.2f}{r['published_roberta_2021']:>8.2f}"
                f"{r['tfidf_logreg']:>8.3f}")
        for label in labels:
            line += f"{r[f'insight_{label}']:>13.3f}{r[f'insight_{label}_at_least_one']:>9.3f}"
        print(line)
    line = f"{'':>3} {'mean':<30}{np.mean([PUBLISHED[i] for i in datasets]):>9.3f}" \
           f"{np.mean([ROBERTA[i] for i in datasets]):>8.3f}{mean('tfidf_logreg'):>8.3f}"
    for label in labels:
        line += f"{mean(f'insight_{label}'):>13.3f}{mean(f'insight_{label}_at_least_one'):>9.3f}"
    print(line)


if __name__ == "__main__":
    main()
