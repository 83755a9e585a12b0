"""Calibrated suggestion scores on real survey answers: ANES 2008 open-ended answers coded by
professional coders (``../shared/data/anes2008``; skipped when it is not there).

The classifier is trained on a dataset's train split as the gold coder; its out-of-fold scores
are turned into probabilities with ``pipelines.folds.calibrate`` exactly as ``insight code
--train-coder`` does. Then, on the test split, answers the classifier and the calibration never
saw, the expected calibration error is at most 0.05, and well under that of the balanced
classifier's raw probabilities, which over-state rare codes by design (so the check has teeth).
"""

import hashlib

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

DATA = ROOT.parent / "shared" / "data" / "anes2008" / "traintest_data"


def _split(i: int, part: str):
    X = pd.read_csv(DATA / f"dataset{i}_X{part}.csv")
    y = pd.read_csv(DATA / f"dataset{i}_y{part}.csv").to_numpy(dtype=np.int8)
    return X["verbatim"].fillna("").astype(str).str.strip().tolist(), y


@pytest.mark.parametrize("dataset", [5, 7])  # "who was responsible for 9/11", "office: Gordon Brown"
def test_calibrated_scores_hold_on_answers_never_seen(dataset):
    if not DATA.exists():
        pytest.skip("../shared/data/anes2008 is not here")
    from pipelines.autocode import Units, classifier_scores
    from pipelines.embed import HashingEmbedder
    from pipelines.folds import calibrate, expected_calibration_error

    train_texts, y_train = _split(dataset, "train")
    test_texts, y_test = _split(dataset, "test")
    texts = train_texts + test_texts
    vectors = HashingEmbedder().encode(texts)  # a model-free embedder: calibration is under test
    key = hashlib.blake2b(vectors.tobytes(), digest_size=8).hexdigest()
    units = Units(texts=texts, vectors=vectors, text_hashes=[f"{key}:{i}" for i in range(len(texts))])
    n = len(train_texts)
    mask = np.zeros(len(texts), dtype=bool)
    mask[:n] = True
    labels = np.zeros((len(texts), y_train.shape[1]), dtype=np.int8)
    labels[:n] = y_train  # the test answers' codes are never shown
    scores = classifier_scores(units, [str(c) for c in range(y_train.shape[1])], mask, labels, coder="ANES")
    fitted = np.isfinite(scores.thresholds) & (scores.matrix[:n] >= 0).all(axis=0)
    assert fitted.sum() >= 5
    raw = scores.matrix[:, fitted]
    prob, out_of_fold = calibrate(raw, (mask, labels[:, fitted]), None)
    assert out_of_fold[:n].all() and not out_of_fold[n:].any()

    held_out = expected_calibration_error(prob[n:], y_test[:, fitted])
    cross_fitted = expected_calibration_error(prob[:n], y_train[:, fitted])
    uncalibrated = expected_calibration_error(raw[n:], y_test[:, fitted])
    assert held_out <= 0.05 and cross_fitted <= 0.05, (held_out, cross_fitted)
    assert uncalibrated > 1.5 * held_out  # (on dataset 7: 0.0119 raw, 0.0058 calibrated)
    # the probabilities still rank: answers given a code have far higher probabilities of it
    pos, neg = prob[n:][y_test[:, fitted] == 1], prob[n:][y_test[:, fitted] == 0]
    assert pos.mean() > 4 * neg.mean()
