"""The engines: the resumable state of a fit and one unit of work on a data source.

Every engine answers one protocol, which is all the loop (:mod:`.loop`) knows:

* ``unit`` ("epoch" or "iteration"), ``steps_per_unit`` (updates a unit makes),
  ``t`` (updates so far), ``eta_scale`` (the step's factor after recoveries) and
  ``gradient_norm`` (the last full gradient's norm, or None when a unit measures
  none);
* ``run(etas) -> loss``: one unit of work with step sizes ``etas`` (one per
  update, or one), returning its weighted mean loss;
* ``advance(etas)``: make the step that the last unit measured but did not take
  (batch gradient descent measures the gradient, then steps along it once the
  loop has decided to go on); a no-op when ``run`` already stepped;
* ``measurement``: None, or (objective, gradient, intercept gradient) at the
  coefficients the fit would report now, exact over the training rows, in z
  units, the L2 term included (what the excess-loss rule of :mod:`.excess`
  reads); set by ``run`` when the engine measures (batch, SVRG, or a stochastic
  engine asked to);
* ``stalled``: True when the engine can make no further progress at this
  precision (the loop then stops, not converged);
* ``note_excess(excess, tol)``: the relative excess the loop measured after a
  unit, and the one it stops at (engines that plan by their progress read it:
  the batch strategy's switch to X^T X);
* ``check_divergence``, ``rollback`` (back to the last safe state; returns how
  many recorded units that undoes), ``snapshot``/``restore``/``export_state``
  (the small resumable state), ``coefficients`` and ``validation_score``.

The coefficients live in z units (standardized coordinates); the state that
carries over between fits (partial_fit, warm_start) is small and free of the data.
"""

import numpy as np

from .. import _kernels, optimizers
from .._errors import DivergenceError
from .._validation import check_initial, check_random_state
from ..sources import EpochWork
from .data import auto_step_size, to_original_units, to_z_units
from .full_gradient import FullGradient, shared_pass

# A loss this many times the loss of the zero model (mean y^2) means divergence.
DIVERGENCE_FACTOR = 1e6


def check_lazy_decay(engine, drifting=False):
    """The per-sample epochs on a source whose decay is one lazy scalar (CSR)
    cannot weigh each coefficient by its scale (:attr:`_Engine.weighing_decay`),
    and take their proximal steps lazily (:mod:`fastgd._kernels.sparse.lazy`),
    which SVRG's drift (``drifting``) would make O(n) a step: refuse those."""
    if engine.data.source.decays_per_coefficient:
        return
    if not engine.penalty.smooth and drifting:
        raise ValueError(
            "An L1 term or positive=True on a sparse matrix with solver='svrg': "
            "SVRG's drift moves every coefficient at every step, and its proximal "
            "steps would cost O(n_features) each. Use solver='batch' (or 'auto': "
            "accelerated proximal gradient), 'sgd' or 'minibatch' (proximal steps "
            "taken lazily, O(entries of a row) each)."
        )
    if engine.weighing_decay:
        raise ValueError(
            "An L2 penalty with standardize=True on a sparse matrix: the per-sample "
            "solvers decay the coefficients of a CSR matrix lazily, by one factor, "
            "which cannot weigh each coefficient by its column's scale (the penalty "
            "is on your coefficients, in your units). Use solver='batch' or 'cg' "
            "(or 'auto'), or standardize=False."
        )


def quiet_overflow():
    """Silence NumPy's overflow warnings (also raised by the kernels when the JIT is
    disabled): overflow is how a divergence starts, and it is detected and
    explained by a DivergenceError."""
    return np.errstate(over="ignore", invalid="ignore")


def _rng_state(random_state):
    """The xorshift state for the kernels' shuffle, drawn from ``random_state``."""
    seed = check_random_state(random_state).randint(
        1, np.iinfo(np.int64).max, dtype=np.int64
    )
    return np.array([seed], dtype=np.uint64)


