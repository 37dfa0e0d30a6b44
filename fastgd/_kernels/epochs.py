"""Shuffled epochs: SGD and mini-batch, one or k outputs, one kernel call an epoch.

:func:`run_epoch` is the one driver: it shuffles the order, then trains the
epoch's units (samples for SGD, batches for mini-batch), on two threads taking
turns when asked. The four row loops below do the arithmetic on dense rows;
which one runs is a compile-time choice (``batch_size`` None or not, ``y`` 1-D
or 2-D), so each configuration compiles to its own plain loop. On CSR rows
(``X`` the tuple (data, indices, indptr)) the same driver runs the lazy model's
loops (:func:`lazy_epoch`, :mod:`fastgd._kernels.sparse.epochs`).

Grouped arguments, shared by every function here:

* ``standardization``: (shift, scale) or None; ``averaging``: (avg_coef,
  avg_intercept, average_start) or None; ``optimizer``: (state, kind, params) or
  None for plain steps (see :mod:`fastgd._kernels.steps`);
* ``model``: (coef, intercept, fit_intercept, loss), coef and intercept
  updated in place; ``loss`` None (squared) or [kind, parameter] of
  :mod:`fastgd.losses` (see :mod:`fastgd._kernels.steps`);
* ``drift``: None, or SVRG's full gradient at the snapshot (mu_coef,
  mu_intercept), which makes the epoch SVRG's inner loop;
* ``schedule``: (etas, decays, t_start): one step size and decay per update, or
  one for all, and the global step count the epoch starts from.
"""

import numpy as np
from numba import prange
from numba.core import types
from numba.extending import overload

from .config import jit as _jit
from .memory import PREFETCH_AHEAD, prefetch, prefetch_positions
from .parallel import parallel_kernel
from .shuffling import shuffle
from .sparse.csr import prefetch_sparse_rows
from .sparse.epochs import _lazy_units
from .sparse.lazy import ALPHA, SUM_ALPHA, _catch_up_all, _lazy_model, _write_back
from .steps import (
    _add_row_products,
    _decay_and_step,
    _decayed_step,
    _feature,
    _optimizer_row_step,
    _residual,
    _step_at,
    _step_then_residual,
    _update_average,
    half_slope,
    optimizer_delta,
    slope,
    weighted_loss,
)
from .variance_reduced import _svrg_rows, _svrg_rows_multi


@_jit(inline=True)
def _batch_at(schedule, t, batch_size, n_rows):
    """(eta_t, decay_t, first position, size) of batch t (the last may be short)."""
    eta, decay = _step_at(schedule, t)
    start = t * batch_size
    return eta, decay, start, min(batch_size, n_rows - start)


@_jit(inline=True)
def _row_at(X, y, sample_weight, order, p, limit):
    """(row, weight) at position p of ``order``, after starting the fetch of the
    row PREFETCH_AHEAD positions on (if that is still before ``limit``)."""
    if p + PREFETCH_AHEAD < limit:
        prefetch(X, order[p + PREFETCH_AHEAD])
        prefetch(y, order[p + PREFETCH_AHEAD])
    i = order[p]
    return i, sample_weight[0] if sample_weight.shape[0] == 1 else sample_weight[i]


@_jit()
def _sgd_rows(X, y, sample_weight, standardization, model, averaging, optimizer,
              schedule, order, start, stop):  # fmt: skip
    """The SGD updates for positions start..stop-1 of ``order`` (one output);
    returns their weighted sum of squared residuals, non-finite on divergence."""
    coef, intercept, fit_intercept, rule = model
    etas, decays, t_start = schedule
    constant_step = etas.shape[0] == 1
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    for s in range(start, stop):
        if s + PREFETCH_AHEAD < stop:
            prefetch(X, order[s + PREFETCH_AHEAD])
            prefetch(y, order[s + PREFETCH_AHEAD])
        eta = etas[0] if constant_step else etas[s]
        decay = decays[0] if constant_step else decays[s]
        i = order[s]
        weight = sample_weight[0] if uniform else sample_weight[i]
        if s == start or optimizer is not None:
            # Without an optimizer, the previous update already computed r.
            r = _residual(X, i, coef, intercept[0] - y[i], standardization)
        loss += weighted_loss(rule, weight, r, y[i])
        if not np.isfinite(r):
            return loss
        if optimizer is None:
            step = eta * slope(rule, r, y[i]) * weight
            if fit_intercept:
                intercept[0] -= step
            if s + 1 < stop:
                k = order[s + 1]
                r = _step_then_residual(
                    coef, X, i, decay, step, k, intercept[0] - y[k], standardization
                )
            else:
                _decay_and_step(coef, X, i, decay, step, standardization)
        else:
            _optimizer_row_step(model, X, i, standardization, decay,
                                slope(rule, r, y[i]) * weight, eta, optimizer,
                                t_start + s + 1)  # fmt: skip
        if averaging is not None:
            _update_average(averaging, coef, intercept, t_start + s)
    return loss


