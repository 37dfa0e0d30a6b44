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
* ``check_divergence``, ``rollback`` (back to the last safe state; returns how
  many recorded units that undoes), ``snapshot``/``restore``/``export_state``
  (the small resumable state), ``coefficients`` and ``validation_score``.

The coefficients live in z units (standardized coordinates); the state that
carries over between fits (partial_fit, warm_start) is small and free of the data.
"""

import numpy as np
from sklearn.utils import check_random_state

from .. import _kernels, optimizers
from .._errors import DivergenceError
from .._validation import check_initial
from ..sources import EpochWork
from .data import to_original_units, to_z_units

# A loss this many times the loss of the zero model (mean y^2) means divergence.
DIVERGENCE_FACTOR = 1e6


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

    def __init__(self, data, dtype, spec, coef_init, intercept_init, recoverable):
        self.data = data
        self.optimizer = spec.optimizer
        # [first moment, second moment] per coefficient and intercept, flattened
        # (coefficient j of output c at j * k + c, intercepts last).
        n_parameters = (data.n_features + 1) * data.n_targets
        self.opt_state = optimizers.initial_state((n_parameters,))
        self.fit_intercept = bool(spec.fit_intercept)
        self.alpha = float(spec.alpha)
        coef = check_initial("coef_init", coef_init, data.coef_shape(), np.float64)
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
        self.limit = DIVERGENCE_FACTOR * max(
            data.zero_model_loss(), np.finfo(np.float64).tiny
        )
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

    def coefficients(self):
        """(coef, intercept) in the original units, float64."""
        return to_original_units(self.data, self.coef, self.intercept)

    def validation_score(self):
        """(R^2, weighted mean squared error) on the validation rows at the
        coefficients the fit would report now."""
        data = self.data
        coef, intercept = self.coefficients()
        squares, total_weight = data.source.rows_loss(
            data.validation_rows, data.original_weight,
            coef.reshape(coef.shape[0], -1), intercept,
        )  # fmt: skip
        tiny = np.finfo(np.float64).tiny
        r2 = float(np.mean(1.0 - squares / np.maximum(data.validation_sst, tiny)))
        return r2, float(np.sum(squares) / (total_weight * data.n_targets))


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
                 recoverable=False):  # fmt: skip
        dtype = data.dtype
        super().__init__(data, dtype, spec, coef_init, intercept_init, recoverable)
        rows = len(data.train_rows)
        self.batch_size = None if spec.batch_size is None else min(spec.batch_size,
                                                                   rows)  # fmt: skip
        self.order = data.train_rows.copy()
        self.rng_state = _rng_state(spec.random_state)
        self.average_start = -1 if spec.average is False else int(spec.average) - 1
        averaging = self.average_start >= 0
        averaged_shape = self.coef.shape if averaging else (0,)
        self.avg_coef = np.zeros(averaged_shape[:1] + self.coef.shape[1:], dtype)
        self.avg_intercept = np.zeros(len(self.intercept) * averaging, dtype)
        self.shuffle = bool(spec.shuffle)
        self._run = data.source.epoch_pass(self._work(), spec.impl)

    def _work(self):
        data = self.data
        averaging = None
        if self.average_start >= 0:
            averaging = (self.avg_coef, self.avg_intercept, self.average_start)
        return EpochWork(
            coef=self.coef, intercept=self.intercept, fit_intercept=self.fit_intercept,
            sample_weight=data.sample_weight,
            standardization=data.standardization, averaging=averaging,
            optimizer=self.optimizer, optimizer_state=self.opt_state,
            order=self.order, rng_state=self.rng_state, shuffle=self.shuffle,
            batch_size=self.batch_size,
        )  # fmt: skip

    @property
    def steps_per_unit(self):
        rows = len(self.order)
        return rows if self.batch_size is None else -(-rows // self.batch_size)

    def coefficients(self):
        if 0 <= self.average_start < self.t:
            return to_original_units(self.data, self.avg_coef, self.avg_intercept)
        return super().coefficients()

    def run(self, etas):
        """One epoch with step sizes ``etas`` (one per step, or one); returns the
        epoch's weighted mean training loss (residuals before each update)."""
        self._remember_safe_state()
        dtype = self.data.dtype
        decays = (1.0 - 2.0 * self.alpha * etas).astype(dtype)
        if self.shuffle:
            # Every epoch shuffles the sorted rows, so an epoch's order depends on
            # the generator state alone and a fit can resume without the order.
            np.copyto(self.order, self.data.train_rows)
        with quiet_overflow():
            squares = self._run(etas.astype(dtype), decays, self.t)
        self.t += self.steps_per_unit
        return squares / (self.data.train_weight * self.data.n_targets)


