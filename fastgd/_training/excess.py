"""How far a fit is from the optimum: the excess-loss estimate behind tol_rule="excess".

For least squares the objective F is a quadratic. With H its Hessian over 2 (in z
units: the weighted E[z z^T], the column of ones of the intercept and the L2
penalty alpha I on the coefficients) and g the full gradient at an iterate, the
excess over the minimum is exactly F - F* = g^T H^-1 g / 4. The full gradient is
measured (one fused pass over X; batch gradient descent and SVRG take it anyway).
H is estimated once per fit from an evenly spaced sample of rows (the curvature
sample of ``eta0="auto"``, at least 4 (n + 1) rows): an estimate, not a bound,
but whose error shrinks as sqrt(n / rows) and which overestimates g^T H^-1 g on
average (the inverse of a sampled covariance is biased upwards), so a fit
stops a little late rather than early.

The Hessian is assembled so that neither offsets nor scales fool it: the
column means and variances are the exact ones over the training rows (those of
the standardization, or one pass of column moments), the sample gives only the
correlations, and the intercept is eliminated by the exact means
(g^T H^-1 g = (g - zbar g_b)^T C^-1 (g - zbar g_b) + g_b^2, C the covariance).
The small ridge that keeps collinear directions (one-hot groups) from
dominating is relative to each column's own variance (Jacobi scaling), so a
column of tiny scale is not swamped by it.

A sample of a few thousand rows cannot resolve every column of a real table:
a one-hot level seen a handful of times in a million rows is missed or caught
once, and a heavy tail's variance is decided by the outliers the sample happens
to hold. Such a column's sampled correlations are noise, and a gradient along it
divided by them is off by orders of magnitude (measured on the realistic tables:
1e5-1e10 times the true excess). So when any column's sample variance is off
from its exact one by more than a factor ``RESOLVED_RATIO``, which sampling
error alone never is, the estimate takes the exact covariance instead, from the
Gram statistics (one pass, shared with the Gram route).

A sample whose variances all look right can still hold noisy correlations
between levels seen a few dozen times (measured: 250 times the true excess
after 60 SGD epochs on a table of 20,000 rows and 56 columns). The sampled
estimate errs high, so such a fit would only stop late; but it might run to
max_iter. So a fit that is not done after ``exact_after`` estimates (the
Gram statistics' cost in the fit's units: the ski-rental rule of
:mod:`.strategy`) pays for the exact covariance and goes on with it: on data
the sample resolves, fits stop before; on the others, they pay at most about
twice what the better choice would have.

The fit stops when the estimated excess is at most ``tol`` times the estimated
optimum F - excess (a relative excess loss), or ``tol`` times a floor of
``sqrt(eps) var(y)`` (eps of X's dtype) for targets that a linear model fits
exactly.
"""

import numpy as np

from .. import losses
from ..sources.rows import dense_centred_products
from .data import sample_rows, sample_targets

# Rows of the Hessian sample: at least this many times the parameters.
ROWS_PER_PARAMETER = 4
# A ridge of this fraction of the mean eigenvalue keeps directions the sample
# cannot resolve (collinear columns) from dominating the estimate.
RIDGE = 1e-9
# A column whose sample variance is off from its exact one by more than this
# factor either way is not resolved by the sample.
RESOLVED_RATIO = 4.0
# Rows of the sample the Newton decrement (LocalExcess) forms its Hessian from,
# per parameter: its error shrinks as sqrt(n / rows), about 1/6 here.
LOCAL_ROWS_PER_PARAMETER = 32
# Beyond this many parameters the (n + 1)^2 Hessian is not formed.
MAX_PARAMETERS = 4096


