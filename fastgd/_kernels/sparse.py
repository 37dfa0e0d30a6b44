"""Kernels on a CSR matrix: every pass and epoch touches stored entries only.

``csr`` is the tuple (data, indices, indptr) of a canonical CSR matrix (no
duplicate entries; indices in any order), its index arrays viewed as unsigned
(uint32 or uint64 indices, uint64 indptr): numba then indexes without the
negative-index fix-up that a signed index costs at every access (the gradient
pass at 1,000,000 x 100,000 with 20 entries a row: 112 -> 51 ms on one thread).
Kernels never do arithmetic on a column index (uint64 mixed with int64 would
become float64); per-column buffers are indexed [j] or [j, c]. Multi-output is the
general case: ``Y`` is (m, k), ``coef`` (n, k) and ``intercept`` (k,); one output
is k = 1 (the caller passes 2-D views, no copies).

Standardization never densifies. ``scaling`` is (scale, u) with u = shift *
scale, float64, each of length 0 when unused (no standardization; nothing
centred, as without an intercept), so that z_i = x_i * scale - u: a row's stored
entries times the scale, minus a dense vector shared by every row. Its products
are taken implicitly: z_i . w = (x_i * scale) . w - u . w, with u . w kept up to
date as w changes.

The plain epoch (:func:`lazy_epoch`) costs O(nnz of the row) a step, however
large n is, as scikit-learn's ``_sgd_fast`` and Bottou's sgd code do: the
coefficients are w = alpha v + gamma_c u + delta g, where the L2 decay multiplies
the scalar alpha, centring moves the scalar gamma_c along u, and SVRG's drift g
(the full gradient at the snapshot, the same every step) moves the scalar delta;
only the entries of v in the row change. Averaging keeps the sums of alpha,
gamma and delta over the averaged steps and, per entry of v, the sum of alpha
before each change (Xu 2011's trick), so the mean of the iterates is formed once
an epoch. An optimizer (momentum, Nesterov, AdaGrad, RMSProp, Adam) moves every
coordinate every step: :func:`optimizer_epoch` is the same epoch with dense
O(n k) updates.

Sums over rows are float64, per fixed block of rows (``bounds``, from the data
alone), reduced in block order: no result depends on the number of threads.
"""

import numpy as np
from numba import prange

from .config import jit as _jit
from .memory import prefetch
from .parallel import blocks_in_last_argument, parallel_kernel
from .steps import _update_average, optimizer_delta

# Rows ahead whose entries a shuffled epoch prefetches.
SPARSE_PREFETCH_AHEAD = 8
# v is rescaled (alpha folded into it, O(n)) when the decay has shrunk alpha
# below this. v grows as 1 / alpha, and the averaged sum S_alpha v - q cancels
# terms of that size, losing about eps / alpha of relative precision: 1e-9
# (scikit-learn's threshold) left averaged coefficients 1e-8 from the dense
# fit's, 1e-6 leaves 1e-10, for a fold every 6.9 / (2 eta alpha) steps.
MIN_ALPHA = 1e-6


# --------------------------------------------------------------------------- #
# Structure
# --------------------------------------------------------------------------- #


@_jit()
def has_duplicates(indices, indptr, n):
    """True when some row stores a column twice (one O(nnz) scan, O(n) memory)."""
    last_row = np.full(n, -1, np.int64)
    for i in range(indptr.shape[0] - 1):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if last_row[j] == i:
                return True
            last_row[j] = i
    return False


@_jit(inline=True)
def _scaled(data, p, j, scaling):
    """x_ij * scale_j for stored entry p (x_ij when ``scale`` is empty)."""
    scale = scaling[0]
    if scale.shape[0] == 0:
        return np.float64(data[p])
    return np.float64(data[p]) * scale[j]


@_jit(inline=True)
def _centre_dot(scaling, coef, c):
    """u . coef[:, c] (0 when nothing is centred: u empty)."""
    u = scaling[1]
    total = 0.0
    for j in range(u.shape[0]):
        total += u[j] * coef[j, c]
    return total


