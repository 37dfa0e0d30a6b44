"""Kernels on a CSR matrix: every pass and epoch touches stored entries only.

``csr`` is the tuple (data, indices, indptr) of a canonical CSR matrix (no
duplicate entries; indices in any order; int32 or int64). Multi-output is the
general case: ``Y`` is (m, k), ``coef`` (n, k) and ``intercept`` (k,); one output
is k = 1 (the caller passes 2-D views, no copies).

Standardization never densifies. ``scaling`` is (scale, u) with u = shift *
scale, float64, each of length 0 when unused (no standardization; nothing
centred, as without an intercept), so that z_i = x_i * scale - u: a row's stored entries times the scale, minus a
dense vector shared by every row. Its products are taken implicitly:
z_i . w = (x_i * scale) . w - u . w, with u . w kept up to date as w changes.

The plain epoch (:func:`lazy_epoch`) costs O(nnz of the row) a step, however
large n is, as scikit-learn's ``_sgd_fast`` and Bottou's sgd code do: the
coefficients are w = alpha v + gamma_c u + delta g, where the L2 decay multiplies
the scalar alpha, centring moves the scalar gamma_c along u, and SVRG's drift g
(the full gradient at the snapshot, the same every step) moves the scalar delta;
only the entries of v in the row change. Averaging keeps the sums of alpha,
gamma and delta over the averaged steps and, per entry of v, the sum of alpha
before each change (Xu 2011's trick), so the mean of the iterates is formed once
an epoch. An optimizer (AdaGrad, RMSProp, Adam) moves every coordinate every
step: :func:`optimizer_epoch` is the same epoch with dense O(n k) updates.

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
# v is rescaled (alpha folded into it) when the decay has shrunk alpha below
# this: v would otherwise grow as 1 / alpha and lose precision.
MIN_ALPHA = 1e-9


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


@parallel_kernel(blocks_in_last_argument)
def sparse_gradient(csr, Y, sample_weight, weight_total, coef, intercept, grad,
                    grad_b, bounds, partial):  # fmt: skip
    """Fused weighted batch gradient and loss in the original units; returns the
    loss. One pass over data and indices: each row's residuals
    r_c = x_i . coef[:, c] + b_c - y_ic, then w_i r_c x_i added into the block's
    gradient while the row is in cache. grad (n, k) = (2/W) sum w r x,
    grad_b (k,) = (2/W) sum w r, loss = sum w r^2 / (W k).

    ``partial`` (n_blocks, (n + 1) k + 1) holds the float64 block sums over rows
    bounds[b]..bounds[b + 1]-1, reduced in block order.
    """
    data, indices, indptr = csr
    n, k = coef.shape
    n_blocks = partial.shape[0]
    uniform = sample_weight.shape[0] == 1
    for block in prange(n_blocks):
        acc = partial[block]
        acc[:] = 0.0
        residual = np.empty(k)
        for i in range(bounds[block], bounds[block + 1]):
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            for c in range(k):
                residual[c] = np.float64(intercept[c]) - np.float64(Y[i, c])
            for p in range(indptr[i], indptr[i + 1]):
                x = np.float64(data[p])
                j = indices[p]
                for c in range(k):
                    residual[c] += x * coef[j, c]
            for c in range(k):
                r = residual[c]
                acc[(n + 1) * k] += weight * r * r
                residual[c] = weight * r
                acc[n * k + c] += residual[c]
            for p in range(indptr[i], indptr[i + 1]):
                x = np.float64(data[p])
                j = indices[p]
                for c in range(k):
                    acc[j * k + c] += residual[c] * x
    scale = 2.0 / weight_total
    for j in range(n):
        for c in range(k):
            total = 0.0
            for block in range(n_blocks):
                total += partial[block, j * k + c]
            grad[j, c] = scale * total
    squares = 0.0
    for c in range(k):
        total = 0.0
        for block in range(n_blocks):
            total += partial[block, n * k + c]
        grad_b[c] = scale * total
    for block in range(n_blocks):
        squares += partial[block, (n + 1) * k]
    return squares / (weight_total * k)


@parallel_kernel(blocks_in_last_argument)
def sparse_column_moments(csr, sample_weight, mean, variance, bounds, partial):
    """Weighted mean and variance of every column, zeros included (float64);
    ``partial`` (n_blocks, 2 n + 1) holds the block sums of w x, w x^2 and w."""
    data, indices, indptr = csr
    n = mean.shape[0]
    n_blocks = partial.shape[0]
    uniform = sample_weight.shape[0] == 1
    for block in prange(n_blocks):
        acc = partial[block]
        acc[:] = 0.0
        for i in range(bounds[block], bounds[block + 1]):
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            acc[2 * n] += weight
            for p in range(indptr[i], indptr[i + 1]):
                x = np.float64(data[p])
                j = indices[p]
                acc[j] += weight * x
                acc[n + j] += weight * x * x
    total = 0.0
    for block in range(n_blocks):
        total += partial[block, 2 * n]
    for j in range(n):
        first = 0.0
        second = 0.0
        for block in range(n_blocks):
            first += partial[block, j]
            second += partial[block, n + j]
        mean[j] = first / total
        variance[j] = max(second / total - mean[j] * mean[j], 0.0)


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


@_jit()
def _unit_residuals(csr, Y, sample_weight, scaling, drift, state, order, start,
                    stop, residual):  # fmt: skip
    """residual[s, c] = w_i r_ic for positions start..stop-1 under the lazy model
    ``state``; returns (sum w r^2, sum w), stopping at the first non-finite r.
    With a drift the model is SVRG's difference from the snapshot: no y."""
    data, indices, indptr = csr
    v, alpha, gamma, delta, b, uv, uu = state
    g, _, ug = drift
    k = v.shape[1]
    u = scaling[1]
    centred = u.shape[0] > 0
    drifting = g.shape[0] > 0
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    weight_sum = 0.0
    for s in range(start, stop):
        if s + SPARSE_PREFETCH_AHEAD < order.shape[0]:
            ahead = indptr[order[s + SPARSE_PREFETCH_AHEAD]]
            if ahead < data.shape[0]:
                prefetch(data, ahead)
                prefetch(indices, ahead)
        i = order[s]
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        row = s - start
        for c in range(k):
            residual[row, c] = 0.0
        along_u = 0.0
        along_g = 0.0
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
            r = alpha[0] * residual[row, c] + b[c]
            if centred:
                r += gamma[c] * (along_u - uu[0]) - alpha[0] * uv[c]
            if drifting:
                if k > 1:
                    along_g = _row_dot_column(csr, i, scaling, g, c)
                r += delta[0] * (along_g - ug[c])
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


