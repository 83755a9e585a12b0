"""Review that learns, replayed: the gold coder reviews one unit at a time and the classifier refits
after every few decisions; F1 on respondents she has not reviewed, against decisions made, when the
next unit is the one the classifier is least sure of (active) and when it is drawn at random.

    .venv/bin/python benchmarks/review_replay.py             # the sample panel, Priya Shah as reviewer
    .venv/bin/python benchmarks/review_replay.py --steps 200

Data: the sample study's citizens' panel answers that Priya Shah coded (``corpora/panel``), each
code she used on at least ``--min-positives`` answers. For each code and each of ``--repeats``
splits, a quarter of the respondents are held out for scoring (grouped: one respondent's answers are
never on both sides); the review starts from the ``--seed-size`` answers the semantic auto-coder
scores highest for the code (the first suggestions a reviewer would see), then takes ``--batch``
units at a time: active, those whose probability is nearest 0.5; random, a random draw. After each
batch the classifier (the product's: :class:`pipelines.autocode.Features` and balanced logistic
regression) refits on the decided units, and F1 on the held-out respondents is recorded. The refit
time is reported too (the product's promise: seconds).

Results: ``benchmarks/results/review_replay.json`` (both curves, every ``--batch`` decisions).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, log, median, print_rows, row, write_result


def sample_units():
    """The panel answers Priya Shah saw: texts, vectors, respondent groups, her labels, codes, and
    the semantic auto-coder's scores (the order first suggestions come in)."""
    from insight import Workspace
    from insight.coding.units import gold_labels, load_units, setting
    from pipelines import autocode
    from pipelines.embed import get_embedder

    folder = Path(tempfile.mkdtemp(prefix="insight-replay-"))
    ws = Workspace(folder / "replay.duckdb")
    ws.load_codebook(ROOT / "codebooks" / "lived_experience.yaml")
    ws.ingest([ROOT / "corpora" / "panel"], study="panel")
    book = ws.codebook()
    codes = [c.name for c in book.codes if not book.children(c.name)]
    embedder = get_embedder()
    units = load_units(ws.con, None, embedder=embedder)
    mask, labels = gold_labels(ws.con, "Priya Shah", units.segment_ids, codes)
    semantic = autocode.autocoders(["semantic"], setting(ws.con, embedder))[0]
    scores = semantic.score(units, [book.code(c) for c in codes], None).matrix
    keep = np.flatnonzero(mask)
    ws.close()
    return ([units.texts[i] for i in keep], units.vectors[keep], units.groups[keep], labels[keep], codes,
            scores[keep], embedder.name)


def f1(pred: np.ndarray, gold: np.ndarray) -> float:
    denominator = pred.sum() + gold.sum()
    return float(2 * (pred & gold).sum() / denominator) if denominator else 0.0


def replay(texts, vectors, y, train, test, order_first, strategy: str, steps: int, batch: int, seed: int):
    """One review: the F1 curve on ``test`` and the refit times."""
    from sklearn.linear_model import LogisticRegression

    from pipelines.autocode import CLASSIFIER_C, Features

    rng = np.random.default_rng(seed)
    features = Features([texts[i] for i in train])
    X = features(texts, vectors)
    decided = list(order_first)
    pool = [i for i in train if i not in set(decided)]
    curve, fits = [], []
    while True:
        labels = y[decided]
        if labels.min() != labels.max():
            started = time.perf_counter()
            model = LogisticRegression(C=CLASSIFIER_C, class_weight="balanced", max_iter=2000)
            model.fit(X[decided], labels)
            fits.append(time.perf_counter() - started)
            curve.append((len(decided), f1(model.predict_proba(X[test])[:, 1] >= 0.5, y[test].astype(bool))))
            probability = model.predict_proba(X[pool])[:, 1] if pool else np.zeros(0)
        else:  # nothing to learn yet: the classifier codes nothing
            curve.append((len(decided), 0.0))
            probability = np.full(len(pool), 0.5)
        if len(decided) >= steps or not pool:
            return curve, fits
        if strategy == "active":
            picks = np.argsort(np.abs(probability - 0.5), kind="stable")[:batch]
        else:
            picks = rng.choice(len(pool), size=min(batch, len(pool)), replace=False)
        chosen = {pool[k] for k in picks}
        decided += sorted(chosen)
        pool = [i for i in pool if i not in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="Decisions per review.")
    parser.add_argument("--batch", type=int, default=5, help="Decisions between refits.")
    parser.add_argument("--seed-size", type=int, default=10, help="The first suggestions reviewed.")
    parser.add_argument("--repeats", type=int, default=3, help="Respondent splits per code.")
    parser.add_argument("--min-positives", type=int, default=15, help="Codes she used at least this often.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    log("Loading the sample panel and Priya Shah's codings ...")
    texts, vectors, groups, labels, codes, scores, model = sample_units()
    chosen = [j for j in range(len(codes)) if labels[:, j].sum() >= args.min_positives]
    log(f"{len(texts)} answers, {len(chosen)} codes with at least {args.min_positives} positives")
    marks = list(range(args.seed_size, args.steps + 1, args.batch))
    curves = {"active": [], "random": []}
    fit_times: list[float] = []
    for j in chosen:
        y = labels[:, j].astype(np.int8)
        for r in range(args.repeats):
            rng = np.random.default_rng(100 + r)
            names = np.unique(groups)
            held = set(rng.choice(names, size=len(names) // 4, replace=False).tolist())
            test = np.array([i for i in range(len(texts)) if groups[i] in held])
            train = [i for i in range(len(texts)) if groups[i] not in held]
            first = sorted(train, key=lambda i: -scores[i, j])[:args.seed_size]
            for strategy in curves:
                curve, fits = replay(texts, vectors, y, train, test, first, strategy, args.steps, args.batch, r)
                by_n = dict(curve)
                curves[strategy].append([by_n.get(n, np.nan) for n in marks])
                fit_times += fits
    mean = {s: np.nanmean(np.array(c), axis=0) for s, c in curves.items()}
    figures = {"decisions": marks, "mean_f1": {s: [round(float(v), 4) for v in m] for s, m in mean.items()},
               "codes": [codes[j] for j in chosen], "answers": len(texts), "model": model,
               "refit_seconds_median": round(median(fit_times), 4), "refit_seconds_max": round(max(fit_times), 4)}
    summary = []
    for n in (50, 100, args.steps):
        if n in marks:
            k = marks.index(n)
            summary.append(row(f"review replay: mean F1 on unseen respondents after {n} decisions, active order",
                               float(mean["active"][k]), "F1", baseline="random order (same run)",
                               baseline_value=float(mean["random"][k])))
    summary.append(row("review replay: classifier refit after a decision (median)", median(fit_times), "s",
                       target="seconds", passed=max(fit_times) < 5))
    write_result("review_replay", figures=figures, summary=summary,
                 settings={k: v for k, v in vars(args).items()})
    for k, n in enumerate(marks):  # the two curves, as text
        if n % 25 == 0 or n == marks[0]:
            print(f"{n:>4} decisions   active F1 {mean['active'][k]:.3f}   random F1 {mean['random'][k]:.3f}")
    print_rows(summary)


if __name__ == "__main__":
    main()