@_jit()
def _sgd_rows_multi(X, Y, sample_weight, standardization, model, averaging,
                    optimizer, schedule, order, start, stop):  # fmt: skip
    """The SGD updates for positions start..stop-1 of ``order`` (k outputs)."""
    coef, intercept, fit_intercept, rule = model
    t_start = schedule[2]
    n = X.shape[1]
    k = Y.shape[1]
    residual = np.empty(k, X.dtype)
    loss = 0.0
    for s in range(start, stop):
        eta, decay = _step_at(schedule, s)
        i, weight = _row_at(X, Y, sample_weight, order, s, stop)
        for c in range(k):
            residual[c] = intercept[c] - Y[i, c]
        _add_row_products(X, i, coef, residual, standardization)
        for c in range(k):
            r = residual[c]
            loss += weighted_loss(rule, weight, r, Y[i, c])
            if not np.isfinite(r):
                return loss
            residual[c] = slope(rule, r, Y[i, c]) * weight
        if optimizer is None:
            for c in range(k):
                residual[c] *= eta
            for j in range(n):
                z = _feature(X, i, j, standardization)
                for c in range(k):
                    coef[j, c] = _decayed_step(coef[j, c], residual[c] * z, decay,
                                               standardization, j)  # fmt: skip
            if fit_intercept:
                for c in range(k):
                    intercept[c] -= residual[c]
        else:
            state, kind, params = optimizer
            count = t_start + s + 1
            for j in range(n):
                z = _feature(X, i, j, standardization)
                for c in range(k):
                    g = np.float64(residual[c]) * np.float64(z)
                    delta = optimizer_delta(kind, g, state, j * k + c, eta, params,
                                            count)  # fmt: skip
                    coef[j, c] = _decayed_step(coef[j, c], delta, decay,
                                               standardization, j)  # fmt: skip
            if fit_intercept:
                for c in range(k):
                    intercept[c] -= optimizer_delta(
                        kind, np.float64(residual[c]), state, n * k + c, eta, params,
                        count)  # fmt: skip
        if averaging is not None:
            _update_average(averaging, coef, intercept, t_start + s)
    return loss


@_jit()
def _minibatch_rows(X, y, sample_weight, standardization, model, averaging,
                    optimizer, schedule, order, batch_size, first_batch,
                    last_batch):  # fmt: skip
    """The updates of batches first_batch..last_batch-1 of the epoch (one output).
    A batch's rows are summed in X's dtype, as the NumPy twin's X_B^T r (for a
    loss other than the squared, r is half its slope: the step is the same)."""
    coef, intercept, fit_intercept, rule = model
    t_start = schedule[2]
    n = X.shape[1]
    grad = np.empty(n, X.dtype)
    n_rows = order.shape[0]
    limit = min(last_batch * batch_size, n_rows)
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    for t in range(first_batch, last_batch):
        eta, decay, start, size = _batch_at(schedule, t, batch_size, n_rows)
        residual_sum = 0.0
        weight_sum = 0.0
        grad[:] = 0.0
        for s in range(size):
            if start + s + PREFETCH_AHEAD < limit:
                prefetch(X, order[start + s + PREFETCH_AHEAD])
                prefetch(y, order[start + s + PREFETCH_AHEAD])
            i = order[start + s]
            weight = sample_weight[0] if uniform else sample_weight[i]
            r = _residual(X, i, coef, intercept[0] - y[i], standardization)
            loss += weighted_loss(rule, weight, r, y[i])
            if not np.isfinite(r):
                return loss
            # coef is fixed within a batch: the row's gradient term is added while
            # the row is in L1 (one pass over the batch's rows, not two).
            weighted = weight * half_slope(rule, r, y[i])
            residual_sum += weighted
            weight_sum += weight
            for j in range(n):
                grad[j] += weighted * X[i, j]
        if weight_sum <= 0.0:
            continue
        step = 2.0 * eta / weight_sum
        if standardization is not None:
            shift, scale = standardization
            for j in range(n):
                grad[j] = scale[j] * (grad[j] - shift[j] * residual_sum)
        if optimizer is None:
            for j in range(n):
                coef[j] = _decayed_step(coef[j], step * grad[j], decay,
                                        standardization, j)  # fmt: skip
            if fit_intercept:
                intercept[0] -= step * residual_sum
        else:
            state, kind, params = optimizer
            count = t_start + t + 1
            mean = 2.0 / weight_sum
            for j in range(n):
                delta = optimizer_delta(kind, mean * grad[j], state, j, eta, params,
                                        count)  # fmt: skip
                coef[j] = _decayed_step(coef[j], delta, decay, standardization, j)
            if fit_intercept:
                intercept[0] -= optimizer_delta(
                    kind, mean * residual_sum, state, n, eta, params, count
                )
        if averaging is not None:
            _update_average(averaging, coef, intercept, t_start + t)
    return loss


