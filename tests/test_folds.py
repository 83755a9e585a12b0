"""Honest folds: out-of-fold figures never train on one part of a document and test on another.

The proof is behavioural as well as structural: in a study where every document has its own
word and its own code, random folds let a classifier learn the document and look perfect; folds by
document cannot, and the classifier falls to chance, as it would on the next interview."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.autocode import Units, classifier_scores
from pipelines.folds import fold_decisions, fold_of


def test_a_group_is_never_on_both_sides_of_a_fold():
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 37, size=900)
    for folds in (2, 5, 10):
        assign = fold_of(groups, len(groups), folds, seed=1)
        for g in np.unique(groups):
            assert len(set(assign[groups == g])) == 1
        sizes = np.bincount(assign, minlength=folds)
        assert sizes.min() > 0 and sizes.max() - sizes.min() <= np.bincount(groups).max()


def _documents(n_docs=12, turns=30, seed=0):
    """Each document has its own word and a code of its own: half the documents carry code 1."""
    rng = np.random.default_rng(seed)
    texts, groups, labels = [], [], []
    filler = ["the", "council", "said", "they", "would", "call", "back", "week", "bus", "late", "rain"]
    for d in range(n_docs):
        for _ in range(turns):
            words = list(rng.choice(filler, size=8)) + [f"docword{d}", f"docword{d}"]
            texts.append(" ".join(words))
            groups.append(d)
            labels.append(d % 2)
    return texts, np.array(groups), np.array(labels, dtype=np.int8)[:, None]


def _f1(pred, gold):
    tp = float((pred & gold).sum())
    return 2 * tp / (pred.sum() + gold.sum()) if pred.sum() + gold.sum() else 0.0


@pytest.mark.parametrize("by_document, high", [(False, True), (True, False)])
def test_random_folds_learn_the_document_folds_by_document_cannot(by_document, high):
    texts, groups, labels = _documents()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    units = Units(texts=texts, vectors=vectors, groups=groups if by_document else None,
                  folds_by="document" if by_document else "segment")
    mask = np.ones(len(texts), dtype=bool)
    scores = classifier_scores(units, ["Code"], mask, labels, cv=4, seed=0, coder="G")
    pred = scores.matrix[:, 0] >= 0.5
    f1 = _f1(pred, labels[:, 0].astype(bool))
    if high:
        assert f1 > 0.95  # it learnt which document a turn comes from
    else:
        assert f1 < 0.7   # nothing in a new document says which code it has


def test_thresholds_are_chosen_on_other_documents():
    texts, groups, labels = _documents(n_docs=6, turns=10)
    # a score that is perfect within each document only if the threshold is tuned on that document
    raw = np.where(labels[:, 0] == 1, 0.6, 0.4) + groups * 0.5
    mask = np.ones(len(texts), dtype=bool)
    within = fold_decisions(raw, labels[:, 0], mask, 3, 0, 0.5)  # random folds: every document on both sides
    across = fold_decisions(raw, labels[:, 0], mask, 3, 0, 0.5, groups)
    assert _f1(within, labels[:, 0].astype(bool)) > _f1(across, labels[:, 0].astype(bool))

