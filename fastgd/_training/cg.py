"""Conjugate gradients on the least-squares objective: the gradient method that
does not care about conditioning (``solver="cg"``).

The objective F is a quadratic with Hessian A (in z units: 2 E[z z^T] over the
parameters (coefficients, intercept), plus 2 alpha on the coefficients), so
preconditioned conjugate gradients (Hestenes & Stiefel, 1952) reach its
minimum in at most n + 1 iterations in exact arithmetic, and in about
sqrt(kappa) iterations per digit otherwise. Each iteration needs one product
A p. It comes from the gradient, the only thing a data source computes:
A p = (grad F(x + tau p) - grad F(x)) / tau, one fused pass over X (CGLS's two
products, X p and X^T (X p), in that one pass) or O(n^2) through the Gram
statistics. The gradient and the loss at the new iterate then follow from the
quadratic's recurrences, and every ``REPLACE_EVERY`` iterations, and before the
fit may stop, a pass measures them exactly (residual replacement: the
recurrences drift by rounding).

Preconditioner: CG runs in centred coordinates (the intercept replaced by the
mean prediction, with the exact column means), where the coefficients are
scaled by their exact variance (plus alpha): block Jacobi on the centred
problem. With ``standardize=True`` and an intercept that is the
identity, so standardization and this preconditioner are one and the same
thing; without standardization it makes CG as indifferent to the columns'
scales and offsets as the standardized fit.

When is it done? Each iteration lowers F by the known amount
Delta_k = alpha_k r_k^T z_k / 2, and F(x_k) - F* is the sum of all later
Deltas. The excess at the current iterate is estimated from the recent
decrements as a geometric tail, Delta_k q / (1 - q), with q the largest
ratio of consecutive decrements over the last ``TAIL_WINDOW`` iterations
(capped at ``MAX_RATIO``): it tracks the true excess while CG converges at a
steady rate, and overestimates it when the rate is irregular, so the fit
stops late rather than early. A singular system (collinear columns, one-hot
groups with the intercept) is consistent on its range, and CG started from
the origin of the centred, scaled coordinates converges there to the
minimum-norm solution in those coordinates; the predictions are the least
squares ones.
"""

import itertools

import numpy as np

from .engines import _Engine, _penalized, quiet_overflow
from .full_gradient import FullGradient

# An exact gradient pass every this many iterations (residual replacement).
REPLACE_EVERY = 25
# Iterations whose decrements estimate the rate of the tail.
TAIL_WINDOW = 4
# Up to this many parameters, the sampled-Hessian estimate (O(n^3) once) is
# the second opinion before CG stops; beyond, a confirmation run (TailExcess).
SAMPLED_MAX_PARAMETERS = 1024
# The shortest confirmation run beyond SAMPLED_MAX_PARAMETERS (TailExcess).
CONFIRM_MIN_ITERATIONS = 20
# The trial point's loss must match the quadratic's prediction to this
# fraction of the predicted change, or rounding decides the steps (see run).
FLOOR_MISMATCH = 0.5
# The estimated rate is capped here: slower than this, the tail is taken as
# 1 / (1 - MAX_RATIO) = 100 times the last decrement.
MAX_RATIO = 0.99


