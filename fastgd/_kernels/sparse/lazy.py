"""The lazy weight vector: w = alpha v + gamma_c u + delta g, built from a
model, updated by the epochs in O(nnz of a row), folded when alpha gets small,
and written back with its averaged iterates (see :mod:`fastgd._kernels.sparse`)."""

import numpy as np

from ..config import jit as _jit
from ..steps import half_slope, weighted_loss
from .csr import (
    SPARSE_PREFETCH_AHEAD,
    _centre_dot,
    _prefetch_row,
    _row_dot_column,
    _scaled,
)

# v is rescaled (alpha folded into it, O(n)) when the decay has shrunk alpha
# below this. v grows as 1 / alpha, and the averaged sum S_alpha v - q cancels
# terms of that size, losing about eps / alpha of relative precision: 1e-9
# (scikit-learn's threshold) left averaged coefficients 1e-8 from the dense
# fit's, 1e-6 leaves 1e-10, for a fold every 6.9 / (2 eta alpha) steps.
MIN_ALPHA = 1e-6

# The lazy model: ``scalars`` holds alpha, delta, u . u, the count of averaged
# steps and the sums of alpha and delta over them; ``outputs`` (5, k) holds per
# output gamma, the intercept b, u . v, and the sums of gamma and b.
ALPHA, DELTA, UU, COUNT, SUM_ALPHA, SUM_DELTA = 0, 1, 2, 3, 4, 5
GAMMA, B, UV, SUM_GAMMA, SUM_B = 0, 1, 2, 3, 4


@_jit()
def _unit_residuals(csr, Y, sample_weight, scaling, drift, lazy, order, span,
                    residual):  # fmt: skip
    """residual[s, c] = w_i r_ic for positions start..stop-1 (``span`` = (start,
    stop, limit, loss): rows are prefetched up to position ``limit``) under the
    lazy model; returns (sum w r^2, sum w), stopping at the first non-finite r
    (r half the loss's slope and r^2 its value for a ``loss`` other than the
    squared, None). With a drift the model is SVRG's difference from the
    snapshot: no y."""
    data, indices, indptr = csr
    start, stop, limit, rule = span
    v, _, scalars, outputs = lazy
    g, _, ug = drift
    k = v.shape[1]
    u = scaling[1]
    centred = u.shape[0] > 0
    drifting = g.shape[0] > 0
    uniform = sample_weight.shape[0] == 1
    alpha = scalars[ALPHA]
    loss = 0.0
    weight_sum = 0.0
    for s in range(start, stop):
        if s + SPARSE_PREFETCH_AHEAD < limit:
            _prefetch_row(csr, order[s + SPARSE_PREFETCH_AHEAD])
        i = order[s]
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        row = s - start
        along_u = 0.0
        along_g = 0.0
        if k == 1 and not centred and not drifting:
            dot = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                dot += _scaled(data, p, indices[p], scaling) * v[indices[p], 0]
            residual[row, 0] = dot
        else:
            for c in range(k):
                residual[row, c] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                x = _scaled(data, p, j, scaling)
                for c in range(k):
                    residual[row, c] += x * v[j, c]
                if centred:
                    along_u += x * u[j]
                if drifting and k == 1:
                    along_g += x * g[j, 0]
        for c in range(k):
            # z_i . w + b - y, with w = alpha v + gamma u + delta g
            r = alpha * residual[row, c] + outputs[B, c]
            if centred:
                r += (
                    outputs[GAMMA, c] * (along_u - scalars[UU]) - alpha * outputs[UV, c]
                )
            if drifting:
                if k > 1:
                    along_g = _row_dot_column(csr, i, scaling, g, c)
                r += scalars[DELTA] * (along_g - ug[c])
            else:
                r -= np.float64(Y[i, c])
            loss += weighted_loss(rule, weight, r)
            if not np.isfinite(r):
                return loss, weight_sum
            residual[row, c] = weight * half_slope(rule, r)
        weight_sum += weight
    return loss, weight_sum


@_jit()
def _fold_alpha(lazy):
    """Fold alpha into v (v = alpha v, alpha = 1), keeping the averaged sum
    S_alpha v - q unchanged: q = -(S_alpha v - q), S_alpha = 0."""
    v, q, scalars, outputs = lazy
    n, k = v.shape
    alpha = scalars[ALPHA]
    for j in range(n):
        for c in range(k):
            if q.shape[0] > 0:
                q[j, c] = q[j, c] - scalars[SUM_ALPHA] * v[j, c]
            v[j, c] *= alpha
    for c in range(k):
        outputs[UV, c] *= alpha
    scalars[SUM_ALPHA] = 0.0
    scalars[ALPHA] = 1.0


@_jit()
def _lazy_model(coef, intercept, scaling, averaged):
    """The lazy model of (coef, intercept): v = coef (float64), alpha = 1."""
    n, k = coef.shape
    v = coef.astype(np.float64)
    q = np.zeros((n if averaged else 0, k))
    scalars = np.zeros(6)
    scalars[ALPHA] = 1.0
    outputs = np.zeros((5, k))
    u = scaling[1]
    scalars[UU] = np.sum(u * u)
    for c in range(k):
        outputs[B, c] = intercept[c]
        outputs[UV, c] = _centre_dot(scaling, v, c)
    return v, q, scalars, outputs


@_jit()
def _write_back(lazy, scaling, drift, model, averaging, t_start):
    """coef = alpha v + gamma u + delta g and intercept = b (in their dtypes);
    the epoch's averaged iterates (their sum S_alpha v - q + S_gamma u +
    S_delta g) merged into the running mean from ``average_start`` on."""
    v, q, scalars, outputs = lazy
    coef, intercept, _, _ = model
    g = drift[0]
    u = scaling[1]
    n, k = v.shape
    for j in range(n):
        for c in range(k):
            w = scalars[ALPHA] * v[j, c]
            if u.shape[0] > 0:
                w += outputs[GAMMA, c] * u[j]
            if g.shape[0] > 0:
                w += scalars[DELTA] * g[j, c]
            coef[j, c] = w
    for c in range(k):
        intercept[c] = outputs[B, c]
    count = scalars[COUNT]
    if count == 0:
        return
    avg_coef, avg_intercept, average_start = averaging
    before = max(0, t_start - average_start)
    kept = before / (before + count)
    share = 1.0 / (before + count)
    for j in range(n):
        for c in range(k):
            total = scalars[SUM_ALPHA] * v[j, c] - q[j, c]
            if u.shape[0] > 0:
                total += outputs[SUM_GAMMA, c] * u[j]
            if g.shape[0] > 0:
                total += scalars[SUM_DELTA] * g[j, c]
            avg_coef[j, c] = kept * avg_coef[j, c] + share * total
    for c in range(k):
        avg_intercept[c] = kept * avg_intercept[c] + share * outputs[SUM_B, c]
