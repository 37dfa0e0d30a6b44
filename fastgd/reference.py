"""Loop-based and pure-NumPy versions of every method: baselines and test oracles.

Written from the maths, not from the kernels. With sample weights w_i (all 1 by
default) summing to W and r_i = x_i.theta + b - y_i:

* batch gradient  dJ/dtheta_j = (2/W) sum_i w_i r_i x_ij,   dJ/db = (2/W) sum_i w_i r_i,
  loss J = (1/W) sum_i w_i r_i^2;
* SGD step on sample i:  theta = decay_t theta - eta_t 2 w_i r_i x_i,
  b -= eta_t 2 w_i r_i;
* mini-batch step on rows B:  theta = decay_t theta - eta_t (2/W_B) X_B^T (w r)_B,
  b -= eta_t (2/W_B) sum (w r)_B;
* SVRG's inner step on sample i, written for the difference v = theta - theta~
  from the snapshot theta~ (full gradient mu, the L2 term 2 alpha theta~ in it):
  d_i = x_i.v + c,  v = decay_t v - eta_t (2 w_i d_i x_i + mu),
  c -= eta_t (2 w_i d_i + mu_b).

The epoch functions work in standardized coordinates z = (x - shift) * scale
(``shift=None, scale=None`` means z = x), apply the L2 decay_t = 1 - 2 eta_t alpha
(``decays=None``: no penalty; with standardized features the penalty is on the
user's coefficients scale_j theta_j, so coefficient j takes the step first and is
then divided by 1 + (1 - decay_t) scale_j^2, the L2 term's proximal form) and,
from global step ``average_start`` on (negative: never), keep the running mean
of the iterates in ``avg_coef``/``avg_intercept``.

Each epoch function takes the sample ``order`` and the step sizes ``etas`` (one
per update, or a single constant) explicitly, so it can replay any epoch a compiled
kernel ran: pass the order the kernel left in its index array. ``coef`` and
``intercept`` are updated in place and the weighted sum of squared residuals (each
taken before its update) is returned, exactly as the kernels do.

Every method also takes ``loss``: None for the squared loss above, or the
kernels' [kind, parameter] of :func:`fastgd.losses.kernel_loss`. Then r_i^2
becomes loss(r_i) and 2 r_i its derivative (:func:`fastgd.losses.values`,
:func:`fastgd.losses.derivatives`; the loop versions call the scalar rules).

Shapes: ``y`` (m,) with ``coef`` (n,) and ``intercept`` (1,), or ``y`` (m, k) with
``coef`` (n, k) and ``intercept`` (k,). The loop versions use Python floats and
explicit loops over samples, features and outputs; the NumPy versions vectorize
over features (and outputs), looping in Python only over samples or batches.
"""

import numpy as np

from . import losses, optimizers


def _per_step(values, t):
    return values[0] if len(values) == 1 else values[t]


def _weight(sample_weight, i):
    if sample_weight is None:
        return 1.0
    return sample_weight[0] if len(sample_weight) == 1 else sample_weight[i]


def _row_weights(sample_weight, rows, dtype):
    """The weights of ``rows`` as an array (ones when there are no weights)."""
    if sample_weight is None:
        return np.ones(len(rows), dtype=dtype)
    if len(sample_weight) == 1:
        return np.full(len(rows), sample_weight[0], dtype=dtype)
    return sample_weight[rows]


def _half_slopes(loss, residual, y):
    """``residual`` itself for the squared loss, else half the loss's slope at
    the targets ``y``: what the gradient sums in place of r (the factor 2 is
    applied with the step)."""
    if loss is None:
        return residual
    return 0.5 * losses.derivatives(loss[0], residual, y, loss[1])


def _loss_sum(loss, residual, y, weights):
    """sum_i w_i loss(r_i, y_i) in float64 (``weights`` broadcast against
    ``residual``), for a loss other than the squared."""
    return float(np.sum(weights * losses.values(loss[0], residual, y, loss[1])))


def _weighted_terms(loss, weight, r, y):
    """(weight * loss(r, y), half its slope) for one residual, in the loop
    versions (the squared loss summed as w r r, in that order)."""
    if loss is None:
        return weight * r * r, r
    value = float(losses.value(loss[0], r, y, loss[1]))
    return weight * value, 0.5 * float(losses.derivative(loss[0], r, y, loss[1]))