# --------------------------------------------------------------------------- #
# Streaming passes
# --------------------------------------------------------------------------- #


@_jit()
def _gradient_block(csr, Y, sample_weight, coef, intercept, acc, start, stop):
    """Rows start..stop-1 of the fused gradient: acc[j, c] += w r_c x_ij,
    acc[n, c] += w r_c; returns sum w r^2 (all outputs)."""
    data, indices, indptr = csr
    n, k = coef.shape
    uniform = sample_weight.shape[0] == 1
    acc[:] = 0.0
    squares = 0.0
    if k == 1:  # the common case: 1-D views, no loops over outputs
        theta = coef.reshape(n)
        sums = acc.reshape(n + 1)
        y = Y.reshape(Y.shape[0])
        b = np.float64(intercept[0])
        residual_sum = 0.0
        for i in range(start, stop):
            r = b - np.float64(y[i])
            for p in range(indptr[i], indptr[i + 1]):
                r += np.float64(data[p]) * theta[indices[p]]
            weighted = r * np.float64(sample_weight[0] if uniform else sample_weight[i])
            squares += weighted * r
            residual_sum += weighted
            for p in range(indptr[i], indptr[i + 1]):
                sums[indices[p]] += weighted * np.float64(data[p])
        sums[n] = residual_sum
        return squares
    residual = np.empty(k)
    for i in range(start, stop):
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        for c in range(k):
            residual[c] = np.float64(intercept[c]) - np.float64(Y[i, c])
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p])
            for c in range(k):
                residual[c] += x * coef[indices[p], c]
        for c in range(k):
            r = residual[c]
            squares += weight * r * r
            residual[c] = weight * r
            acc[n, c] += residual[c]
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p])
            for c in range(k):
                acc[indices[p], c] += residual[c] * x
    return squares


@parallel_kernel(blocks_in_last_argument)
def sparse_gradient(csr, Y, sample_weight, weight_total, coef, intercept, grad,
                    grad_b, bounds, squares, partial):  # fmt: skip
    """Fused weighted batch gradient and loss in the original units; returns the
    loss. One pass over data and indices: each row's residuals
    r_c = x_i . coef[:, c] + b_c - y_ic, then w_i r_c x_i added into the block's
    sums while the row is in cache. grad (n, k) = (2/W) sum w r x,
    grad_b (k,) = (2/W) sum w r, loss = sum w r^2 / (W k).

    ``partial`` (n_blocks, n + 1, k) and ``squares`` (n_blocks,) hold the
    float64 sums of the rows bounds[b]..bounds[b + 1]-1, reduced in block order.
    """
    n, k = coef.shape
    n_blocks = partial.shape[0]
    for block in prange(n_blocks):
        squares[block] = _gradient_block(csr, Y, sample_weight, coef, intercept,
                                         partial[block], bounds[block],
                                         bounds[block + 1])  # fmt: skip
    scale = 2.0 / weight_total
    for j in range(n + 1):
        for c in range(k):
            total = 0.0
            for block in range(n_blocks):
                total += partial[block, j, c]
            if j < n:
                grad[j, c] = scale * total
            else:
                grad_b[c] = scale * total
    loss = 0.0
    for block in range(n_blocks):
        loss += squares[block]
    return loss / (weight_total * k)


