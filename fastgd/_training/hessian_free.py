"""Newton steps and the Newton decrement at any width, for a smooth loss that is
not a quadratic (logistic regression on 100,000 columns): H d = g by
conjugate gradients, no Hessian formed.

:class:`~fastgd._training.excess.LocalExcess` forms the (n + 1)^2 Hessian from
sampled rows, up to ``excess.MAX_PARAMETERS``. Beyond, each product H p is a
directional derivative of the gradient, (grad(w + e p) - grad(w)) / e, one
fused gradient pass over the data source (dense, CSR, file or Dask, the pass
every batch iteration takes), plus the L2 term's 2 alpha p; the coefficients
and the intercept are solved together, Jacobi-preconditioned by the columns'
second moments. The step e is sqrt(eps) times the iterate's scale over p's, so
the product is good to about 1e-8 of itself: ample for an inexact Newton step.
CG stops once the residual is a fraction of the gradient (preconditioned
norms) or after ``MAX_PRODUCTS`` products: truncated Newton (Dembo and
Steihaug, 1983), whose steps the engine damps and checks as it does the
formed Hessian's (:mod:`.newton`). The fraction is Eisenstat and Walker's
sqrt(|g| / |g_0|) (|g_0| the first gradient's), between ``FORCING`` and
``LOOSEST``: far from the optimum a rough step does as well as an exact one,
and near it, where the decrement is read, the solve is tight.

The same solve gives the decrement g^T H^-1 g / 2 that certifies the fit (the
estimated F - F*), from the energy CG has built, a lower bound that the
forcing keeps within a few percent; a fit asks for it and for the step at the
same iterate, and pays for one solve (:meth:`HessianFree.__call__` and
:meth:`HessianFree.newton_step`).
"""

import numpy as np

from .full_gradient import shared_pass

# CG stops when |r| <= eta |g| (preconditioned norms), eta from FORCING near
# the optimum to LOOSEST far from it ...
FORCING = 0.05
LOOSEST = 0.5
# ... or after this many products (passes over the data).
MAX_PRODUCTS = 100


