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

The fit stops when the estimated excess is at most ``tol`` times the estimated
optimum F - excess (a relative excess loss), or ``tol`` times a floor of
``sqrt(eps) var(y)`` (eps of X's dtype) for targets that a linear model fits
exactly.
"""

import numpy as np

from .data import sample_rows, weighted_products

# Rows of the Hessian sample: at least this many times the parameters.
ROWS_PER_PARAMETER = 4
# A ridge of this fraction of the mean eigenvalue keeps directions the sample
# cannot resolve (collinear columns) from dominating the estimate.
RIDGE = 1e-9
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

    def __init__(self, data, fit_intercept, alpha):
        n = data.n_features
        Z, w = sample_rows(data, ROWS_PER_PARAMETER * (n + 1))
        ones = 1.0 if fit_intercept else 0.0
        # the Hessian of [Z, ones], without stacking the column of ones
        hessian = np.empty((n + 1, n + 1))
        hessian[:n, :n], column = weighted_products(Z, w)
        hessian[:n, n] = hessian[n, :n] = ones * column
        hessian[n, n] = ones * ones * w.sum()
        hessian[np.arange(n), np.arange(n)] += alpha
        if not fit_intercept:
            hessian[n, n] = 1.0
        ridge = RIDGE * max(np.trace(hessian) / (n + 1), np.finfo(np.float64).tiny)
        hessian[np.diag_indices(n + 1)] += ridge
        # L^-1 once (O(n^3)), so that each estimate is one O(n^2 k) product.
        self._inverse_factor = np.linalg.inv(np.linalg.cholesky(hessian))
        self.fit_intercept = fit_intercept

    @staticmethod
    def affordable(n_features):
        return n_features + 1 <= MAX_PARAMETERS

    def __call__(self, grad, grad_intercept):
        """g^T H^-1 g / 4, averaged over outputs: ``grad`` (n,) or (n, k) and
        ``grad_intercept`` (k,) are the objective's gradient in z units."""
        G = np.vstack([np.reshape(grad, (grad.shape[0], -1)),
                       np.reshape(grad_intercept, (1, -1))])  # fmt: skip
        if not self.fit_intercept:
            G[-1] = 0.0
        solved = self._inverse_factor @ G
        return 0.25 * float(np.sum(solved * solved)) / G.shape[1]


def relative_floor(data):
    """The smallest optimum the relative rule divides by: sqrt(eps) var(y)."""
    Y = data.y.reshape(data.y.shape[0], -1)
    variance = float(np.mean(np.var(Y, axis=0, dtype=np.float64)))
    return np.sqrt(np.finfo(data.dtype).eps) * max(variance, np.finfo(float).tiny)