def _as_columns(y, coef, intercept):
    """2-D views (m, k), (n, k), (k,) of the single- or multi-output arrays."""
    if y.ndim == 1:
        return y[:, None], coef[:, None], intercept
    return y, coef, intercept


def _standardizer(n, shift, scale):
    shift = np.zeros(n) if shift is None else shift
    scale = np.ones(n) if scale is None else scale
    return shift, scale


def _is_proximal(decays):
    """The kernels' proximal decays: records of (shrink, threshold, floor) for an
    L1 term or a bound (:meth:`fastgd._training.penalty.Penalty.proximal_decays`)."""
    return decays is not None and np.asarray(decays).dtype.names is not None


def _decay_at(decays, t):
    """decay_t as a float (1.0 without a penalty); the record of step t for
    proximal decays."""
    if decays is None:
        return 1.0
    if _is_proximal(decays):
        return _per_step(decays, t)
    return float(np.ravel(_per_step(decays, t))[0])


class _ProximalStep:
    """The penalty's proximal step of one update on coefficients in z units:
    soft-threshold coefficient j by threshold * scale_j, clip at the floor, then
    divide by 1 + (1 - shrink) scale_j^2 (the penalty on the user's coefficient
    scale_j w_j)."""

    def __init__(self, decay, scale):
        # scale None: z = x, every weight 1 (one for all coefficients).
        scale = np.ones(1) if scale is None else np.asarray(scale, dtype=np.float64)
        self.threshold = float(decay["threshold"]) * scale
        self.floor = float(decay["floor"])
        # No "shrink" in the record: no L2 term.
        shrink = float(decay["shrink"]) if "shrink" in decay.dtype.names else 1.0
        self.divisor = 1.0 + (1.0 - shrink) * scale * scale

    def at(self, value, j):
        """Coefficient j's proximal step at ``value`` (a float)."""
        j = j if len(self.threshold) > 1 else 0
        shrunk = max(abs(value) - float(self.threshold[j]), 0.0)
        shrunk = shrunk if value >= 0 else -shrunk
        return max(shrunk, self.floor) / float(self.divisor[j])

    def apply(self, coef):
        """Every coefficient's, in place (``coef`` (n,) or (n, k))."""
        column = (-1,) + (1,) * (coef.ndim - 1)
        threshold = self.threshold.reshape(column)
        shrunk = np.sign(coef) * np.maximum(np.abs(coef) - threshold, 0.0)
        coef[...] = np.maximum(shrunk, self.floor) / self.divisor.reshape(column)


def _divisors(decays, decay, scale):
    """1 + (1 - decay) scale_j^2 per coefficient where the decays weigh each
    standardized coefficient (given as a column, as the kernels take them: the
    penalty on the user's coefficients, in its proximal form), a
    :class:`_ProximalStep` for proximal decays, else None: the plain decay
    applies."""
    if _is_proximal(decays):
        return _ProximalStep(decay, scale)
    if decays is None or np.ndim(decays) < 2 or scale is None:
        return None
    scale = np.asarray(scale, dtype=np.float64)
    return 1.0 + (1.0 - decay) * scale * scale


def _decayed(value, delta, decay, divisors, j):
    """A loop twin's coefficient j after a step of ``delta`` and the decay."""
    if divisors is None:
        return decay * value - delta
    if isinstance(divisors, _ProximalStep):
        return divisors.at(value - delta, j)
    return (value - delta) / float(divisors[j])


def _decay_before_step(coef, decays, t, scale):
    """A NumPy twin's decay: the plain one in place, before the step (returns
    None), or with standardized features or proximal decays the divisors
    (:func:`_divisors`) that :func:`_divide_after_step` applies after it."""
    divisors = _divisors(decays, _decay_at(decays, t), scale)
    if divisors is None and decays is not None:
        coef *= _per_step(decays, t)
    return divisors


def _divide_after_step(coef, divisors):
    if isinstance(divisors, _ProximalStep):
        divisors.apply(coef)
    elif divisors is not None:
        coef /= (divisors if coef.ndim == 1 else divisors[:, None]).astype(coef.dtype)


# --------------------------------------------------------------------------- #
# Batch gradient
# --------------------------------------------------------------------------- #


