"""Shuffled epochs on a CSR matrix: the row loops of plain steps on the lazy
weight vector in O(nnz) a step (:func:`_lazy_units`, which
:func:`fastgd._kernels.epochs.lazy_epoch` drives through the one epoch driver,
``run_epoch``), and the same epoch through an optimizer with dense updates
(:func:`optimizer_epoch`)."""

import numpy as np

from ..config import jit as _jit
from ..steps import _update_average, half_slope, optimizer_delta, weighted_loss
from .csr import (
    SPARSE_PREFETCH_AHEAD,
    _centre_dot,
    _move_row,
    _prefetch_row,
    _row_products,
    _scaled,
)
from .lazy import (
    ALPHA,
    COUNT,
    DELTA,
    GAMMA,
    MIN_ALPHA,
    SUM_ALPHA,
    SUM_B,
    SUM_DELTA,
    SUM_GAMMA,
    THRESHOLDS,
    UU,
    UV,
    WEIGHED,
    B,
    _catch_up,
    _catch_up_all,
    _fold_alpha,
    _unit_residuals,
    lazy_decay,
    proximal_steps,
    scalar_decay,
)


@_jit()
def _plain_sgd_rows(csr, y, sample_weight, v, model, schedule, order, first, last):
    """SGD steps for positions first..last-1 with nothing but the decay lazy
    (no standardization, averaging or drift; one output): the loop
    SGDRegressor's users compare against, with no test per entry. ``model`` is
    (alpha, b, fit_intercept, loss); returns (loss, alpha, b)."""
    data, indices, indptr = csr
    alpha, b, fit_intercept, rule = model
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
        loss += weighted_loss(rule, weight, r, y[i])
        if not np.isfinite(r):
            break
        eta = etas[0] if constant else etas[s]
        alpha = lazy_decay(decays[0] if constant else decays[s], alpha)[0]
        step = 2.0 * eta * weight * half_slope(rule, r, y[i])
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
    v2, q2, scalars, outputs, totals, _ = lazy
    etas, decays, t_start = schedule
    per_sample, unit, _, fit_intercept, average_start, rule = plan
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
    proximal = proximal_steps(decays)
    if per_sample and scaling[0].shape[0] == 0 and not centred and not drifting \
            and not averaged and not proximal:  # fmt: skip
        loss, alpha, b = _plain_sgd_rows(csr, y, sample_weight, v,
                                         (alpha, b, fit_intercept, rule), schedule,
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
        if proximal:  # the rows' pending proximal steps, before their products
            outputs[GAMMA, 0], outputs[UV, 0] = gamma, uv
            for s in range(start, stop):
                i = order[s]
                _catch_up(csr[1], csr[2][i], csr[2][i + 1], lazy, scaling, alpha,
                          sum_alpha)  # fmt: skip
            uv = outputs[UV, 0]
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
            loss += weighted_loss(rule, weight, r, y[i])
            residual[s - start] = weight * half_slope(rule, r, y[i])
            weight_sum += weight
        if not np.isfinite(loss):
            break
        if not per_sample and weight_sum <= 0.0:
            continue
        factor = 2.0 * eta if per_sample else 2.0 * eta / weight_sum
        alpha, moving, threshold = lazy_decay(decay, alpha)
        if drifting:
            delta = scalar_decay(decay) * delta - eta
        step = residual[0]
        for row in range(1, stop - start):
            step += residual[row]
        step *= factor
        if centred:
            gamma = scalar_decay(decay) * gamma + step
        if fit_intercept:
            b -= step + eta * g_b
        # only the rows' entries of v move: v -= factor / alpha * w r x * scale
        shrink = factor / moving
        if per_sample:  # the row of the residual above, still in L1
            uv += _move_row(csr, order[start], -shrink * residual[0], v, scaling, q,
                            sum_alpha)  # fmt: skip
        else:
            for row in range(stop - start):
                uv += _move_row(csr, order[start + row], -shrink * residual[row], v,
                                scaling, q, sum_alpha)  # fmt: skip
        if proximal:  # the step's threshold, pending for every coefficient
            totals[THRESHOLDS] += threshold
            totals[WEIGHED] += sum_alpha * threshold
        if alpha < MIN_ALPHA:  # fold alpha into v (see _fold_alpha)
            if proximal:
                outputs[GAMMA, 0], outputs[UV, 0] = gamma, uv
                _catch_up_all(lazy, scaling, alpha, sum_alpha)
                uv = outputs[UV, 0]
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
    :func:`fastgd._kernels.epochs.lazy_epoch`); returns their loss, non-finite
    on divergence."""
    if Y.ndim == 1:  # a compile-time choice: one output compiles one loop
        return _lazy_units_single(csr, Y, sample_weight, scaling, drift, lazy,
                                  schedule, order, plan, first, last)  # fmt: skip
    data, indices, indptr = csr
    v, q, scalars, outputs, totals, _ = lazy
    etas, decays, t_start = schedule
    per_sample, unit, _, fit_intercept, average_start, _ = plan
    proximal = proximal_steps(decays)
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
        if proximal:  # the rows' pending proximal steps, before their products
            for s in range(start, stop):
                i = order[s]
                _catch_up(indices, indptr[i], indptr[i + 1], lazy, scaling,
                          scalars[ALPHA], scalars[SUM_ALPHA])  # fmt: skip
        unit_loss, weight_sum = _unit_residuals(
            csr, Y, sample_weight, scaling, drift, lazy, order,
            (start, stop, limit, plan[5]), residual,
        )  # fmt: skip
        loss += unit_loss
        if not np.isfinite(loss):
            return loss
        if not per_sample and weight_sum <= 0.0:
            continue
        factor = 2.0 * eta if per_sample else 2.0 * eta / weight_sum
        scalars[ALPHA], moving, threshold = lazy_decay(decay, scalars[ALPHA])
        scalar = scalar_decay(decay)
        scalars[DELTA] = scalar * scalars[DELTA] - (eta if drifting else 0.0)
        for c in range(k):
            step = 0.0
            for row in range(stop - start):
                step += residual[row, c]
            step *= factor
            outputs[GAMMA, c] = scalar * outputs[GAMMA, c] + (step if centred else 0.0)
            if fit_intercept:
                outputs[B, c] -= step + (eta * drift[1][c] if drifting else 0.0)
        # only the rows' entries of v move: v -= factor / alpha * w r x * scale
        shrink = factor / moving
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
        if proximal:  # the step's threshold, pending for every coefficient
            totals[THRESHOLDS] += threshold
            totals[WEIGHED] += before * threshold
        if scalars[ALPHA] < MIN_ALPHA:
            if proximal:
                _catch_up_all(lazy, scaling, scalars[ALPHA], scalars[SUM_ALPHA])
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
def optimizer_epoch(csr, Y, sample_weight, scaling, model, averaging, optimizer,
                    schedule, order, per_sample, unit):  # fmt: skip
    """:func:`fastgd._kernels.epochs.lazy_epoch`'s updates through an optimizer
    (``optimizer`` = (state, kind, params)): every coordinate moves every step,
    as on dense data, so a step costs O(n k) plus the rows' entries."""
    data, indices, indptr = csr
    coef, intercept, fit_intercept, rule = model
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
                loss += weighted_loss(rule, weight, r, Y[i, c])
                if not np.isfinite(r):
                    return loss
                residual[row, c] = weight * half_slope(rule, r, Y[i, c])
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