class BatchEngine(_Engine):
    """Full-batch gradient descent: ``run`` evaluates the loss and gradient at the
    current iterate, ``advance`` steps along it.

    ``strategy="pass"`` reads X once per iteration (the source's gradient pass);
    ``"gram"`` forms X^T X once and costs O(n^2 k) per iteration; with
    ``gram_after=k`` a "pass" engine switches to "gram" before evaluation k + 1
    (strategy="auto"; the plan is :func:`fastgd._training.strategy.
    plan_batch_strategy`'s), and ``strategy`` then says so. The iterates are
    kept in float64 in z units; the gradient in z units is
    scale * (grad_theta - shift dJ/db), plus 2 alpha w for the L2 penalty.
    """

    unit = "iteration"
    steps_per_unit = 1

    def __init__(self, data, spec, *, strategy="pass", gram_after=None,
                 coef_init=None, intercept_init=None, recoverable=False):  # fmt: skip
        super().__init__(data, np.float64, spec, coef_init, intercept_init,
                         recoverable)  # fmt: skip
        self.impl = spec.impl
        self.strategy, self.gram_after, self.evaluations = strategy, gram_after, 0
        if strategy == "gram":
            self._gradient = self._gram_gradient()
        else:
            self._gradient = data.source.gradient_pass(
                data.sample_weight, data.train_weight, spec.impl
            )
        self.gradient_norm = np.inf
        # The standardization in float64, shaped for coef: it maps every iterate.
        column = (slice(None),) if data.y.ndim == 1 else (slice(None), None)
        self._scale = data.scale.astype(np.float64)[column]
        self._shift = data.shift.astype(np.float64)

    def _gram_gradient(self):
        """With G = X^T X / W, c = X^T y / W and the means xbar, ybar:
        grad = 2 (G theta + xbar b - c), dJ/db = 2 (xbar.theta + b - ybar), and
        loss = theta^T G theta + 2 b xbar.theta + b^2 - 2 theta^T c - 2 b ybar
        + mean(y^2)."""
        data = self.data
        gram, cross, x_mean, y_mean, y_square = data.source.gram_statistics(
            data.sample_weight
        )
        if data.y.ndim == 1:  # the common case, in as few NumPy calls as possible
            cross_1 = cross[:, 0]
            y_mean_1, y_square_1 = float(y_mean[0]), float(y_square[0])

            def gradient_single(coef, intercept):
                b = float(intercept[0])
                G_coef = gram @ coef
                x_coef = float(x_mean @ coef)
                grad = G_coef - cross_1
                grad += b * x_mean
                grad *= 2.0
                grad_b = 2.0 * (x_coef + b - y_mean_1)
                loss = (float(coef @ G_coef) + 2.0 * b * x_coef + b * b
                        - 2.0 * float(coef @ cross_1) - 2.0 * b * y_mean_1
                        + y_square_1)  # fmt: skip
                return grad, np.array([grad_b]), loss

            return gradient_single

        def gradient(coef, intercept):
            C = coef.reshape(len(coef), -1)
            G_coef = gram @ C
            x_coef = x_mean @ C
            grad = 2.0 * (G_coef + np.outer(x_mean, intercept) - cross)
            grad_b = 2.0 * (x_coef + intercept - y_mean)
            loss = (
                np.sum(C * G_coef, axis=0) + 2.0 * intercept * x_coef + intercept**2
                - 2.0 * np.sum(C * cross, axis=0) - 2.0 * intercept * y_mean + y_square
            )  # fmt: skip
            return grad, grad_b, float(np.mean(loss))

        return gradient

    def run(self, etas):
        """Loss and gradient (kept for :meth:`advance`) at the current iterate;
        returns the loss and records the gradient norm."""
        if self.gram_after is not None and self.evaluations >= self.gram_after:
            self._gradient = self._gram_gradient()
            self.strategy = f"pass, then gram from iteration {self.evaluations + 1}"
            self.gram_after = None
        self.evaluations += 1
        scale, shift = self._scale, self._shift
        with quiet_overflow():
            # to_original_units, inlined: this runs once per iteration.
            theta = scale * self.coef
            grad, grad_b, loss = self._gradient(theta, self.intercept - shift @ theta)
            # The chain rule back to z units: scale * (grad - shift dJ/db).
            shift_term = np.multiply.outer(shift, grad_b).reshape(grad.shape)
            self._grad = scale * (grad - shift_term)
            self._grad_b = grad_b.copy()
            penalized = self._grad + 2.0 * self.alpha * self.coef
            norm_sq = float(np.sum(np.square(penalized)))
            if self.fit_intercept:
                norm_sq += float(np.sum(np.square(grad_b)))
        self.gradient_norm = np.sqrt(norm_sq)
        return loss

    def advance(self, etas):
        """Step from the last :meth:`run`: the L2 decay, then the optimizer's
        update along the data gradient (for plain steps the same as a step along
        the penalized gradient)."""
        self._remember_safe_state()
        eta = float(etas[0])
        with quiet_overflow():
            if self.alpha:
                self.coef *= 1.0 - 2.0 * eta * self.alpha
            grad_b = self._grad_b if self.fit_intercept else np.zeros_like(self._grad_b)
            self._update(grad_b, eta)
        self.t += 1

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
