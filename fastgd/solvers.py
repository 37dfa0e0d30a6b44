"""The functional API: ``fit_batch``, ``fit_sgd`` and ``fit_minibatch``.

Each runs the epoch loop in Python (stopping rules, schedules, divergence checks)
and one compiled kernel call per epoch or iteration, or, with ``impl="numpy"`` or
``impl="loop"``, the twin from :mod:`fastgd.reference` doing the same arithmetic.
The three implementations share the shuffle, so the same ``random_state`` visits
samples in the same order whatever ``impl`` says, and the results agree to rounding.
"""

import warnings
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _kernels, reference, schedules
from ._validation import (
    check_data,
    check_initial,
    check_int,
    check_option,
    check_tol,
)

IMPLS = ("compiled", "numpy", "loop")
BATCH_STRATEGIES = ("pass", "gram")

# A loss this many times the loss of the zero model (mean y^2) means divergence.
DIVERGENCE_FACTOR = 1e6
# Rows per block of the fused batch gradient: fixed from m alone, so the float64
# block sums (and so the result) do not depend on the thread count.
_ROWS_PER_BLOCK = 4096
_MAX_BLOCKS = 64
# Rows per chunk when forming X^T X in float64.
_GRAM_CHUNK_ROWS = 8192


def _quiet_overflow():
    """Silence NumPy's overflow warnings (also raised by the kernels when the JIT is
    disabled): overflow is how a divergence starts, and _check_divergence detects
    and explains it."""
    return np.errstate(over="ignore", invalid="ignore")


class FitResult(NamedTuple):
    """What a fit returns.

    Attributes
    ----------
    coef : ndarray of shape (n_features,) or (n_features, n_targets)
        Fitted coefficients, of X's dtype.
    intercept : scalar or ndarray of shape (n_targets,)
        Fitted intercept (0 when ``fit_intercept=False``), of X's dtype.
    n_iter : int
        Epochs (SGD, mini-batch) or gradient evaluations (batch) run; equals
        ``len(loss_history)``.
    n_steps : int
        Parameter updates made: the step count ``t`` a schedule would continue from.
    loss_history : ndarray of shape (n_iter,)
        Mean squared error per epoch (averaged over the epoch's samples, each taken
        before its update) or per batch iteration (at the iterate the gradient was
        evaluated at; a converged batch fit ends with the final iterate's loss).
    converged : bool
        Whether the stopping rule was met before ``max_iter``.
    stop_reason : str
        ``"tol"`` or ``"max_iter"``.
    """

    coef: np.ndarray
    intercept: object
    n_iter: int
    n_steps: int
    loss_history: np.ndarray
    converged: bool
    stop_reason: str


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the loss became non-finite or exploded."""


# --------------------------------------------------------------------------- #
# Shared pieces
# --------------------------------------------------------------------------- #


def _initial_parameters(X, y, coef_init, intercept_init, dtype):
    n = X.shape[1]
    n_targets = y.shape[1] if y.ndim == 2 else 1
    coef_shape = (n, n_targets) if y.ndim == 2 else (n,)
    coef = check_initial("coef_init", coef_init, coef_shape, dtype)
    if intercept_init is not None and y.ndim == 1:
        intercept_init = np.reshape(intercept_init, -1)
    intercept = check_initial("intercept_init", intercept_init, (n_targets,), dtype)
    return coef, intercept


def _rng_state(random_state):
    """The xorshift state for the kernels' shuffle, drawn from ``random_state``."""
    seed = check_random_state(random_state).randint(
        1, np.iinfo(np.int64).max, dtype=np.int64
    )
    return np.array([seed], dtype=np.uint64)


def _loss_limit(y):
    zero_model_loss = float(np.mean(np.square(y, dtype=np.float64)))
    return DIVERGENCE_FACTOR * max(zero_model_loss, np.finfo(np.float64).tiny)


