"""SVRG as an engine: the snapshot's full gradient (a fused pass) and the
compiled inner epoch of corrected steps (:mod:`fastgd._kernels.variance_reduced`),
behind the engine protocol of :mod:`.engines`."""

import dataclasses

import numpy as np

from ..sources import EpochWork
from .engines import _Engine, _penalized, _rng_state, check_lazy_decay, quiet_overflow
from .full_gradient import shared_pass


class SVRGEngine(_Engine):
    """SVRG (Johnson & Zhang, 2013): each unit measures the full gradient mu at
    the current iterate, the snapshot (``run``: one fused pass, the exact loss
    and gradient), then runs one shuffled epoch of corrected per-sample steps
    w -= eta (g_i(w) - g_i(snapshot) + mu) (``advance``: the compiled inner loop
    of :mod:`fastgd._kernels.variance_reduced`). For a strongly convex objective
    the expected excess loss falls by a constant factor per unit (linear
    convergence), where SGD's needs a decaying step.

    Sample weights enter the inner steps scaled to a mean of 1 over the
    training rows, so each corrected step is an unbiased estimate of the
    weighted gradient.
    """

    unit = "epoch"
    STATE = ("coef", "intercept", "t", "eta_scale", "rng_state", "opt_state")
    _SNAPSHOT = ("coef", "intercept", "t")

    def __init__(self, data, spec, *, coef_init=None, intercept_init=None,
                 recoverable=False, visits=None):  # fmt: skip
        dtype = data.dtype
        super().__init__(data, dtype, spec, coef_init, intercept_init, recoverable)
        check_lazy_decay(self, drifting=True)
        # The training rows, or their row visits (see StochasticEngine).
        self._rows = data.train_rows if visits is None else visits.order
        weights = data.sample_weight if visits is None else visits.sample_weight
        self.order = self._rows.copy()
        self.rng_state = _rng_state(spec.random_state)
        self.shuffle = bool(spec.shuffle)
        self._full_gradient = shared_pass(data, spec.impl)
        self._difference = np.zeros_like(self.coef)
        self._difference_intercept = np.zeros_like(self.intercept)
        # (mu, mu_b): the snapshot's gradient, the penalty's L2 term in it; for
        # prox-SVRG (an L1 term or a bound) the loss's alone, and the snapshot
        # itself (the kernel's proximal step is at snapshot + difference).
        self._proximal = not self.penalty.smooth
        self._drift = (np.zeros_like(self.coef), np.zeros_like(self.intercept))
        if self._proximal:
            self._drift += (self.coef,)
        weights = weights * (len(data.train_rows) / data.train_weight)
        work = EpochWork(
            coef=self._difference, intercept=self._difference_intercept,
            fit_intercept=self.fit_intercept, sample_weight=weights.astype(dtype),
            standardization=data.standardization, averaging=None, optimizer="sgd",
            optimizer_state=self.opt_state, order=self.order,
            rng_state=self.rng_state, shuffle=self.shuffle, batch_size=None,
            drift=self._drift,
        )  # fmt: skip
        self._epoch = data.source.epoch_pass(work, spec.impl)
        # The warm start: one plain SGD epoch on the iterate itself, averaging
        # its second half (see run).
        self._warm_average = (np.zeros_like(self.coef),
                              np.zeros_like(self.intercept))  # fmt: skip
        plain = dataclasses.replace(
            work, coef=self.coef, intercept=self.intercept, drift=None,
            averaging=(*self._warm_average, self.steps_per_unit // 2),
        )  # fmt: skip
        self._sgd_epoch = data.source.epoch_pass(plain, spec.impl)
        self.gradient_norm = np.inf
        self.measurement = None

    @property
    def steps_per_unit(self):
        return len(self.order)

    def run(self, etas):
        """The snapshot: exact loss and gradient at the current iterate, kept as
        the inner epoch's drift; returns the loss.

        A fit's first unit first runs one plain SGD epoch from the start point
        (Johnson & Zhang warm-start SVRG with SGD too) and takes the mean of its
        second half's iterates as the first snapshot: from far away, an SGD
        epoch gains as much as an SVRG one, without the full pass, and its
        average sits at about (n + 1) / m of relative excess, where the last
        iterate sits at SGD's noise floor. SVRG's linear convergence then takes
        over near the optimum.
        """
        if self.t == 0:
            self._remember_safe_state()
            self._advance(self._sgd_epoch, etas)
            self.coef[...] = self._warm_average[0]
            self.intercept[...] = self._warm_average[1]
        coef = self.coef.astype(np.float64)
        with quiet_overflow():
            grad, grad_b, loss = self._full_gradient(coef, self.intercept)
            self.measurement = _penalized(self, coef, grad, grad_b, loss)
            self._drift[0][...] = grad if self._proximal else self.measurement[1]
            self._drift[1][...] = self.measurement[2]
            _, grad, grad_b = self.measurement
            norm_sq = float(np.sum(np.square(grad))) + float(np.sum(np.square(grad_b)))
        self.gradient_norm = np.sqrt(norm_sq)
        return loss

    def advance(self, etas):
        """One inner epoch from the snapshot."""
        self._remember_safe_state()
        self._difference[...] = 0
        self._difference_intercept[...] = 0
        self._advance(self._epoch, etas)
        with quiet_overflow():
            self.coef += self._difference
            self.intercept += self._difference_intercept

    def _advance(self, epoch, etas):
        dtype = self.data.dtype
        decays = self.decays(etas)
        if self.shuffle:
            np.copyto(self.order, self._rows)
        with quiet_overflow():
            epoch(etas.astype(dtype), decays, self.t)
        self.t += self.steps_per_unit

    def rollback(self):
        """Back to the snapshot before the last inner epoch; its loss was
        recorded and is measured again, so this undoes one recorded unit."""
        super().rollback()
        return 1
