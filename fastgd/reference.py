"""Loop-based and pure-NumPy versions of every method: baselines and test oracles.

Written from the maths, not from the kernels: with r_i = x_i.theta + b - y_i,

* batch gradient  dJ/dtheta_j = (2/m) sum_i r_i x_ij,   dJ/db = (2/m) sum_i r_i,
  loss J = (1/m) sum_i r_i^2;
* SGD step on sample i:  theta -= eta_t * 2 r_i x_i,   b -= eta_t * 2 r_i;
* mini-batch step on rows B:  theta -= eta_t * (2/|B|) X_B^T r_B,
  b -= eta_t * (2/|B|) sum r_B.

Each epoch function takes the sample ``order`` and the step sizes ``etas`` (one
per update, or a single constant) explicitly, so it can replay any epoch a compiled
kernel ran: pass the order the kernel left in its index array. ``coef`` and
``intercept`` are updated in place and the sum of squared residuals (each taken
before its update) is returned, exactly as the kernels do.

Shapes: ``y`` (m,) with ``coef`` (n,) and ``intercept`` (1,), or ``y`` (m, k) with
``coef`` (n, k) and ``intercept`` (k,). The loop versions use Python floats and
explicit loops over samples, features and outputs; the NumPy versions vectorize
over features (and outputs), looping in Python only over samples or batches.
"""

import numpy as np


def _step_size(etas, t):
    return etas[0] if len(etas) == 1 else etas[t]


def _as_columns(y, coef, intercept):
    """2-D views (m, k), (n, k), (k,) of the single- or multi-output arrays."""
    if y.ndim == 1:
        return y[:, None], coef[:, None], intercept
    return y, coef, intercept


# --------------------------------------------------------------------------- #
# Batch gradient
# --------------------------------------------------------------------------- #


def batch_gradient_loop(X, y, coef, intercept):
    """Batch gradient element by element; returns (grad_coef, grad_intercept, loss).

    ``grad_coef`` has the shape of ``coef`` and ``grad_intercept`` that of
    ``intercept``; ``loss`` is the mean over samples (and outputs) of r^2.
    """
    Y, C, b = _as_columns(y, coef, intercept)
    m, n = X.shape
    k = Y.shape[1]
    grad = [[0.0] * k for _ in range(n)]
    grad_b = [0.0] * k
    squares = 0.0
    for i in range(m):
        for c in range(k):
            r = float(b[c]) - float(Y[i, c])
            for j in range(n):
                r += float(X[i, j]) * float(C[j, c])
            for j in range(n):
                grad[j][c] += r * float(X[i, j])
            grad_b[c] += r
            squares += r * r
    grad_coef = np.array(grad).reshape(coef.shape) * (2.0 / m)
    grad_intercept = np.array(grad_b) * (2.0 / m)
    return grad_coef, grad_intercept, squares / (m * k)


def batch_gradient_numpy(X, y, coef, intercept):
    """Batch gradient on BLAS: 2/m X^T (X theta + b - y); returns as the loop one."""
    m = X.shape[0]
    # Work in X's dtype, as a NumPy user would: mixing in float64 would copy X.
    residual = X @ coef.astype(X.dtype, copy=False) - y
    residual += intercept.astype(X.dtype, copy=False)
    grad_coef = (2.0 / m) * (X.T @ residual)
    grad_intercept = np.atleast_1d((2.0 / m) * residual.sum(axis=0))
    loss = float(np.mean(np.square(residual, dtype=np.float64)))
    return grad_coef, grad_intercept, loss


# --------------------------------------------------------------------------- #
# Stochastic gradient descent
# --------------------------------------------------------------------------- #


def sgd_epoch_loop(X, y, coef, intercept, order, etas, fit_intercept=True):
    """One SGD epoch in pure Python loops over samples, features and outputs."""
    Y, C, b = _as_columns(y, coef, intercept)
    n = X.shape[1]
    k = Y.shape[1]
    loss = 0.0
    for t, i in enumerate(order):
        eta = float(_step_size(etas, t))
        residuals = []
        for c in range(k):
            r = float(b[c]) - float(Y[i, c])
            for j in range(n):
                r += float(X[i, j]) * float(C[j, c])
            residuals.append(r)
            loss += r * r
        for c in range(k):
            step = 2.0 * eta * residuals[c]
            for j in range(n):
                C[j, c] -= step * float(X[i, j])
            if fit_intercept:
                b[c] -= step
    return loss


def sgd_epoch_numpy(X, y, coef, intercept, order, etas, fit_intercept=True):
    """One SGD epoch: a Python loop over samples with vectorized row arithmetic."""
    loss = 0.0
    for t, i in enumerate(order):
        eta = _step_size(etas, t)
        residual = X[i] @ coef + intercept - y[i]
        loss += float(np.sum(np.square(residual, dtype=np.float64)))
        step = 2 * eta * residual
        coef -= np.multiply.outer(X[i], step) if y.ndim > 1 else step * X[i]
        if fit_intercept:
            intercept -= step
    return loss


# --------------------------------------------------------------------------- #
# Mini-batch gradient descent
# --------------------------------------------------------------------------- #


def minibatch_epoch_loop(
    X, y, coef, intercept, order, etas, batch_size, fit_intercept=True
):
    """One mini-batch epoch in pure Python loops; the last short batch is used."""
    Y, C, b = _as_columns(y, coef, intercept)
    m, n = X.shape
    k = Y.shape[1]
    loss = 0.0
    for t, start in enumerate(range(0, m, batch_size)):
        rows = order[start : start + batch_size]
        eta = float(_step_size(etas, t))
        grad = [[0.0] * k for _ in range(n)]
        grad_b = [0.0] * k
        for i in rows:
            for c in range(k):
                r = float(b[c]) - float(Y[i, c])
                for j in range(n):
                    r += float(X[i, j]) * float(C[j, c])
                loss += r * r
                for j in range(n):
                    grad[j][c] += r * float(X[i, j])
                grad_b[c] += r
        scale = 2.0 * eta / len(rows)
        for c in range(k):
            for j in range(n):
                C[j, c] -= scale * grad[j][c]
            if fit_intercept:
                b[c] -= scale * grad_b[c]
    return loss


def minibatch_epoch_numpy(
    X, y, coef, intercept, order, etas, batch_size, fit_intercept=True
):
    """One mini-batch epoch: a Python loop over batches, BLAS within each batch."""
    m = X.shape[0]
    loss = 0.0
    for t, start in enumerate(range(0, m, batch_size)):
        rows = order[start : start + batch_size]
        X_batch = X[rows]
        residual = X_batch @ coef + intercept - y[rows]
        loss += float(np.sum(np.square(residual, dtype=np.float64)))
        scale = 2.0 * _step_size(etas, t) / len(rows)
        coef -= (scale * (X_batch.T @ residual)).astype(coef.dtype, copy=False)
        if fit_intercept:
            intercept -= (scale * residual.sum(axis=0)).astype(
                intercept.dtype, copy=False
            )
    return loss
