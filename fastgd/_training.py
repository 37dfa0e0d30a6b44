"""The training engine under ``fit_*`` and ``GDRegressor``.

* :func:`prepare` validates the data once and derives what every epoch needs:
  sample weights, the validation split, and the standardization (shift, scale) that
  lets the kernels work in z = (x - shift) * scale without a standardized copy of X.
* :class:`StochasticEngine` and :class:`BatchEngine` hold the resumable state of a
  fit (coefficients in z units, averages, step count, shuffle stream) and run one
  epoch or iteration with the chosen implementation (compiled kernel or twin).
* :func:`train` is the loop: schedules, stopping rules, early stopping that keeps the
  best coefficients, divergence detection and optional bounded recovery.
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _kernels, reference, schedules
from ._validation import check_data, check_initial, check_sample_weight

IMPLS = ("compiled", "numpy", "loop")
# A loss this many times the loss of the zero model (mean y^2) means divergence.
DIVERGENCE_FACTOR = 1e6
# Rows per block of the fused kernels: fixed from m alone, so the float64 block sums
# (and so the results) do not depend on the thread count.
_ROWS_PER_BLOCK = 4096
_MAX_BLOCKS = 64
# Rows per chunk when forming X^T X in float64.
_GRAM_CHUNK_ROWS = 8192
# learning_rate="adaptive": divide the step by this when the loss stalls, and stop
# once it has fallen below ADAPTIVE_MIN_RATIO times its start.
ADAPTIVE_DIVISOR = 5.0
ADAPTIVE_MIN_RATIO = 1e-4
# The stochastic stopping rule looks at rounds of whole epochs holding at least
# this many updates (one epoch, whenever an epoch has that many).
MIN_UPDATES_PER_ROUND = 256


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the loss became non-finite or exploded."""