@parallel_kernel(blocks_in_last_argument)
def sparse_column_moments(csr, sample_weight, weight_total, mean, variance, bounds,
                          partial):  # fmt: skip
    """Weighted mean and variance of every column, zeros included (float64);
    ``partial`` (n_blocks, 2, n) holds the block sums of w x and w x^2."""
    data, indices, indptr = csr
    n = mean.shape[0]
    n_blocks = partial.shape[0]
    uniform = sample_weight.shape[0] == 1
    for block in prange(n_blocks):
        acc = partial[block]
        acc[:] = 0.0
        for i in range(bounds[block], bounds[block + 1]):
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            for p in range(indptr[i], indptr[i + 1]):
                x = np.float64(data[p])
                acc[0, indices[p]] += weight * x
                acc[1, indices[p]] += weight * x * x
    for j in range(n):
        first = 0.0
        second = 0.0
        for block in range(n_blocks):
            first += partial[block, 0, j]
            second += partial[block, 1, j]
        mean[j] = first / weight_total
        variance[j] = max(second / weight_total - mean[j] * mean[j], 0.0)


@_jit()
def sparse_rows_loss(csr, Y, sample_weight, rows, coef, intercept, squares):
    """squares[c] = sum over ``rows`` of w_i r_ic^2 (original units, float64
    ``coef`` (n, k)); returns the rows' total weight."""
    data, indices, indptr = csr
    k = coef.shape[1]
    uniform = sample_weight.shape[0] == 1
    residual = np.empty(k)
    squares[:] = 0.0
    total = 0.0
    for i in rows:
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        for c in range(k):
            residual[c] = intercept[c] - np.float64(Y[i, c])
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p])
            for c in range(k):
                residual[c] += x * coef[indices[p], c]
        for c in range(k):
            squares[c] += weight * residual[c] * residual[c]
        total += weight
    return total


@_jit()
def centred_row_norms(csr, shift, scale, norms):
    """norms[i] = |(x_i - shift) * scale|^2 for every row: the stored entries'
    terms, corrected for the centring of the columns they hold, plus
    |shift * scale|^2 for the columns a row does not hold."""
    data, indices, indptr = csr
    base = 0.0
    for j in range(shift.shape[0]):
        base += (shift[j] * scale[j]) ** 2
    for i in range(indptr.shape[0] - 1):
        total = base
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            stored = (np.float64(data[p]) - shift[j]) * scale[j]
            moved = shift[j] * scale[j]
            total += stored * stored - moved * moved
        norms[i] = total


@_jit()
def sparse_gram(csr, Y, sample_weight, gram, cross, x_sum, y_moments):
    """Weighted X^T X (only its upper triangle written, j <= l by column index),
    X^T Y, column sums, and in ``y_moments`` (2, k) the sums of w y and w y^2;
    returns the total weight. O(sum of nnz_i^2): for rows with few entries."""
    data, indices, indptr = csr
    k = Y.shape[1]
    uniform = sample_weight.shape[0] == 1
    total = 0.0
    for i in range(indptr.shape[0] - 1):
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        total += weight
        for c in range(k):
            target = np.float64(Y[i, c])
            y_moments[0, c] += weight * target
            y_moments[1, c] += weight * target * target
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            wx = weight * np.float64(data[p])
            x_sum[j] += wx
            for c in range(k):
                cross[j, c] += wx * Y[i, c]
            for q in range(indptr[i], indptr[i + 1]):
                col = indices[q]
                if col >= j:
                    gram[j, col] += wx * np.float64(data[q])
    return total


# --------------------------------------------------------------------------- #
# Shuffled epochs
# --------------------------------------------------------------------------- #

# The lazy model: ``scalars`` holds alpha, delta, u . u, the count of averaged
# steps and the sums of alpha and delta over them; ``outputs`` (5, k) holds per
# output gamma, the intercept b, u . v, and the sums of gamma and b.
ALPHA, DELTA, UU, COUNT, SUM_ALPHA, SUM_DELTA = 0, 1, 2, 3, 4, 5
GAMMA, B, UV, SUM_GAMMA, SUM_B = 0, 1, 2, 3, 4


@_jit(inline=True)
def _prefetch_row(csr, i):
    """Start fetching every cache line of row i's entries and indices."""
    data, indices, indptr = csr
    start = indptr[i]
    stop = indptr[i + 1]
    for p in range(start, stop, 8):
        prefetch(data, p)
    for p in range(start, stop, 16):
        prefetch(indices, p)


