"""Per-row and per-update pieces of the epochs, and the optimizer update rules.

The epochs work in standardized coordinates z = (x - shift) * scale, so a fit can
behave as if the features were centred and scaled without a standardized copy of
X. ``standardization`` is the pair (shift, scale), or None for z = x; ``averaging``
is (avg_coef, avg_intercept, average_start), or None. numba compiles the None
branches away (one signature per dtype and configuration), so the plain loops
stay as fast as hand-written ones. The L2 penalty enters as a per-step decay
1 - 2 eta_t alpha of the coefficients. Where the features are standardized the
penalty is on the user's coefficients scale_j w_j (fastgd._training.penalty):
coefficient j then takes the proximal form of its decay, (w_j - step) /
(1 + 2 eta_t alpha scale_j^2), which no scale makes unstable
(:func:`_decayed_step`); that decay has a type of its own, so that the loops
without it compile to the code they always were, bit for bit.

The loss is the last member of ``model`` = (coef, intercept, fit_intercept,
loss): None for the squared loss, whose lines compile to exactly the code they
always were (the golden trajectories stay bit for bit), or [kind, parameter]
of :mod:`fastgd.losses`, whose rules are compiled here.
"""

import numpy as np
from numba.core import types
from numba.extending import overload

from .. import losses, optimizers
from .config import jit as _jit

# The optimizer rules (fastgd/optimizers.py), compiled: written once for numba,
# tested against their NumPy twin.
optimizer_delta = _jit()(optimizers.delta)
# The loss rules (fastgd/losses.py), compiled the same way.
loss_value = _jit()(losses.value)
loss_derivative = _jit()(losses.derivative)


def slope(loss, r, y):
    """d loss / d prediction at residual r and target y: r + r for the squared
    loss (None), which never reads y."""
    if loss is None:
        return r + r
    return loss_derivative(loss[0], np.float64(r), np.float64(y), loss[1])


def half_slope(loss, r, y):
    """Half of :func:`slope`: r itself for the squared loss (None), so that the
    mini-batch loops, which sum r and double at the step, keep their arithmetic."""
    if loss is None:
        return r
    return 0.5 * loss_derivative(loss[0], np.float64(r), np.float64(y), loss[1])


def weighted_loss(loss, weight, r, y):
    """weight * loss(r, y) in float64, the squared loss summed as the epochs
    always did (w r r, in that order)."""
    if loss is None:
        return np.float64(weight) * np.float64(r) * np.float64(r)
    return np.float64(weight) * loss_value(loss[0], np.float64(r), np.float64(y),
                                           loss[1])  # fmt: skip


# In compiled code each rule is chosen from the type of ``loss`` while the caller
# is typed (as :func:`fastgd._kernels.epochs._typed_train_units` chooses a row
# loop): the squared loss compiles to its own expression with no branch and no
# change of type (numba cannot prune ``loss is None`` on a tuple member, and a
# variable typed float64 in the other branch would turn float32 arithmetic into
# float64), and its y is never read. From Python (NUMBA_DISABLE_JIT) the bodies
# above run.
@overload(slope, inline="always")
def _typed_slope(loss, r, y):
    if isinstance(loss, types.NoneType):
        return lambda loss, r, y: r + r
    return lambda loss, r, y: loss_derivative(loss[0], np.float64(r), np.float64(y),
                                              loss[1])  # fmt: skip


@overload(half_slope, inline="always")
def _typed_half_slope(loss, r, y):
    if isinstance(loss, types.NoneType):
        return lambda loss, r, y: r
    return lambda loss, r, y: (
        0.5 * loss_derivative(loss[0], np.float64(r), np.float64(y), loss[1])
    )


@overload(weighted_loss, inline="always")
def _typed_weighted_loss(loss, weight, r, y):
    if isinstance(loss, types.NoneType):
        return lambda loss, weight, r, y: (
            np.float64(weight) * np.float64(r) * np.float64(r)
        )
    return lambda loss, weight, r, y: (
        np.float64(weight) * loss_value(loss[0], np.float64(r), np.float64(y), loss[1])
    )


@_jit(inline=True)
def _residual(X, i, coef, start, standardization):
    """start + z.coef for row i (z = X[i] without standardization: a compile-time
    branch, so the plain dot product vectorizes)."""
    r = start
    if standardization is None:
        for j in range(X.shape[1]):
            r += X[i, j] * coef[j]
    else:
        shift, scale = standardization
        for j in range(X.shape[1]):
            r += (X[i, j] - shift[j]) * scale[j] * coef[j]
    return r


