"""The functional API: ``fit_batch``, ``fit_sgd`` and ``fit_minibatch``.

Each builds a fit specification (:func:`fastgd._training.make_spec`, every option
checked once) and runs the one training path (:func:`fastgd._training.fit`): one
compiled kernel call per epoch or iteration, or, with ``impl="numpy"`` or
``impl="loop"``, the twin from :mod:`fastgd.reference` doing the same arithmetic.
The three implementations share the seeded shuffle, so the same ``random_state``
visits samples in the same order whatever ``impl`` says, and the results agree to
rounding.
"""

from typing import NamedTuple

import numpy as np

from . import _training
from ._errors import DivergenceError
from ._kernels import n_gradient_blocks

__all__ = [
    "DivergenceError",
    "FitResult",
    "fit_batch",
    "fit_minibatch",
    "fit_sgd",
    "fit_svrg",
    "n_gradient_blocks",
]

IMPLS = _training.IMPLS
BATCH_STRATEGIES = _training.BATCH_STRATEGIES


class FitResult(NamedTuple):
    """What a fit returns.

    Attributes
    ----------
    coef : ndarray of shape (n_features,) or (n_features, n_targets)
        Fitted coefficients in the units of X, of X's dtype (the averaged ones with
        ``average``; the best ones on the validation split with ``early_stopping``).
    intercept : scalar or ndarray of shape (n_targets,)
        Fitted intercept (0 when ``fit_intercept=False``), of X's dtype.
    n_iter : int
        Epochs (SGD, mini-batch) or gradient evaluations (batch) run; equals
        ``len(loss_history)``.
    n_steps : int
        Parameter updates made: the step count ``t`` a schedule would continue from.
    loss_history : ndarray of shape (n_iter,)
        Weighted mean squared error per epoch (each residual taken before its
        update, so it costs nothing extra) or per batch iteration (at the iterate
        the gradient was evaluated at). The L2 penalty is not included.
    converged : bool
        Whether the fit stopped near the optimum before ``max_iter``: its
        measured relative excess loss is at most ``tol`` (SVRG, CG,
        ``tol_rule="excess"``), or, for a rule that does not measure it (the
        loss plateau, batch's gradient ratio), the excess estimate taken once
        where the rule fired is at most 1e-3. Never True on a plateau far from
        the optimum.
    stop_reason : str
        ``"tol"`` (converged), ``"max_iter"``, ``"uncertified"`` (the rule
        fired, but the measured relative excess is above 1e-3: a
        ConvergenceWarning says so), or ``"stalled"`` (CG at its rounding
        floor).
    validation_scores : ndarray of shape (n_iter,)
        R^2 on the validation split after each epoch (empty without early stopping).
    eta0 : float
        The initial step size used (the derived one when ``eta0="auto"``).
    strategy : str or None
        What batch gradient descent ran: ``"pass"``, ``"gram"``, or ``"pass, then
        gram from iteration i"`` (``strategy="auto"``); None for SGD and mini-batch.
    relative_excess : float or None
        The estimated relative excess loss (F - F*) / F* where the fit stopped
        (at max_iter too: how far it got); None with early stopping and
        ``tol=None``.
    """

    coef: np.ndarray
    intercept: object
    n_iter: int
    n_steps: int
    loss_history: np.ndarray
    converged: bool
    stop_reason: str
    validation_scores: np.ndarray
    eta0: float
    strategy: str | None = None
    relative_excess: float | None = None


def _run(solver, X, y, *, sample_weight, coef_init, intercept_init, **options):
    """Shared body of the three public functions: the spec, the fit, the result."""
    spec = _training.make_spec(solver, name=f"fit_{solver}", **options)
    fitted = _training.fit(spec, X, y, sample_weight=sample_weight,
                           coef_init=coef_init, intercept_init=intercept_init,
                           stacklevel=6)  # fmt: skip
    engine, outcome = fitted.engine, fitted.outcome
    coef, intercept = engine.coefficients()
    dtype = fitted.data.dtype
    if not np.all(np.isfinite(coef)) or not np.all(np.isfinite(intercept)):
        raise DivergenceError("the fit ended with non-finite coefficients.")
    single = fitted.data.y.ndim == 1
    return FitResult(
        coef=coef.astype(dtype),
        intercept=intercept.astype(dtype)[0] if single else intercept.astype(dtype),
        n_iter=len(outcome.loss_history),
        n_steps=engine.t,
        loss_history=np.asarray(outcome.loss_history, dtype=np.float64),
        converged=outcome.converged,
        stop_reason=outcome.stop_reason,
        validation_scores=np.asarray(outcome.validation_scores, dtype=np.float64),
        eta0=fitted.eta0,
        strategy=getattr(engine, "strategy", None),
        relative_excess=outcome.relative_excess,
    )