def _row_entries(X, i):
    """(column, value) pairs of row i: every column of a dense X, the stored
    entries of a SciPy CSR matrix (duplicates, where any, add up)."""
    if hasattr(X, "indptr"):
        stored = range(X.indptr[i], X.indptr[i + 1])
        return [(int(X.indices[p]), float(X.data[p])) for p in stored]
    return [(j, float(X[i, j])) for j in range(X.shape[1])]


def batch_gradient_loop(X, y, coef, intercept, sample_weight=None, loss=None):
    """Batch gradient element by element; returns (grad_coef, grad_intercept, loss).

    ``grad_coef`` has the shape of ``coef`` and ``grad_intercept`` that of
    ``intercept``; ``loss`` is the weighted mean over samples (and outputs) of r^2.
    X is an array or a SciPy CSR matrix (then the loops visit stored entries).
    """
    Y, C, b = _as_columns(y, coef, intercept)
    m, n = X.shape
    k = Y.shape[1]
    grad = [[0.0] * k for _ in range(n)]
    grad_b = [0.0] * k
    squares = 0.0
    total_weight = 0.0
    for i in range(m):
        weight = float(_weight(sample_weight, i))
        total_weight += weight
        entries = _row_entries(X, i)
        for c in range(k):
            r = float(b[c]) - float(Y[i, c])
            for j, x in entries:
                r += x * float(C[j, c])
            value, half = _weighted_terms(loss, weight, r, float(Y[i, c]))
            for j, x in entries:
                grad[j][c] += weight * half * x
            grad_b[c] += weight * half
            squares += value
    grad_coef = np.array(grad).reshape(coef.shape) * (2.0 / total_weight)
    grad_intercept = np.array(grad_b) * (2.0 / total_weight)
    return grad_coef, grad_intercept, squares / (total_weight * k)


def batch_gradient_numpy(X, y, coef, intercept, sample_weight=None, loss=None):
    """Batch gradient on BLAS (on SciPy's sparse products for a sparse X):
    2/W X^T (w (X theta + b - y)); returns as the loop one."""
    m = X.shape[0]
    # Work in X's dtype, as a NumPy user would: mixing in float64 would copy X.
    residual = X @ coef.astype(X.dtype, copy=False) - y
    residual += intercept.astype(X.dtype, copy=False)
    weights = _row_weights(sample_weight, np.arange(m), X.dtype)
    row_weights = weights if y.ndim == 1 else weights[:, None]
    weighted = _half_slopes(loss, residual, y) * row_weights
    total_weight = float(np.sum(weights, dtype=np.float64))
    grad_coef = (2.0 / total_weight) * (X.T @ weighted)
    grad_intercept = np.atleast_1d((2.0 / total_weight) * weighted.sum(axis=0))
    if loss is None:
        squares = float(np.sum(weighted * residual, dtype=np.float64))
    else:
        squares = _loss_sum(loss, residual, y, row_weights)
    n_targets = 1 if y.ndim == 1 else y.shape[1]
    return grad_coef, grad_intercept, squares / (total_weight * n_targets)


# --------------------------------------------------------------------------- #
# Stochastic gradient descent
# --------------------------------------------------------------------------- #


def optimizer_update(name, coef, intercept, grad_coef, grad_intercept, state, eta,
                     count):  # fmt: skip
    """One optimizer update of coef and intercept in place (see
    fastgd.optimizers). ``state`` is (2, (n + 1) k): coefficients in C order, then
    the intercepts. A zero intercept gradient leaves the intercept unchanged."""
    if name == "sgd" or name is None:
        coef -= (eta * grad_coef).astype(coef.dtype, copy=False)
        intercept -= (eta * grad_intercept).astype(intercept.dtype, copy=False)
        return
    size = coef.size
    coef_state = state[:, :size].reshape((2, *coef.shape))
    optimizers.step(name, coef, np.asarray(grad_coef, dtype=np.float64), coef_state,
                    eta, count)  # fmt: skip
    optimizers.step(name, intercept, np.asarray(grad_intercept, dtype=np.float64),
                    state[:, size:], eta, count)  # fmt: skip