def _check_divergence(loss, limit, coef, intercept, where, eta):
    finite = np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))
    if np.isfinite(loss) and loss <= limit and finite:
        return
    raise DivergenceError(
        f"Gradient descent diverged at {where}: the loss is {loss:.3g} with step "
        f"size eta={eta:.3g}. Use a smaller eta0 (try {eta / 10:.3g}) or a decaying "
        "learning_rate, and standardize the features (e.g. with "
        "sklearn.preprocessing.StandardScaler) so that their scales are comparable."
    )


def _finish(
    coef, intercept, dtype, y, n_iter, n_steps, history, converged, tol, method,
    stacklevel=4,
):  # fmt: skip
    """The FitResult, warning when a tolerance was set but not met (like scikit-learn,
    no warning with ``tol=None``, which asks for exactly ``max_iter``)."""
    if not converged and tol is not None:
        warnings.warn(
            f"{method} stopped after max_iter={n_iter} before meeting tol={tol}. "
            "Increase max_iter, loosen tol, or raise eta0 if the loss is still "
            "falling steadily.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
    coef = coef.astype(dtype, copy=False)
    intercept = intercept.astype(dtype, copy=False)
    return FitResult(
        coef=coef,
        intercept=intercept[0] if y.ndim == 1 else intercept,
        n_iter=n_iter,
        n_steps=n_steps,
        loss_history=np.asarray(history, dtype=np.float64),
        converged=converged,
        stop_reason="tol" if converged else "max_iter",
    )


def _check_common(impl, max_iter, tol):
    check_option("impl", impl, IMPLS)
    return check_int("max_iter", max_iter), check_tol(tol)


# --------------------------------------------------------------------------- #
# Stochastic methods: SGD and mini-batch share the epoch loop
# --------------------------------------------------------------------------- #


def _stochastic_fit(
    X, y, run_epoch, steps_per_epoch, learning_rate, eta0, max_iter, tol,
    n_iter_no_change, coef, intercept, rng_state, method,
):  # fmt: skip
    """Epoch loop with scikit-learn's stopping rule: stop when the epoch loss has not
    improved on the best by more than ``tol`` for ``n_iter_no_change`` epochs."""
    schedule = schedules.resolve(learning_rate, eta0, steps_per_epoch)
    n_samples = X.shape[0] * (y.shape[1] if y.ndim == 2 else 1)
    order = np.arange(X.shape[0], dtype=np.int64)
    limit = _loss_limit(y)
    if isinstance(schedule, schedules.Constant):
        constant_etas = np.array([schedule.eta0], dtype=X.dtype)
    history, best, epochs_without_improvement = [], np.inf, 0
    converged = False
    for epoch in range(1, max_iter + 1):
        if isinstance(schedule, schedules.Constant):
            etas = constant_etas
        else:
            first_step = (epoch - 1) * steps_per_epoch
            etas = schedules.step_sizes(schedule, first_step, steps_per_epoch)
            etas = etas.astype(X.dtype)
        with _quiet_overflow():
            loss = run_epoch(coef, intercept, order, rng_state, etas) / n_samples
        where = f"epoch {epoch}"
        _check_divergence(loss, limit, coef, intercept, where, float(etas.max()))
        history.append(loss)
        if tol is not None:
            if loss > best - tol:
                epochs_without_improvement += 1
            else:
                epochs_without_improvement = 0
            best = min(best, loss)
            if epochs_without_improvement >= n_iter_no_change:
                converged = True
                break
    n_iter = len(history)
    return _finish(
        coef, intercept, X.dtype, y, n_iter, n_iter * steps_per_epoch, history,
        converged, tol, method,
    )  # fmt: skip


def _sgd_epoch_runner(X, y, impl, shuffle, fit_intercept):
    """A function (coef, intercept, order, rng_state, etas) -> sum of squared
    residuals running one SGD epoch with the chosen implementation."""
    if impl == "compiled":
        if y.ndim == 1:
            return lambda coef, intercept, order, rng_state, etas: _kernels.sgd_epoch(
                X, y, coef, intercept, order, rng_state, etas, shuffle, fit_intercept
            )
        residual = np.empty(y.shape[1], dtype=X.dtype)

        def run_multi(coef, intercept, order, rng_state, etas):
            return _kernels.sgd_epoch_multi(
                X, y, coef, intercept, order, rng_state, etas, shuffle,
                fit_intercept, residual,
            )  # fmt: skip

        return run_multi
    twin = reference.sgd_epoch_numpy if impl == "numpy" else reference.sgd_epoch_loop

    def run_twin(coef, intercept, order, rng_state, etas):
        if shuffle:
            _kernels.shuffle(order, rng_state)
        return twin(X, y, coef, intercept, order, etas, fit_intercept)

    return run_twin


def _minibatch_epoch_runner(X, y, impl, batch_size, shuffle, fit_intercept):
    """As :func:`_sgd_epoch_runner`, for one mini-batch epoch."""
    if impl == "compiled":
        n = X.shape[1]
        if y.ndim == 1:
            kernel = _kernels.minibatch_epoch
            residual = np.empty(batch_size, dtype=X.dtype)
            grad = np.empty(n, dtype=np.float64)
        else:
            kernel = _kernels.minibatch_epoch_multi
            residual = np.empty((batch_size, y.shape[1]), dtype=X.dtype)
            grad = np.empty((n + 1, y.shape[1]), dtype=np.float64)

        def run_compiled(coef, intercept, order, rng_state, etas):
            return kernel(
                X, y, coef, intercept, order, rng_state, etas, batch_size, shuffle,
                fit_intercept, residual, grad,
            )  # fmt: skip

        return run_compiled
    twin = (
        reference.minibatch_epoch_numpy
        if impl == "numpy"
        else reference.minibatch_epoch_loop
    )

    def run_twin(coef, intercept, order, rng_state, etas):
        if shuffle:
            _kernels.shuffle(order, rng_state)
        return twin(X, y, coef, intercept, order, etas, batch_size, fit_intercept)

    return run_twin


def fit_sgd(
    X,
    y,
    *,
    learning_rate="constant",
    eta0=0.01,
    max_iter=1000,
    tol=1e-3,
    n_iter_no_change=5,
    fit_intercept=True,
    shuffle=True,
    random_state=None,
    coef_init=None,
    intercept_init=None,
    impl="compiled",
):
    """Fit linear least squares by stochastic gradient descent, one sample a step.

    Each epoch visits the samples in a fresh random order (``shuffle=True``) and for
    each sample i, with r_i = x_i.coef + b - y_i, updates
    ``coef -= eta_t * 2 r_i x_i`` and ``b -= eta_t * 2 r_i``; t counts samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data. float32 and float64 are used as they are (C-contiguous arrays
        without a copy); other numeric types are cast once to float64.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    learning_rate : {"constant", "annealing"} or callable, default="constant"
        ``"constant"``: eta_t = eta0. ``"annealing"``: eta_t = t0 / (t + t1) with
        t1 = n_samples and t0 = eta0 * t1 (starts at eta0, halves after one epoch).
        A callable (see :mod:`fastgd.schedules`) maps the step t to eta_t.
    eta0 : float, default=0.01
        Initial step size.
    max_iter : int, default=1000
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Stop when the epoch's mean loss has not improved on the best by more than
        ``tol`` for ``n_iter_no_change`` consecutive epochs. None: run ``max_iter``.
    n_iter_no_change : int, default=5
        See ``tol``.
    fit_intercept : bool, default=True
        Whether to fit the intercept b (otherwise b stays at ``intercept_init``).
    shuffle : bool, default=True
        Reshuffle the samples before every epoch; if False, visit them in order.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffle. The same value gives bit-identical results.
    coef_init, intercept_init : array-like, optional
        Starting point (zeros by default). Never modified.
    impl : {"compiled", "numpy", "loop"}, default="compiled"
        The compiled kernel, or the NumPy or pure-Python twin (same arithmetic).

    Returns
    -------
    FitResult

    Raises
    ------
    DivergenceError
        If the loss becomes non-finite or explodes (the step size is too large).

    Examples
    --------
    >>> from fastgd import fit_sgd
    >>> from fastgd.datasets import make_regression
    >>> X, y, true_coef = make_regression(2000, 3, noise=0.0, random_state=0)
    >>> result = fit_sgd(X, y, eta0=0.01, random_state=0)
    >>> bool(abs(result.coef - true_coef).max() < 1e-3)
    True
    """
    max_iter, tol = _check_common(impl, max_iter, tol)
    n_iter_no_change = check_int("n_iter_no_change", n_iter_no_change)
    X, y = check_data(X, y)
    coef, intercept = _initial_parameters(X, y, coef_init, intercept_init, X.dtype)
    run_epoch = _sgd_epoch_runner(X, y, impl, bool(shuffle), bool(fit_intercept))
    return _stochastic_fit(
        X, y, run_epoch, X.shape[0], learning_rate, eta0, max_iter, tol,
        n_iter_no_change, coef, intercept, _rng_state(random_state), "fit_sgd",
    )  # fmt: skip


def fit_minibatch(
    X,
    y,
    *,
    batch_size=32,
    learning_rate="constant",
    eta0=0.01,
    max_iter=1000,
    tol=1e-3,
    n_iter_no_change=5,
    fit_intercept=True,
    shuffle=True,
    random_state=None,
    coef_init=None,
    intercept_init=None,
    impl="compiled",
):
    """Fit linear least squares by mini-batch gradient descent.

    Each epoch shuffles the samples and takes consecutive groups of B =
    ``batch_size`` rows; per group, with residuals r_B,
    ``coef -= eta_t * (2/B) X_B^T r_B`` and ``b -= eta_t * (2/B) sum(r_B)``. The last
    group of an epoch may be shorter and is used, not dropped; t counts batches.

    Parameters
    ----------
    X, y
        As in :func:`fit_sgd`.
    batch_size : int, default=32
        Rows per update. Values above n_samples are clamped to n_samples (one
        batch per epoch: full-batch gradient descent with shuffling).
    learning_rate, eta0, max_iter, tol, n_iter_no_change, fit_intercept, shuffle, \
random_state, coef_init, intercept_init, impl
        As in :func:`fit_sgd`; for ``"annealing"``, t1 is the number of batches per
        epoch.

    Returns
    -------
    FitResult

    Examples
    --------
    >>> from fastgd import fit_minibatch
    >>> from fastgd.datasets import make_regression
    >>> X, y, true_coef = make_regression(2000, 3, noise=0.0, random_state=0)
    >>> result = fit_minibatch(X, y, batch_size=16, eta0=0.05, random_state=0)
    >>> bool(abs(result.coef - true_coef).max() < 1e-3)
    True
    """
    max_iter, tol = _check_common(impl, max_iter, tol)
    n_iter_no_change = check_int("n_iter_no_change", n_iter_no_change)
    batch_size = check_int("batch_size", batch_size)
    X, y = check_data(X, y)
    batch_size = min(batch_size, X.shape[0])
    coef, intercept = _initial_parameters(X, y, coef_init, intercept_init, X.dtype)
    run_epoch = _minibatch_epoch_runner(
        X, y, impl, batch_size, bool(shuffle), bool(fit_intercept)
    )
    steps_per_epoch = -(-X.shape[0] // batch_size)
    return _stochastic_fit(
        X, y, run_epoch, steps_per_epoch, learning_rate, eta0, max_iter, tol,
        n_iter_no_change, coef, intercept, _rng_state(random_state),
        "fit_minibatch",
    )  # fmt: skip


# --------------------------------------------------------------------------- #
# Batch gradient descent
# --------------------------------------------------------------------------- #


def n_gradient_blocks(n_samples):
    """Fixed number of row blocks of the fused batch gradient (depends on m only)."""
    return max(1, min(_MAX_BLOCKS, n_samples // _ROWS_PER_BLOCK))


def _compiled_gradient(X, y):
    """gradient(coef, intercept) -> (grad_coef, grad_intercept, loss) by one fused
    pass of the compiled kernel; buffers are allocated once, here."""
    n = X.shape[1]
    n_blocks = n_gradient_blocks(X.shape[0])
    if y.ndim == 1:
        grad_coef = np.empty(n)
        grad_intercept = np.empty(1)
        partial = np.empty((n_blocks, n + 2))

        def gradient(coef, intercept):
            loss, grad_intercept[0] = _kernels.batch_gradient(
                X, y, coef, intercept, grad_coef, partial
            )
            return grad_coef, grad_intercept, loss

        return gradient
    k = y.shape[1]
    grad_coef = np.empty((n, k))
    grad_intercept = np.empty(k)
    partial = np.empty((n_blocks, n + 3, k))

    def gradient_multi(coef, intercept):
        loss = _kernels.batch_gradient_multi(
            X, y, coef, intercept, grad_coef, grad_intercept, partial
        )
        return grad_coef, grad_intercept, loss

    return gradient_multi


def gram_statistics(X, y):
    """X^T X / m, X^T y / m, column means of X and y, and mean(y^2) per output,
    accumulated in float64 in one pass over X (chunks of rows cast to float64)."""
    m, n = X.shape
    Y = y.reshape(m, -1)
    gram = np.zeros((n, n))
    cross = np.zeros((n, Y.shape[1]))
    x_sum = np.zeros(n)
    for start in range(0, m, _GRAM_CHUNK_ROWS):
        chunk = X[start : start + _GRAM_CHUNK_ROWS].astype(np.float64, copy=False)
        y_chunk = Y[start : start + _GRAM_CHUNK_ROWS].astype(np.float64, copy=False)
        gram += chunk.T @ chunk
        cross += chunk.T @ y_chunk
        x_sum += chunk.sum(axis=0)
    y_mean = Y.mean(axis=0, dtype=np.float64)
    y_square = np.mean(np.square(Y, dtype=np.float64), axis=0)
    return gram / m, cross / m, x_sum / m, y_mean, y_square


def _gram_gradient(X, y):
    """gradient(coef, intercept) from X^T X and X^T y formed once: each call costs
    O(n^2 k) whatever m is, and gives the iterates of the full pass to rounding.

    With G = X^T X / m, c = X^T y / m, xbar and ybar the means:
    grad_coef = 2 (G coef + xbar b - c), grad_b = 2 (xbar.coef + b - ybar) and
    loss = coef^T G coef + 2 b xbar.coef + b^2 - 2 coef^T c - 2 b ybar + mean(y^2).
    """
    gram, cross, x_mean, y_mean, y_square = gram_statistics(X, y)
    single = y.ndim == 1

    def gradient(coef, intercept):
        C = coef.reshape(len(coef), -1)
        G_coef = gram @ C
        x_coef = x_mean @ C
        grad_coef = 2.0 * (G_coef + np.outer(x_mean, intercept) - cross)
        grad_intercept = 2.0 * (x_coef + intercept - y_mean)
        loss = (
            np.sum(C * G_coef, axis=0) + 2.0 * intercept * x_coef + intercept**2
            - 2.0 * np.sum(C * cross, axis=0) - 2.0 * intercept * y_mean + y_square
        )  # fmt: skip
        if single:
            grad_coef = grad_coef[:, 0]
        return grad_coef, grad_intercept, float(np.mean(loss))

    return gradient


def _twin_gradient(X, y, impl):
    twin = (
        reference.batch_gradient_numpy
        if impl == "numpy"
        else reference.batch_gradient_loop
    )
    return lambda coef, intercept: twin(X, y, coef, intercept)


def fit_batch(
    X,
    y,
    *,
    learning_rate="constant",
    eta0=0.01,
    max_iter=1000,
    tol=1e-6,
    fit_intercept=True,
    strategy="pass",
    coef_init=None,
    intercept_init=None,
    impl="compiled",
):
    """Fit linear least squares by (full) batch gradient descent.

    Every iteration computes the gradient over all samples,
    ``(2/m) X^T (X coef + b - y)`` and ``(2/m) sum(r)``, and steps
    ``coef -= eta_t * grad``; t counts iterations.

    Parameters
    ----------
    X, y
        As in :func:`fit_sgd`.
    learning_rate, eta0
        As in :func:`fit_sgd`; for ``"annealing"`` t1 = 1. Batch gradient descent is
        stable for eta0 < 1 / lambda_max(X^T X / m).
    max_iter : int, default=1000
        Maximum number of iterations.
    tol : float or None, default=1e-6
        Stop when the gradient norm (coefficients and intercept together) falls
        below ``tol`` times its norm at the first iteration. None: run ``max_iter``.
    fit_intercept : bool, default=True
        Whether to fit the intercept.
    strategy : {"pass", "gram"}, default="pass"
        ``"pass"``: one pass over X per iteration (with ``impl="compiled"`` a fused,
        parallel kernel reading X once). ``"gram"``: form X^T X and X^T y once
        (one pass, float64), then every iteration costs O(n^2) instead of O(m n),
        with the same iterates to rounding; pays off when many iterations are
        needed and n is small. Runs on NumPy (``impl="loop"`` is not offered).
    coef_init, intercept_init, impl
        As in :func:`fit_sgd`.

    Returns
    -------
    FitResult
        ``loss_history[i]`` is the loss at the iterate before update i.

    Examples
    --------
    >>> from fastgd import fit_batch
    >>> from fastgd.datasets import make_regression
    >>> X, y, true_coef = make_regression(1000, 3, noise=0.0, random_state=0)
    >>> result = fit_batch(X, y, eta0=0.1, tol=1e-10)
    >>> bool(abs(result.coef - true_coef).max() < 1e-6), result.converged
    (True, True)
    """
    max_iter, tol = _check_common(impl, max_iter, tol)
    check_option("strategy", strategy, BATCH_STRATEGIES)
    if strategy == "gram" and impl == "loop":
        raise ValueError(
            "strategy='gram' runs on NumPy; use impl='compiled' or impl='numpy' "
            "with it, or strategy='pass' for the loop implementation."
        )
    X, y = check_data(X, y)
    schedule = schedules.resolve(learning_rate, eta0, 1)
    # Iterates are kept in float64: they are tiny next to X, and the batch gradient
    # is a float64 sum whatever X's dtype.
    coef, intercept = _initial_parameters(X, y, coef_init, intercept_init, np.float64)
    if strategy == "gram":
        gradient = _gram_gradient(X, y)
    elif impl == "compiled":
        gradient = _compiled_gradient(X, y)
    else:
        gradient = _twin_gradient(X, y, impl)
    limit = _loss_limit(y)
    history, first_norm, converged = [], None, False
    for iteration in range(max_iter):
        with _quiet_overflow():
            grad_coef, grad_intercept, loss = gradient(coef, intercept)
        eta = float(schedules.step_sizes(schedule, iteration, 1)[0])
        _check_divergence(loss, limit, coef, intercept, f"iteration {iteration}", eta)
        history.append(loss)
        norm_sq = float(np.sum(np.square(grad_coef)))
        if fit_intercept:
            norm_sq += float(np.sum(np.square(grad_intercept)))
        norm = np.sqrt(norm_sq)
        first_norm = norm if first_norm is None else first_norm
        if tol is not None and norm <= tol * first_norm:
            converged = True
            break
        with _quiet_overflow():
            coef -= eta * grad_coef
            if fit_intercept:
                intercept -= eta * grad_intercept
    n_steps = len(history) - 1 if converged else len(history)
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
        where = f"iteration {len(history)}"
        _check_divergence(np.inf, limit, coef, intercept, where, eta)
    return _finish(
        coef, intercept, X.dtype, y, len(history), n_steps, history, converged,
        tol, "fit_batch", stacklevel=3,
    )  # fmt: skip
