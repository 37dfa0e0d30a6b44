"""The excess-loss estimate at any width: g^T H^-1 g by conjugate gradients.

:class:`~fastgd._training.excess.ExcessEstimate` forms the (n + 1)^2 Hessian
and factors it: O(n^3), 5 s at n = 4,096 on a 2-vCPU host, and 128 MB a copy.
Beyond ``excess.MAX_PARAMETERS`` this module estimates the same quantity
without forming anything: conjugate gradients on H d = g, each product H p
from the data source's gradient pass (the gradient of a quadratic is linear, so
grad(p) - grad(0) = H p, one pass), the intercept eliminated through the exact
column means as in :mod:`.excess`, and the Jacobi preconditioner (the exact
column variances plus alpha).

From d_0 = 0, CG's energy g^T d_k grows monotonically to g^T H^-1 g by known
increments alpha_k r_k^T z_k: a lower bound at every iteration. The rest is
estimated as a geometric tail of the recent increments, as CG's own stopping
estimates its tail (:class:`~fastgd._training.cg.TailExcess`), and the estimate
stops when that tail is at most ``ACCURACY`` of the energy, or after
``MAX_ITERATIONS`` products, where the tail, capped at ``1 / (1 - MAX_RATIO)``
times the last increment, errs high. A heuristic, not a bound, like CG's:
a direction the Krylov space has not reached yet is missed.

An estimate costs passes over the data, so a fit does not pay one every unit:
:meth:`KrylovExcess.__call__` estimates again only once the fit has spent, in
passes, what the last estimate cost (so measuring adds at most about as much
as the fit itself), and otherwise repeats the last estimate. That estimate was
not small (the fit would have stopped), so repeating it never stops a fit
early.
"""

import itertools

import numpy as np

from .full_gradient import shared_pass

# Stop when the estimated tail is at most this fraction of the energy so far.
ACCURACY = 0.1
# The most products (passes) one estimate takes.
MAX_ITERATIONS = 200
# Increments whose ratios estimate the tail's rate, and the rate's cap.
TAIL_WINDOW = 4
MAX_RATIO = 0.99
# The residual's preconditioned norm^2 this far below its start: solved.
SOLVED = 1e-24