class _Engine:
    """What every engine shares: the coefficients (in z units), the optimizer
    state, the divergence check and the resumable state."""

    # What a fit carries over to the next (partial_fit, warm_start): small, and
    # free of the data, so that a fitted estimator pickles small.
    STATE = ("coef", "intercept", "t", "eta_scale", "opt_state")
    _SNAPSHOT = ("coef", "intercept", "t", "opt_state")
    gradient_norm = None
    # True once the engine cannot improve the iterate at this precision (CG
    # at its rounding floor): the loop stops without calling it converged.
    stalled = False

    def __init__(self, data, dtype, spec, coef_init, intercept_init, recoverable):
        self.data = data
        self.optimizer = spec.optimizer
        # [first moment, second moment] per coefficient and intercept, flattened
        # (coefficient j of output c at j * k + c, intercepts last).
        n_parameters = (data.n_features + 1) * data.n_targets
        self.opt_state = optimizers.initial_state((n_parameters,))
        self.fit_intercept = bool(spec.fit_intercept)
        coef = check_initial("coef_init", coef_init, data.coef_shape(), np.float64)
        # The penalty in the user's units (what the kernels' decays are built
        # from: .decays) and in z units (its weights from the standardization's
        # scale: .penalty).
        self.penalty_function = spec.penalty_function
        self.penalty = spec.penalty_function.in_z_units(data.scale, coef.ndim)
        if intercept_init is not None and data.y.ndim == 1:
            intercept_init = np.reshape(intercept_init, -1)
        intercept = check_initial(
            "intercept_init", intercept_init, (data.n_targets,), np.float64
        )
        coef, intercept = to_z_units(data, coef, intercept)
        self.coef = np.ascontiguousarray(coef, dtype=dtype)
        self.intercept = np.ascontiguousarray(intercept, dtype=dtype)
        self.t = 0
        self.eta_scale = 1.0
        self.loss = spec.loss_function
        zero_model_loss = (data.zero_model_loss() if self.loss.quadratic
                           else self.loss.zero_model_loss(data.y))  # fmt: skip
        self.limit = DIVERGENCE_FACTOR * max(zero_model_loss, np.finfo(np.float64).tiny)
        self.recoverable = recoverable
        self._safe = None

    def check_divergence(self, loss, where, eta):
        finite = np.all(np.isfinite(self.coef)) and np.all(np.isfinite(self.intercept))
        if np.isfinite(loss) and loss <= self.limit and finite:
            return
        raise DivergenceError(
            f"Gradient descent diverged at {where}: the loss is {loss:.3g} with step "
            f"size eta={eta:.3g}. Use a smaller eta0 (try {eta / 10:.3g}) or a "
            "decaying learning_rate, and standardize the features (standardize=True, "
            "or sklearn.preprocessing.StandardScaler) so that their scales are "
            "comparable."
        )

    def advance(self, etas):
        """Nothing to do: the unit's updates are made by :meth:`run`."""

    def note_excess(self, excess, tol):
        """Nothing to plan by: this engine's work does not depend on progress."""

    @property
    def alpha(self):
        """The L2 factor in the user's units, which the kernels' decay
        1 - 2 eta alpha reads (weighing it by scale^2 where they standardize)."""
        return self.penalty_function.ridge

    @property
    def weighing_decay(self):
        """Whether the L2 decay weighs each coefficient: a penalty on
        standardized features (it is on the user's coefficients)."""
        return bool(self.alpha) and self.data.standardized

    def decays(self, etas):
        """The kernels' L2 decays 1 - 2 eta alpha for step sizes ``etas``, of the
        data's dtype: a column where they weigh each coefficient (standardized
        features: the penalty is on the user's coefficients; the kernels take
        its proximal form, :mod:`fastgd._kernels.steps`), else one a step; with
        an L1 term or a bound, the proximal decays of
        :meth:`~fastgd._training.penalty.Penalty.proximal_decays`."""
        if not self.penalty.smooth:
            return self.penalty_function.proximal_decays(etas, self.data.dtype)
        decays = (1.0 - 2.0 * self.alpha * etas).astype(self.data.dtype)
        return decays.reshape(-1, 1) if self.weighing_decay else decays

    def can_roll_back(self):
        return self._safe is not None

    def rollback(self):
        """Back to the state before the last change; returns 0: the failed unit
        was not recorded."""
        self.restore(self._safe)
        return 0

    def _remember_safe_state(self):
        if self.recoverable:
            self._safe = self.snapshot()

    def snapshot(self, names=None):
        """Copies of the state :meth:`restore` brings back (coefficients, step)."""
        return {name: np.copy(getattr(self, name)) for name in names or self._SNAPSHOT}

    def restore(self, snapshot):
        for name, value in snapshot.items():
            current = getattr(self, name)
            if isinstance(current, np.ndarray) and current.shape == np.shape(value):
                current[...] = value
            elif isinstance(current, np.ndarray):
                setattr(self, name, np.array(value, dtype=current.dtype))
            else:
                setattr(self, name, np.asarray(value).item())

    def export_state(self):
        """The resumable state (see STATE), copied."""
        return self.snapshot(self.STATE)

    def reported_iterate(self):
        """(coef, intercept) in z units: the iterate the fit would report now."""
        return self.coef, self.intercept

    def coefficients(self):
        """(coef, intercept) in the original units, float64."""
        return to_original_units(self.data, *self.reported_iterate())

    def validation_score(self):
        """(R^2, weighted mean squared error) on the validation rows at the
        coefficients the fit would report now."""
        data = self.data
        coef, intercept = self.coefficients()
        squares, total_weight = data.source.rows_loss(
            data.validation_rows, data.original_weight,
            coef.reshape(coef.shape[0], -1), intercept,
        )  # fmt: skip
        return validation_r2(squares, data.validation_sst), float(
            np.sum(squares) / (total_weight * data.n_targets))  # fmt: skip