_COMMON_PARAMETERS = """
    X : array-like (n_samples, n_features), sparse matrix, data source or dask array
        Training data. C-contiguous float32 and float64 arrays are used as they
        are (never copied, never written); other layouts and numeric types are
        converted once (integers to float64). SciPy sparse matrices are never
        densified. A data source (:func:`fastgd.sources.from_npy`,
        :func:`~fastgd.sources.from_parquet`) or an ``np.memmap`` larger than
        its memory budget is streamed from disk in blocks; Dask collections are
        fitted on the cluster (:class:`~fastgd.sources.DaskSource`).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets; None when X is a data source that holds them.
    learning_rate : {"constant", "adaptive", "invscaling", "annealing"} or callable
        ``"constant"``: eta_t = eta0. ``"adaptive"``: eta0, divided by 5 whenever
        the stopping rule fires, until it is 1e-4 of eta0. ``"invscaling"``:
        eta0 / (t + 1)^power_t. ``"annealing"``: t0 / (t + t1) with t1 the steps of
        one epoch and t0 = eta0 * t1 (starts at eta0, halves after one epoch). A
        callable (see :mod:`fastgd.schedules`) maps the step t to eta_t.
    eta0 : float or "auto", default=0.01
        Initial step size; "auto" derives a stable one from the data (a power
        iteration on a sample of rows; see ``fastgd._training.auto_step_size``).
    power_t : float, default=0.25
        Exponent of ``"invscaling"``.
    alpha : float, default=0.0
        Strength of the penalty: the objective becomes the mean loss + alpha
        R(coef), both twice scikit-learn's, so that the same alpha gives
        scikit-learn's minimizer; R(coef) = |coef|^2 with the default
        ``penalty="l2"``. The intercept is not penalized. The penalty is on the
        coefficients in the units of X, with ``standardize`` too
        (standardizing preconditions the fit; it does not change what it
        minimizes).
    max_iter : int
        Maximum number of epochs (iterations for batch).
    tol : float or None
        Stopping tolerance (see each function); None runs ``max_iter``.
    n_iter_no_change : int, default=5
        Epochs without an improvement of ``tol`` before stopping.
    fit_intercept : bool, default=True
        Whether to fit the intercept b.
    standardize : bool, default=False
        Fit as if every feature were centred and scaled to unit variance, without
        a standardized copy of X (the kernels work in z = (x - mean) / std); the
        coefficients come back in the units of X. Without an intercept, features
        are scaled but not centred.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples, stop when the validation
        R^2 has not improved by ``tol`` for ``n_iter_no_change`` epochs, and return
        the best coefficients seen (not the last).
    validation_fraction : float, default=0.1
        Fraction held out for early stopping.
    sample_weight : array-like of shape (n_samples,), optional
        Per-sample weights (>= 0): the loss is sum w_i r_i^2 / sum w_i.
    coef_init, intercept_init : array-like, optional
        Starting point in the units of X (zeros by default). Never modified.
    impl : {"compiled", "numpy", "loop"}, default="compiled"
        The compiled kernel, or the NumPy or pure-Python twin (same arithmetic).
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}
        The update rule (see :mod:`fastgd.optimizers`), run inside the compiled
        epoch with its state kept between epochs. Default "sgd": plain steps.
    verbose : int, default=0
        Print one line per epoch (loss, step size, time).
    loss : {"squared_error", "huber", "epsilon_insensitive", \
"squared_epsilon_insensitive", "quantile", "log_loss", "hinge", \
"squared_hinge", "modified_huber", "perceptron"}, default="squared_error"
        What the fit minimizes, with scikit-learn's definitions (see
        :mod:`fastgd.losses`; fastgd's losses are twice scikit-learn's, so the
        same ``alpha`` gives the same model). The classification losses (from
        "log_loss" on) fit targets -1 and +1 (one column per one-vs-rest
        output; :class:`fastgd.GDClassifier` encodes any labels so, and
        refuses other targets here). With a loss other than the
        squared one, ``r_i`` in the updates below stands for half the loss's
        slope and ``loss_history`` holds the mean loss. A smooth loss's fit is
        measured where its stopping rule fires (half the Newton decrement,
        ``relative_excess``), and ``converged`` only if that is small; for a
        loss with kinks (epsilon-insensitive, quantile, hinge, perceptron)
        nothing measures it: ``relative_excess`` is None and ``converged``
        says that the rule fired.
    epsilon : float, default=0.1
        ``"huber"``: where the loss turns from quadratic to linear;
        ``"epsilon_insensitive"`` and ``"squared_epsilon_insensitive"``: the
        residuals below it cost nothing. In the units of y.
    quantile : float, default=0.5
        ``"quantile"``: the quantile of y the fit predicts, in (0, 1).
    penalty : {"l2", "l1", "elasticnet", None}, default="l2"
        R(coef) (see ``alpha``, and :mod:`fastgd._training.penalty`): "l2"
        |coef|^2, "l1" 2 |coef|_1, "elasticnet" 2 l1_ratio |coef|_1 +
        (1 - l1_ratio) |coef|^2, None nothing. The L1 term is not
        differentiable: :func:`fit_batch` runs it (accelerated proximal
        gradient, FISTA with restart), and for the squared loss stops on the
        duality gap, a certified bound on the excess; :func:`fit_sgd`,
        :func:`fit_minibatch` and :func:`fit_svrg` take proximal steps (plain
        steps; on a CSR matrix lazily, and not :func:`fit_svrg`); CG refuses
        it. With a CSR matrix and
        ``standardize``, the per-sample solvers refuse an L2 penalty too
        (their decay is one lazy scalar, which cannot weigh each coefficient
        by its column's scale).
    l1_ratio : float, default=0.15
        The L1 share of ``"elasticnet"``, in [0, 1].
    positive : bool, default=False
        Constrain the coefficients to be >= 0 (as scikit-learn's
        ``Lasso(positive=True)``): a proximal step, as the L1 term.
"""