def _running_mean(avg_coef, avg_intercept, coef, intercept, t, average_start):
    """Running mean of the iterates from step ``average_start`` on (if averaging)."""
    if avg_coef is not None and 0 <= average_start <= t:
        inverse_count = 1.0 / (t - average_start + 1)
        avg_coef += (coef - avg_coef) * inverse_count
        avg_intercept += (intercept - avg_intercept) * inverse_count


def sgd_epoch_loop(
    X, y, coef, intercept, order, etas, fit_intercept=True, *, sample_weight=None,
    shift=None, scale=None, decays=None, avg_coef=None, avg_intercept=None,
    t_start=0, average_start=-1, loss=None,
):  # fmt: skip
    """One SGD epoch in pure Python loops over samples, features and outputs."""
    Y, C, b = _as_columns(y, coef, intercept)
    n = X.shape[1]
    k = Y.shape[1]
    standardized = shift is not None
    shift, scale = _standardizer(n, shift, scale)
    total = 0.0
    for t, i in enumerate(order):
        eta = float(_per_step(etas, t))
        decay = _decay_at(decays, t)
        weight = float(_weight(sample_weight, i))
        z = [(float(X[i, j]) - float(shift[j])) * float(scale[j]) for j in range(n)]
        residuals = []
        for c in range(k):
            r = float(b[c]) - float(Y[i, c])
            for j in range(n):
                r += z[j] * float(C[j, c])
            value, half = _weighted_terms(loss, weight, r, float(Y[i, c]))
            residuals.append(half)
            total += value
        divisors = _divisors(decays, decay, scale if standardized else None)
        for c in range(k):
            step = 2.0 * eta * weight * residuals[c]
            for j in range(n):
                C[j, c] = _decayed(float(C[j, c]), step * z[j], decay, divisors, j)
            if fit_intercept:
                b[c] -= step
        _running_mean(avg_coef, avg_intercept, coef, intercept, t_start + t,
                      average_start)  # fmt: skip
    return total


def sgd_epoch_numpy(
    X, y, coef, intercept, order, etas, fit_intercept=True, *, sample_weight=None,
    shift=None, scale=None, decays=None, avg_coef=None, avg_intercept=None,
    t_start=0, average_start=-1, optimizer=None, opt_state=None, loss=None,
):  # fmt: skip
    """One SGD epoch: a Python loop over samples with vectorized row arithmetic."""
    standardize = shift is not None
    total = 0.0
    rule = loss
    for t, i in enumerate(order):
        eta = _per_step(etas, t)
        weight = _weight(sample_weight, i)
        z = (X[i] - shift) * scale if standardize else X[i]
        residual = z @ coef + intercept - y[i]
        if rule is None:
            total += float(weight) * float(
                np.sum(np.square(residual, dtype=np.float64))
            )
        else:
            total += float(weight) * _loss_sum(rule, residual, y[i], 1.0)
            residual = _half_slopes(rule, residual, y[i])
        if optimizer is not None:
            factor = np.atleast_1d(2 * weight * residual.astype(np.float64))
            grad = np.multiply.outer(z, factor) if y.ndim > 1 else factor * z
            grad_b = factor if fit_intercept else np.zeros_like(factor)

            divisors = _decay_before_step(coef, decays, t, scale)
            optimizer_update(optimizer, coef, intercept, grad, grad_b, opt_state,
                             eta, t_start + t + 1)  # fmt: skip
            _divide_after_step(coef, divisors)
        else:
            step = 2 * eta * weight * residual
            divisors = _decay_before_step(coef, decays, t, scale)
            coef -= np.multiply.outer(z, step) if y.ndim > 1 else step * z
            _divide_after_step(coef, divisors)
            if fit_intercept:
                intercept -= step
        _running_mean(avg_coef, avg_intercept, coef, intercept, t_start + t,
                      average_start)  # fmt: skip
    return total


# --------------------------------------------------------------------------- #
# Mini-batch gradient descent
# --------------------------------------------------------------------------- #


