"""The lazy weight vector: w = alpha v + gamma_c u + delta g, built from a
model, updated by the epochs in O(nnz of a row), folded when alpha gets small,
and written back with its averaged iterates (see :mod:`fastgd._kernels.sparse`);
with an L1 term or a bound, its lazy proximal steps."""

import numpy as np
from numba import types
from numba.extending import overload

from ..config import jit as _jit
from ..steps import _is_proximal, half_slope, soft_threshold, weighted_loss
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

# The lazy proximal step (an L1 term or a bound; the decays are records, see
# fastgd._kernels.steps._proximal), Tsuruoka, Tsujii and Ananiadou's cumulative
# penalty: each step's soft-threshold reaches a coefficient only when a row
# touches it, or when the epoch writes back, all of them at once. Where the
# rows are not centred no gradient moves a coefficient between two touches, and
# soft-thresholds in a row add up: the catch-up is exact, the iterates the dense
# proximal SGD's. Centred rows move every coefficient along u at every step
# (gamma); the catch-up then thresholds where the coefficient is now, an
# approximation that can only differ where that drift crossed zero (it is
# small for the columns rows touch rarely: u_j = mean_j * scale_j), and that
# vanishes with the step (the fit's stopping rule measures the result).
# ``totals`` holds the thresholds so far in v units (alpha v = w), the same
# weighed by the averaged sum of alpha before each step (for the averaged
# iterate: exact unless the catch-up stops at zero or the floor, then
# prorated), and the floor (0 with positive=True, else -inf); ``caught`` (n, 2)
# holds both sums when each coefficient last caught up. Both are empty without
# proximal steps.
THRESHOLDS, WEIGHED, FLOOR = 0, 1, 2
# (The catch-up is one plain jitted call a row: numba's own IR inlining,
# inline=True, of a catch-up per entry with early returns lost the catch-ups of
# a row in numba 0.68, and a call per entry passed the model's arrays each time,
# 5-9x the plain epoch.)


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
    v, _, scalars, outputs, _, _ = lazy
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
            loss += weighted_loss(rule, weight, r, Y[i, c])
            if not np.isfinite(r):
                return loss, weight_sum
            residual[row, c] = weight * half_slope(rule, r, Y[i, c])
        weight_sum += weight
    return loss, weight_sum


@_jit()
def _fold_alpha(lazy):
    """Fold alpha into v (v = alpha v, alpha = 1), keeping the averaged sum
    S_alpha v - q unchanged: q = -(S_alpha v - q), S_alpha = 0."""
    v, q, scalars, outputs, _, _ = lazy
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
def _lazy_model(coef, intercept, scaling, averaged, floor):
    """The lazy model of (coef, intercept): v = coef (float64), alpha = 1; with
    proximal steps (``floor`` a 1-element array of the floor, else empty) their
    state, nothing pending."""
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
    proximal = floor.shape[0] > 0
    totals = np.zeros(3 if proximal else 0)
    if proximal:
        totals[FLOOR] = floor[0]
    caught = np.zeros((n if proximal else 0, 2))
    return v, q, scalars, outputs, totals, caught