def _document(function):
    function.__doc__ = function.__doc__.replace("{COMMON}", _COMMON_PARAMETERS.strip())
    return function


@_document
def fit_sgd(
    X, y=None, *, learning_rate="constant", eta0=0.01, power_t=0.25, alpha=0.0,
    max_iter=1000, tol=1e-3, n_iter_no_change=5, fit_intercept=True, shuffle="auto",
    random_state=None, average=False, standardize=False, early_stopping=False,
    validation_fraction=0.1, sample_weight=None, coef_init=None, intercept_init=None,
    impl="compiled", verbose=0, optimizer="sgd", loss="squared_error", epsilon=0.1,
    quantile=0.5, penalty="l2", l1_ratio=0.15, positive=False,
):  # fmt: skip
    """Fit linear least squares by stochastic gradient descent, one sample a step.

    Each epoch visits the samples in a fresh random order (``shuffle=True``) and for
    each sample i, with r_i = x_i.coef + b - y_i, updates
    ``coef -= eta_t * 2 r_i x_i`` and ``b -= eta_t * 2 r_i``; t counts samples.
    Stops when the epoch's mean loss has not improved on the best by more than
    ``tol`` for ``n_iter_no_change`` consecutive epochs (scikit-learn's rule).

    Parameters
    ----------
    {COMMON}
    shuffle : bool, "auto" or "block", default="auto"
        Reshuffle the samples before every epoch (True); if False, visit them in
        order. "block": shuffle blocks of rows, then the rows within groups of
        blocks (:mod:`fastgd.sources.blocks`; for data read from files). "auto":
        True for data in memory, "block" for a file source larger than its
        ``memory_budget``.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffle (and the validation split). Same value, same bits.
    average : bool or int, default=False
        Averaged SGD: report the mean of the iterates, from the first step (True)
        or from step ``average`` on.

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
    return _run("sgd", **locals())  # every argument above, by name


@_document
def fit_minibatch(
    X, y=None, *, batch_size=32, learning_rate="constant", eta0=0.01, power_t=0.25,
    alpha=0.0, max_iter=1000, tol=1e-3, n_iter_no_change=5, fit_intercept=True,
    shuffle="auto", random_state=None, average=False, standardize=False,
    early_stopping=False, validation_fraction=0.1, sample_weight=None,
    coef_init=None, intercept_init=None, impl="compiled", verbose=0, optimizer="sgd",
    loss="squared_error", epsilon=0.1, quantile=0.5, penalty="l2", l1_ratio=0.15,
    positive=False,
):  # fmt: skip
    """Fit linear least squares by mini-batch gradient descent.

    Each epoch shuffles the samples and takes consecutive groups of B =
    ``batch_size`` rows; per group, with residuals r_B,
    ``coef -= eta_t * (2/B) X_B^T r_B`` and ``b -= eta_t * (2/B) sum(r_B)``. The last
    group of an epoch may be shorter and is used, not dropped; t counts batches.
    Stopping as in :func:`fit_sgd`.

    Parameters
    ----------
    batch_size : int, default=32
        Rows per update. Values above n_samples are clamped to n_samples (one batch
        per epoch: full-batch gradient descent with shuffling).
    {COMMON}
    shuffle, random_state, average
        As in :func:`fit_sgd` (``average`` counts batches).

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
    return _run("minibatch", **locals())


