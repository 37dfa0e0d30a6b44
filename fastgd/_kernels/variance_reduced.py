"""SVRG's inner epoch (Johnson & Zhang, 2013): per-sample steps corrected by a
full gradient taken at a snapshot.

With the snapshot w~ (its full gradient mu, the L2 term included) the SVRG step
on sample i is w -= eta (g_i(w) - g_i(w~) + mu). For least squares
g_i(w) - g_i(w~) = 2 w_i (z_i.(w - w~) + b - b~) z_i, so the loops below train
the difference v = w - w~ (``model``, starting at 0): the residual of v against a
target of 0, the plain SGD step, plus the constant drift eta mu. One dot product
and one fused update per sample, as plain SGD; y is never read.

``drift`` is (mu for the coefficients, mu for the intercepts), arrays of X's
dtype shaped as coef and intercept (0 for the intercept without one). With the
L2 penalty the decay applies to v and the
snapshot's share 2 alpha w~ is in mu. Prox-SVRG (an L1 term or a bound: a
proximal decay) takes ``drift`` as (mu, mu_b, w~), mu the loss's gradient
alone, and the proximal step at w = w~ + v
(:func:`fastgd._kernels.steps._proximal_drift_step_then_residual`). Weights
are scaled to a mean of 1 over the training rows by the caller, which makes
the correction an unbiased estimate of the weighted gradient.
"""

import numpy as np

from .config import jit as _jit
from .memory import PREFETCH_AHEAD, prefetch
from .steps import (
    _add_row_products,
    _drift_step_then_residual,
    _feature,
    _residual,
    _step_at,
    drift_along,
    drift_decayed_step_at,
)


@_jit()
def _svrg_rows(X, sample_weight, standardization, model, drift, schedule, order,
               start, stop):  # fmt: skip
    """SVRG updates of v for positions start..stop-1 of ``order`` (one output);
    returns the weighted sum of squared residual differences (z_i.v + c)^2,
    non-finite on divergence."""
    coef, intercept, fit_intercept, _ = model
    drift_intercept = drift[1]
    etas, decays, _ = schedule
    constant_step = etas.shape[0] == 1
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    r = 0.0
    for s in range(start, stop):
        if s + PREFETCH_AHEAD < stop:
            prefetch(X, order[s + PREFETCH_AHEAD])
        eta = etas[0] if constant_step else etas[s]
        decay = decays[0] if constant_step else decays[s]
        i = order[s]
        weight = sample_weight[0] if uniform else sample_weight[i]
        if s == start:
            r = _residual(X, i, coef, intercept[0], standardization)
        loss += np.float64(weight) * np.float64(r) * np.float64(r)
        if not np.isfinite(r):
            return loss
        step = eta * (r + r) * weight
        if fit_intercept:
            intercept[0] -= step + eta * drift_intercept[0]
        # The last row of the range computes one dot product it does not need:
        # cheaper than a second copy of the update.
        k = order[s + 1] if s + 1 < stop else i
        r = _drift_step_then_residual(coef, X, i, decay, step, eta,
                                      drift_along(drift), k, intercept[0],
                                      standardization)  # fmt: skip
    return loss


@_jit()
def _svrg_rows_multi(X, sample_weight, standardization, model, drift, schedule,
                     order, start, stop):  # fmt: skip
    """SVRG updates of v for positions start..stop-1 of ``order`` (k outputs)."""
    coef, intercept, fit_intercept, _ = model
    drift_intercept = drift[1]
    uniform = sample_weight.shape[0] == 1
    n, k = coef.shape
    residual = np.empty(k, X.dtype)
    loss = 0.0
    for s in range(start, stop):
        if s + PREFETCH_AHEAD < stop:
            prefetch(X, order[s + PREFETCH_AHEAD])
        eta, decay = _step_at(schedule, s)
        i = order[s]
        weight = sample_weight[0] if uniform else sample_weight[i]
        for c in range(k):
            residual[c] = intercept[c]
        _add_row_products(X, i, coef, residual, standardization)
        for c in range(k):
            r = residual[c]
            loss += np.float64(weight) * np.float64(r) * np.float64(r)
            if not np.isfinite(r):
                return loss
            residual[c] = eta * (r + r) * weight
        for j in range(n):
            z = _feature(X, i, j, standardization)
            for c in range(k):
                coef[j, c] = drift_decayed_step_at(coef, j, c, residual[c] * z, eta,
                                                   drift, decay,
                                                   standardization)  # fmt: skip
        if fit_intercept:
            for c in range(k):
                intercept[c] -= residual[c] + eta * drift_intercept[c]
    return loss