@_jit(inline=True)
def _feature(X, i, j, standardization):
    """z_ij (inlined: it runs once per element in the multi-output loops)."""
    if standardization is None:
        return X[i, j]
    shift, scale = standardization
    return (X[i, j] - shift[j]) * scale[j]


def _z(X, i, j, standardization):
    """:func:`_feature`, chosen by type where it is inlined twice over (the
    weighed variants below, which a proximal decay also runs without
    standardization: numba does not prune ``is None`` at that depth)."""
    return _feature(X, i, j, standardization)


@overload(_z, inline="always")
def _typed_z(X, i, j, standardization):
    if isinstance(standardization, types.NoneType):
        return lambda X, i, j, standardization: X[i, j]
    return lambda X, i, j, standardization: (
        (X[i, j] - standardization[0][j]) * standardization[1][j]
    )


@_jit(inline=True)
def _step_at(schedule, t):
    """(eta_t, decay_t) of update t: one per update, or one for all."""
    etas, decays, _ = schedule
    if etas.shape[0] == 1:
        return etas[0], decays[0]
    return etas[t], decays[t]


@_jit(inline=True)
def _add_row_products(X, i, coef, residual, standardization):
    """residual[c] += z_i . coef[:, c] for every output c (the k-output loops;
    inlined, as :func:`_feature`)."""
    for j in range(X.shape[1]):
        z = _feature(X, i, j, standardization)
        for c in range(coef.shape[1]):
            residual[c] += z * coef[j, c]


# The L2 decay. ``decay`` is a scalar, 1 - 2 eta_t alpha (no penalty: 1), or,
# where a penalty weighs each standardized coefficient (the penalty on the user's
# coefficients; the engines pass decays as a column then), a row of one, or, for
# an L1 term or a bound (proximal steps), a record of the step's ("shrink",
# "threshold", "floor"): the L2 decay 1 - 2 eta_t alpha_l2, the soft threshold
# eta_t alpha_l1 and the lower bound (0 for positive=True, else -inf), all in
# the user's units (fastgd._training.penalty.Penalty.proximal_decays). The type
# says which, so that each compiles on its own and the plain loops below are the
# code they always were. From Python (NUMBA_DISABLE_JIT) the dispatching bodies
# choose by the value's kind.


@_jit(inline=True)
def soft_threshold(value, threshold, floor):
    """value soft-thresholded by ``threshold`` and clipped at ``floor``: value
    minus itself clamped to [-threshold, threshold], without a branch (the loop
    vectorizes), exactly 0 inside, and a NaN (divergence) stays NaN."""
    value = value - min(max(value, -threshold), threshold)
    return max(value, floor)


@_jit(inline=True)
def _thresholded(value, decay, scale):
    """value soft-thresholded by the record's threshold * scale and clipped at
    its floor (:func:`soft_threshold`)."""
    return soft_threshold(value, decay["threshold"] * scale, decay["floor"])


def _proximal(value, decay, scale):
    """The proximal step of the penalty on the user's coefficient scale * value
    (``decay`` a record): soft-threshold by threshold * scale, clip at the floor,
    then divide by 1 + (1 - shrink) scale^2 (the L2 term's closed form; a
    record without "shrink", no L2 term, compiles without the division)."""
    value = _thresholded(value, decay, scale)
    if "shrink" not in decay.dtype.names:
        return value
    return value / (1.0 + (1.0 - decay["shrink"]) * scale * scale)


@overload(_proximal, inline="always")
def _typed_proximal(value, decay, scale):
    if "shrink" not in decay.fields:
        return lambda value, decay, scale: _thresholded(value, decay, scale)
    return lambda value, decay, scale: (
        _thresholded(value, decay, scale)
        / (1.0 + (1.0 - decay["shrink"]) * scale * scale)
    )


def _is_proximal(decay):
    """A proximal decay (a record), from Python."""
    return isinstance(decay, np.void)


def _decayed_step(value, delta, decay, standardization, j):
    """Coefficient j after a step of ``delta`` and the decay: decay * value -
    delta; for a weighing decay (a row of one, with standardized features) the
    proximal form (value - delta) / (1 + (1 - decay) scale_j^2) of the L2 term
    on the user's coefficient scale_j w_j; for a proximal decay (a record) the
    penalty's proximal step at value - delta (:func:`_proximal`)."""
    if _is_proximal(decay):
        scale = 1.0 if standardization is None else standardization[1][j]
        return _proximal(value - delta, decay, scale)
    if np.ndim(decay) == 0:
        return decay * value - delta
    scale = standardization[1][j]
    return (value - delta) / (1.0 + (1.0 - decay[0]) * scale * scale)