class KrylovExcess:
    """Estimated F - F* = g^T H^-1 g / 4 from a gradient, by CG on H (see the
    module docstring). ``unit_passes``: what one unit of the fit costs in
    passes over X (None: estimate at every call).

    >>> import numpy as np
    >>> from fastgd.sources import DenseSource
    >>> from fastgd._training import prepare
    >>> from fastgd._training.excess import ExcessEstimate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> data = prepare(DenseSource(X, X @ [1.0, 2.0, 3.0]))
    >>> g, g_b = np.array([0.1, -0.2, 0.3]), np.array([0.05])
    >>> krylov = KrylovExcess(data, fit_intercept=True, alpha=0.0, impl="numpy")
    >>> exact = ExcessEstimate(data, fit_intercept=True, alpha=0.0, exact_after=0)
    >>> bool(np.isclose(krylov(g, g_b), exact(g, g_b), rtol=1e-6))
    True
    """

    def __init__(self, data, fit_intercept, alpha, impl, unit_passes=None):
        self._fit_intercept, self._alpha = fit_intercept, alpha
        self._gradient = shared_pass(data, impl)
        mean, variance = data.z_moments()
        # Without an intercept nothing eliminates the mean: E[z^2] is the
        # curvature of a coefficient.
        self._mean = mean if fit_intercept else None
        curvature = (variance if fit_intercept else variance + mean * mean) + alpha
        self._inverse_diagonal = np.where(curvature > 0, 1.0 / np.where(
            curvature > 0, curvature, 1.0), 0.0)  # fmt: skip
        self._at_origin = None  # the gradient at 0 (one pass, on first use)
        self._unit_passes = unit_passes
        self._spent = np.inf  # passes the fit spent since the last estimate
        self._cost = 0.0  # passes the last estimate took
        self._last = np.inf
        self.passes = 0  # passes taken by every estimate so far

    def __call__(self, grad, grad_intercept):
        """g^T H^-1 g / 4, averaged over outputs: ``grad`` (n,) or (n, k) and
        ``grad_intercept`` (k,) are the objective's gradient in z units."""
        if self._unit_passes is not None:
            self._spent += self._unit_passes
            if self._spent < self._cost:
                return self._last
        before = self.passes
        self._last = self.estimate(grad, grad_intercept)
        self._spent, self._cost = 0.0, float(self.passes - before)
        return self._last

    def estimate(self, grad, grad_intercept):
        """One estimate, whatever the fit has spent."""
        G = np.reshape(np.asarray(grad, dtype=np.float64), (grad.shape[0], -1))
        total = 0.0
        if self._mean is not None:
            G_b = np.reshape(np.asarray(grad_intercept, dtype=np.float64), (1, -1))
            G = G - self._mean[:, None] * G_b
            total = float(np.sum(G_b * G_b))
        energy = self._solve(G)
        return 0.25 * (energy + total) / G.shape[1]

    def _product(self, P):
        """C p + alpha p for each column p of P (C: the covariance of z, or
        E[z z^T] without an intercept), from two gradients (one pass)."""
        k = P.shape[1]
        shape = (-1,) if k == 1 else (-1, k)
        if self._at_origin is None:
            self._at_origin = self._gradient(np.zeros(P.shape).reshape(shape),
                                             np.zeros(k))[0]  # fmt: skip
            self.passes += 1
        # The intercept that keeps the predictions centred: the difference of
        # the two gradients is then 2 C p.
        intercept = -(self._mean @ P) if self._mean is not None else np.zeros(k)
        moved = self._gradient(P.reshape(shape), intercept)[0]  # a fresh array
        self.passes += 1
        moved -= self._at_origin  # in place: at 50,000 columns each copy is 400 KB
        moved *= 0.5
        moved = moved.reshape(P.shape)
        if np.any(self._alpha):
            # One L2 factor, or one per coefficient (the penalty's weights).
            moved += np.reshape(self._alpha, (-1, 1)) * P
        return moved

    def _solve(self, H):
        """h^T (C + alpha)^-1 h summed over the columns h of ``H``: the CG
        energy plus its estimated tail."""
        inverse = self._inverse_diagonal[:, None]
        residual = H.copy()
        preconditioned = inverse * residual
        rho = float(np.sum(residual * preconditioned))
        if rho <= 0.0:
            return 0.0
        direction = preconditioned.copy()
        first_rho = rho
        energy, increments, tail = 0.0, [], np.inf
        for _ in range(MAX_ITERATIONS):
            product = self._product(direction)
            curvature = float(np.sum(direction * product))
            if curvature <= 0.0:  # rounding: nothing more to learn
                tail = 0.0
                break
            step = rho / curvature
            product *= step
            residual -= product
            increments.append(step * rho)
            energy += increments[-1]
            tail = _tail(increments)
            if tail <= ACCURACY * energy:
                break
            np.multiply(inverse, residual, out=preconditioned)
            rho, previous = float(np.sum(residual * preconditioned)), rho
            if rho <= SOLVED * first_rho:  # solved to rounding
                tail = 0.0
                break
            direction *= rho / previous
            direction += preconditioned
        if not np.isfinite(tail):  # too few increments for a rate: the cap
            tail = increments[-1] * MAX_RATIO / (1.0 - MAX_RATIO) if increments else 0.0
        return energy + tail


def _tail(increments):
    """The energy still to come, as a geometric tail of the last increments
    (inf while there are too few to estimate a rate)."""
    recent = increments[-(TAIL_WINDOW + 1) :]
    if len(recent) < TAIL_WINDOW + 1:
        return np.inf
    ratios = [after / before if before > 0 else 0.0
              for before, after in itertools.pairwise(recent)]  # fmt: skip
    rate = min(max(ratios), MAX_RATIO)
    return recent[-1] * rate / (1.0 - rate)