@_jit()
def _catch_up(columns, first, last, lazy, scaling, alpha, sum_alpha):
    """The pending soft-thresholds (times each column's scale: the penalty is on
    the user's coefficient) and the floor of coefficients ``columns[first:
    last]`` (a row's entries: indices, indptr[i], indptr[i + 1]), applied to
    v, with the averaged sum (q) and u . v kept. ``alpha`` and ``sum_alpha`` are
    the current ones (the model's scalars may lag them); gamma is read from the
    model's outputs. One call a row: its loop stays in registers."""
    v, q, _, outputs, totals, caught = lazy
    scale, u = scaling
    total, weighed, floor = totals[THRESHOLDS], totals[WEIGHED], totals[FLOOR]
    for p in range(first, last):
        j = columns[p]
        pending = total - caught[j, 0]
        # The change spread over the pending steps as their thresholds were
        # (exact when it is the whole threshold), each counted from the
        # averaged sum of alpha before its step; a floor alone counts now.
        spread = sum_alpha
        if q.shape[0] > 0 and pending > 0.0:
            spread = (weighed - caught[j, 1]) / pending
        threshold = pending * (scale[j] if scale.shape[0] > 0 else 1.0)
        for c in range(v.shape[1]):
            value = v[j, c]
            if u.shape[0] == 0:  # w = alpha v: exact in v units
                moved = soft_threshold(value, threshold, floor)
            else:  # w = alpha v + gamma u, thresholded now (see above)
                w = alpha * value + outputs[GAMMA, c] * u[j]
                moved = (
                    value + (soft_threshold(w, alpha * threshold, floor) - w) / alpha
                )
                outputs[UV, c] += u[j] * (moved - value)
            if q.shape[0] > 0:
                q[j, c] += (moved - value) * spread
            v[j, c] = moved
        caught[j, 0] = total
        caught[j, 1] = weighed


@_jit()
def _catch_up_all(lazy, scaling, alpha, sum_alpha):
    """:func:`_catch_up` for every coefficient, and the sums restarted (before
    a fold of alpha, and before the write-back)."""
    totals, caught = lazy[4], lazy[5]
    n = caught.shape[0]
    _catch_up(np.arange(n), 0, n, lazy, scaling, alpha, sum_alpha)
    caught[:] = 0.0
    totals[THRESHOLDS] = totals[WEIGHED] = 0.0


def lazy_decay(decay, alpha):
    """A step's decay on the lazy model: (alpha after it, alpha that the step's
    row move divides by, the step's threshold in v units). The L2 decay (a
    scalar) multiplies alpha before the move: w = decay w - step, the code it
    always was. A proximal decay (a record) moves first and then shrinks,
    w = prox(w - step), the dense kernels' order: alpha / (1 + 2 eta ridge), or
    alpha unchanged without an L2 term."""
    if not _is_proximal(decay):
        after = alpha * decay
        return after, after, 0.0
    threshold = decay["threshold"] / alpha
    if "shrink" not in decay.dtype.names:
        return alpha, alpha, threshold
    return alpha / (2.0 - decay["shrink"]), alpha, threshold


@overload(lazy_decay, inline="always")
def _typed_lazy_decay(decay, alpha):
    if not isinstance(decay, types.Record):
        return lambda decay, alpha: (alpha * decay, alpha * decay, 0.0)
    if "shrink" not in decay.fields:
        return lambda decay, alpha: (alpha, alpha, decay["threshold"] / alpha)
    return lambda decay, alpha: (
        alpha / (2.0 - decay["shrink"]),
        alpha,
        decay["threshold"] / alpha,
    )


def proximal_steps(decays):
    """Whether ``decays`` are proximal (records): a compile-time constant in
    the kernels, so that the plain epochs compile without the catch-ups."""
    return decays.dtype.names is not None


@overload(proximal_steps, inline="always")
def _typed_proximal_steps(decays):
    proximal = isinstance(decays.dtype, types.Record)
    return lambda decays: proximal


def scalar_decay(decay):
    """The decay of gamma (centring) and delta (SVRG's drift): the L2 decay; 1
    for a proximal decay (the lazy proximal steps run with neither)."""
    return 1.0 if _is_proximal(decay) else decay


@overload(scalar_decay, inline="always")
def _typed_scalar_decay(decay):
    if isinstance(decay, types.Record):
        return lambda decay: 1.0
    return lambda decay: decay


@_jit()
def _write_back(lazy, scaling, drift, model, averaging, t_start):
    """coef = alpha v + gamma u + delta g and intercept = b (in their dtypes);
    the epoch's averaged iterates (their sum S_alpha v - q + S_gamma u +
    S_delta g) merged into the running mean from ``average_start`` on."""
    v, q, scalars, outputs, _, _ = lazy
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