def n_gradient_blocks(n_samples):
    """Fixed number of row blocks of the parallel kernels (depends on m only)."""
    return max(1, min(_MAX_BLOCKS, n_samples // _ROWS_PER_BLOCK))


def quiet_overflow():
    """Silence NumPy's overflow warnings (also raised by the kernels when the JIT is
    disabled): overflow is how a divergence starts, and it is detected and
    explained by a DivergenceError."""
    return np.errstate(over="ignore", invalid="ignore")


# --------------------------------------------------------------------------- #
# Prepared data
# --------------------------------------------------------------------------- #


@dataclass
class Data:
    """Validated data and everything derived from it once per fit.

    ``sample_weight`` is an array of X's dtype: one value (uniform weights) or one
    per row, with validation rows set to 0 when there is a validation split (so the
    batch kernels can skip them without a copy of X). ``train_rows`` lists the rows
    the stochastic epochs visit. ``shift`` and ``scale`` (X's dtype) define
    z = (x - shift) * scale; zeros and ones when not standardizing.
    """

    X: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray
    original_weight: np.ndarray
    weighted: bool
    train_rows: np.ndarray
    validation_rows: np.ndarray | None
    validation_sst: np.ndarray | None
    train_weight: float
    shift: np.ndarray
    scale: np.ndarray
    standardized: bool
    mean: np.ndarray | None
    variance: np.ndarray | None

    @property
    def n_targets(self):
        return 1 if self.y.ndim == 1 else self.y.shape[1]

    def coef_shape(self):
        return (self.X.shape[1], *self.y.shape[1:])

    def zero_model_loss(self):
        return float(np.mean(np.square(self.y, dtype=np.float64)))


def column_moments(X, sample_weight):
    """Weighted mean and variance of every column (one compiled pass, float64)."""
    n = X.shape[1]
    mean, variance = np.empty(n), np.empty(n)
    partial = np.empty((n_gradient_blocks(X.shape[0]), 2 * n + 1))
    _kernels.column_moments(X, sample_weight, mean, variance, partial)
    return mean, variance


def prepare(
    X, y, *, sample_weight=None, standardize=False, fit_intercept=True,
    validation_fraction=None, random_state=None, statistics=None, need_moments=False,
):  # fmt: skip
    """Validate X, y and sample_weight and derive a :class:`Data`.

    ``statistics`` (mean, variance) reuses a standardization computed earlier
    (partial_fit, warm_start); otherwise it is computed when ``standardize`` or
    ``need_moments`` asks for it. Without an intercept the features are scaled but
    not centred, so that the model keeps b = 0 in the original units.
    """
    X, y = check_data(X, y)
    m, n = X.shape
    weights = original_weight = check_sample_weight(sample_weight, m, X.dtype)
    weighted = sample_weight is not None
    train_rows = np.arange(m, dtype=np.int64)
    validation_rows = validation_sst = None
    if validation_fraction is not None:
        n_validation = int(np.ceil(validation_fraction * m))
        if n_validation < 1 or m - n_validation < 1:
            raise ValueError(
                f"validation_fraction={validation_fraction} leaves no training or no "
                f"validation samples out of {m}; use more samples or turn "
                "early_stopping off."
            )
        permutation = check_random_state(random_state).permutation(m)
        validation_rows = np.sort(permutation[:n_validation]).astype(np.int64)
        train_rows = np.sort(permutation[n_validation:]).astype(np.int64)
        weights = np.broadcast_to(weights, (m,)).copy()
        weights[validation_rows] = 0
        validation_sst = _total_sum_of_squares(y, original_weight, validation_rows)
    if weights.shape[0] == 1:
        train_weight = float(weights[0]) * len(train_rows)
    else:
        train_weight = float(np.sum(weights[train_rows], dtype=np.float64))
    if train_weight <= 0:
        raise ValueError("sample_weight sums to 0 over the training samples.")
    mean = variance = None
    if statistics is not None:
        mean, variance = statistics
    elif standardize or need_moments:
        mean, variance = column_moments(X, weights)
    shift = np.zeros(n, dtype=X.dtype)
    scale = np.ones(n, dtype=X.dtype)
    if standardize:
        std = np.sqrt(variance)
        # Constant columns keep scale 1: their z is 0 (centred) and their
        # coefficient never moves.
        scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 1.0)
        scale = scale.astype(X.dtype)
        if fit_intercept:
            shift = mean.astype(X.dtype)
    for array in (shift, scale):
        array.flags.writeable = False
    return Data(
        X=X, y=y, sample_weight=weights, original_weight=original_weight,
        weighted=weighted, train_rows=train_rows, validation_rows=validation_rows,
        validation_sst=validation_sst, train_weight=train_weight, shift=shift,
        scale=scale, standardized=bool(standardize), mean=mean, variance=variance,
    )  # fmt: skip


def _total_sum_of_squares(y, weights, rows):
    """Weighted sum of squares about the mean of y[rows], per output (for R^2)."""
    Y = y.reshape(y.shape[0], -1)[rows].astype(np.float64)
    w = np.broadcast_to(weights, (y.shape[0],))[rows].astype(np.float64)
    mean = np.average(Y, axis=0, weights=w)
    return np.sum(w[:, None] * (Y - mean) ** 2, axis=0)


def to_original_units(data, coef, intercept):
    """Coefficients in z units -> (coef, intercept) in the original units (float64).

    theta = scale * w and b = c - shift . theta.
    """
    scale = data.scale.astype(np.float64)
    scale = scale if coef.ndim == 1 else scale[:, None]
    theta = scale * coef.astype(np.float64)
    b = intercept.astype(np.float64) - data.shift.astype(np.float64) @ theta
    return theta, np.atleast_1d(b)


def to_z_units(data, coef, intercept):
    """Original-unit coefficients -> z units (inverse of :func:`to_original_units`)."""
    scale = data.scale.astype(np.float64)
    scale = scale if coef.ndim == 1 else scale[:, None]
    w = coef / scale
    c = intercept + data.shift.astype(np.float64) @ coef
    return w, c


# --------------------------------------------------------------------------- #
# The engines: state and one unit of work
# --------------------------------------------------------------------------- #


def _rng_state(random_state):
    """The xorshift state for the kernels' shuffle, drawn from ``random_state``."""
    seed = check_random_state(random_state).randint(
        1, np.iinfo(np.int64).max, dtype=np.int64
    )
    return np.array([seed], dtype=np.uint64)


class _Engine:
    """What both engines share: the coefficients (in z units) and the checks."""

    def __init__(self, data, dtype, fit_intercept, alpha, coef_init, intercept_init):
        self.data = data
        self.fit_intercept = bool(fit_intercept)
        self.alpha = float(alpha)
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

    # What a fit carries over to the next (partial_fit, warm_start): small, and
    # free of the data, so that a fitted estimator pickles small.
    STATE = ("coef", "intercept", "t", "eta_scale")
    _SNAPSHOT = ("coef", "intercept", "t")

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
        Y = data.y.reshape(data.y.shape[0], -1)
        squares = np.empty(Y.shape[1])
        total_weight = _kernels.rows_loss(
            data.X, Y, data.original_weight, data.validation_rows,
            coef.reshape(coef.shape[0], -1), intercept, squares,
        )  # fmt: skip
        tiny = np.finfo(np.float64).tiny
        r2 = float(np.mean(1.0 - squares / np.maximum(data.validation_sst, tiny)))
        return r2, float(np.sum(squares) / (total_weight * Y.shape[1]))


class StochasticEngine(_Engine):
    """SGD (``batch_size=None``) or mini-batch epochs with resumable state.

    ``average``: False, True (average from the first step) or a step count after
    which averaging starts. Steps count samples (SGD) or batches (mini-batch).
    """

    STATE = ("coef", "intercept", "avg_coef", "avg_intercept", "t", "eta_scale",
             "rng_state")  # fmt: skip
    _SNAPSHOT = ("coef", "intercept", "avg_coef", "avg_intercept", "t")

    def __init__(
        self, data, *, impl="compiled", batch_size=None, fit_intercept=True,
        shuffle=True, alpha=0.0, average=False, random_state=None, coef_init=None,
        intercept_init=None,
    ):  # fmt: skip
        dtype = data.X.dtype
        super().__init__(data, dtype, fit_intercept, alpha, coef_init, intercept_init)
        self.impl = impl
        rows = len(data.train_rows)
        self.batch_size = None if batch_size is None else min(batch_size, rows)
        self.shuffle = bool(shuffle)
        self.order = data.train_rows.copy()
        self.rng_state = _rng_state(random_state)
        self.average_start = -1 if average is False else int(average) - 1
        averaged_shape = self.coef.shape if self.average_start >= 0 else (0,)
        self.avg_coef = np.zeros(averaged_shape[:1] + self.coef.shape[1:], dtype)
        self.avg_intercept = np.zeros(len(self.intercept) * (self.average_start >= 0),
                                      dtype)  # fmt: skip
        self._run = (
            self._compiled_runner() if impl == "compiled" else self._twin_runner()
        )

    @property
    def steps_per_epoch(self):
        rows = len(self.order)
        return rows if self.batch_size is None else -(-rows // self.batch_size)

    def coefficients(self):
        if 0 <= self.average_start < self.t:
            return to_original_units(self.data, self.avg_coef, self.avg_intercept)
        return super().coefficients()

    def _compiled_runner(self):
        data, dtype = self.data, self.data.X.dtype
        y, n = data.y, data.X.shape[1]
        k = () if y.ndim == 1 else (y.shape[1],)
        if self.batch_size is None:
            kernel = _kernels.sgd_epoch if y.ndim == 1 else _kernels.sgd_epoch_multi
            size, scratch = (), (() if y.ndim == 1 else (np.empty(k, dtype),))
        else:
            multi = y.ndim == 2
            kernel = (
                _kernels.minibatch_epoch_multi if multi else _kernels.minibatch_epoch
            )
            size = (self.batch_size,)
            scratch = (
                np.empty((self.batch_size, *k), dtype),
                np.empty((n + 1, *k) if multi else (n,)),
            )

        # None selects the kernels' plain loops (z = x; no averaging).
        shift, scale = (data.shift, data.scale) if data.standardized else (None, None)
        averaging = self.average_start >= 0
        avg_coef = self.avg_coef if averaging else None
        avg_intercept = self.avg_intercept if averaging else None

        def run(etas, decays):
            return kernel(
                data.X, y, data.sample_weight, shift, scale, self.coef,
                self.intercept, avg_coef, avg_intercept, self.order,
                self.rng_state, etas, decays, *size, self.t, self.average_start,
                self.shuffle, self.fit_intercept, *scratch,
            )  # fmt: skip

        return run

    def _twin_runner(self):
        data = self.data
        method = "sgd_epoch" if self.batch_size is None else "minibatch_epoch"
        twin = getattr(reference, f"{method}_{self.impl}")
        size = () if self.batch_size is None else (self.batch_size,)
        averaging = self.average_start >= 0
        options = dict(
            sample_weight=data.sample_weight if data.weighted else None,
            shift=data.shift if data.standardized else None,
            scale=data.scale if data.standardized else None,
            avg_coef=self.avg_coef if averaging else None,
            avg_intercept=self.avg_intercept if averaging else None,
            average_start=self.average_start,
        )

        def run(etas, decays):
            if self.shuffle:
                _kernels.shuffle(self.order, self.rng_state)
            return twin(
                data.X, data.y, self.coef, self.intercept, self.order, etas, *size,
                self.fit_intercept, decays=decays if self.alpha else None,
                t_start=self.t, **options,
            )  # fmt: skip

        return run

    def step(self, etas):
        """Run one epoch with step sizes ``etas`` (one per step, or one); returns
        the epoch's weighted mean training loss (residuals before each update)."""
        dtype = self.data.X.dtype
        decays = (1.0 - 2.0 * self.alpha * etas).astype(dtype)
        if self.shuffle:
            # Every epoch shuffles the sorted rows, so an epoch's order depends on
            # the generator state alone and a fit can resume without the order.
            np.copyto(self.order, self.data.train_rows)
        with quiet_overflow():
            squares = self._run(etas.astype(dtype), decays)
        self.t += self.steps_per_epoch
        return squares / (self.data.train_weight * self.data.n_targets)


def gram_statistics(X, y, sample_weight):
    """Weighted X^T X / W, X^T y / W, means of X and y, and mean(y^2) per output,
    accumulated in float64 in one pass over X (chunks of rows cast to float64)."""
    m, n = X.shape
    Y = y.reshape(m, -1)
    weights = np.broadcast_to(sample_weight, (m,))
    gram = np.zeros((n, n))
    cross = np.zeros((n, Y.shape[1]))
    x_sum, y_sum, y_square, total = np.zeros(n), np.zeros(Y.shape[1]), 0.0, 0.0
    for start in range(0, m, _GRAM_CHUNK_ROWS):
        rows = slice(start, start + _GRAM_CHUNK_ROWS)
        chunk = X[rows].astype(np.float64, copy=False)
        y_chunk = Y[rows].astype(np.float64, copy=False)
        w = weights[rows].astype(np.float64)[:, None]
        weighted_chunk = chunk * w
        gram += weighted_chunk.T @ chunk
        cross += weighted_chunk.T @ y_chunk
        x_sum += weighted_chunk.sum(axis=0)
        y_sum += (w * y_chunk).sum(axis=0)
        y_square = y_square + (w * y_chunk**2).sum(axis=0)
        total += float(w.sum())
    return gram / total, cross / total, x_sum / total, y_sum / total, y_square / total


class BatchEngine(_Engine):
    """Full-batch gradient descent: one gradient evaluation and update per step.

    ``strategy="pass"`` reads X once per iteration (the fused kernel, or a twin);
    ``"gram"`` forms X^T X once and costs O(n^2 k) per iteration. The iterates are
    kept in float64 in z units; the gradient in z units is
    scale * (grad_theta - shift dJ/db), plus 2 alpha w for the L2 penalty.
    """

    def __init__(
        self, data, *, impl="compiled", strategy="pass", fit_intercept=True,
        alpha=0.0, coef_init=None, intercept_init=None,
    ):  # fmt: skip
        super().__init__(data, np.float64, fit_intercept, alpha, coef_init,
                         intercept_init)  # fmt: skip
        if strategy == "gram":
            self._gradient = self._gram_gradient()
        elif impl == "compiled":
            self._gradient = self._compiled_gradient()
        else:
            twin = getattr(reference, f"batch_gradient_{impl}")
            weights = data.sample_weight if data.weighted or (
                data.validation_rows is not None) else None  # fmt: skip
            self._gradient = lambda coef, b: twin(data.X, data.y, coef, b, weights)
        self.gradient_norm = np.inf

    def _compiled_gradient(self):
        data = self.data
        X, y, weights, total = data.X, data.y, data.sample_weight, data.train_weight
        n = X.shape[1]
        n_blocks = n_gradient_blocks(X.shape[0])
        if y.ndim == 1:
            grad, grad_b = np.empty(n), np.empty(1)
            partial = np.empty((n_blocks, n + 2))

            def gradient(coef, intercept):
                loss, grad_b[0] = _kernels.batch_gradient(
                    X, y, weights, total, coef, intercept, grad, partial
                )
                return grad, grad_b, loss

            return gradient
        k = y.shape[1]
        grad, grad_b = np.empty((n, k)), np.empty(k)
        partial = np.empty((n_blocks, n + 3, k))

        def gradient_multi(coef, intercept):
            loss = _kernels.batch_gradient_multi(
                X, y, weights, total, coef, intercept, grad, grad_b, partial
            )
            return grad, grad_b, loss

        return gradient_multi

    def _gram_gradient(self):
        """With G = X^T X / W, c = X^T y / W and the means xbar, ybar:
        grad = 2 (G theta + xbar b - c), dJ/db = 2 (xbar.theta + b - ybar), and
        loss = theta^T G theta + 2 b xbar.theta + b^2 - 2 theta^T c - 2 b ybar
        + mean(y^2)."""
        data = self.data
        gram, cross, x_mean, y_mean, y_square = gram_statistics(
            data.X, data.y, data.sample_weight
        )
        single = data.y.ndim == 1

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
            return (grad[:, 0] if single else grad), grad_b, float(np.mean(loss))

        return gradient

    def evaluate(self):
        """Loss and gradient (kept for :meth:`update`) at the current iterate;
        returns the loss and records the gradient norm."""
        data = self.data
        theta, b = to_original_units(data, self.coef, self.intercept)
        with quiet_overflow():
            grad, grad_b, loss = self._gradient(theta, b)
            shift_term = np.multiply.outer(data.shift, grad_b).reshape(grad.shape)
            scale = data.scale if grad.ndim == 1 else data.scale[:, None]
            self._grad = scale * (grad - shift_term) + 2.0 * self.alpha * self.coef
            self._grad_b = grad_b.copy()
            norm_sq = float(np.sum(np.square(self._grad)))
            if self.fit_intercept:
                norm_sq += float(np.sum(np.square(grad_b)))
        self.gradient_norm = np.sqrt(norm_sq)
        return loss

    def update(self, eta):
        """Step along the gradient from the last :meth:`evaluate`."""
        with quiet_overflow():
            self.coef -= eta * self._grad
            if self.fit_intercept:
                self.intercept -= eta * self._grad_b
        self.t += 1


# --------------------------------------------------------------------------- #
# The loop
# --------------------------------------------------------------------------- #


@dataclass
class Outcome:
    """What a training loop reports (see FitResult)."""

    loss_history: list
    validation_scores: list
    best_validation_loss: float | None
    converged: bool
    stop_reason: str


class _Patience:
    """scikit-learn's rule, over rounds: count the rounds whose mean metric did not
    improve on the best by more than ``tol``; ``exhausted`` after
    ``n_iter_no_change`` of them. A round is ``epochs_per_round`` epochs."""

    def __init__(self, tol, n_iter_no_change, epochs_per_round=1):
        self.tol, self.limit, self.epochs_per_round = (
            tol,
            n_iter_no_change,
            epochs_per_round,
        )
        self.best, self.count, self.round = np.inf, 0, []

    def exhausted(self, metric):
        if self.tol is None:
            return False
        self.round.append(metric)
        if len(self.round) < self.epochs_per_round:
            return False
        metric, self.round = float(np.mean(self.round)), []
        self.count = self.count + 1 if metric > self.best - self.tol else 0
        self.best = min(self.best, metric)
        return self.count >= self.limit

    def reset(self):
        self.count = 0


def _step_sizes(schedule, first_step, n_steps):
    if isinstance(schedule, schedules.Constant):
        return np.array([schedule.eta0])
    return schedules.step_sizes(schedule, first_step, n_steps)


def _warn_not_converged(name, max_iter, tol, stacklevel):
    warnings.warn(
        f"{name} stopped after max_iter={max_iter} before meeting its tolerance. "
        "Increase max_iter, loosen tol, or raise eta0 if the loss is still falling "
        "steadily.",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )


def train(
    engine, schedule, *, max_iter, tol, n_iter_no_change=5, adaptive=False,
    early_stopping=False, max_recoveries=0, verbose=0, name="fit",
    stacklevel=4,
):  # fmt: skip
    """Run epochs (stochastic engines) or iterations (batch) until a stopping rule.

    Stochastic: stop when the training loss (or, with ``early_stopping``, minus the
    validation R^2) has not improved by ``tol`` for ``n_iter_no_change`` epochs; with
    ``adaptive`` the step is first divided by 5 and the count restarts, until it
    falls below ADAPTIVE_MIN_RATIO of its start. Batch: stop when the gradient norm
    is below ``tol`` times its first value (or by the early-stopping rule).
    With ``early_stopping`` the best coefficients seen on the validation split are
    restored at the end. A divergence raises DivergenceError, unless
    ``max_recoveries`` > 0: then the epoch is rolled back, the step halved, a
    warning issued, and the epoch retried (at most that many times in all).
    """
    batch = isinstance(engine, BatchEngine)
    # Few updates per epoch (small data, large batches) make an epoch too short to
    # tell a plateau from slow progress: the rule then compares rounds of epochs.
    epochs_per_round = (
        1 if batch else -(-MIN_UPDATES_PER_ROUND // engine.steps_per_epoch)
    )
    patience = _Patience(tol if not batch or early_stopping else None,
                         n_iter_no_change, epochs_per_round)  # fmt: skip
    history, scores = [], []
    best_score, best_state, best_loss = -np.inf, None, None
    first_norm, converged, recoveries, rollback = None, False, 0, None
    eta_scale = getattr(engine, "eta_scale", 1.0)
    iteration = 0
    while iteration < max_iter:
        started = time.perf_counter()
        steps = 1 if batch else engine.steps_per_epoch
        etas = _step_sizes(schedule, engine.t, steps) * eta_scale
        unit = "iteration" if batch else "epoch"
        where = f"{unit} {iteration + 1}"
        if batch:
            loss = engine.evaluate()
        else:
            rollback = engine.snapshot() if max_recoveries else None
            loss = engine.step(etas)
        try:
            engine.check_divergence(loss, where, float(etas.max()))
        except DivergenceError as error:
            if recoveries >= max_recoveries or rollback is None:
                raise
            recoveries += 1
            engine.restore(rollback)
            if batch:  # the restored iterate's loss is already recorded
                iteration -= 1
                history.pop()
                del scores[len(history) :]
            eta_scale /= 2
            warnings.warn(
                f"{error} Rolled back and halved the step size (try {recoveries} of "
                f"{max_recoveries}).",
                RuntimeWarning,
                stacklevel=stacklevel,
            )
            continue
        iteration += 1
        history.append(loss)
        if early_stopping:
            score, validation_loss = engine.validation_score()
            scores.append(score)
            if score > best_score:
                best_score, best_loss = score, validation_loss
                best_state = engine.snapshot()
            stalled = patience.exhausted(-score)
        else:
            stalled = patience.exhausted(loss)
        if batch:
            first_norm = engine.gradient_norm if first_norm is None else first_norm
            small = tol is not None and engine.gradient_norm <= tol * first_norm
            if small or stalled:
                converged = True
            else:
                rollback = engine.snapshot() if max_recoveries else None
                engine.update(float(etas[0]))
        elif stalled:
            if adaptive and eta_scale / ADAPTIVE_DIVISOR >= ADAPTIVE_MIN_RATIO:
                eta_scale /= ADAPTIVE_DIVISOR
                patience.reset()
            else:
                converged = True
        if verbose:
            print(f"{name} {where}: loss {loss:.6g}, eta {float(etas.max()):.3g}"
                  + (f", validation R^2 {scores[-1]:.6f}" if scores else "")
                  + f", {time.perf_counter() - started:.3f}s")  # fmt: skip
        if converged:
            break
    engine.eta_scale = eta_scale
    if best_state is not None:
        best_state.pop("t", None)
        engine.restore(best_state)
    if not converged and tol is not None:
        _warn_not_converged(name, max_iter, tol, stacklevel)
    return Outcome(
        loss_history=history,
        validation_scores=scores,
        best_validation_loss=best_loss,
        converged=converged,
        stop_reason="tol" if converged else "max_iter",
    )


# --------------------------------------------------------------------------- #
# eta0="auto"
# --------------------------------------------------------------------------- #

# Rows (at most) of the evenly spaced sample used to estimate curvature.
_AUTO_SAMPLE_ELEMENTS = 4_000_000
# Safety margin on the estimated largest eigenvalue (it comes from a sample).
_AUTO_MARGIN = 1.2


def curvature(data, fit_intercept, max_iter=100, rtol=1e-4):
    """(largest eigenvalue, mean squared row norm) of E[z z^T] in z units, with a
    column of ones when fitting an intercept; from at most a few million elements
    of evenly spaced rows (a small copy) and power iteration."""
    m, n = data.X.shape
    n_rows = int(min(m, max(1000, _AUTO_SAMPLE_ELEMENTS // n)))
    rows = np.unique(np.linspace(0, m - 1, n_rows).astype(np.int64))
    Z = (data.X[rows].astype(np.float64) - data.shift) * data.scale
    if fit_intercept:
        Z = np.hstack([Z, np.ones((len(rows), 1))])
    w = np.broadcast_to(data.sample_weight, (m,))[rows].astype(np.float64)
    w = w / w.sum()
    row_norm = float(w @ np.einsum("ij,ij->i", Z, Z))
    vector = np.random.default_rng(0).normal(size=Z.shape[1])
    eigenvalue = 0.0
    for _ in range(max_iter):
        vector /= np.linalg.norm(vector)
        product = Z.T @ (w * (Z @ vector))
        previous, eigenvalue = eigenvalue, float(vector @ product)
        vector = product
        if abs(eigenvalue - previous) <= rtol * abs(eigenvalue):
            break
    return max(eigenvalue, np.finfo(np.float64).tiny), row_norm


def auto_step_size(data, batch_size, fit_intercept):
    """A stable step size from the data (eta0="auto").

    Our gradient is 2 E[z z^T] w + ..., so batch gradient descent is stable below
    1 / lambda_max and we take half of it: 1 / (2 lambda_max), with lambda_max
    estimated (times a 1.2 margin). A stochastic step of B rows adds the gradient
    noise, bounded by the mean squared row norm over B, so SGD (B = 1) and
    mini-batch take 1 / (2 (lambda_max + mean |z|^2 / B)). ``batch_size=None``
    means full batch.
    """
    eigenvalue, row_norm = curvature(data, fit_intercept)
    noise = 0.0 if batch_size is None else row_norm / batch_size
    return 1.0 / (2.0 * (_AUTO_MARGIN * eigenvalue + noise))