class ExcessEstimate:
    """Estimated F - F* from a gradient (see the module docstring).

    >>> import numpy as np
    >>> from fastgd.sources import DenseSource
    >>> from fastgd._training import prepare
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> data = prepare(DenseSource(X, X @ [1.0, 2.0, 3.0]))
    >>> estimate = ExcessEstimate(data, fit_intercept=True, alpha=0.0)
    >>> float(estimate(np.zeros(3), np.zeros(1)))
    0.0
    """

    def __init__(self, data, fit_intercept, alpha, exact_after=None):
        self._data, self._fit_intercept, self._alpha = data, fit_intercept, alpha
        # Estimates left before the exact covariance replaces the sample's
        # (None: never; see the module docstring).
        self._exact_after = exact_after
        curvature = None
        if not data.has_gram_statistics():
            curvature = _sampled_covariance(data, data.z_moments()[1])
        self.exact = curvature is None
        if self.exact:
            # The sample cannot resolve some column (a rare one-hot level, a
            # heavy tail): the exact covariance, one Gram pass.
            curvature = self._exact_covariance()
        self._factor(curvature)

    def _exact_covariance(self):
        scale = self._data.scale.astype(np.float64)
        return self._data.gram_statistics().covariance * np.outer(scale, scale)

    def _factor(self, curvature):
        n = self._data.n_features
        mean = self._data.z_moments()[0]
        fit_intercept, alpha = self._fit_intercept, self._alpha
        if not fit_intercept:  # E[z z^T]: nothing eliminates the mean
            curvature += np.outer(mean, mean)
        curvature[np.diag_indices(n)] += alpha
        # Jacobi scaling, so that the ridge is relative to each column.
        diagonal = np.diag(curvature).copy()
        jacobi = 1.0 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0))
        scaled = curvature * np.outer(jacobi, jacobi)
        scaled[np.diag_indices(n)] = np.where(diagonal > 0, 1.0 + RIDGE, 1.0)
        self._inverse_factor = _inverse_factor(scaled) * jacobi
        self.mean = mean if fit_intercept else None

    @staticmethod
    def affordable(n_features):
        return n_features + 1 <= MAX_PARAMETERS

    def __call__(self, grad, grad_intercept):
        """g^T H^-1 g / 4, averaged over outputs: ``grad`` (n,) or (n, k) and
        ``grad_intercept`` (k,) are the objective's gradient in z units."""
        if not self.exact:
            due = self._exact_after is not None and self._exact_after <= 0
            if due or self._data.has_gram_statistics():
                # Paid for, or already there (the Gram route formed them): the
                # exact covariance costs only its factor from now on.
                self.exact = True
                self._factor(self._exact_covariance())
            elif self._exact_after is not None:
                self._exact_after -= 1
        G = np.reshape(grad, (grad.shape[0], -1))
        total = 0.0
        if self.mean is not None:
            G_b = np.reshape(grad_intercept, (1, -1))
            G = G - self.mean[:, None] * G_b
            total = float(np.sum(G_b * G_b))
        solved = self._inverse_factor @ G
        return 0.25 * (float(np.sum(solved * solved)) + total) / G.shape[1]