@_jit()
def prefetch_sparse_rows(csr, Y, order, start, stop):
    """The helper thread's share: fetch the rows at positions start..stop-1."""
    for s in range(start, stop):
        _prefetch_row(csr, order[s])
        prefetch(Y, order[s])


@_jit()
def _unit_residuals(csr, Y, sample_weight, scaling, drift, lazy, order, span,
                    residual):  # fmt: skip
    """residual[s, c] = w_i r_ic for positions start..stop-1 (``span`` = (start,
    stop, limit): rows are prefetched up to position ``limit``) under the lazy
    model; returns (sum w r^2, sum w), stopping at the first non-finite r. With
    a drift the model is SVRG's difference from the snapshot: no y."""
    data, indices, indptr = csr
    start, stop, limit = span
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
            loss += weight * r * r
            if not np.isfinite(r):
                return loss, weight_sum
            residual[row, c] = weight * r
        weight_sum += weight
    return loss, weight_sum


@_jit()
def _row_dot_column(csr, i, scaling, g, c):
    """(x_i * scale) . g[:, c]."""
    data, indices, indptr = csr
    total = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        total += _scaled(data, p, indices[p], scaling) * g[indices[p], c]
    return total


@_jit(inline=True)
def _row_products(csr, i, v, scaling, g):
    """(x_i . v, x_i . u, x_i . g) with x_i scaled (one output; v, u, g 1-D, u
    and g empty when unused): one pass over the row's entries."""
    data, indices, indptr = csr
    scale, u = scaling
    dot = 0.0
    along_u = 0.0
    along_g = 0.0
    if scale.shape[0] == 0 and u.shape[0] == 0 and g.shape[0] == 0:
        for p in range(indptr[i], indptr[i + 1]):
            dot += np.float64(data[p]) * v[indices[p]]
        return dot, along_u, along_g
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        x = (
            np.float64(data[p]) * scale[j]
            if scale.shape[0] > 0
            else np.float64(data[p])
        )
        dot += x * v[j]
        if u.shape[0] > 0:
            along_u += x * u[j]
        if g.shape[0] > 0:
            along_g += x * g[j]
    return dot, along_u, along_g


@_jit(inline=True)
def _move_row(csr, i, change, v, scaling, q, before):
    """v += change * x_i (scaled), q += before * that; returns u . that (one
    output, 1-D arrays; q empty when not averaging)."""
    data, indices, indptr = csr
    scale, u = scaling
    if scale.shape[0] == 0 and u.shape[0] == 0 and q.shape[0] == 0:
        for p in range(indptr[i], indptr[i + 1]):
            v[indices[p]] += change * np.float64(data[p])
        return 0.0
    along_u = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        x = (
            np.float64(data[p]) * scale[j]
            if scale.shape[0] > 0
            else np.float64(data[p])
        )
        moved = change * x
        v[j] += moved
        if u.shape[0] > 0:
            along_u += u[j] * moved
        if q.shape[0] > 0:
            q[j] += before * moved
    return along_u


@_jit()
def _plain_sgd_rows(csr, y, sample_weight, v, model, schedule, order, first, last):
    """SGD steps for positions first..last-1 with nothing but the decay lazy
    (no standardization, averaging or drift; one output): the loop
    SGDRegressor's users compare against, with no test per entry. ``model`` is
    (alpha, b, fit_intercept); returns (loss, alpha, b)."""
    data, indices, indptr = csr
    alpha, b, fit_intercept = model
    etas, decays, _ = schedule
    constant = etas.shape[0] == 1
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    for s in range(first, last):
        if s + SPARSE_PREFETCH_AHEAD < last:
            _prefetch_row(csr, order[s + SPARSE_PREFETCH_AHEAD])
        i = order[s]
        dot = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            dot += np.float64(data[p]) * v[indices[p]]
        r = alpha * dot + b - np.float64(y[i])
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        loss += weight * r * r
        if not np.isfinite(r):
            break
        eta = etas[0] if constant else etas[s]
        alpha *= decays[0] if constant else decays[s]
        step = 2.0 * eta * weight * r
        if fit_intercept:
            b -= step
        change = -step / alpha
        for p in range(indptr[i], indptr[i + 1]):
            v[indices[p]] += change * np.float64(data[p])
        if alpha < MIN_ALPHA:
            for j in range(v.shape[0]):
                v[j] *= alpha
            alpha = 1.0
    return loss, alpha, b