@_jit()
def _minibatch_rows_multi(X, Y, sample_weight, standardization, model, averaging,
                          optimizer, schedule, order, batch_size,
                          first_batch, last_batch):  # fmt: skip
    """The updates of batches first_batch..last_batch-1 of the epoch (k outputs).
    The residuals of a batch are kept in X's dtype; ``grad``'s last row sums them."""
    coef, intercept, _, rule = model
    t_start = schedule[2]
    n = X.shape[1]
    k = Y.shape[1]
    residual = np.empty((batch_size, k), X.dtype)
    grad = np.empty((n + 1, k))
    n_rows = order.shape[0]
    limit = min(last_batch * batch_size, n_rows)
    loss = 0.0
    for t in range(first_batch, last_batch):
        eta, decay, start, size = _batch_at(schedule, t, batch_size, n_rows)
        grad[:] = 0.0
        weight_sum = 0.0
        for s in range(size):
            i, weight = _row_at(X, Y, sample_weight, order, start + s, limit)
            for c in range(k):
                residual[s, c] = intercept[c] - Y[i, c]
            for j in range(n):
                z = _feature(X, i, j, standardization)
                for c in range(k):
                    residual[s, c] += z * coef[j, c]
            for c in range(k):
                r = residual[s, c]
                loss += weighted_loss(rule, weight, r, Y[i, c])
                if not np.isfinite(r):
                    return loss
                residual[s, c] = half_slope(rule, r, Y[i, c]) * weight
                grad[n, c] += residual[s, c]
            weight_sum += weight
        if weight_sum <= 0.0:
            continue
        for s in range(size):
            i = order[start + s]
            for j in range(n):
                for c in range(k):
                    grad[j, c] += np.float64(residual[s, c]) * X[i, j]
        _apply_batch_gradient_multi(
            model, standardization, optimizer, grad, weight_sum, eta, decay,
            t_start + t + 1,
        )  # fmt: skip
        if averaging is not None:
            _update_average(averaging, coef, intercept, t_start + t)
    return loss


@_jit()
def _apply_batch_gradient_multi(model, standardization, optimizer, grad, weight_sum,
                                eta, decay, count):  # fmt: skip
    """One mini-batch update (k outputs) from the raw-row sums in ``grad``,
    mapped to z units: Z_B^T v = scale * (X_B^T v - shift * sum v)."""
    coef, intercept, fit_intercept, _ = model
    n, k = coef.shape
    step = 2.0 * eta / weight_sum
    for j in range(n):
        for c in range(k):
            z_grad = grad[j, c]
            if standardization is not None:
                shift, scale = standardization
                z_grad = scale[j] * (z_grad - shift[j] * grad[n, c])
            if optimizer is None:
                delta = step * z_grad
            else:
                state, kind, params = optimizer
                delta = optimizer_delta(kind, 2.0 / weight_sum * z_grad, state,
                                        j * k + c, eta, params, count)  # fmt: skip
            coef[j, c] = _decayed_step(coef[j, c], delta, decay, standardization, j)
    if fit_intercept:
        for c in range(k):
            if optimizer is None:
                intercept[c] -= step * grad[n, c]
            else:
                state, kind, params = optimizer
                intercept[c] -= optimizer_delta(
                    kind, 2.0 / weight_sum * grad[n, c], state, n * k + c, eta,
                    params, count)  # fmt: skip


