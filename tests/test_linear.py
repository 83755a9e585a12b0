"""Every code's logistic regression fitted at once (``pipelines.linear``) is scikit-learn's per-code fit."""

import numpy as np
import pytest
import scipy.sparse as sp

from pipelines import linear


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, 12))
    words = sp.random(n, 40, density=0.08, random_state=seed, format="csr")
    X = sp.hstack([sp.csr_matrix(dense), words], format="csr")
    truth = rng.normal(size=(X.shape[1], 5))
    Y = (np.asarray(X @ truth) + rng.normal(size=(n, 5)) > np.array([0.5, 1.0, 1.5, 2.0, 2.5])).astype(np.int8)
    return X, Y


@pytest.mark.parametrize("C", [0.5, 8.0])
def test_joint_fit_gives_each_codes_own_balanced_logistic_regression(C):
    from sklearn.linear_model import LogisticRegression

    X, Y = _data()
    assert 0.02 < Y.mean(axis=0).min() and Y.mean(axis=0).max() < 0.6  # rare and common codes
    W, b = linear.fit(X, Y, C, tol=1e-8)
    ours = linear.predict(X, W, b)
    theirs = np.column_stack([
        LogisticRegression(C=C, class_weight="balanced", max_iter=5000, tol=1e-10).fit(X, Y[:, j]).predict_proba(X)[:, 1]
        for j in range(Y.shape[1])])
    assert np.abs(ours - theirs).max() < 2e-3
    dense_W, dense_b = linear.fit(X.toarray(), Y, C, tol=1e-8)  # dense input, same model
    assert np.abs(linear.predict(X.toarray(), dense_W, dense_b) - ours).max() < 2e-3


def test_a_code_with_one_class_gets_its_rate_and_no_weights():
    X, Y = _data()
    Y[:, 1] = 0
    Y[:, 2] = 1
    W, b = linear.fit(X, Y, 8.0)
    p = linear.predict(X, W, b)
    assert not W[:, 1].any() and not W[:, 2].any()
    assert p[:, 1].max() < 1e-5 and p[:, 2].min() > 1 - 1e-5
    assert np.abs(W[:, 0]).sum() > 0  # the others are fitted as usual