@_jit()
def _lazy_units_single(csr, Y, sample_weight, scaling, drift, lazy, schedule,
                       order, plan, first, last):  # fmt: skip
    """:func:`_lazy_units` for one output: the model's scalars in registers, 1-D
    views, and SGD as one loop over rows (the hot path: an SGD epoch at
    1,000,000 x 100,000 with 20 entries a row, best of 7 interleaved with a
    bare lazy-SGD loop on the AMD EPYC: the bare loop 103 ms, the general loop
    145 ms, this one within a few percent of the bare one)."""
    v2, q2, scalars, outputs = lazy
    etas, decays, t_start = schedule
    per_sample, unit, _, fit_intercept, average_start = plan
    n = v2.shape[0]
    v = v2.reshape(n)
    q = q2.reshape(q2.shape[0])
    y = Y
    g = drift[0].reshape(drift[0].shape[0])
    centred = scaling[1].shape[0] > 0
    drifting = g.shape[0] > 0
    averaged = q.shape[0] > 0
    constant = etas.shape[0] == 1
    uniform = sample_weight.shape[0] == 1
    alpha, delta, uu = scalars[ALPHA], scalars[DELTA], scalars[UU]
    gamma, b, uv = outputs[GAMMA, 0], outputs[B, 0], outputs[UV, 0]
    sum_alpha = scalars[SUM_ALPHA]
    if per_sample and scaling[0].shape[0] == 0 and not centred and not drifting \
            and not averaged:  # fmt: skip
        loss, alpha, b = _plain_sgd_rows(csr, y, sample_weight, v,
                                         (alpha, b, fit_intercept), schedule,
                                         order, first, last)  # fmt: skip
        scalars[ALPHA], outputs[B, 0] = alpha, b
        return loss
    g_b = drift[1][0] if drifting else 0.0
    ug = drift[2][0] if drifting else 0.0
    residual = np.empty(unit)
    n_rows = order.shape[0]
    limit = min(last * unit, n_rows)
    loss = 0.0
    for t in range(first, last):
        eta = etas[0] if constant else etas[t]
        decay = decays[0] if constant else decays[t]
        start = t * unit
        stop = min(start + unit, n_rows)
        # The rows' residuals at the current model (one row for SGD).
        weight_sum = 0.0
        for s in range(start, stop):
            if s + SPARSE_PREFETCH_AHEAD < limit:
                _prefetch_row(csr, order[s + SPARSE_PREFETCH_AHEAD])
            i = order[s]
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            dot, along_u, along_g = _row_products(csr, i, v, scaling, g)
            # z_i . w + b - y, with w = alpha v + gamma u + delta g
            r = alpha * dot + b
            if centred:
                r += gamma * (along_u - uu) - alpha * uv
            if drifting:
                r += delta * (along_g - ug)
            else:
                r -= np.float64(y[i])
            loss += weight * r * r
            residual[s - start] = weight * r
            weight_sum += weight
        if not np.isfinite(loss):
            break
        if not per_sample and weight_sum <= 0.0:
            continue
        factor = 2.0 * eta if per_sample else 2.0 * eta / weight_sum
        alpha *= decay
        if drifting:
            delta = decay * delta - eta
        step = residual[0]
        for row in range(1, stop - start):
            step += residual[row]
        step *= factor
        if centred:
            gamma = decay * gamma + step
        if fit_intercept:
            b -= step + eta * g_b
        # only the rows' entries of v move: v -= factor / alpha * w r x * scale
        shrink = factor / alpha
        if per_sample:  # the row of the residual above, still in L1
            uv += _move_row(csr, order[start], -shrink * residual[0], v, scaling, q,
                            sum_alpha)  # fmt: skip
        else:
            for row in range(stop - start):
                uv += _move_row(csr, order[start + row], -shrink * residual[row], v,
                                scaling, q, sum_alpha)  # fmt: skip
        if alpha < MIN_ALPHA:  # fold alpha into v (see _fold_alpha)
            for j in range(n):
                if averaged:
                    q[j] -= sum_alpha * v[j]
                v[j] *= alpha
            uv *= alpha
            sum_alpha = 0.0
            alpha = 1.0
        if averaged and t_start + t >= average_start:
            scalars[COUNT] += 1.0
            sum_alpha += alpha
            scalars[SUM_DELTA] += delta
            outputs[SUM_GAMMA, 0] += gamma
            outputs[SUM_B, 0] += b
    scalars[ALPHA], scalars[DELTA], scalars[SUM_ALPHA] = alpha, delta, sum_alpha
    outputs[GAMMA, 0], outputs[B, 0], outputs[UV, 0] = gamma, b, uv
    return loss