def _train_units(X, y, sample_weight, standardization, model, averaging, optimizer,
                 drift, schedule, order, batch_size, units):  # fmt: skip
    """Units first..last-1 (``units`` = (first, last)) of the epoch with the row
    loop of this configuration (``drift`` not None: SVRG's inner steps;
    ``batch_size`` None: SGD, units are samples; else mini-batch, units are
    batches; ``X`` a CSR tuple: the lazy model's loop, ``model`` being the
    lazy model's six arrays and its plan's six entries in one flat tuple, as
    :func:`lazy_epoch` makes it).

    From Python (the serial path, and every kernel without the JIT) this body
    picks the compiled row loop; compiled callers get :func:`_typed_train_units`,
    which picks it while typing the call."""
    first, last = units
    if isinstance(X, tuple):
        return _lazy_units(X, y, sample_weight, standardization, drift, model[:6],
                           schedule, order, model[6:], first, last)  # fmt: skip
    if drift is not None:
        if y.ndim == 1:
            return _svrg_rows(X, sample_weight, standardization, model, drift,
                              schedule, order, first, last)  # fmt: skip
        return _svrg_rows_multi(X, sample_weight, standardization, model, drift,
                                schedule, order, first, last)  # fmt: skip
    if batch_size is None:
        if y.ndim == 1:
            return _sgd_rows(X, y, sample_weight, standardization, model, averaging,
                             optimizer, schedule, order, first, last)  # fmt: skip
        return _sgd_rows_multi(X, y, sample_weight, standardization, model, averaging,
                               optimizer, schedule, order, first, last)  # fmt: skip
    if y.ndim == 1:
        return _minibatch_rows(X, y, sample_weight, standardization, model, averaging,
                               optimizer, schedule, order, batch_size, first,
                               last)  # fmt: skip
    return _minibatch_rows_multi(X, y, sample_weight, standardization, model,
                                 averaging, optimizer, schedule, order, batch_size,
                                 first, last)  # fmt: skip


@overload(_train_units)
def _typed_train_units(X, y, sample_weight, standardization, model, averaging,
                       optimizer, drift, schedule, order, batch_size,
                       units):  # fmt: skip
    """:func:`_train_units` in compiled code: the row loop is chosen from the
    argument types, so only that one loop is typed and compiled. (numba prunes a
    branch on ``arg is None`` only when the argument is None: a jitted
    ``_train_units`` compiled all three loops for mini-batch and SVRG, 2 s each on
    a fresh install.)"""
    if isinstance(X, types.BaseTuple):

        def train_lazy(X, y, sample_weight, standardization, model, averaging,
                       optimizer, drift, schedule, order, batch_size,
                       units):  # fmt: skip
            return _lazy_units(X, y, sample_weight, standardization, drift,
                               model[:6], schedule, order, model[6:], units[0],
                               units[1])  # fmt: skip

        return train_lazy
    one_output = y.ndim == 1
    if not isinstance(drift, types.NoneType):
        loop = _svrg_rows if one_output else _svrg_rows_multi

        def train_svrg(X, y, sample_weight, standardization, model, averaging,
                       optimizer, drift, schedule, order, batch_size,
                       units):  # fmt: skip
            return loop(X, sample_weight, standardization, model, drift, schedule,
                        order, units[0], units[1])  # fmt: skip

        return train_svrg
    if isinstance(batch_size, types.NoneType):
        loop = _sgd_rows if one_output else _sgd_rows_multi

        def train_sgd(X, y, sample_weight, standardization, model, averaging,
                      optimizer, drift, schedule, order, batch_size,
                      units):  # fmt: skip
            return loop(X, y, sample_weight, standardization, model, averaging,
                        optimizer, schedule, order, units[0], units[1])  # fmt: skip

        return train_sgd
    loop = _minibatch_rows if one_output else _minibatch_rows_multi

    def train_minibatch(X, y, sample_weight, standardization, model, averaging,
                        optimizer, drift, schedule, order, batch_size,
                        units):  # fmt: skip
        return loop(X, y, sample_weight, standardization, model, averaging,
                    optimizer, schedule, order, batch_size, units[0],
                    units[1])  # fmt: skip

    return train_minibatch