@_document
def fit_batch(
    X, y=None, *, learning_rate="constant", eta0=0.01, power_t=0.25, alpha=0.0,
    max_iter=1000, tol=1e-6, n_iter_no_change=5, fit_intercept=True,
    strategy="auto", standardize=False, early_stopping=False,
    validation_fraction=0.1, sample_weight=None, coef_init=None,
    intercept_init=None, random_state=None, impl="compiled", verbose=0,
    optimizer="sgd", loss="squared_error", epsilon=0.1, quantile=0.5,
    penalty="l2", l1_ratio=0.15, positive=False,
):  # fmt: skip
    """Fit linear least squares by (full) batch gradient descent.

    Every iteration computes the gradient over all samples,
    ``(2/m) X^T (X coef + b - y)`` and ``(2/m) sum(r)``, and steps
    ``coef -= eta_t * grad``; t counts iterations. Stops when the gradient norm
    (coefficients and intercept together) falls below ``tol`` times its value at
    the first iteration. Stable for eta0 < 1 / lambda_max(X^T X / m).

    Parameters
    ----------
    {COMMON}
    strategy : {"auto", "pass", "gram"}, default="auto"
        ``"pass"``: one pass over X per iteration (with ``impl="compiled"`` a fused,
        parallel kernel reading X once). ``"gram"``: form X^T X and X^T y once
        (float64), then every iteration costs O(n^2) instead of O(m n), with the same
        iterates to rounding; pays off when many iterations are needed and n is
        small. Runs on NumPy (``impl="loop"`` is not offered). ``"auto"`` (compiled
        only; the twins always pass) decides from m, n, the dtype, the weights and
        the fewest iterations ``max_iter`` and ``tol`` allow: "gram" at once when
        that already pays, otherwise passes, switching to "gram" once they have
        cost as much as forming X^T X would (see ``FitResult.strategy`` and
        docs/performance.md).
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split of ``early_stopping``.

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
    return _run("batch", shuffle=False, **locals())


@_document
def fit_svrg(
    X, y=None, *, learning_rate="constant", eta0="auto", power_t=0.25, alpha=0.0,
    max_iter=100, tol=1e-4, fit_intercept=True, shuffle="auto", random_state=None,
    standardize=False, sample_weight=None, coef_init=None, intercept_init=None,
    impl="compiled", verbose=0, penalty="l2", l1_ratio=0.15, positive=False,
):  # fmt: skip
    """Fit linear least squares by SVRG, stochastic variance-reduced gradient
    descent (Johnson & Zhang, 2013).

    An epoch takes the full gradient mu at the current point, the snapshot w~ (one
    fused pass over X), then visits the samples in a fresh random order with
    corrected steps ``coef -= eta_t * (g_i(coef) - g_i(w~) + mu)``, where
    g_i(w) = 2 (x_i.w + b - y_i) x_i. The correction has mean 0 and vanishes at
    the optimum, so a constant step converges linearly, where plain SGD stalls at
    a noise floor. The first epoch is plain SGD (the warm start). t counts samples.
    With an L1 term or ``positive=True`` each step is proximal (prox-SVRG,
    Xiao & Zhang, 2014): ``coef = prox(coef - eta_t * (...))``, mu the loss's
    gradient alone.

    Stops when the estimated relative excess loss at the snapshot,
    (F - F*) / F*, is at most ``tol`` (F the objective; the estimate is
    g^T H^-1 g / 4 with the exact gradient g and H from a sample of rows; see
    ``fastgd._training.excess``), or after ``max_iter`` epochs.

    Parameters
    ----------
    {COMMON}
    shuffle, random_state
        As in :func:`fit_sgd`.

    Returns
    -------
    FitResult
        ``loss_history[i]`` is the exact loss at snapshot i.

    Examples
    --------
    >>> from fastgd import fit_svrg
    >>> from fastgd.datasets import make_regression
    >>> X, y, true_coef = make_regression(2000, 3, noise=0.0, random_state=0)
    >>> result = fit_svrg(X, y, tol=1e-10, random_state=0)
    >>> bool(abs(result.coef - true_coef).max() < 1e-4), result.converged
    (True, True)
    """
    return _run("svrg", **locals())


def fit_cg(
    X, y=None, *, alpha=0.0, max_iter=1000, tol=1e-4, fit_intercept=True,
    strategy="auto", standardize=False, sample_weight=None, coef_init=None,
    intercept_init=None, impl="compiled", verbose=0,
):  # fmt: skip
    """Fit linear least squares by preconditioned conjugate gradients on the
    normal equations: the gradient method that does not care about
    conditioning (rare one-hot levels, collinear and badly scaled columns).

    Each iteration costs one product with X^T X: one fused pass over X
    (``strategy="pass"``, CGLS's X p and X^T (X p) in one read of X), or
    O(n^2) through the Gram statistics (``"gram"``); ``"auto"`` starts with
    passes and forms X^T X once they have cost as much (as :func:`fit_batch`).
    The intercept is eliminated by the exact column means and each coefficient
    scaled by its variance (block Jacobi preconditioning), so the columns'
    scales and offsets do not matter, with or without ``standardize``. In
    exact arithmetic it ends in at most n + 1 iterations. On a singular
    problem (collinear columns) the predictions are the least-squares ones; the
    coefficients are the minimum-norm solution in the centred, scaled
    coordinates (``standardize=True``: of the standardized features).

    Stops when the estimated relative excess loss (F - F*) / F* is at most
    ``tol``: F - F* is the sum of the decreases that CG has still to make,
    estimated from the last ones as a geometric tail and confirmed by an exact
    pass (see ``fastgd._training.cg``); ``relative_excess`` is that estimate.

    Parameters
    ----------
    X, y, alpha, fit_intercept, standardize, sample_weight
        As in :func:`fit_batch`.
    coef_init, intercept_init, impl, verbose
        As in :func:`fit_batch`.
    max_iter : int, default=1000
        Maximum number of iterations.
    tol : float or None, default=1e-4
        Target relative excess loss; None runs ``max_iter`` iterations.
    strategy : {"auto", "pass", "gram"}, default="auto"
        As in :func:`fit_batch`.

    Returns
    -------
    FitResult
        ``loss_history[i]`` is the loss after iteration i; ``n_iter`` the
        iterations; ``eta0`` is 1.0 (CG chooses its own step lengths).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import fit_cg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 3)) * [1e-3, 1.0, 1e3] + 1e6  # scales, offsets
    >>> y = (X - 1e6) @ [1e3, 1.0, 1e-3] + 1e-3 * rng.normal(size=1000)
    >>> result = fit_cg(X, y, tol=1e-8)
    >>> bool(np.allclose(result.coef, [1e3, 1.0, 1e-3], rtol=1e-3)), result.converged
    (True, True)
    """
    return _run("cg", shuffle=False, **locals())