class CGEngine(_Engine):
    """Preconditioned conjugate gradients (see the module docstring): ``run``
    makes one iteration (one pass, or one Gram product) and returns the loss at
    the new iterate; ``measurement`` and :meth:`estimated_excess` say how far
    from the optimum it is."""

    unit = "iteration"
    steps_per_unit = 1
    STATE = ("coef", "intercept", "t", "eta_scale", "opt_state")
    _SNAPSHOT = ("coef", "intercept", "t")

    def __init__(self, data, spec, *, strategy="pass", gram_after=None,
                 coef_init=None, intercept_init=None, recoverable=False):  # fmt: skip
        super().__init__(data, np.float64, spec, coef_init, intercept_init,
                         recoverable)  # fmt: skip
        self._full_gradient = FullGradient(data, spec.impl, strategy, gram_after,
                                           unit="evaluation")  # fmt: skip
        mean, variance = data.z_moments()
        # Without an intercept nothing eliminates the mean: E[z^2] is the
        # curvature, and the centred intercept stays 0.
        self._mean = mean if self.fit_intercept else np.zeros_like(mean)
        curvature = variance if self.fit_intercept else variance + mean * mean
        curvature = curvature + self.penalty.ridge_diagonal
        self._inverse_curvature = np.where(curvature > 0, 1.0 / np.where(
            curvature > 0, curvature, 1.0), 0.0)  # fmt: skip
        if self.coef.ndim == 2:
            self._inverse_curvature = self._inverse_curvature[:, None]
        if self.fit_intercept and intercept_init is None:
            # In centred coordinates the mean prediction v is decoupled from
            # the coefficients and its optimum is the mean of y: start there,
            # and the intercept never costs CG an iteration (nor a first
            # step across the whole offset of y, which rounding would spoil).
            self._set(self.coef.copy(), np.atleast_1d(data.target_moments()[0]))
        self.measurement = None
        self._gradient = None  # (grad_u, grad_v) at the iterate, the L2 term in
        self._loss = None
        self._direction = None
        self._rho = None
        self._decrements = []
        self._drift = 0.0
        self._exhausted = False
        self._floor = 0.0
        self._since_exact = 0
        self._trial_step = 1.0
        self._first_rho = 0.0

    @property
    def strategy(self):
        """What computes the products: "pass", "gram", or the switch made."""
        return self._full_gradient.described

    def note_excess(self, excess, tol):
        self._full_gradient.note_excess(excess, tol)

    # ------------------------------------------------------------ the algebra
    #
    # CG runs in centred coordinates: u = coef and v = intercept + zbar . coef
    # (the mean prediction). There the intercept is decoupled from the
    # coefficients, so a column whose mean dwarfs its spread does not make
    # the intercept's gradient and the coefficient's cancel, and the block
    # Jacobi preconditioner is diagonal: 1 / (var + alpha) and 1.

    def _shift(self, u):
        """zbar . u: the mean prediction of coefficients u (n,) or (n, k)."""
        return self._mean @ u

    def _centred(self):
        """(u, v) of the current coefficients."""
        return self.coef.copy(), self.intercept + self._shift(self.coef)

    def _set(self, u, v):
        self.coef[...] = u
        if self.fit_intercept:
            self.intercept[...] = v - self._shift(u)

    def _evaluate(self, u, v):
        """(objective, grad_u, grad_v) at a point: one pass or Gram product."""
        intercept = v - self._shift(u) if self.fit_intercept else np.zeros_like(v)
        with quiet_overflow():
            grad, grad_b, loss = self._full_gradient(u, intercept)
            objective, grad, grad_b = _penalized(self, u, grad, grad_b, loss)
        grad_b = np.array(grad_b, dtype=np.float64)
        if not self.fit_intercept:
            return objective, np.array(grad, dtype=np.float64), np.zeros_like(grad_b)
        mean = self._mean if np.ndim(grad) == 1 else self._mean[:, None]
        return objective, grad - mean * grad_b, grad_b

    def _precondition(self, grad, grad_b):
        """M^-1 (grad_u, grad_v): each coefficient divided by its curvature."""
        return grad * self._inverse_curvature, grad_b

    def _exact(self):
        """Measure the objective and gradient at the iterate (a pass)."""
        self._loss, *self._gradient = self._evaluate(*self._centred())
        self._since_exact = 0

    def gradient_in_z_units(self):
        """(grad, grad_intercept) with respect to (coef, intercept)."""
        grad_u, grad_v = self._gradient
        mean = self._mean if grad_u.ndim == 1 else self._mean[:, None]
        return grad_u + mean * grad_v, grad_v

    # ------------------------------------------------------------ the protocol

    def run(self, etas):
        """One conjugate-gradient iteration; returns the objective's data part
        (the loss) at the new iterate."""
        if self._gradient is None:
            self._exact()
            self._restart()
            self._first_rho = self._rho
        if self._exhausted:  # nothing left to do at this precision
            return self._reported_loss()
        if self._rho == 0.0:
            return self._exhaust()
        grad, grad_b = self._gradient
        p, p_b = self._direction
        u, v = self._centred()
        # A p from a trial point along p, as far as the last step went (the
        # first time, 1: preconditioned steps are about that long). A trial
        # point much farther would make residuals, and rounding, far larger
        # than the iterate's; much nearer, the two gradients would agree in
        # most of their digits.
        tau = self._trial_step
        trial_loss, trial, trial_b = self._evaluate(u + tau * p, v + tau * p_b)
        Ap, Ap_b = (trial - grad) / tau, (trial_b - grad_b) / tau
        curvature = float(np.sum(p * Ap) + np.sum(p_b * Ap_b))
        if not curvature > 0.0:  # converged to rounding: no curvature left
            return self._exhaust()
        # The quadratic must predict the trial point's loss; where it does
        # not, rounding has taken over the gradients (the floor of this
        # precision: offsets of 1e12 times a column's spread reach it near a
        # relative excess of 1e-8), and a step would only add noise.
        # (Measured against the size of the two terms, not of their sum: a
        # trial point twice the step away predicts no change at all.)
        linear, quadratic = tau * self._rho, 0.5 * tau * tau * curvature
        mismatch = abs(trial_loss - self._loss + linear - quadratic)
        if mismatch > FLOOR_MISMATCH * (linear + quadratic):
            # What is left: the decrease of the step not taken, or what
            # rounding hides, whichever is larger.
            self._floor = max(0.5 * self._rho * self._rho / curvature, mismatch)
            self._floor = max(self._floor, 0.0)
            return self._exhaust()
        step = self._rho / curvature
        self._trial_step = step
        self._set(u + step * p, v + step * p_b)
        # The loss and gradient at x + step p from the trial point's exact
        # ones, a short way (step - tau) along p on the quadratic: no
        # recurrence carried from one iteration to the next, so nothing
        # drifts (a recurrence from F(x) drifts by 1e-9 of all the decreases,
        # which on a plateau is the size of the decreases themselves).
        rest = step - tau
        loss = (trial_loss + rest * float(np.sum(trial * p) + np.sum(trial_b * p_b))
                + 0.5 * rest * rest * curvature)  # fmt: skip
        decrease = self._loss - loss
        self._loss = loss
        grad = trial + rest * Ap
        grad_b = trial_b + rest * Ap_b
        self._gradient = (grad, grad_b)
        self.t += 1
        self._since_exact += 1
        self._drift = 0.0
        self._record(decrease)
        if self._since_exact >= REPLACE_EVERY:
            self._exact()
            grad, grad_b = self._gradient
        z, z_b = self._precondition(grad, grad_b)
        rho = float(np.sum(grad * z) + np.sum(grad_b * z_b))
        beta = rho / self._rho if self._rho > 0 else 0.0
        self._direction = (-z + beta * p, -z_b + beta * p_b)
        self._rho = rho
        return self._reported_loss()

    def _restart(self):
        grad, grad_b = self._gradient
        z, z_b = self._precondition(grad, grad_b)
        self._direction = (-z, -z_b)
        self._rho = float(np.sum(grad * z) + np.sum(grad_b * z_b))

    @property
    def finished(self):
        """Whether CG has stopped iterating (at the optimum or its floor)."""
        return self._exhausted

    def _exhaust(self):
        """No step left that rounding does not decide: measure the iterate
        exactly and stop here. The optimum, if the preconditioned gradient is
        at rounding level (the first one's times eps); otherwise the engine
        is ``stalled`` at the floor of this precision, and the estimate
        includes what rounding hides."""
        self._exact()
        self._restart()
        self._measure()
        self._exhausted = True
        if self._rho > np.finfo(np.float64).eps * self._first_rho:
            self.stalled = True
        return self._reported_loss()

    def _record(self, decrease):
        self._decrements.append(max(decrease, 0.0))
        self._measure()

    def _measure(self):
        grad, grad_b = self.gradient_in_z_units()
        self.measurement = (self._loss, grad, grad_b)
        self.gradient_norm = np.sqrt(float(np.sum(grad**2) + np.sum(grad_b**2)))

    def _reported_loss(self):
        """The data part of the objective (what the loop records as the loss)."""
        return self._loss - self.penalty.value(self.coef)

    def estimated_excess(self):
        """F - F* at the iterate, from the tail of the decrements (see the
        module docstring), plus whatever the last exact measurement found the
        recurrences had missed; infinite until there are enough decrements."""
        if self._exhausted and not self.stalled:
            return self._drift
        if self.stalled:
            return self._floor + self._drift
        recent = self._decrements[-(TAIL_WINDOW + 1) :]
        if len(recent) < TAIL_WINDOW + 1:
            return np.inf
        last = recent[-1]
        ratios = [after / before if before > 0 else 0.0
                  for before, after in itertools.pairwise(recent)]  # fmt: skip
        rate = min(max(ratios), MAX_RATIO)
        return last * rate / (1.0 - rate) + self._drift

    def confirm(self):
        """Before the fit stops: measure the iterate exactly (a pass), so that
        the reported loss and gradient are the iterate's own; a loss above the
        recurrence's counts as excess not yet removed."""
        if self._since_exact:
            recurrence = self._loss
            self._exact()
            # Residual replacement: the direction stays (a restart would
            # throw away what CG has learnt of the spectrum, and on a plateau
            # each confirmation would restart it again).
            grad, grad_b = self._gradient
            z, z_b = self._precondition(grad, grad_b)
            self._rho = float(np.sum(grad * z) + np.sum(grad_b * z_b))
            self._measure()
            self._drift = max(0.0, self._loss - recurrence)

    def restore(self, snapshot):
        super().restore(snapshot)
        self._gradient = None
        self._decrements = []