def _prefetch_units(X, y, order, start, stop):
    """The helper thread's share: prefetch the rows that positions
    start..stop-1 of ``order`` point to, dense or CSR."""
    if isinstance(X, tuple):
        prefetch_sparse_rows(X, y, order, start, stop)
    else:
        prefetch_positions(X, y, order, start, stop)


@overload(_prefetch_units)
def _typed_prefetch_units(X, y, order, start, stop):
    if isinstance(X, types.BaseTuple):
        return lambda X, y, order, start, stop: prefetch_sparse_rows(
            X, y, order, start, stop
        )
    return lambda X, y, order, start, stop: prefetch_positions(X, y, order, start, stop)


@_jit()
def _rows_per_unit(batch_size):
    """Rows per update: 1 for SGD, ``batch_size`` for mini-batch."""
    if batch_size is None:
        return 1
    return batch_size


def _run_epoch_one_thread(X, y, sample_weight, standardization, model, averaging,
                          optimizer, drift, schedule, order, visit,
                          batch_size):  # fmt: skip
    """:func:`run_epoch` on the calling thread (its serial build).

    Plain Python calling the compiled shuffle and row loop: one Python call an
    epoch (a chunk, for chunked data), and on a fresh install a fit compiles
    only the row loop it runs, not jitted layers around it (the first sgd fit
    on ``load_diabetes``: 4.1 -> 2.6 s; a first serial fit of 1,000,000 x 100
    no longer compiles a serial copy of the two-thread driver, 4 s). Chunked
    data is trained chunk by chunk and the chunks' losses summed in the same
    order as on two threads, so the result is the same bit for bit."""
    rng_state, do_shuffle, helper_chunk = visit
    if do_shuffle:
        shuffle(order, rng_state)
    unit = 1 if batch_size is None else batch_size
    n_units = (order.shape[0] + unit - 1) // unit
    per_chunk = max(1, helper_chunk // unit) if helper_chunk > 0 else n_units
    loss = 0.0
    for first in range(0, n_units, per_chunk):
        last = min(first + per_chunk, n_units)
        chunk_loss = _train_units(X, y, sample_weight, standardization, model,
                                  averaging, optimizer, drift, schedule, order,
                                  batch_size, (first, last))  # fmt: skip
        if helper_chunk <= 0:
            return chunk_loss
        loss += chunk_loss
        if not np.isfinite(loss):
            return loss
    return loss


def _helper_chunk_set(X, y, sample_weight, standardization, model, averaging,
                      optimizer, drift, schedule, order, visit,
                      batch_size):  # fmt: skip
    """``uses_threads`` of :func:`run_epoch`: a helper chunk is set."""
    return visit[2] > 0


@parallel_kernel(_helper_chunk_set, serial=_run_epoch_one_thread)
def run_epoch(X, y, sample_weight, standardization, model, averaging, optimizer,
              drift, schedule, order, visit, batch_size):  # fmt: skip
    """One epoch; returns the weighted sum of squared residuals (each taken before
    its update), non-finite as soon as one is (divergence).

    ``visit`` = (rng_state, do_shuffle, helper_chunk). Shuffles ``order`` in
    place first (if asked, with the generator state ``rng_state``), then visits
    it. SGD (``batch_size`` None), with step eta_t, decay_t
    and weight w_i: r = z_i.coef + b - y_i; coef = decay_t coef - eta_t 2 w_i r z_i;
    b -= eta_t 2 w_i r. Mini-batch: consecutive groups B of ``batch_size``
    positions (the last may be shorter and is used), W_B their weight:
    coef = decay_t coef - eta_t (2/W_B) Z_B^T (w r)_B; b -= eta_t (2/W_B) sum (w r)_B.
    With ``drift`` (mu_coef, mu_intercept), SVRG's inner steps on the difference
    from the snapshot (:mod:`fastgd._kernels.variance_reduced`): y is not read.

    With ``helper_chunk`` > 0 (:func:`fastgd._kernels.memory.helper_chunk_rows`,
    rounded to whole batches) two threads take turns: one trains a chunk while
    the other prefetches the rows of the next, which it then trains from its own
    cache. The updates run in the same order either way, so the results are the
    same with or without it; with ``helper_chunk`` 0 the serial build
    (:func:`_run_epoch_one_thread`) runs (:mod:`fastgd._kernels.parallel`).
    """
    rng_state, do_shuffle, helper_chunk = visit
    n_rows = order.shape[0]
    unit = _rows_per_unit(batch_size)
    n_units = (n_rows + unit - 1) // unit
    per_chunk = max(1, helper_chunk // unit)
    if do_shuffle:
        shuffle(order, rng_state)
    # No shortcut for a single chunk: a second call site of _train_units here
    # (with a literal first unit) would compile the row loop a second time in
    # this build, 2-3 s of a fresh install's first large fit.
    loss = 0.0
    chunk_loss = np.zeros(2)
    for first in range(0, n_units, per_chunk):
        last = min(first + per_chunk, n_units)
        stop = min(last * unit, n_rows)
        next_stop = min(stop + per_chunk * unit, n_rows)
        # The thread that prefetched this chunk trains it: its rows are in that
        # core's own cache.
        trainer = (first // per_chunk) % 2
        for worker in prange(2):
            if worker == trainer:
                chunk_loss[worker] = _train_units(
                    X, y, sample_weight, standardization, model, averaging,
                    optimizer, drift, schedule, order, batch_size, (first, last),
                )  # fmt: skip
            else:
                _prefetch_units(X, y, order, stop, next_stop)
        loss += chunk_loss[trainer]
        if not np.isfinite(loss):
            return loss
    return loss


# The shuffle state of an epoch whose caller shuffled its order already.
_NO_SHUFFLE = (np.zeros(1, np.uint64), False)


def lazy_epoch(csr, Y, sample_weight, scaling, model, averaging, drift, schedule,
               order, plan):  # fmt: skip
    """One epoch of plain steps on CSR rows in O(nnz) a step, in the order given
    (:mod:`fastgd._kernels.sparse`); returns the weighted sum of the rows'
    losses, each before its update, non-finite as soon as one is.

    ``plan`` = (per_sample, unit, helper_chunk). ``per_sample``: SGD, a step
    eta_t 2 w_i r_i per row (``unit`` 1); otherwise mini-batch over ``unit``
    rows: eta_t (2/W_B) sum_B w r. ``drift`` is SVRG's (g (n, k), g_b (k,),
    u . g (k,)) in float64, or empty arrays: with it the model is the difference
    from the snapshot and y is not read. ``averaging`` is (avg_coef (n, k),
    avg_intercept, average_start), avg_coef empty when not averaging. ``coef``
    (n, k) and ``intercept`` (k,) of ``model`` are read once, into the lazy
    model, and written once. ``Y`` 1-D (one output) compiles the one-output
    loop only.

    The lazy model is built here, in Python: numba's parfor pass must not see
    tuples of arrays made inside the driver (CONTRIBUTING, "Add a kernel").
    :func:`run_epoch` then trains it, on two threads taking turns when
    ``helper_chunk`` > 0 splits the epoch, with the same bits either way.
    """
    coef, intercept, fit_intercept, loss_rule = model
    per_sample, unit, helper_chunk = plan
    decays = schedule[1]
    proximal = decays.dtype.names is not None
    floor = decays["floor"][:1].astype(np.float64) if proximal else np.zeros(0)
    lazy = _lazy_model(coef, intercept, scaling, averaging[0].shape[0] > 0, floor)
    rows = (per_sample, unit, helper_chunk, fit_intercept, averaging[2], loss_rule)
    if helper_chunk // unit >= (order.shape[0] + unit - 1) // unit:
        helper_chunk = 0  # one chunk: nothing to share, no driver to compile
    # One flat tuple: numba's parfor pass hands a tuple argument to the threads
    # element by element, one level deep ("scalar type Tuple(...) given for non
    # scalar argument" for a tuple nested in it).
    loss = run_epoch(csr, Y, sample_weight, scaling, (*lazy, *rows), averaging, None,
                     drift, schedule, order, (*_NO_SHUFFLE, helper_chunk),
                     None if per_sample else unit)  # fmt: skip
    if proximal:
        _catch_up_all(lazy, scaling, lazy[2][ALPHA], lazy[2][SUM_ALPHA])
    _write_back(lazy, scaling, drift, model, averaging, schedule[2])
    return loss