class LocalExcess:
    """Estimated F - F* for a smooth loss that is not a quadratic (Huber, squared
    epsilon-insensitive): half the Newton decrement, g^T H^-1 g / 2, with H the
    Hessian at the current iterate.

    Near the optimum such a loss is a quadratic piece by piece (Huber: the rows
    whose residual is within epsilon; squared epsilon-insensitive: those outside
    the tube), so once the iterate is in the optimum's piece the estimate is the
    quadratic rule of :class:`ExcessEstimate` on the rows of that piece: exact
    there, up to the sampling of H. H is formed, every call, from the curvature
    sample's rows (their residuals at the reported iterate weight them by the
    loss's second derivative), with the exact column scales and a ridge as
    :class:`ExcessEstimate` has. A sample with no row in a quadratic piece gives
    no estimate (infinity: nothing certified).

    ``engine`` is read at each call for the iterate the gradient was measured at
    (its ``reported_iterate``).
    """

    def __init__(self, data, engine, loss, fit_intercept, alpha):
        n = data.n_features
        self._data, self._engine, self._loss = data, engine, loss
        self._fit_intercept, self._alpha = fit_intercept, alpha
        Z, w = sample_rows(data, ROWS_PER_PARAMETER * (n + 1))
        y = sample_targets(data).reshape(len(w), -1)
        # H is formed at every call: from every k-th sampled row only, about
        # LOCAL_ROWS_PER_PARAMETER (n + 1) of them (1,000,000 x 100: 20 -> 5 ms).
        every = max(1, len(w) // (LOCAL_ROWS_PER_PARAMETER * (n + 1)))
        self._Z = Z.every(every)  # dense: a sparse sample's densified once
        self._y = y[::every]
        self._w = w[::every] / w[::every].sum()
        self.exact = False

    @staticmethod
    def affordable(n_features):
        return n_features + 1 <= MAX_PARAMETERS

    def __call__(self, grad, grad_intercept):
        coef, intercept = self._engine.reported_iterate()
        solved = self._solve(coef, intercept, grad, grad_intercept, losses.curvatures)
        return np.inf if solved is None else solved[2]

    def newton_step(self, coef, intercept, grad, grad_intercept):
        """(step, intercept step): H^-1 (grad, grad_intercept) at (coef,
        intercept), the amounts a Newton step subtracts, with H the Hessian of
        the loss's majorizing quadratic (:func:`fastgd.losses.
        majorizing_curvatures`: for Huber, reweighted least squares, whose step
        does not overshoot where most residuals are beyond epsilon); None where
        the sample holds no row of positive curvature."""
        solved = self._solve(coef, intercept, grad, grad_intercept,
                             losses.majorizing_curvatures)  # fmt: skip
        return None if solved is None else solved[:2]

    def _solve(self, coef, intercept, grad, grad_intercept, curvatures):
        """(H^-1 g, H^-1 g_b, g^T H^-1 g / 2 averaged over outputs), or None,
        H weighting each sampled row by ``curvatures`` at its residual."""
        C = np.reshape(coef, (coef.shape[0], -1)).astype(np.float64)
        G = np.reshape(grad, (grad.shape[0], -1))
        G_b = np.reshape(grad_intercept, (1, -1))
        step, step_b, total = np.empty_like(G), np.zeros(G.shape[1]), 0.0
        for c in range(G.shape[1]):  # each output is its own problem
            r = self._Z @ C[:, c] + float(intercept[c]) - self._y[:, c]
            # Half the second derivative (1 on a quadratic piece of Huber, 2
            # outside the tube of the squared epsilon-insensitive loss).
            half = 0.5 * curvatures(self._loss.kind, r, self._y[:, c],
                                    self._loss.parameter)  # fmt: skip
            weights = self._w * half
            mass = float(weights.sum())
            if mass <= 0.0:
                return None
            covariance, mean = dense_centred_products(self._Z, weights / mass)
            u, v = self._half_hessian_solve(covariance, mean, mass, G[:, c],
                                            G_b[0, c])  # fmt: skip
            step[:, c], step_b[c] = 0.5 * u, 0.5 * v
            total += 0.25 * (float(G[:, c] @ u) + float(G_b[0, c]) * v)
        return step.reshape(np.shape(grad)), step_b, total / G.shape[1]

    def _half_hessian_solve(self, covariance, mean, mass, g, g_b):
        """(u, v) with (H/2) (u, v) = (g, g_b), H/2 = mass E'[(z, 1)(z, 1)^T] +
        alpha on the coefficients: the intercept eliminated through the mean,
        u = (mass C' + alpha I)^-1 (g - zbar' g_b), v = g_b / mass - zbar'.u
        (as in :class:`ExcessEstimate`); Jacobi-scaled, with its ridge."""
        n = len(g)
        curvature = mass * covariance
        if not self._fit_intercept:
            curvature += mass * np.outer(mean, mean)
        curvature[np.diag_indices(n)] += self._alpha
        diagonal = np.diag(curvature).copy()
        jacobi = 1.0 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0))
        scaled = curvature * np.outer(jacobi, jacobi)
        scaled[np.diag_indices(n)] = np.where(diagonal > 0, 1.0 + RIDGE, 1.0)
        factor = _inverse_factor(scaled) * jacobi
        if not self._fit_intercept:
            return factor.T @ (factor @ g), 0.0
        u = factor.T @ (factor @ (g - mean * g_b))
        return u, g_b / mass - float(mean @ u)


def _sampled_covariance(data, variance):
    """The covariance of z from the sample's correlations between the exact
    ``variance``, or None when the sample does not resolve every column: a
    column the sample misses, or whose sample variance is off by more than
    ``RESOLVED_RATIO`` (a sampling error of 1/sqrt(rows) never is; a level
    seen a handful of times, or a tail the sample caught once, is)."""
    n = len(variance)
    Z, w = sample_rows(data, ROWS_PER_PARAMETER * (n + 1))
    sample_covariance, _ = Z.centred_products(w)
    sample_variance = np.diag(sample_covariance).copy()
    varying = variance > 0
    ratio = sample_variance[varying] / variance[varying]
    if np.any(ratio < 1.0 / RESOLVED_RATIO) or np.any(ratio > RESOLVED_RATIO):
        return None
    spread = np.sqrt(np.where(varying, sample_variance, 1.0))
    correlation = sample_covariance / np.outer(spread, spread)
    correlation[~varying, :] = 0.0
    correlation[:, ~varying] = 0.0
    correlation[np.diag_indices(n)] = 1.0
    std = np.sqrt(variance)
    return correlation * np.outer(std, std)


def _inverse_factor(matrix):
    """L^-1 for matrix = L L^T (O(n^3) once, so that each estimate is one O(n^2 k)
    product); where rounding leaves the matrix indefinite, the inverse square
    root from its eigenvalues clipped at the ridge."""
    try:
        return np.linalg.inv(np.linalg.cholesky(matrix))
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(matrix)
        values = np.maximum(values, RIDGE)
        return (vectors / np.sqrt(values)).T


def relative_floor(data):
    """The smallest optimum the relative rule divides by: sqrt(eps) var(y)."""
    Y = data.y.reshape(data.y.shape[0], -1)
    variance = float(np.mean(np.var(Y, axis=0, dtype=np.float64)))
    return np.sqrt(np.finfo(data.dtype).eps) * max(variance, np.finfo(float).tiny)
