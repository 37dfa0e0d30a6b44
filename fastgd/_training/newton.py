"""Newton steps for a smooth loss that is not a quadratic (Huber, squared
epsilon-insensitive, and the classifier's log_loss, squared_hinge and
modified_huber): what the estimators' accelerated batch solver runs for them.

Such a loss is a quadratic piece by piece: Huber on the rows whose residual is
within epsilon, squared epsilon-insensitive on those outside the tube. A
gradient method takes its step from the largest curvature the loss can have
(every row quadratic) and needs about sqrt(kappa) passes per digit even when
accelerated; a Newton step takes the curvature the iterate actually has, and
on the optimum's piece lands on the optimum. Each iteration is one fused
gradient pass, as a batch iteration is, plus a solve with the Hessian at the
iterate formed from the curvature sample's rows
(:meth:`fastgd._training.excess.LocalExcess.newton_step`, O(rows n^2 + n^3),
a few milliseconds at n = 100): the same Hessian whose decrement certifies the
fit. Beyond ``excess.MAX_PARAMETERS`` no Hessian is formed: conjugate
gradients on gradient differences solve for the step
(:class:`~fastgd._training.hessian_free.HessianFree`). Either Hessian is an
estimate, and far from the optimum the pieces change under the step (and a
logistic loss's curvature with it), so every step is checked: an iterate whose
objective is above the last accepted one is pulled back halfway towards it
(and measured again) until it is not, and the step length, halved each time,
grows back twofold after each accepted step.
"""

import numpy as np

from .blas import one_blas_thread
from .engines import BatchEngine, quiet_overflow
from .excess import LocalExcess
from .hessian_free import HessianFree

# Halvings of one step before it is taken as it stands (its objective is then
# above the last one's only by rounding, or the divergence check catches it).
MAX_HALVINGS = 30


class NewtonEngine(BatchEngine):
    """Damped Newton steps on the sampled Hessian (see the module docstring).
    ``run`` measures the iterate (pulling a step back while the objective
    rose), ``advance`` takes the next step; with no sampled row on a quadratic
    piece (a start far from every target) it takes a gradient step of
    ``eta``."""

    def __init__(self, data, spec, **options):
        super().__init__(data, spec, **options)
        self.accelerate = False
        ridge = self.penalty.ridge_diagonal
        if LocalExcess.affordable(data.n_features):
            self.hessian = LocalExcess(data, self, self.loss, self.fit_intercept, ridge)
        else:
            self.hessian = HessianFree(data, self, self.loss, self.fit_intercept,
                                       ridge, self.impl)  # fmt: skip
        self._length = 1.0
        self._accepted = None  # (objective, coef, intercept) of the last iterate

    def run(self, etas):
        loss = super().run(etas)
        for _ in range(MAX_HALVINGS):
            if self._accepted is None or not self.measurement[0] > self._accepted[0]:
                break
            _, coef, intercept = self._accepted
            self.coef += 0.5 * (coef - self.coef)
            self.intercept += 0.5 * (intercept - self.intercept)
            self._length *= 0.5
            loss = super().run(etas)
        self._accepted = (self.measurement[0], self.coef.copy(), self.intercept.copy())
        return loss

    @one_blas_thread  # between two passes: see .blas
    def advance(self, etas):
        self._remember_safe_state()
        _, grad, grad_b = self.measurement  # penalized, intercept's zeroed if none
        with quiet_overflow():
            step = self.hessian.newton_step(self.coef, self.intercept, grad, grad_b)
            if step is None:
                self.coef -= float(etas[0]) * grad
                self.intercept -= float(etas[0]) * grad_b
            else:
                self.coef -= self._length * step[0]
                if self.fit_intercept:
                    self.intercept -= self._length * np.reshape(
                        step[1], self.intercept.shape
                    )
        self._length = min(1.0, 2.0 * self._length)
        self.t += 1