def minibatch_epoch_loop(
    X, y, coef, intercept, order, etas, batch_size, fit_intercept=True, *,
    sample_weight=None, shift=None, scale=None, decays=None, avg_coef=None,
    avg_intercept=None, t_start=0, average_start=-1, loss=None,
):  # fmt: skip
    """One mini-batch epoch in pure Python loops; the last short batch is used."""
    Y, C, b = _as_columns(y, coef, intercept)
    n = X.shape[1]
    k = Y.shape[1]
    standardized = shift is not None
    shift, scale = _standardizer(n, shift, scale)
    rule, loss = loss, 0.0
    for t, start in enumerate(range(0, len(order), batch_size)):
        rows = order[start : start + batch_size]
        eta = float(_per_step(etas, t))
        decay = _decay_at(decays, t)
        grad = [[0.0] * k for _ in range(n)]
        grad_b = [0.0] * k
        total_weight = 0.0
        for i in rows:
            weight = float(_weight(sample_weight, i))
            total_weight += weight
            z = [(float(X[i, j]) - float(shift[j])) * float(scale[j]) for j in range(n)]
            for c in range(k):
                r = float(b[c]) - float(Y[i, c])
                for j in range(n):
                    r += z[j] * float(C[j, c])
                value, half = _weighted_terms(rule, weight, r, float(Y[i, c]))
                loss += value
                for j in range(n):
                    grad[j][c] += weight * half * z[j]
                grad_b[c] += weight * half
        if total_weight <= 0:
            continue
        step = 2.0 * eta / total_weight
        divisors = _divisors(decays, decay, scale if standardized else None)
        for c in range(k):
            for j in range(n):
                C[j, c] = _decayed(float(C[j, c]), step * grad[j][c], decay, divisors,
                                   j)  # fmt: skip
            if fit_intercept:
                b[c] -= step * grad_b[c]
        _running_mean(avg_coef, avg_intercept, coef, intercept, t_start + t,
                      average_start)  # fmt: skip
    return loss


def minibatch_epoch_numpy(
    X, y, coef, intercept, order, etas, batch_size, fit_intercept=True, *,
    sample_weight=None, shift=None, scale=None, decays=None, avg_coef=None,
    avg_intercept=None, t_start=0, average_start=-1, optimizer=None, opt_state=None,
    loss=None,
):  # fmt: skip
    """One mini-batch epoch: a Python loop over batches, BLAS within each batch."""
    standardize = shift is not None
    rule, loss = loss, 0.0
    for t, start in enumerate(range(0, len(order), batch_size)):
        rows = order[start : start + batch_size]
        Z = (X[rows] - shift) * scale if standardize else X[rows]
        residual = Z @ coef + intercept - y[rows]
        weights = _row_weights(sample_weight, rows, X.dtype)
        row_weights = weights if y.ndim == 1 else weights[:, None]
        if rule is None:
            weighted = residual * row_weights
            loss += float(np.sum(weighted * residual, dtype=np.float64))
        else:
            weighted = (_half_slopes(rule, residual, y[rows]) * row_weights).astype(
                X.dtype
            )
            loss += _loss_sum(rule, residual, y[rows], row_weights)
        total_weight = float(np.sum(weights, dtype=np.float64))
        if total_weight <= 0:
            continue
        step = 2.0 * _per_step(etas, t) / total_weight
        if optimizer is not None:
            mean = 2.0 / total_weight
            grad = mean * (Z.T @ weighted.astype(np.float64))
            grad_b = mean * weighted.sum(axis=0, dtype=np.float64)
            grad_b = np.atleast_1d(grad_b if fit_intercept else 0.0 * grad_b)
            divisors = _decay_before_step(coef, decays, t, scale)
            optimizer_update(optimizer, coef, intercept, grad, grad_b, opt_state,
                             _per_step(etas, t), t_start + t + 1)  # fmt: skip
            _divide_after_step(coef, divisors)
        else:
            divisors = _decay_before_step(coef, decays, t, scale)
            coef -= (step * (Z.T @ weighted)).astype(coef.dtype, copy=False)
            _divide_after_step(coef, divisors)
            if fit_intercept:
                intercept -= (step * weighted.sum(axis=0)).astype(
                    intercept.dtype, copy=False
                )
        _running_mean(avg_coef, avg_intercept, coef, intercept, t_start + t,
                      average_start)  # fmt: skip
    return loss


# --------------------------------------------------------------------------- #
# SVRG's inner epoch
# --------------------------------------------------------------------------- #


def _snapshot(drift, coef):
    """Prox-SVRG's snapshot coefficients (n, k), the third member of ``drift``,
    or None."""
    if len(drift) < 3:
        return None
    return drift[2][:, None] if coef.ndim == 1 else drift[2]