@overload(_decayed_step, inline="always")
def _typed_decayed_step(value, delta, decay, standardization, j):
    if isinstance(decay, types.Record):
        if isinstance(standardization, types.NoneType):
            return lambda value, delta, decay, standardization, j: _proximal(
                value - delta, decay, 1.0
            )
        return lambda value, delta, decay, standardization, j: _proximal(
            value - delta, decay, standardization[1][j]
        )
    if not isinstance(decay, types.Array):
        return lambda value, delta, decay, standardization, j: decay * value - delta
    if isinstance(standardization, types.NoneType):
        return lambda value, delta, decay, standardization, j: decay[0] * value - delta

    def weighed(value, delta, decay, standardization, j):
        scale = standardization[1][j]
        return (value - delta) / (1.0 + (1.0 - decay[0]) * scale * scale)

    return weighed


def _drift_decayed_step(value, step, drift, decay, standardization, j):
    """:func:`_decayed_step` for SVRG's step of ``step`` plus ``drift``,
    subtracted one after the other as the plain loops always did."""
    if np.ndim(decay) == 0 and not _is_proximal(decay):
        return decay * value - step - drift
    return _decayed_step(value, step + drift, decay, standardization, j)


@overload(_drift_decayed_step, inline="always")
def _typed_drift_decayed_step(value, step, drift, decay, standardization, j):
    if isinstance(decay, types.Array):
        return lambda value, step, drift, decay, standardization, j: _decayed_step(
            value, step + drift, decay, standardization, j
        )
    return lambda value, step, drift, decay, standardization, j: (
        decay * value - step - drift
    )


@_jit(inline=True)
def _raw_decay_and_step(coef, X, i, decay, step, standardization):
    for j in range(X.shape[1]):
        coef[j] = decay * coef[j] - step * X[i, j]


@_jit(inline=True)
def _standardized_decay_and_step(coef, X, i, decay, step, standardization):
    shift, scale = standardization
    for j in range(X.shape[1]):
        coef[j] = decay * coef[j] - step * ((X[i, j] - shift[j]) * scale[j])


@_jit(inline=True)
def _weighed_decay_and_step(coef, X, i, decay, step, standardization):
    for j in range(X.shape[1]):
        z = _z(X, i, j, standardization)
        coef[j] = _decayed_step(coef[j], step * z, decay, standardization, j)


def _decay_and_step(coef, X, i, decay, step, standardization):
    """coef = decay * coef - step * z for row i (a weighing decay: the
    proximal form of :func:`_decayed_step`)."""
    variants = (_raw_decay_and_step, _standardized_decay_and_step,
                _weighed_decay_and_step)  # fmt: skip
    _by_decay(decay, standardization, *variants)(coef, X, i, decay, step,
                                                 standardization)  # fmt: skip


@_jit(inline=True)
def _raw_step_then_residual(coef, X, i, decay, step, k, start, standardization):
    r = start
    for j in range(X.shape[1]):
        updated = decay * coef[j] - step * X[i, j]
        coef[j] = updated
        r += X[k, j] * updated
    return r


@_jit(inline=True)
def _standardized_step_then_residual(coef, X, i, decay, step, k, start,
                                     standardization):  # fmt: skip
    r = start
    shift, scale = standardization
    for j in range(X.shape[1]):
        updated = decay * coef[j] - step * ((X[i, j] - shift[j]) * scale[j])
        coef[j] = updated
        r += (X[k, j] - shift[j]) * scale[j] * updated
    return r


@_jit(inline=True)
def _weighed_step_then_residual(coef, X, i, decay, step, k, start, standardization):
    r = start
    for j in range(X.shape[1]):
        z = _z(X, i, j, standardization)
        updated = _decayed_step(coef[j], step * z, decay, standardization, j)
        coef[j] = updated
        r += _z(X, k, j, standardization) * updated
    return r


def _step_then_residual(coef, X, i, decay, step, k, start, standardization):
    """:func:`_decay_and_step` for row i, then returns the next sample's residual
    ``start + z_k . coef`` with the new coef, both in one pass over coef.

    An SGD epoch spends its arithmetic on a chain that cannot overlap: residual,
    then update, then the next residual. Fusing the update with the next dot
    product drops a pass over coef and a store-to-load round trip per element from
    that chain (in cache: 49.8 -> 43.9 ns per sample at n = 100 float64; with
    standardization, 1,000,000 x 100 float32: 117-121 -> 85-89 ms per epoch). It
    is inlined on purpose: as a call per row it gained nothing
    (docs/performance.md).
    """
    chosen = _by_decay(decay, standardization, _raw_step_then_residual,
                       _standardized_step_then_residual,
                       _weighed_step_then_residual)  # fmt: skip
    return chosen(coef, X, i, decay, step, k, start, standardization)


