"""The engines: the resumable state of a fit and one unit of work with the chosen
implementation (compiled kernel or twin).

The coefficients live in z units (standardized coordinates); the state that carries
over between fits (partial_fit, warm_start) is small and free of the data."""

import numpy as np
from sklearn.utils import check_random_state

from .. import _kernels, optimizers, reference
from .._validation import check_initial
from .data import gram_statistics, n_gradient_blocks, to_original_units, to_z_units

# A loss this many times the loss of the zero model (mean y^2) means divergence.
DIVERGENCE_FACTOR = 1e6


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the loss became non-finite or exploded."""


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
    """What both engines share: the coefficients (in z units) and the checks."""

    def __init__(self, data, dtype, fit_intercept, alpha, coef_init, intercept_init,
                 optimizer="sgd"):  # fmt: skip
        self.data = data
        self.optimizer = optimizer
        self.opt_kind = optimizers.OPTIMIZERS[optimizer]
        self.opt_params = optimizers.parameters(optimizer)
        # [first moment, second moment] per coefficient and intercept, flattened
        # (coefficient j of output c at j * k + c, intercepts last).
        n_parameters = (data.X.shape[1] + 1) * data.n_targets
        self.opt_state = optimizers.initial_state((n_parameters,))
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
    STATE = ("coef", "intercept", "t", "eta_scale", "opt_state")
    _SNAPSHOT = ("coef", "intercept", "t", "opt_state")

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
             "rng_state", "opt_state")  # fmt: skip
    _SNAPSHOT = ("coef", "intercept", "avg_coef", "avg_intercept", "t", "opt_state")

    def __init__(
        self, data, *, impl="compiled", batch_size=None, fit_intercept=True,
        shuffle=True, alpha=0.0, average=False, random_state=None, coef_init=None,
        intercept_init=None, optimizer="sgd",
    ):  # fmt: skip
        dtype = data.X.dtype
        super().__init__(data, dtype, fit_intercept, alpha, coef_init, intercept_init,
                         optimizer)  # fmt: skip
        if impl == "loop" and optimizer != "sgd":
            raise ValueError(
                f"impl='loop' implements plain gradient steps only; use impl="
                f"'compiled' or 'numpy' with optimizer={optimizer!r}."
            )
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
            # One output: the batch's rows summed in X's dtype (float32 stays
            # float32, as in the NumPy twin); k outputs: in float64.
            scratch = (
                (np.empty((self.batch_size, *k), dtype), np.empty((n + 1, *k)))
                if multi
                else (np.empty(n, dtype),)
            )

        # None selects the kernels' plain loops (z = x; no averaging).
        shift, scale = (data.shift, data.scale) if data.standardized else (None, None)
        averaging = self.average_start >= 0
        avg_coef = self.avg_coef if averaging else None
        avg_intercept = self.avg_intercept if averaging else None

        def run(etas, decays):
            # None selects the plain update (compiled away); else the optimizer's.
            opt_state = None if self.optimizer == "sgd" else self.opt_state
            # Decided per epoch: it follows the current thread count.
            helper_chunk = _kernels.helper_chunk_rows(data.X, len(self.order))
            return kernel(
                data.X, y, data.sample_weight, shift, scale, self.coef,
                self.intercept, avg_coef, avg_intercept, self.order,
                self.rng_state, etas, decays, *size, self.t, self.average_start,
                self.shuffle, self.fit_intercept, opt_state, self.opt_kind,
                self.opt_params, helper_chunk, *scratch,
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

        optimizer_options = {}
        if self.optimizer != "sgd":
            optimizer_options = dict(optimizer=self.optimizer, opt_state=self.opt_state)

        def run(etas, decays):
            if self.shuffle:
                _kernels.shuffle(self.order, self.rng_state)
            return twin(
                data.X, data.y, self.coef, self.intercept, self.order, etas, *size,
                self.fit_intercept, decays=decays if self.alpha else None,
                t_start=self.t, **options, **optimizer_options,
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


class BatchEngine(_Engine):
    """Full-batch gradient descent: one gradient evaluation and update per step.

    ``strategy="pass"`` reads X once per iteration (the fused kernel, or a twin);
    ``"gram"`` forms X^T X once and costs O(n^2 k) per iteration; with
    ``gram_after=k`` a "pass" engine switches to "gram" before evaluation k + 1
    (strategy="auto"; the plan is :func:`fastgd._training.strategy.
    plan_batch_strategy`'s), and ``strategy`` then says so. The iterates are
    kept in float64 in z units; the gradient in z units is
    scale * (grad_theta - shift dJ/db), plus 2 alpha w for the L2 penalty.
    """

    def __init__(
        self, data, *, impl="compiled", strategy="pass", fit_intercept=True,
        alpha=0.0, coef_init=None, intercept_init=None, optimizer="sgd",
        gram_after=None,
    ):  # fmt: skip
        super().__init__(data, np.float64, fit_intercept, alpha, coef_init,
                         intercept_init, optimizer)  # fmt: skip
        self.strategy, self.gram_after, self.evaluations = strategy, gram_after, 0
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
        # The standardization in float64, shaped for coef: it maps every iterate.
        column = (slice(None),) if data.y.ndim == 1 else (slice(None), None)
        self._scale = data.scale.astype(np.float64)[column]
        self._shift = data.shift.astype(np.float64)

    def _compiled_gradient(self):
        data = self.data
        X, y, weights, total = data.X, data.y, data.sample_weight, data.train_weight
        n = X.shape[1]
        n_blocks = n_gradient_blocks(X.shape[0])
        if y.ndim == 1:
            grad, grad_b = np.empty(n), np.empty(1)
            partial = np.empty((n_blocks, n + 2))
            # float32 data: the row dot products in float32 too (the kernel sums
            # everything else in float64), at coefficients rounded to float32.
            coef_dtype = X.dtype

            def gradient(coef, intercept):
                loss, grad_b[0] = _kernels.batch_gradient(
                    X, y, weights, total, coef.astype(coef_dtype, copy=False),
                    intercept, grad, partial,
                )  # fmt: skip
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

    def evaluate(self):
        """Loss and gradient (kept for :meth:`update`) at the current iterate;
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

    def update(self, eta):
        """Step from the last :meth:`evaluate`: the L2 decay, then the optimizer's
        update along the data gradient (for plain steps the same as a step along
        the penalized gradient)."""
        with quiet_overflow():
            if self.alpha:
                self.coef *= 1.0 - 2.0 * eta * self.alpha
            grad_b = self._grad_b if self.fit_intercept else np.zeros_like(self._grad_b)
            reference.optimizer_update(
                self.optimizer, self.coef, self.intercept, self._grad, grad_b,
                self.opt_state, eta, self.t + 1,
            )  # fmt: skip
        self.t += 1