@_jit()
def _materialize(state, scaling, drift, coef, intercept):
    """coef = alpha v + gamma u + delta g, intercept = b (in their dtypes)."""
    v, alpha, gamma, delta, b, _, _ = state
    g = drift[0]
    u = scaling[1]
    n, k = v.shape
    for j in range(n):
        for c in range(k):
            w = alpha[0] * v[j, c]
            if u.shape[0] > 0:
                w += gamma[c] * u[j]
            if g.shape[0] > 0:
                w += delta[0] * g[j, c]
            coef[j, c] = w
    for c in range(k):
        intercept[c] = b[c]


@_jit()
def _fold_alpha(state, sums, q):
    """Fold alpha into v (v = alpha v, alpha = 1), keeping the averaged sum
    S_alpha v - q unchanged: q = -(S_alpha v - q), S_alpha = 0."""
    v, alpha, _, _, _, uv, _ = state
    n, k = v.shape
    for j in range(n):
        for c in range(k):
            if q.shape[0] > 0:
                q[j, c] = q[j, c] - sums[0] * v[j, c]
            v[j, c] *= alpha[0]
    for c in range(k):
        uv[c] *= alpha[0]
    sums[0] = 0.0
    alpha[0] = 1.0


@_jit()
def _average_epoch(averaging, state, scaling, drift, sums, q, count, t_start):
    """Merge this epoch's ``count`` averaged iterates (their sum: S_alpha v - q +
    S_gamma u + S_delta g) into the running mean from ``average_start`` on."""
    avg_coef, avg_intercept, average_start = averaging
    v = state[0]
    g = drift[0]
    u = scaling[1]
    n, k = v.shape
    before = max(0, t_start - average_start)
    kept = before / (before + count)
    share = 1.0 / (before + count)
    for j in range(n):
        for c in range(k):
            total = sums[0] * v[j, c] - q[j, c]
            if u.shape[0] > 0:
                total += sums[2 + c] * u[j]
            if g.shape[0] > 0:
                total += sums[1] * g[j, c]
            avg_coef[j, c] = kept * avg_coef[j, c] + share * total
    for c in range(k):
        avg_intercept[c] = kept * avg_intercept[c] + share * sums[2 + k + c]