@_jit(inline=True)
def _raw_drift_step_then_residual(coef, X, i, decay, step, eta, drift, k, start,
                                  standardization):  # fmt: skip
    r = start
    for j in range(X.shape[1]):
        updated = decay * coef[j] - step * X[i, j] - eta * drift[j]
        coef[j] = updated
        r += X[k, j] * updated
    return r


@_jit(inline=True)
def _standardized_drift_step_then_residual(coef, X, i, decay, step, eta, drift, k,
                                           start, standardization):  # fmt: skip
    r = start
    shift, scale = standardization
    for j in range(X.shape[1]):
        z = (X[i, j] - shift[j]) * scale[j]
        updated = decay * coef[j] - step * z - eta * drift[j]
        coef[j] = updated
        r += (X[k, j] - shift[j]) * scale[j] * updated
    return r


@_jit(inline=True)
def _weighed_drift_step_then_residual(coef, X, i, decay, step, eta, drift, k, start,
                                      standardization):  # fmt: skip
    # The proximal form of the whole step, drift included (the snapshot's share
    # of the L2 term is in the drift).
    r = start
    for j in range(X.shape[1]):
        z = _feature(X, i, j, standardization)
        updated = _decayed_step(coef[j], step * z + eta * drift[j], decay,
                                standardization, j)  # fmt: skip
        coef[j] = updated
        r += _feature(X, k, j, standardization) * updated
    return r


@_jit(inline=True)
def _proximal_at_snapshot(value, delta, snapshot, decay, standardization, j):
    """Prox-SVRG's difference v = value after a step of ``delta``: the proximal
    step at w = snapshot + v, less the snapshot (a coefficient the step zeroes
    gets v = -snapshot exactly)."""
    return _decayed_step(snapshot + value, delta, decay, standardization,
                         j) - snapshot  # fmt: skip


@_jit(inline=True)
def _proximal_drift_step_then_residual(coef, X, i, decay, step, eta, drift, k,
                                       start, standardization):  # fmt: skip
    # Prox-SVRG on the difference v = w - w~ (``drift`` is (mu, mu_b, w~), mu
    # the loss's gradient alone: the penalty is all in the proximal step).
    mu, _, snapshot = drift
    r = start
    for j in range(X.shape[1]):
        z = _z(X, i, j, standardization)
        updated = _proximal_at_snapshot(coef[j], step * z + eta * mu[j],
                                        snapshot[j], decay, standardization,
                                        j)  # fmt: skip
        coef[j] = updated
        r += _z(X, k, j, standardization) * updated
    return r


def _drift_step_then_residual(coef, X, i, decay, step, eta, drift, k, start,
                              standardization):  # fmt: skip
    """SVRG's fused update: coef = decay * coef - step * z_i - eta * drift
    (``drift`` the full gradient at the snapshot, the step's constant part), then
    returns ``start + z_k . coef`` with the new coef, in one pass over coef.
    For a proximal decay ``drift`` is SVRG's whole (mu, mu_b, snapshot)
    (:func:`drift_along`)."""
    if _is_proximal(decay):
        chosen = _proximal_drift_step_then_residual
    else:
        chosen = _by_decay(decay, standardization, _raw_drift_step_then_residual,
                           _standardized_drift_step_then_residual,
                           _weighed_drift_step_then_residual)  # fmt: skip
    return chosen(coef, X, i, decay, step, eta, drift, k, start, standardization)


def drift_along(drift):
    """What SVRG's step reads of ``drift``: mu, or for prox-SVRG (three members:
    mu, mu_b and the snapshot's coefficients) all of it."""
    return drift[0] if len(drift) == 2 else drift


@overload(drift_along, inline="always")
def _typed_drift_along(drift):
    if len(drift) == 2:
        return lambda drift: drift[0]
    return lambda drift: drift


def drift_decayed_step_at(coef, j, c, step, eta, drift, decay, standardization):
    """SVRG's update of coefficient (j, c) of the k-output loop: the decayed
    step of ``step`` plus the drift, or prox-SVRG's proximal step at the
    snapshot plus the difference (as :func:`_proximal_drift_step_then_residual`)."""
    if len(drift) == 2:
        return _drift_decayed_step(coef[j, c], step, eta * drift[0][j, c], decay,
                                   standardization, j)  # fmt: skip
    return _proximal_at_snapshot(coef[j, c], step + eta * drift[0][j, c],
                                 drift[2][j, c], decay, standardization, j)  # fmt: skip