class TailExcess:
    """The excess-loss rule's estimate for CG (the loop's ``excess``).

    CG's own tail estimate cannot see a slow mode that the Krylov space has
    not reached yet: on real tables the decrements can fall by 1e4 while the
    excess waits in a direction of rare one-hot levels (measured on
    nycflights13: a plateau at 1.1e-3 for ten iterations, then removed in the
    next ten). So a second opinion must agree before the fit stops:

    * up to ``SAMPLED_MAX_PARAMETERS`` parameters, the sampled-Hessian
      estimate of :mod:`.excess` (g^T H^-1 g / 4 with the exact gradient; it
      overestimates where the sample misses rare rows, so it errs late), and
      the estimate reported is the larger of the two; once the Gram
      statistics exist (the Gram route), that estimate is exact and is the
      one reported;
    * beyond, the fit goes on for as many iterations again as it took to get
      there (at least ``CONFIRM_MIN_ITERATIONS``), and stops only if the loss
      fell by less than ``tol`` times the optimum meanwhile (that fall is a
      lower bound on the excess the candidate had); otherwise the search
      starts over. A heuristic, not a bound: a slow mode found later still
      escapes it (measured: plateaus of 6-12 iterations on rare levels and
      near-duplicate columns).

    Each time the estimate is small, an exact pass confirms the iterate
    (:meth:`CGEngine.confirm`).
    """

    def __init__(self, engine, tol, floor, sampled=None):
        self.engine, self.tol, self.floor = engine, tol, floor
        self.sampled = sampled
        self._candidate = None  # (iteration, objective) awaiting confirmation

    def _small(self, excess, objective):
        return excess <= self.tol * max(objective - excess, self.floor)

    def __call__(self, grad, grad_intercept):
        engine = self.engine
        excess = engine.estimated_excess()
        if not self._small(excess, engine.measurement[0]):
            if self._candidate is None:
                return excess
        else:
            engine.confirm()
            excess = engine.estimated_excess()
        objective, grad, grad_intercept = engine.measurement
        if engine.finished:  # no iteration left to confirm it with
            return excess
        if self.sampled is not None:
            second = self.sampled(grad, grad_intercept)
            # From the exact covariance (the Gram route formed it) the second
            # opinion is g^T H^-1 g itself, not an estimate: it is the answer.
            return second if self.sampled.exact else max(excess, second)
        if self._candidate is None:
            if not self._small(excess, objective):
                return excess
            self._candidate = (engine.t, objective)
            return np.inf
        started, then = self._candidate
        fallen = max(then - objective, 0.0)
        if not self._small(fallen, objective):
            self._candidate = None  # it was not done: look again
            return max(excess, fallen)
        if engine.t < started + max(started, CONFIRM_MIN_ITERATIONS):
            return np.inf
        self._candidate = None
        return max(excess, fallen)