@_jit()
def _lazy_units(csr, Y, sample_weight, scaling, drift, lazy, schedule, order, plan,
                first, last):  # fmt: skip
    """Units first..last-1 of the epoch on the lazy model (see
    :func:`lazy_epoch`); returns their loss, non-finite on divergence."""
    if Y.ndim == 1:  # a compile-time choice: one output compiles one loop
        return _lazy_units_single(csr, Y, sample_weight, scaling, drift, lazy,
                                  schedule, order, plan, first, last)  # fmt: skip
    data, indices, indptr = csr
    v, q, scalars, outputs = lazy
    etas, decays, t_start = schedule
    per_sample, unit, _, fit_intercept, average_start = plan
    k = v.shape[1]
    u = scaling[1]
    centred = u.shape[0] > 0
    drifting = drift[0].shape[0] > 0
    averaged = q.shape[0] > 0
    residual = np.empty((unit, k))
    n_rows = order.shape[0]
    limit = min(last * unit, n_rows)
    loss = 0.0
    for t in range(first, last):
        eta = etas[0] if etas.shape[0] == 1 else etas[t]
        decay = decays[0] if decays.shape[0] == 1 else decays[t]
        start = t * unit
        stop = min(start + unit, n_rows)
        unit_loss, weight_sum = _unit_residuals(
            csr, Y, sample_weight, scaling, drift, lazy, order,
            (start, stop, limit), residual,
        )  # fmt: skip
        loss += unit_loss
        if not np.isfinite(loss):
            return loss
        if not per_sample and weight_sum <= 0.0:
            continue
        factor = 2.0 * eta if per_sample else 2.0 * eta / weight_sum
        scalars[ALPHA] *= decay
        scalars[DELTA] = decay * scalars[DELTA] - (eta if drifting else 0.0)
        for c in range(k):
            step = 0.0
            for row in range(stop - start):
                step += residual[row, c]
            step *= factor
            outputs[GAMMA, c] = decay * outputs[GAMMA, c] + (step if centred else 0.0)
            if fit_intercept:
                outputs[B, c] -= step + (eta * drift[1][c] if drifting else 0.0)
        # only the rows' entries of v move: v -= factor / alpha * w r x * scale
        shrink = factor / scalars[ALPHA]
        before = scalars[SUM_ALPHA]
        for row in range(stop - start):
            i = order[start + row]
            if k == 1 and not centred and not averaged:
                change = -shrink * residual[row, 0]
                for p in range(indptr[i], indptr[i + 1]):
                    v[indices[p], 0] += change * _scaled(data, p, indices[p], scaling)
                continue
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                x = _scaled(data, p, j, scaling)
                for c in range(k):
                    change = -shrink * residual[row, c] * x
                    v[j, c] += change
                    if centred:
                        outputs[UV, c] += u[j] * change
                    if averaged:
                        q[j, c] += before * change
        if scalars[ALPHA] < MIN_ALPHA:
            _fold_alpha(lazy)
        if averaged and t_start + t >= average_start:
            scalars[COUNT] += 1.0
            scalars[SUM_ALPHA] += scalars[ALPHA]
            scalars[SUM_DELTA] += scalars[DELTA]
            for c in range(k):
                outputs[SUM_GAMMA, c] += outputs[GAMMA, c]
                outputs[SUM_B, c] += outputs[B, c]
    return loss


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
    coef, intercept, _ = model
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


