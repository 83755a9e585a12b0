"""Logistic regression for many codes at once: one Newton-CG run over every code's weights.

Each code's model is the one scikit-learn's ``LogisticRegression(C=C, class_weight="balanced")``
fits (L2 penalty on the weights, none on the intercept): the joint objective is the sum of the
codes' objectives, which do not share a parameter, so its optimum is every code's own optimum.
What is shared is the work: each step multiplies the features by all codes' residuals at once
(one product instead of one per code), and the features are built once per fold for all codes.
Newton-CG (scipy) needs a few Hessian-vector products per step instead of L-BFGS's many steps, and
the features' dense columns (the embedding) are multiplied as a dense block, the sparse ones (the
words) as a sparse block. On 4,000 units x 16 codes that is one optimisation instead of sixteen.

``tests/test_linear.py`` checks the probabilities against scikit-learn's per-code fits.
"""

from __future__ import annotations

import numpy as np


class _Blocks:
    """``X`` as a dense block (columns at least half filled) beside a sparse one, for fast products."""

    def __init__(self, X):
        import scipy.sparse as sp

        if not sp.issparse(X):
            self.dense, self.sparse, self.order = np.asarray(X, dtype=np.float64), None, None
            return
        X = sp.csc_matrix(X)
        filled = np.diff(X.indptr) >= 0.5 * X.shape[0]
        self.order = np.r_[np.flatnonzero(filled), np.flatnonzero(~filled)]  # columns as the blocks hold them
        self.dense = X[:, filled].toarray()
        self.sparse = X[:, ~filled].tocsr() if (~filled).any() else None
        self._sparse_t = self.sparse.T.tocsr() if self.sparse is not None else None

    def dot(self, W: np.ndarray) -> np.ndarray:
        """``X @ W`` with ``W`` in block order (dense rows first)."""
        d = self.dense.shape[1]
        out = self.dense @ W[:d]
        if self.sparse is not None:
            out += self.sparse @ W[d:]
        return out

    def tdot(self, R: np.ndarray) -> np.ndarray:
        """``X.T @ R`` in block order."""
        top = self.dense.T @ R
        return top if self.sparse is None else np.vstack([top, self._sparse_t @ R])


def fit(X, Y: np.ndarray, C: float, *, tol: float = 1e-6, max_iter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(d, k)`` and intercepts ``(k,)`` of a balanced, L2-penalised logistic regression of
    each column of ``Y`` (0/1, units x codes) on ``X`` (units x features, dense or sparse).

    A code whose column holds one class only gets zero weights and an intercept that gives its
    rate (clipped), as a model that learnt nothing would."""
    from scipy.optimize import minimize

    Y = np.asarray(Y, dtype=np.float64)
    n, k = Y.shape
    blocks = _Blocks(X)
    d = X.shape[1]
    pos = Y.sum(axis=0)
    both = (pos > 0) & (pos < n)
    # balanced weights: each class carries half of the n units' weight
    weight = np.where(Y == 1, n / (2 * np.maximum(pos, 1)), n / (2 * np.maximum(n - pos, 1)))
    weight[:, ~both] = 0.0
    scale = 1.0 / n
    last: dict = {}

    def split(theta):
        return theta[: d * k].reshape(d, k), theta[d * k:]

    def probabilities(theta):
        if last.get("theta") is None or not np.array_equal(last["theta"], theta):
            W, b = split(theta)
            Z = blocks.dot(W) + b
            last.update(theta=theta.copy(), Z=Z, P=_sigmoid(Z))
        return last["Z"], last["P"]

    def objective(theta):
        W, _ = split(theta)
        Z, P = probabilities(theta)
        loss = weight * (np.logaddexp(0.0, Z) - Y * Z)
        R = weight * (P - Y)
        value = scale * (loss.sum() + 0.5 / C * (W * W).sum())
        grad = np.concatenate([(scale * (blocks.tdot(R) + W / C)).ravel(), scale * R.sum(axis=0)])
        return value, grad

    def hessp(theta, v):
        _, P = probabilities(theta)
        V, vb = split(v)
        S = weight * P * (1.0 - P) * (blocks.dot(V) + vb)
        return np.concatenate([(scale * (blocks.tdot(S) + V / C)).ravel(), scale * S.sum(axis=0)])

    result = minimize(objective, np.zeros(d * k + k), jac=True, hessp=hessp, method="Newton-CG",
                      options={"maxiter": max_iter, "xtol": tol})
    W_blocks, b = split(result.x)
    W = np.empty_like(W_blocks)
    if blocks.order is None:
        W[:] = W_blocks
    else:
        W[blocks.order] = W_blocks  # back to the features' own column order
    b = b.copy()
    rate = np.clip(pos / max(n, 1), 1e-6, 1 - 1e-6)
    W[:, ~both] = 0.0
    b[~both] = np.log(rate[~both] / (1 - rate[~both]))
    return W, b


def predict(X, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Probabilities (units x codes)."""
    return _sigmoid(np.asarray(X @ W) + b)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