def validation_r2(squares, total_squares):
    """R^2 averaged over outputs, with scikit-learn's convention (r2_score's
    force_finite) where an output's validation targets do not vary (one
    validation row, or a constant y): 1.0 for a perfect fit, else 0.0, not
    -inf.

    >>> validation_r2(np.array([1.0, 0.0, 2.0]), np.array([4.0, 0.0, 0.0]))
    0.5833333333333334
    """
    varying = total_squares > 0
    ratio = squares / np.where(varying, total_squares, 1.0)
    r2 = np.where(varying, 1.0 - ratio, np.where(squares == 0, 1.0, 0.0))
    return float(np.mean(r2))


class StochasticEngine(_Engine):
    """SGD (``batch_size=None``) or mini-batch epochs with resumable state.

    ``average``: False, True (average from the first step) or a step count after
    which averaging starts. Steps count samples (SGD) or batches (mini-batch).
    """

    unit = "epoch"
    STATE = ("coef", "intercept", "avg_coef", "avg_intercept", "t", "eta_scale",
             "rng_state", "opt_state")  # fmt: skip
    _SNAPSHOT = ("coef", "intercept", "avg_coef", "avg_intercept", "t", "opt_state")

    def __init__(self, data, spec, *, coef_init=None, intercept_init=None,
                 recoverable=False, measure=False, visits=None):  # fmt: skip
        dtype = data.dtype
        super().__init__(data, dtype, spec, coef_init, intercept_init, recoverable)
        check_lazy_decay(self)
        rows = len(data.train_rows)
        # An epoch's sorted rows and weights: the training rows, or their row
        # visits (heavy rows repeated at a fraction of their weight: .visits).
        self._rows = data.train_rows if visits is None else visits.order
        self._weights = data.sample_weight if visits is None else visits.sample_weight
        self.order = self._rows.copy()
        self.batch_size = None if spec.batch_size is None else min(spec.batch_size,
                                                                   rows)  # fmt: skip
        self.rng_state = _rng_state(spec.random_state)
        if spec.average == "auto":  # from the second epoch on
            self.average_start = self.steps_per_unit
        else:
            self.average_start = -1 if spec.average is False else int(spec.average) - 1
        averaging = self.average_start >= 0
        averaged_shape = self.coef.shape if averaging else (0,)
        self.avg_coef = np.zeros(averaged_shape[:1] + self.coef.shape[1:], dtype)
        self.avg_intercept = np.zeros(len(self.intercept) * averaging, dtype)
        self.shuffle = bool(spec.shuffle)
        self._run = data.source.epoch_pass(self._work(), spec.impl)
        # The excess-loss rule reads the exact loss and gradient at the reported
        # iterate: one extra fused pass per epoch, taken only when asked.
        self._full_gradient = (shared_pass(data, spec.impl, self.loss.kernel)
                               if measure else None)  # fmt: skip
        self.measurement = None
        # Proximal SGD reports one proximal batch step from its averaged
        # iterate where it measures (:meth:`_polish`; a smooth loss: the step
        # needs a curvature bound).
        self._polish_step = None
        self._polished = None
        if measure and not self.penalty.smooth and self.loss.smooth:
            self._polish_step = (auto_step_size(data, None, spec.fit_intercept)
                                 * self.loss.step_factor)  # fmt: skip

    def _work(self):
        data = self.data
        averaging = None
        if self.average_start >= 0:
            averaging = (self.avg_coef, self.avg_intercept, self.average_start)
        return EpochWork(
            coef=self.coef, intercept=self.intercept, fit_intercept=self.fit_intercept,
            sample_weight=self._weights,
            standardization=data.standardization, averaging=averaging,
            optimizer=self.optimizer, optimizer_state=self.opt_state,
            order=self.order, rng_state=self.rng_state, shuffle=self.shuffle,
            batch_size=self.batch_size, loss=self.loss.kernel,
        )  # fmt: skip

    @property
    def steps_per_unit(self):
        rows = len(self.order)
        return rows if self.batch_size is None else -(-rows // self.batch_size)

    def reported_iterate(self):
        if self._polished is not None:
            return self._polished
        return self._iterate()

    def _iterate(self):
        """The iterate SGD reports: the averaged one once averaging has begun."""
        if 0 <= self.average_start < self.t:
            return self.avg_coef, self.avg_intercept
        return self.coef, self.intercept

    def run(self, etas):
        """One epoch with step sizes ``etas`` (one per step, or one); returns the
        epoch's weighted mean training loss (residuals before each update)."""
        self._remember_safe_state()
        dtype = self.data.dtype
        decays = self.decays(etas)
        if self.shuffle:
            # Every epoch shuffles the sorted rows, so an epoch's order depends on
            # the generator state alone and a fit can resume without the order.
            np.copyto(self.order, self._rows)
        with quiet_overflow():
            squares = self._run(etas.astype(dtype), decays, self.t)
        self.t += self.steps_per_unit
        self._measure()
        return squares / (self.data.train_weight * self.data.n_targets)

    def _measure(self):
        """The measurement at the iterate the fit would report (the averaged one
        once averaging has begun; none during the burn-in)."""
        self.measurement = None
        self._polished = None
        if self._full_gradient is None:
            return
        if self.average_start >= 0 and not self.average_start < self.t:
            return  # the burn-in: what the fit would report is not yet averaged
        if self._polish_step is not None:
            self._polished = self._polish(*self._iterate())
        self.measurement = measure(self, self._full_gradient)

    def _polish(self, coef, intercept):
        """One proximal gradient step of batch's step size (eta0="auto",
        within 1 / L by the curvature's margin) from (coef, intercept). By the
        descent lemma it does not raise the objective; it sets the
        coefficients that the L1 term zeroes to exactly 0, which an average of
        iterates never does; and it takes out the error along the steep
        directions, which the duality gap reads (on load_diabetes's Lasso the
        gap fell from 5.9 to 3.1, at a true excess of 1e-4). Costs one pass."""
        coef = coef.astype(np.float64)
        eta = self._polish_step
        with quiet_overflow():
            grad, grad_b, _ = self._full_gradient(coef, intercept)
            polished = self.penalty.prox(coef - eta * grad, eta)
            if self.fit_intercept:
                return polished, intercept - eta * grad_b
        return polished, np.array(intercept, dtype=np.float64)


def measure(engine, full_gradient):
    """(objective, gradient, intercept gradient) at the engine's reported
    iterate, by ``full_gradient`` (a :class:`.full_gradient.FullGradient`)."""
    coef, intercept = engine.reported_iterate()
    coef = coef.astype(np.float64)
    with quiet_overflow():
        grad, grad_b, loss = full_gradient(coef, intercept)
        # Where the loss and its gradient were measured (the duality gap reads
        # them: fastgd._training.gap).
        engine.data_gradient = (coef, grad, grad_b, loss)
        return _penalized(engine, coef, grad, grad_b, loss)


def _penalized(engine, coef, grad, grad_b, loss):
    """(objective, gradient, intercept gradient) with the penalty: the gradient
    is the minimum-norm subgradient where the penalty has kinks
    (:meth:`~fastgd._training.penalty.ZPenalty.subgradient`), the intercept
    gradient zeroed without an intercept."""
    penalty = engine.penalty
    # The loss is the mean over outputs of each output's; so is the penalty, so
    # that each output's gradient (its own loss's plus its penalty's) is that of
    # the objective's share it owns.
    outputs = coef.shape[1] if coef.ndim == 2 else 1
    if penalty.legacy:
        alpha = penalty.ridge
        objective = (
            loss + alpha * float(np.sum(np.square(coef, dtype=np.float64))) / outputs
        )
        grad = grad + 2.0 * alpha * coef if alpha else grad
    else:
        objective = loss + penalty.value(coef) / outputs
        grad = penalty.subgradient(coef, grad)
    grad_b = grad_b if engine.fit_intercept else np.zeros_like(grad_b)
    return objective, grad, grad_b


class BatchEngine(_Engine):
    """Full-batch gradient descent: ``run`` evaluates the loss and gradient at the
    current iterate, ``advance`` steps along it.

    ``strategy="pass"`` reads X once per iteration (the source's gradient pass);
    ``"gram"`` forms X^T X once and costs O(n^2 k) per iteration; with
    ``gram_after=k`` a "pass" engine switches to "gram" before evaluation k + 1
    (strategy="auto"; the plan is :func:`fastgd._training.strategy.
    plan_batch_strategy`'s), and ``strategy`` then says so. The iterates are
    kept in float64 in z units, plus 2 alpha w for the L2 penalty.

    With ``spec.accelerate`` (plain steps only) the steps are Nesterov's
    accelerated gradient with gradient-based adaptive restart (O'Donoghue &
    Candes, 2015): x+ = y - eta grad(y), then y = x+ + k / (k + 3) (x+ - x),
    and the momentum restarts (k = 0) whenever grad(y).(x+ - x) > 0. On a
    quadratic with condition number kappa that takes about sqrt(kappa)
    iterations per factor e, where plain steps take kappa; the restart keeps a
    well-conditioned problem as fast as plain steps. ``coef`` is y, the point
    whose gradient was measured; x is ``previous_coef``.
    """

    unit = "iteration"
    steps_per_unit = 1
    STATE = (*_Engine.STATE, "previous_coef", "previous_intercept",
             "momentum_count")  # fmt: skip
    _SNAPSHOT = (*_Engine._SNAPSHOT, "previous_coef", "previous_intercept",
                 "momentum_count")  # fmt: skip

    def __init__(self, data, spec, *, strategy="pass", gram_after=None,
                 coef_init=None, intercept_init=None, recoverable=False):  # fmt: skip
        super().__init__(data, np.float64, spec, coef_init, intercept_init,
                         recoverable)  # fmt: skip
        self.impl = spec.impl
        self._full_gradient = FullGradient(data, spec.impl, strategy, gram_after,
                                           loss=self.loss.kernel)  # fmt: skip
        self.gradient_norm = np.inf
        self.measurement = None
        self.data_gradient = None
        self.accelerate = spec.accelerate
        self.previous_coef = self.coef.copy()
        self.previous_intercept = self.intercept.copy()
        self.momentum_count = 0

    @property
    def strategy(self):
        """What computes the gradient: "pass", "gram", or the switch made."""
        return self._full_gradient.described

    def note_excess(self, excess, tol):
        self._full_gradient.note_excess(excess, tol)

    def run(self, etas):
        """Loss and gradient (kept for :meth:`advance`) at the current iterate;
        returns the loss and records the gradient norm."""
        with quiet_overflow():
            self._grad, grad_b, loss = self._full_gradient(self.coef, self.intercept)
            self._grad_b = grad_b.copy()
            # Where the loss and its gradient were measured (the duality gap
            # reads them: fastgd._training.gap).
            self.data_gradient = (self.coef.copy(), self._grad, self._grad_b, loss)
            self.measurement = _penalized(self, self.coef, self._grad, grad_b, loss)
            _, penalized, grad_b = self.measurement
            norm_sq = float(np.sum(np.square(penalized)))
            norm_sq += float(np.sum(np.square(grad_b)))
        self.gradient_norm = np.sqrt(norm_sq)
        return loss

    def advance(self, etas):
        """Step from the last :meth:`run`: the L2 decay, then the optimizer's
        update along the data gradient (for plain steps the same as a step along
        the penalized gradient); with a penalty in the user's units or with
        kinks, the proximal step (:meth:`~fastgd._training.penalty.ZPenalty.
        prox`) after the data gradient's."""
        self._remember_safe_state()
        eta = float(etas[0])
        grad_b = self._grad_b if self.fit_intercept else np.zeros_like(self._grad_b)
        with quiet_overflow():
            if self.penalty.legacy:
                if self.alpha:
                    self.coef *= 1.0 - 2.0 * eta * self.alpha
                self._update(grad_b, eta)
                direction = self.measurement[1:]  # at y, the L2 term included
            elif self.optimizer == "sgd":
                measured = self.coef.copy()
                self.coef[...] = self.penalty.prox(self.coef - eta * self._grad, eta)
                self.intercept -= eta * grad_b
                # The gradient mapping (y - x+) / eta: the gradient's part in
                # the restart test and the step it took.
                direction = ((measured - self.coef) / eta, grad_b)
            else:
                # A decoupled, implicit decay (never unstable, however large a
                # column's weight), then the optimizer's update.
                self.coef /= 1.0 + 2.0 * eta * self.penalty.ridge
                self._update(grad_b, eta)
                direction = self.measurement[1:]
            if self.accelerate:
                self._extrapolate(*direction)
        self.t += 1

    def _extrapolate(self, grad, grad_b):
        """Nesterov's extrapolation from x+ (now in ``coef``), or a restart when
        the step climbed along ``grad`` (the gradient measured at y)."""
        step = self.coef - self.previous_coef
        step_b = self.intercept - self.previous_intercept
        climbing = float(np.sum(grad * step)) + float(np.sum(grad_b * step_b)) > 0
        self.previous_coef[...] = self.coef
        self.previous_intercept[...] = self.intercept
        if climbing:
            self.momentum_count = 0
            return
        momentum = self.momentum_count / (self.momentum_count + 3.0)
        self.coef += momentum * step
        self.intercept += momentum * step_b
        self.momentum_count += 1

    def _update(self, grad_b, eta):
        """The optimizer's update in place: the compiled rule, or for the twins
        their NumPy one (fastgd.optimizers.step)."""
        if self.optimizer == "sgd":
            self.coef -= eta * self._grad
            self.intercept -= eta * grad_b
            return
        size = self.coef.size
        state = self.opt_state
        if self.impl == "compiled":
            kind = optimizers.OPTIMIZERS[self.optimizer]
            params = optimizers.parameters(self.optimizer)
            for values, grads, part in (
                (self.coef, self._grad, state[:, :size]),
                (self.intercept, grad_b, state[:, size:]),
            ):
                # The state slices are views: the kernel updates them in place.
                _kernels.optimizer_step(values.reshape(-1), grads.reshape(-1), part,
                                        kind, params, eta, self.t + 1)  # fmt: skip
            return
        coef_state = state[:, :size].reshape((2, *self.coef.shape))
        optimizers.step(self.optimizer, self.coef, np.asarray(self._grad), coef_state,
                        eta, self.t + 1)  # fmt: skip
        optimizers.step(self.optimizer, self.intercept, np.asarray(grad_b),
                        state[:, size:], eta, self.t + 1)  # fmt: skip

    def rollback(self):
        """Back to the iterate before the last step; its loss was recorded, and
        the loop measures it again, so this undoes one recorded unit."""
        super().rollback()
        return 1