@_jit()
def lazy_epoch(csr, Y, sample_weight, scaling, model, averaging, drift, schedule,
               order, per_sample, unit):  # fmt: skip
    """One shuffled epoch of plain steps in O(nnz) a step (see the module
    docstring); returns the weighted sum of squared residuals, each before its
    update, non-finite as soon as one is.

    ``per_sample``: SGD, a step eta_t 2 w_i r_i per row (``unit`` 1); otherwise
    mini-batch over ``unit`` rows: eta_t (2/W_B) sum_B w r. ``drift`` is SVRG's
    (g (n, k), g_b (k,), u . g (k,)) in float64, or empty arrays: with it the
    model is the difference from the snapshot and y is not read. ``averaging``
    is (avg_coef (n, k), avg_intercept, average_start), avg_coef empty when not
    averaging. ``coef`` (n, k) and ``intercept`` (k,) of ``model`` are read once
    and written once.
    """
    data, indices, indptr = csr
    coef, intercept, fit_intercept = model
    etas, decays, t_start = schedule
    n, k = coef.shape
    u = scaling[1]
    centred = u.shape[0] > 0
    drifting = drift[0].shape[0] > 0
    v = coef.astype(np.float64)
    b = intercept.astype(np.float64)
    alpha, delta, uu = np.ones(1), np.zeros(1), np.zeros(1)
    gamma, uv = np.zeros(k), np.zeros(k)
    if centred:
        uu[0] = np.sum(u * u)
        for c in range(k):
            uv[c] = _centre_dot(scaling, v, c)
    state = (v, alpha, gamma, delta, b, uv, uu)
    averaged = averaging[0].shape[0] > 0
    # S_alpha, S_delta, then per output S_gamma, then the intercepts' sums
    sums = np.zeros(2 + 2 * k)
    q = np.zeros((n if averaged else 0, k))
    count = 0
    residual = np.empty((unit, k))
    n_rows = order.shape[0]
    n_units = (n_rows + unit - 1) // unit
    loss = 0.0
    for t in range(n_units):
        eta = etas[0] if etas.shape[0] == 1 else etas[t]
        decay = decays[0] if decays.shape[0] == 1 else decays[t]
        start = t * unit
        stop = min(start + unit, n_rows)
        unit_loss, weight_sum = _unit_residuals(
            csr, Y, sample_weight, scaling, drift, state, order, start, stop,
            residual,
        )  # fmt: skip
        loss += unit_loss
        if not np.isfinite(loss):
            break
        if not per_sample and weight_sum <= 0.0:
            continue
        factor = 2.0 * eta if per_sample else 2.0 * eta / weight_sum
        alpha[0] *= decay
        delta[0] = decay * delta[0] - (eta if drifting else 0.0)
        for c in range(k):
            step = 0.0
            for row in range(stop - start):
                step += residual[row, c]
            step *= factor
            gamma[c] = decay * gamma[c] + (step if centred else 0.0)
            if fit_intercept:
                b[c] -= step + (eta * drift[1][c] if drifting else 0.0)
        # only the rows' entries of v move: v -= factor / alpha * w r x * scale
        shrink = factor / alpha[0]
        for row in range(stop - start):
            i = order[start + row]
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                x = _scaled(data, p, j, scaling)
                for c in range(k):
                    change = -shrink * residual[row, c] * x
                    v[j, c] += change
                    if centred:
                        uv[c] += u[j] * change
                    if averaged:
                        q[j, c] += sums[0] * change
        if alpha[0] < MIN_ALPHA:
            _fold_alpha(state, sums, q)
        if averaged and t_start + t >= averaging[2]:
            count += 1
            sums[0] += alpha[0]
            sums[1] += delta[0]
            for c in range(k):
                sums[2 + c] += gamma[c]
                sums[2 + k + c] += b[c]
    _materialize(state, scaling, drift, coef, intercept)
    if count > 0:
        _average_epoch(averaging, state, scaling, drift, sums, q, count, t_start)
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
                intercept[c] -= optimizer_delta(kind, factor * totals[c], state,
                                                n * k + c, eta, params, count)  # fmt: skip
        if averaged:
            _update_average(averaging, coef, intercept, t_start + t)
    return loss
