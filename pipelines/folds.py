"""Out-of-fold evaluation for the auto-coders: folds by group (a document or a respondent is never
on both sides), thresholds chosen on the other folds, and calibration of any score into the
probability that the gold coder applies a code.

Pure functions over arrays: no database.
"""

from __future__ import annotations

import numpy as np

Gold = tuple[np.ndarray, np.ndarray]  # (mask of units the gold coder saw, units x codes 0/1 labels)


def fold_of(groups: np.ndarray | None, n: int, folds: int, seed: int) -> np.ndarray:
    """A fold number for each of ``n`` units such that all units of a group share one fold: groups
    are shuffled with ``seed`` and dealt, largest first, to the fold with the fewest units so far
    (balanced folds). Without groups each unit is its own group.

    >>> fold_of(np.array([7, 7, 8, 9, 9, 9]), 6, 2, 0).tolist()  # documents 7, 8, 9
    [1, 1, 1, 0, 0, 0]
    """
    groups = np.arange(n) if groups is None else np.asarray(groups)
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    load = np.zeros(max(1, folds), dtype=np.int64)
    assigned = np.zeros(len(names), dtype=np.int64)
    for g in order:
        f = int(np.argmin(load))
        assigned[g] = f
        load[f] += sizes[g]
    return assigned[inverse]


def fold_decisions(raw: np.ndarray, gold: np.ndarray, mask: np.ndarray, folds: int, seed: int,
                   default: float, groups: np.ndarray | None = None) -> np.ndarray:
    """Decisions on the gold units with thresholds chosen on the other folds (no peeking; a group,
    such as one interview, is never on both sides)."""
    idx = np.flatnonzero(mask)
    assign = fold_of(None if groups is None else groups[idx], len(idx), folds, seed)
    out = np.zeros(len(raw), dtype=bool)
    for f in range(folds):
        test, train = idx[assign == f], idx[assign != f]
        t = best_f1_threshold(raw[train], gold[train], default) if len(train) else default
        out[test] = raw[test] >= t
    return out


def best_f1_threshold(scores: np.ndarray, gold: np.ndarray, default: float) -> float:
    """The threshold that maximises F1 of ``scores >= t`` against ``gold`` (0/1)."""
    if gold.sum() == 0:
        return default
    order = np.argsort(-scores)
    s, g = scores[order], gold[order]
    tp = np.cumsum(g)
    k = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (k + g.sum())
    # only cut where the score changes
    valid = np.r_[s[1:] != s[:-1], True]
    f1 = np.where(valid, f1, -1)
    best = int(np.argmax(f1))
    return float(s[best])


def splits(y: np.ndarray, groups: np.ndarray | None, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """One code's cross-validation splits ``(fit, test)``: stratified on its labels ``y``, by group
    when there are groups (scikit-learn's ``StratifiedGroupKFold``: one interview or respondent
    never on both sides). Empty when fewer than two folds can be made."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        splitter, n_splits = StratifiedKFold, folds
    else:
        splitter, n_splits = StratifiedGroupKFold, min(folds, len(np.unique(groups)))
    if n_splits < 2:
        return []
    return list(splitter(n_splits=n_splits, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups))


def calibrate(raw: np.ndarray, gold: "Gold", groups: np.ndarray | None, folds: int = 5,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores (units x codes) as the probability that the gold coder applies each code:
    isotonic regression of the gold coder's decisions on the raw score, per code.

    Cross-fitted: a unit the gold coder saw gets its probability from a fit on the other folds
    (by group, as everywhere: :func:`fold_of`), so figures on it are out of fold; every other unit
    gets the fit on all of the gold coder's units. Returns ``(probabilities, out_of_fold mask)``."""
    from sklearn.isotonic import IsotonicRegression

    mask, labels = gold
    idx = np.flatnonzero(mask)
    assign = fold_of(None if groups is None else groups[idx], len(idx), folds, seed)
    out = np.zeros(raw.shape, dtype=np.float32)

    def fit(x, y):
        if len(np.unique(y)) < 2:
            return lambda v: np.full(len(v), y.mean() if len(y) else 0.0)
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
        return model.predict

    for j in range(raw.shape[1]):
        x, y = raw[idx, j].astype(np.float64), labels[idx, j].astype(np.float64)
        out[:, j] = fit(x, y)(raw[:, j].astype(np.float64))
        for f in range(folds):
            test = assign == f
            if test.any():
                out[idx[test], j] = fit(x[~test], y[~test])(x[test])
    return out, mask.copy()


def reliability(probability: np.ndarray, outcome: np.ndarray, bins: int = 10) -> list[dict]:
    """The reliability diagram's points: for each of ``bins`` equal bins of stated probability that
    holds units, the mean probability stated, the share that happened and how many (``n``).

    >>> reliability(np.array([0.2, 0.2, 0.8, 0.8, 0.8]), np.array([0, 0, 1, 1, 0]))
    [{'bin': 2, 'stated': 0.2, 'observed': 0.0, 'n': 2}, {'bin': 8, 'stated': 0.8, 'observed': 0.6667, 'n': 3}]
    """
    return [{"bin": b, "stated": round(stated, 4), "observed": round(observed, 4), "n": n}
            for b, stated, observed, n in _bins(probability, outcome, bins)]


def _bins(probability, outcome, bins: int) -> list[tuple[int, float, float, int]]:
    p, y = np.asarray(probability, dtype=np.float64).ravel(), np.asarray(outcome, dtype=np.float64).ravel()
    which = np.minimum((p * bins).astype(int), bins - 1)
    return [(b, float(p[which == b].mean()), float(y[which == b].mean()), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]


def expected_calibration_error(probability: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """The gap between stated probability and how often it happened, averaged over ``bins`` equal
    bins of probability weighted by their size (0: perfectly calibrated).

    >>> expected_calibration_error(np.array([0.2, 0.2, 0.8, 0.8, 0.8]), np.array([0, 0, 1, 1, 0]))
    0.16
    """
    points = _bins(probability, outcome, bins)
    n = sum(q[3] for q in points)
    if not n:
        return 0.0
    return round(sum(count * abs(stated - observed) for _, stated, observed, count in points) / n, 4)