def _helper_chunk_set(*args):
    """``uses_threads`` of :func:`_lazy_chunks`: units[2] (helper_chunk) > 0."""
    return args[-1][2] > 0


@parallel_kernel(_helper_chunk_set)
def _lazy_chunks(csr, Y, sample_weight, scaling, drift, lazy, schedule, order,
                 units):  # fmt: skip
    """The epoch's units in chunks of ``units[2]`` (helper_chunk) rows, two
    threads taking turns as in the dense epoch
    (:func:`fastgd._kernels.epochs.run_epoch`): one trains a chunk while the
    other fetches the rows of the next, which it then trains. The updates run in
    the same order either way. The lazy model is built by the caller: numba's
    parfor pass must not see tuples of arrays made inside this driver
    (CONTRIBUTING, "Add a kernel")."""
    unit, helper_chunk = units[1], units[2]
    n_rows = order.shape[0]
    n_units = (n_rows + unit - 1) // unit
    per_chunk = max(1, helper_chunk // unit)
    loss = 0.0
    chunk_loss = np.zeros(2)
    for first in range(0, n_units, per_chunk):
        last = min(first + per_chunk, n_units)
        stop = min(last * unit, n_rows)
        next_stop = min(stop + per_chunk * unit, n_rows)
        trainer = (first // per_chunk) % 2
        for worker in prange(2):
            if worker == trainer:
                chunk_loss[worker] = _lazy_units(
                    csr, Y, sample_weight, scaling, drift, lazy, schedule, order,
                    units, first, last,
                )  # fmt: skip
            elif stop < next_stop:
                prefetch_sparse_rows(csr, Y, order, stop, next_stop)
        loss += chunk_loss[trainer]
        if not np.isfinite(loss):
            break
    return loss


def lazy_epoch(csr, Y, sample_weight, scaling, model, averaging, drift, schedule,
               order, plan):  # fmt: skip
    """One shuffled epoch of plain steps in O(nnz) a step (see the module
    docstring); returns the weighted sum of squared residuals, each before its
    update, non-finite as soon as one is.

    ``plan`` = (per_sample, unit, helper_chunk). ``per_sample``: SGD, a step
    eta_t 2 w_i r_i per row (``unit`` 1); otherwise mini-batch over ``unit``
    rows: eta_t (2/W_B) sum_B w r. ``drift`` is SVRG's (g (n, k), g_b (k,),
    u . g (k,)) in float64, or empty arrays: with it the model is the difference
    from the snapshot and y is not read. ``averaging`` is (avg_coef (n, k),
    avg_intercept, average_start), avg_coef empty when not averaging. ``coef``
    (n, k) and ``intercept`` (k,) of ``model`` are read once and written once.
    ``Y`` 1-D (one output) compiles the one-output loop only.

    Plain Python around compiled parts, as the dense epoch's serial build
    (:func:`fastgd._kernels.epochs._run_epoch_one_thread`): with
    ``helper_chunk`` > 0 the chunked driver :func:`_lazy_chunks` (a parallel
    kernel: two threads, or its serial build, same bits), else the row loop
    alone, so a first small fit compiles no driver.
    """
    coef, intercept, fit_intercept = model
    lazy = _lazy_model(coef, intercept, scaling, averaging[0].shape[0] > 0)
    units = (plan[0], plan[1], plan[2], fit_intercept, averaging[2])
    n_units = (order.shape[0] + plan[1] - 1) // plan[1]
    if plan[2] > 0 and plan[2] // plan[1] < n_units:
        loss = _lazy_chunks(csr, Y, sample_weight, scaling, drift, lazy, schedule,
                            order, units)  # fmt: skip
    else:
        loop = _lazy_units_single if Y.ndim == 1 else _lazy_units
        loss = loop(csr, Y, sample_weight, scaling, drift, lazy, schedule, order,
                    units, 0, n_units)  # fmt: skip
    _write_back(lazy, scaling, drift, model, averaging, schedule[2])
    return loss


@_jit()
def optimizer_epoch(csr, Y, sample_weight, scaling, model, averaging, optimizer,
                    schedule, order, per_sample, unit):  # fmt: skip
    """:func:`lazy_epoch`'s updates through an optimizer (``optimizer`` =
    (state, kind, params)): every coordinate moves every step, as on dense
    data, so a step costs O(n k) plus the rows' entries."""
    data, indices, indptr = csr
    coef, intercept, fit_intercept = model
    etas, decays, t_start = schedule
    state, kind, params = optimizer
    n, k = coef.shape
    u = scaling[1]
    centred = u.shape[0] > 0
    averaged = averaging[0].shape[0] > 0
    uniform = sample_weight.shape[0] == 1
    residual = np.empty((unit, k))
    grad = np.zeros((n, k))
    totals = np.empty(k)
    along_u = np.zeros(k)
    n_rows = order.shape[0]
    n_units = (n_rows + unit - 1) // unit
    loss = 0.0
    for t in range(n_units):
        eta = etas[0] if etas.shape[0] == 1 else etas[t]
        decay = decays[0] if decays.shape[0] == 1 else decays[t]
        start = t * unit
        stop = min(start + unit, n_rows)
        for c in range(k):
            along_u[c] = _centre_dot(scaling, coef, c)
        weight_sum = 0.0
        for row in range(stop - start):
            i = order[start + row]
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            for c in range(k):
                residual[row, c] = np.float64(intercept[c]) - Y[i, c] - along_u[c]
            for p in range(indptr[i], indptr[i + 1]):
                x = _scaled(data, p, indices[p], scaling)
                for c in range(k):
                    residual[row, c] += x * coef[indices[p], c]
            for c in range(k):
                r = residual[row, c]
                loss += weight * r * r
                if not np.isfinite(r):
                    return loss
                residual[row, c] = weight * r
            weight_sum += weight
        if not per_sample and weight_sum <= 0.0:
            continue
        factor = 2.0 if per_sample else 2.0 / weight_sum
        grad[:] = 0.0
        totals[:] = 0.0
        for row in range(stop - start):
            i = order[start + row]
            for c in range(k):
                totals[c] += residual[row, c]
            for p in range(indptr[i], indptr[i + 1]):
                x = _scaled(data, p, indices[p], scaling)
                for c in range(k):
                    grad[indices[p], c] += residual[row, c] * x
        count = t_start + t + 1
        for j in range(n):
            for c in range(k):
                g = grad[j, c] - (totals[c] * u[j] if centred else 0.0)
                coef[j, c] = decay * coef[j, c] - optimizer_delta(
                    kind, factor * g, state, j * k + c, eta, params, count
                )
        if fit_intercept:
            for c in range(k):
                delta = optimizer_delta(
                    kind, factor * totals[c], state, n * k + c, eta, params, count
                )
                intercept[c] -= delta
        if averaged:
            _update_average(averaging, coef, intercept, t_start + t)
    return loss