@overload(drift_decayed_step_at, inline="always")
def _typed_drift_decayed_step_at(coef, j, c, step, eta, drift, decay,
                                 standardization):  # fmt: skip
    if len(drift) == 2:
        return lambda coef, j, c, step, eta, drift, decay, standardization: (
            _drift_decayed_step(
                coef[j, c], step, eta * drift[0][j, c], decay, standardization, j
            )
        )

    return lambda coef, j, c, step, eta, drift, decay, standardization: (
        _proximal_at_snapshot(
            coef[j, c],
            step + eta * drift[0][j, c],
            drift[2][j, c],
            decay,
            standardization,
            j,
        )
    )


def _by_decay(decay, standardization, raw, standardized, weighed):
    """The variant for these values (from Python: NUMBA_DISABLE_JIT)."""
    if np.ndim(decay) or _is_proximal(decay):
        return weighed
    return raw if standardization is None else standardized


def _typed_variant(decay, standardization, raw, standardized, weighed):
    """The variant for these types (while the caller is typed), so that each
    compiles on its own: the plain ones to the code they always were."""
    if isinstance(decay, (types.Array, types.Record)):
        return weighed.py_func
    if isinstance(standardization, types.NoneType):
        return raw.py_func
    return standardized.py_func


@overload(_decay_and_step, inline="always")
def _typed_decay_and_step(coef, X, i, decay, step, standardization):
    variants = (_raw_decay_and_step, _standardized_decay_and_step,
                _weighed_decay_and_step)  # fmt: skip
    return _typed_variant(decay, standardization, *variants)


@overload(_step_then_residual, inline="always")
def _typed_step_then_residual(coef, X, i, decay, step, k, start, standardization):
    return _typed_variant(decay, standardization, _raw_step_then_residual,
                          _standardized_step_then_residual,
                          _weighed_step_then_residual)  # fmt: skip


@overload(_drift_step_then_residual, inline="always")
def _typed_drift_step_then_residual(coef, X, i, decay, step, eta, drift, k, start,
                                    standardization):  # fmt: skip
    if isinstance(decay, types.Record):
        return _proximal_drift_step_then_residual.py_func
    return _typed_variant(decay, standardization, _raw_drift_step_then_residual,
                          _standardized_drift_step_then_residual,
                          _weighed_drift_step_then_residual)  # fmt: skip


@_jit()
def _update_average(averaging, coef, intercept, t):
    """Running mean of the iterates from global step ``average_start`` on
    (callers skip the call when ``averaging`` is None: no call per row)."""
    avg_coef, avg_intercept, average_start = averaging
    if t >= average_start:
        inverse_count = 1.0 / (t - average_start + 1)
        # Element loops, not array expressions, which allocate a temporary per
        # update; no reshaped views either (reference-counted per call).
        if coef.ndim == 1:
            for j in range(coef.shape[0]):
                avg_coef[j] += (coef[j] - avg_coef[j]) * inverse_count
        else:
            for j in range(coef.shape[0]):
                for c in range(coef.shape[1]):
                    avg_coef[j, c] += (coef[j, c] - avg_coef[j, c]) * inverse_count
        for c in range(intercept.shape[0]):
            avg_intercept[c] += (intercept[c] - avg_intercept[c]) * inverse_count


@_jit()
def _optimizer_row_step(model, X, i, standardization, decay, factor, eta, optimizer,
                        count):  # fmt: skip
    """One sample's update through an optimizer: the gradient is factor * z_i for
    the coefficients and factor for the intercept (one output)."""
    coef, intercept, fit_intercept, _ = model
    state, kind, params = optimizer
    n = X.shape[1]
    for j in range(n):
        g = np.float64(factor) * np.float64(_feature(X, i, j, standardization))
        delta = optimizer_delta(kind, g, state, j, eta, params, count)
        coef[j] = _decayed_step(coef[j], delta, decay, standardization, j)
    if fit_intercept:
        intercept[0] -= optimizer_delta(kind, np.float64(factor), state, n, eta,
                                        params, count)  # fmt: skip


@_jit()
def optimizer_step(values, grads, state, kind, params, eta, count):
    """values[i] -= delta_i for every i: the batch update through an optimizer
    (flat ``values`` and ``grads``; ``state`` (2, len(values)))."""
    for i in range(values.shape[0]):
        values[i] -= optimizer_delta(kind, grads[i], state, i, eta, params, count)
