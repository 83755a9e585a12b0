"""Combining auto-coders: per code, the decision rule (one method, or two OR-ed together) that
tests best against a gold coder; the ``auto:best`` coder. Pure: arrays in, arrays out."""

from __future__ import annotations

import numpy as np

from pipelines.autocode import METHODS, Scores


def rule_options(decisions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each method alone and every pair of them OR-ed together (``'rules|semantic'``)."""
    options = dict(decisions)
    names = [m for m in METHODS if m in decisions]
    for a_i, a in enumerate(names):
        for b in names[a_i + 1:]:
            options[f"{a}|{b}"] = decisions[a] | decisions[b]
    return options


def f1_scores(y: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Per column, F1 of decisions ``d`` against gold ``y`` (0/1, units x codes); 0 where neither has any."""
    a, b, ab = y.sum(0), d.sum(0), (y * d).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(np.where(a + b > 0, 2 * ab / (a + b), np.nan), nan=0.0)


def choose(options: dict[str, np.ndarray], codes: list[str], gold: tuple[np.ndarray, np.ndarray] | None,
           skipped: dict[str, dict[str, str]]) -> list[str]:
    """Per code, the decision rule of ``options`` (see :func:`rule_options`) with the best F1 on the
    gold units; without gold, ``rules|semantic`` (or what is there). A rule using a method that
    skipped the code (``skipped``: method -> code -> reason) is not chosen for it."""
    chosen = ["rules|semantic" if "rules|semantic" in options else next(iter(options))] * len(codes)
    if gold is None:
        return chosen
    mask, labels = gold
    y = labels[mask].astype(np.float64)
    best = np.full(len(codes), -1.0)
    for name, dec in options.items():
        f1 = f1_scores(y, dec[mask].astype(np.float64))
        for j in range(len(codes)):
            if any(skipped.get(m, {}).get(codes[j]) for m in name.split("|")):
                continue
            if f1[j] > best[j] + 1e-9:
                best[j], chosen[j] = f1[j], name
    return chosen


def combine(scores: dict[str, Scores], gold: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, list[str]]:
    """Per code, the decision rule that tests best: returns ``(units x codes decisions, rule per code)``.

    Rules are each method alone and ``rules|semantic``; with a gold coder (``(mask, labels)``) the
    one with the best F1 on the gold units wins, else ``rules|semantic`` (or what is there).
    """
    any_scores = next(iter(scores.values()))
    n, k = any_scores.matrix.shape
    options = rule_options({m: s.decisions() for m, s in scores.items()})
    chosen = choose(options, any_scores.codes, gold, {m: s.skipped for m, s in scores.items()})
    out = np.zeros((n, k), dtype=bool)
    for j, rule in enumerate(chosen):
        out[:, j] = options[rule][:, j]
    return out, chosen
