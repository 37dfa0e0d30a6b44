"""The duality gap: a certified bound on the excess objective of the squared loss
with an L1 term, an elastic-net or a bound (where g^T H^-1 g / 4 says nothing).

In fastgd's units the problem is, per output, with row weights omega summing
to 1, z-unit rows z_i and the penalty's per-coefficient factors l1_j, l2_j
(:class:`~fastgd._training.penalty.ZPenalty`):

    P(w, b) = sum_i omega_i (z_i.w + b - y_i)^2 + sum_j (l1_j |w_j| + l2_j w_j^2)

(and w >= 0 when positive). Its Fenchel dual, over theta with sum_i theta_i = 0
when the intercept is free, is

    D(theta) = -sum_i (theta_i y_i + theta_i^2 / (4 omega_i))
               - sum_j phi_j((-Z^T theta)_j),

phi_j the conjugate of coefficient j's penalty: (max(|a| - l1_j, 0))^2 / (4 l2_j),
(|a| <= l1_j where l2_j = 0: otherwise +inf; with the bound, a in place of |a|).
Any feasible theta gives D(theta) <= min P <= P(w, b), so P - D bounds the
excess. As celer and scikit-learn's coordinate descent do, theta is the optimal
dual point's formula at the iterate, 2 kappa omega rho (rho the residuals with
the intercept at its best for these coefficients), with kappa chosen in
[0, kappa_max] so that every phi_j is finite (the rescaling to feasibility) and D
is largest among a few candidates.

Every term comes from what a gradient pass (or the Gram statistics) measures at
the iterate, never from the residuals themselves: with g the loss's gradient,
g_b the intercept's, L the loss and zbar the mean row,

* S = sum omega rho^2 = L - g_b^2 / 4 (the intercept's optimum is b - g_b / 2);
* q = Z^T (omega rho) = g / 2 - (g_b / 2) zbar;
* sum omega rho y = w.q - S (because sum omega rho = 0),

so that D(kappa) = 2 kappa (S - w.q) - kappa^2 S - sum_j phi_j(-2 kappa q_j), and
the gap at the reported (w, b) adds g_b^2 / 4 for the intercept's own distance.
Without an intercept zbar is 0, S = L and nothing constrains theta's sum.
"""

import numpy as np

from .full_gradient import shared_pass


class DualityGap:
    """P - D at the engine's reported iterate, averaged over outputs (see the
    module docstring). Callable as the excess estimates are, on the
    measurement's (sub)gradient, which it does not need: it reads the loss and
    its gradient where the engine measured them (``engine.data_gradient``), or
    measures them with one pass when the iterate has moved since.

    >>> import numpy as np
    >>> from fastgd._training import make_spec, fit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 5)); y = X @ [1.0, 0.0, 2.0, 0.0, 0.5]
    >>> spec = make_spec("batch", eta0="auto", penalty="l1", alpha=0.1,
    ...                  tol=1e-6, tol_rule="excess")
    >>> fitted = fit(spec, X, y)
    >>> fitted.outcome.relative_excess <= 1e-6
    True
    """

    def __init__(self, data, engine, fit_intercept, penalty, impl):
        self._data, self._engine, self._penalty = data, engine, penalty
        self._impl = impl
        self._mean = data.z_moments()[0] if fit_intercept else None
        self._fit_intercept = fit_intercept

    def __call__(self, grad, grad_intercept):
        coef, intercept = self._engine.reported_iterate()
        measured = getattr(self._engine, "data_gradient", None)
        if measured is None or not np.array_equal(measured[0], coef):
            g, g_b, loss = shared_pass(self._data, self._impl)(
                np.asarray(coef, dtype=np.float64), intercept)  # fmt: skip
        else:
            _, g, g_b, loss = measured
        return self.gap(np.asarray(coef, dtype=np.float64), g, g_b, loss)

    def gap(self, coef, grad, grad_intercept, loss):
        """P - D at coefficients ``coef`` (n,) or (n, k), with the loss's gradient
        ``grad``, the intercept's ``grad_intercept`` (k,) and the loss ``loss``
        (the mean over outputs), averaged over outputs."""
        W = coef.reshape(coef.shape[0], -1)
        k = W.shape[1]
        G = np.reshape(grad, W.shape)
        G_b = np.reshape(grad_intercept, (-1,))
        if self._fit_intercept:
            q = 0.5 * G - 0.5 * np.outer(self._mean, G_b)
            intercept_excess = 0.25 * float(np.sum(G_b * G_b))
        else:
            q, intercept_excess = 0.5 * G, 0.0
        S = max(k * float(loss) - intercept_excess, 0.0)  # summed over outputs
        cross = float(np.sum(W * q))
        penalty = self._penalty
        l1 = np.broadcast_to(np.reshape(penalty.lasso, (-1, 1)), W.shape)
        l2 = np.broadcast_to(np.reshape(penalty.ridge, (-1, 1)), W.shape)
        primal = S + intercept_excess + penalty.value(coef)

        def dual(kappa):
            a = -2.0 * kappa * q
            pull = a if penalty.positive else np.abs(a)
            over = np.maximum(pull - l1, 0.0)
            smooth = l2 > 0
            conjugate = float(np.sum(np.square(over[smooth]) / (4.0 * l2[smooth])))
            return 2.0 * kappa * (S - cross) - kappa * kappa * S - conjugate

        # Coefficients with no L2 term need |2 kappa q_j| <= l1_j (with the bound,
        # only a pull upwards counts).
        bare = l2 <= 0
        pull = (-q if penalty.positive else np.abs(q))[bare]
        limits = l1[bare][pull > 0] / (2.0 * pull[pull > 0])
        kappa_max = float(np.min(limits)) if limits.size else np.inf
        best = (S - cross) / S if S > 0 else 1.0
        candidates = {min(max(best, 0.0), kappa_max), min(1.0, kappa_max)}
        if np.isfinite(kappa_max):
            candidates.add(kappa_max)
        lower = max(dual(kappa) for kappa in candidates)
        return max(primal - lower, 0.0) / k