def svrg_epoch_loop(
    X, coef, intercept, order, etas, drift, fit_intercept=True, *,
    sample_weight=None, shift=None, scale=None, decays=None,
):  # fmt: skip
    """One SVRG inner epoch on the difference from the snapshot (``coef``,
    ``intercept``: v and c, updated in place; ``drift``: (mu, mu_b)) in pure
    Python loops; returns the weighted sum of squared d_i."""
    C = coef[:, None] if coef.ndim == 1 else coef
    mu = drift[0][:, None] if coef.ndim == 1 else drift[0]
    mu_b, b = drift[1], intercept
    # Prox-SVRG: the proximal step at the snapshot plus the difference.
    snapshot = _snapshot(drift, coef)
    n, k = C.shape
    standardized = shift is not None
    shift, scale = _standardizer(n, shift, scale)
    loss = 0.0
    for t, i in enumerate(order):
        eta = float(_per_step(etas, t))
        decay = _decay_at(decays, t)
        weight = float(_weight(sample_weight, i))
        z = [(float(X[i, j]) - float(shift[j])) * float(scale[j]) for j in range(n)]
        steps = []
        for c in range(k):
            d = float(b[c])
            for j in range(n):
                d += z[j] * float(C[j, c])
            loss += weight * d * d
            steps.append(2.0 * eta * weight * d)
        divisors = _divisors(decays, decay, scale if standardized else None)
        for c in range(k):
            for j in range(n):
                if divisors is None:
                    C[j, c] = (
                        decay * float(C[j, c]) - steps[c] * z[j] - eta * float(mu[j, c])
                    )
                elif snapshot is not None:
                    w = float(snapshot[j, c])
                    C[j, c] = _decayed(w + float(C[j, c]),
                                       steps[c] * z[j] + eta * float(mu[j, c]),
                                       decay, divisors, j) - w  # fmt: skip
                else:
                    C[j, c] = _decayed(float(C[j, c]),
                                       steps[c] * z[j] + eta * float(mu[j, c]),
                                       decay, divisors, j)  # fmt: skip
            if fit_intercept:
                b[c] -= steps[c] + eta * float(mu_b[c])
    return loss


def svrg_epoch_numpy(
    X, coef, intercept, order, etas, drift, fit_intercept=True, *,
    sample_weight=None, shift=None, scale=None, decays=None,
):  # fmt: skip
    """One SVRG inner epoch (as :func:`svrg_epoch_loop`) with vectorized rows."""
    standardize = shift is not None
    mu, mu_b = drift[:2]
    snapshot = _snapshot(drift, coef)
    loss = 0.0
    for t, i in enumerate(order):
        eta = _per_step(etas, t)
        weight = _weight(sample_weight, i)
        z = (X[i] - shift) * scale if standardize else X[i]
        d = z @ coef + intercept
        loss += float(weight) * float(np.sum(np.square(d, dtype=np.float64)))
        step = 2 * eta * weight * d
        divisors = _decay_before_step(coef, decays, t, scale)
        coef -= (np.multiply.outer(z, step) if coef.ndim > 1 else step * z) + eta * mu
        if snapshot is not None:
            # Prox-SVRG: the proximal step at the snapshot plus the difference.
            coef += snapshot.reshape(coef.shape)
            _divide_after_step(coef, divisors)
            coef -= snapshot.reshape(coef.shape)
        else:
            _divide_after_step(coef, divisors)
        if fit_intercept:
            intercept -= step + eta * mu_b
    return loss


# --------------------------------------------------------------------------- #
# The epoch kernel's signature
# --------------------------------------------------------------------------- #