class HessianFree:
    """Truncated Newton steps and the decrement by CG on gradient differences
    (see the module docstring). ``engine`` is read for the iterate and the
    data gradient it measured there.

    >>> import numpy as np
    >>> from fastgd._training import prepare
    >>> from fastgd._training.objective import make_loss
    >>> from fastgd.sources import DenseSource
    >>> X = np.random.default_rng(0).normal(size=(400, 3)) + [0.0, 0.0, 3.0]
    >>> labels = np.where(X @ [1.0, -1.0, 0.5] > 1.0, 1.0, -1.0)
    >>> data, loss = prepare(DenseSource(X, labels)), make_loss("log_loss", 0.0, 0.5)
    >>> class Engine:  # the iterate, at 0
    ...     coef, intercept, data_gradient = np.zeros(3), np.zeros(1), None
    ...     def reported_iterate(self):
    ...         return self.coef, self.intercept
    >>> hessian = HessianFree(data, Engine(), loss, True, 0.0, "numpy")
    >>> grad, grad_b, _ = shared_pass(data, "numpy", loss.kernel)(np.zeros(3),
    ...                                                            np.zeros(1))
    >>> step, step_b = hessian.newton_step(np.zeros(3), np.zeros(1), grad, grad_b)
    >>> bool(hessian(grad, grad_b) > 0), step.shape
    (True, (3,))
    """

    def __init__(self, data, engine, loss, fit_intercept, alpha, impl):
        self._engine, self._fit_intercept = engine, fit_intercept
        self._alpha = np.reshape(alpha, (-1, 1)) if np.ndim(alpha) else float(alpha)
        self._gradient = shared_pass(data, impl, loss.kernel)
        mean, variance = data.z_moments()
        second = variance + mean * mean
        # Jacobi: each coefficient's curvature is about its column's second
        # moment times the loss's (a factor common to all, which CG ignores);
        # the intercept's column is 1, and so is an empty column's.
        diagonal = np.append(np.where(second > 0, second, 1.0), 1.0)
        self._inverse_diagonal = (1.0 / diagonal)[:, None]
        self._solved = None  # (grad, step, step_b, decrement) of the last solve
        self._first = None  # the first gradient's |g|^2 (preconditioned)
        self.passes = 0

    def __call__(self, grad, grad_intercept):
        """g^T H^-1 g / 2 at the engine's reported iterate (the estimated
        F - F*), averaged over outputs."""
        coef, intercept = self._engine.reported_iterate()
        return self._solve(coef, intercept, grad, grad_intercept)[2]

    def newton_step(self, coef, intercept, grad, grad_intercept):
        """(H^-1 g, its intercept part) at (coef, intercept)."""
        return self._solve(coef, intercept, grad, grad_intercept)[:2]

    def _solve(self, coef, intercept, grad, grad_intercept):
        if self._solved is not None and self._solved[0] is grad:
            return self._solved[1:]
        k = 1 if np.ndim(grad) == 1 else grad.shape[1]
        coef = np.reshape(np.asarray(coef, dtype=np.float64), (-1, k))
        intercept = np.reshape(np.asarray(intercept, dtype=np.float64), k)
        g = np.vstack([np.reshape(grad, (-1, k)), np.reshape(grad_intercept, (1, k))])
        if not self._fit_intercept:
            g[-1] = 0.0
        at = self._data_gradient(coef, intercept, k)
        d = np.zeros_like(g)
        r = g.copy()
        z = self._inverse_diagonal * r
        p = z.copy()
        rz = np.sum(r * z, axis=0)
        if self._first is None:
            self._first = rz
        forcing = np.clip((rz / np.where(self._first > 0, self._first, 1.0)) ** 0.25,
                          FORCING, LOOSEST)  # fmt: skip
        target = forcing**2 * rz
        for _ in range(MAX_PRODUCTS):
            if np.all(rz <= target):
                break
            q = self._product(coef, intercept, at, p, k)
            curvature = np.sum(p * q, axis=0)
            step = np.where(curvature > 0, rz / np.where(curvature > 0, curvature, 1.0),
                            0.0)  # fmt: skip
            d += step * p
            r -= step * q
            z = self._inverse_diagonal * r
            rz, previous = np.sum(r * z, axis=0), rz
            p = z + (rz / np.where(previous > 0, previous, 1.0)) * p
        decrement = 0.5 * float(np.sum(g * d)) / k
        shape = np.shape(grad)
        solved = (d[:-1].reshape(shape), d[-1].copy(), decrement)
        self._solved = (grad, *solved)
        return solved

    def _data_gradient(self, coef, intercept, k):
        """The loss's gradient at (coef, intercept) as (n + 1, k): the one the
        engine measured there, or a pass."""
        measured = getattr(self._engine, "data_gradient", None)
        if measured is not None and np.array_equal(np.reshape(measured[0], (-1, k)),
                                                   coef):  # fmt: skip
            grad, grad_b = measured[1], measured[2]
        else:
            grad, grad_b, _ = self._pass(coef, intercept, k)
        return np.vstack([np.reshape(grad, (-1, k)), np.reshape(grad_b, (1, k))])

    def _pass(self, coef, intercept, k):
        self.passes += 1
        return self._gradient(coef[:, 0] if k == 1 else coef, intercept)

    def _product(self, coef, intercept, at, p, k):
        """H p for each column of p ((n + 1, k): coefficients, then the
        intercept), by a gradient pass at a point moved along p."""
        size = np.sqrt(np.sum(p * p, axis=0))
        scale = 1.0 + np.sqrt(np.sum(coef * coef, axis=0) + intercept * intercept)
        e = np.sqrt(np.finfo(np.float64).eps) * scale / np.where(size > 0, size, 1.0)
        moved_b = intercept + (e * p[-1] if self._fit_intercept else 0.0)
        grad, grad_b, _ = self._pass(coef + e * p[:-1], moved_b, k)
        moved = np.vstack([np.reshape(grad, (-1, k)), np.reshape(grad_b, (1, k))])
        product = (moved - at) / e
        product[:-1] += 2.0 * self._alpha * p[:-1]
        if not self._fit_intercept:
            product[-1] = 0.0
        return product