def _run_epoch_twin(impl, X, y, sample_weight, standardization, model, averaging,
                    optimizer, drift, schedule, order, visit,
                    batch_size):  # fmt: skip
    rng_state, do_shuffle, _ = visit
    if do_shuffle:  # the seeded shuffle is shared with the kernels, not twinned
        from ._kernels import shuffle

        shuffle(order, rng_state)
    coef, intercept, fit_intercept, loss = model
    etas, decays, t_start = schedule
    shift, scale = standardization or (None, None)
    if drift is not None:
        epoch = globals()[f"svrg_epoch_{impl}"]
        return epoch(X, coef, intercept, order, etas, drift, fit_intercept,
                     sample_weight=sample_weight, shift=shift, scale=scale,
                     decays=decays)  # fmt: skip
    avg_coef, avg_intercept, average_start = averaging or (None, None, -1)
    extra = {}
    if optimizer is not None:
        if impl == "loop":
            raise ValueError("the loop twins implement plain gradient steps only.")
        state, kind, _ = optimizer
        names = {code: name for name, code in optimizers.OPTIMIZERS.items()}
        extra = dict(optimizer=names[int(kind)], opt_state=state)
    method = "sgd_epoch" if batch_size is None else "minibatch_epoch"
    epoch = globals()[f"{method}_{impl}"]
    size = () if batch_size is None else (batch_size,)
    return epoch(
        X, y, coef, intercept, order, etas, *size, fit_intercept,
        sample_weight=sample_weight, shift=shift, scale=scale, decays=decays,
        avg_coef=avg_coef, avg_intercept=avg_intercept, t_start=t_start,
        average_start=average_start, loss=loss, **extra,
    )  # fmt: skip


def run_epoch_numpy(X, y, sample_weight, standardization, model, averaging,
                    optimizer, drift, schedule, order, visit,
                    batch_size):  # fmt: skip
    """:func:`sgd_epoch_numpy`, :func:`minibatch_epoch_numpy` or
    :func:`svrg_epoch_numpy` with the compiled
    epoch's arguments (``fastgd._kernels.run_epoch``), so an engine or a test can
    swap one for the other. ``visit[2]`` (the helper thread) does not apply."""
    return _run_epoch_twin("numpy", X, y, sample_weight, standardization, model,
                           averaging, optimizer, drift, schedule, order, visit,
                           batch_size)  # fmt: skip


def run_epoch_loop(X, y, sample_weight, standardization, model, averaging,
                   optimizer, drift, schedule, order, visit,
                   batch_size):  # fmt: skip
    """As :func:`run_epoch_numpy`, with the pure-Python loop twins."""
    return _run_epoch_twin("loop", X, y, sample_weight, standardization, model,
                           averaging, optimizer, drift, schedule, order, visit,
                           batch_size)  # fmt: skip


def least_squares_loss(X, y, sample_weight=None):
    """The minimum over (coef, b) of the weighted mean squared residual, to
    rounding: the oracle of the real-tables benchmark and tests. Columns are
    centred and scaled before the solve, so offsets and scales that make
    scikit-learn's LinearRegression lose digits (a timestamp column, a column
    of scale 1e-6) do not; dense X by ``numpy.linalg.lstsq``, sparse X by
    SciPy's ``lsqr`` run to 1e-14. Returns (loss, seconds).

    >>> import numpy as np
    >>> X = np.arange(8.0).reshape(4, 2); y = X @ [1.0, 2.0] + 3.0
    >>> loss, _ = least_squares_loss(X + 1e9, y)
    >>> bool(loss < 1e-20)
    True
    """
    import time

    started = time.perf_counter()
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(
        sample_weight, dtype=np.float64)  # fmt: skip
    share = w / w.sum()
    root = np.sqrt(share)
    target = root * (y - share @ y)
    if hasattr(X, "tocsr"):
        from scipy.sparse.linalg import LinearOperator, lsqr

        X = X.tocsr().astype(np.float64)
        mean = X.T @ share
        centred_square = X.multiply(X).T @ share - mean**2
        scale = np.sqrt(np.maximum(centred_square, 0.0))
        scale[scale == 0] = 1.0
        operator = LinearOperator(
            X.shape, matvec=lambda v: root * (X @ (v / scale) - mean @ (v / scale)),
            rmatvec=lambda r: (X.T @ (root * r) - mean * (root @ r)) / scale,
        )  # fmt: skip
        solution = lsqr(operator, target, atol=1e-14, btol=1e-14, iter_lim=50_000)[0]
        residual = operator.matvec(solution) - target
    else:
        X = np.asarray(X, dtype=np.float64)
        centred = X - share @ X
        scale = np.sqrt(share @ centred**2)
        scale[scale == 0] = 1.0
        A = root[:, None] * centred / scale
        solution, *_ = np.linalg.lstsq(A, target, rcond=None)
        residual = A @ solution - target
    return float(residual @ residual), time.perf_counter() - started
