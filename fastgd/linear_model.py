"""GDRegressor: the scikit-learn estimator on top of the compiled gradient descent."""

import numbers

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import losses
from ._estimator import COMMON_CONSTRAINTS, LinearEstimator


class GDRegressor(RegressorMixin, LinearEstimator):
    """Linear regression by compiled gradient descent, scikit-learn style.

    Minimizes ``(1/W) sum_i w_i loss(x_i.coef + b - y_i) + alpha R(coef)`` (the
    squared loss by default, weights w_i, all 1 by default, summing to W; R the
    ``penalty``, none by default) with stochastic (``"sgd"``), mini-batch
    (``"minibatch"``), full-batch (``"batch"``) or variance-reduced (``"svrg"``)
    gradient descent, or conjugate gradients (``"cg"``). Each epoch is one call
    of a Numba-compiled kernel; X is never copied or written to.

    Defaults that just work: ``solver="auto"`` picks the method that reaches the
    optimum in the fewest passes over X (``solver_`` says which);
    ``standardize=True`` fits as if every feature were centred and scaled to unit
    variance (folded into the kernels, no standardized copy of X) and reports
    ``coef_``/``intercept_`` in the original units; ``eta0="auto"`` derives a
    stable step size from the data, per solver and optimizer; the intercept
    starts at the weighted mean of y; SGD and mini-batch average their iterates
    (``average="auto"``); and the fit stops when the estimated relative excess
    loss, (F - F*) / F*, is below ``tol``.

    Parameters
    ----------
    solver : {"auto", "sgd", "minibatch", "batch", "svrg", "cg"}, default="auto"
        One sample per update, ``batch_size`` samples, all samples, SVRG (one
        full gradient per epoch corrects every per-sample step;
        :func:`fastgd.fit_svrg`), or preconditioned conjugate gradients
        (:func:`fastgd.fit_cg`: indifferent to conditioning, scales and
        offsets; ``fit`` only). The batch and CG solvers form X^T X once when
        that pays (``strategy="auto"`` of :func:`fastgd.fit_batch`); batch
        runs Nesterov-accelerated gradient descent with adaptive restart when
        the optimizer is "sgd" (for the smooth losses other than the squared,
        Newton steps on a sampled Hessian: ``fastgd._training.newton``).
        With a ``loss`` other than the squared, "auto" runs batch for the
        smooth ones and SGD for the ones with kinks; SVRG and CG
        need the squared loss. ``"auto"``: "cg" for ``fit`` with plain steps
        and no early stopping, otherwise the rule of
        :func:`fastgd.choose_solver` from m, n, the dtype, the weights and the
        data source. ``partial_fit`` runs the chosen solver; a batch
        ``partial_fit`` call always reads X.
    batch_size : int, default=32
        Rows per update for ``solver="minibatch"`` (clamped to n_samples).
    learning_rate : {"adaptive", "constant", "invscaling", "annealing"} or \
callable, default="adaptive"
        Step-size schedule; see :func:`fastgd.fit_sgd`. A callable maps the step
        count t (samples, batches or iterations) to eta_t; schedules continue
        across ``partial_fit`` calls. For ``solver="batch"``, "adaptive" is
        constant.
    eta0 : float or "auto", default="auto"
        Initial step size. "auto": 1 / (2 lambda_max) for batch and
        1 / (2 (lambda_max + mean |z|^2 / B)) for B-row steps, where lambda_max is
        the largest eigenvalue of E[z z^T] (z the standardized features, with a
        column of ones for the intercept), estimated by power iteration on an
        evenly spaced sample of rows, with a 1.2 margin; SVRG takes 1/8 of the
        SGD step. SGD steps by eta * w_i (as SGDRegressor), so its "auto" step is
        also divided by the mean sample weight. Each optimizer has its own rule
        (:func:`fastgd.optimizers.auto_step_size`). The value used is in
        ``eta0_``.
    power_t : float, default=0.25
        Exponent of ``learning_rate="invscaling"``.
    penalty : {None, "l2", "l1", "elasticnet"}, default=None
        The penalty R(coef), with scikit-learn's meaning (our loss and R are
        both twice scikit-learn's, so the same ``alpha`` gives
        ``SGDRegressor``'s, ``Lasso``'s and ``ElasticNet``'s minimizer):
        "l2" alpha |coef|^2, "l1" 2 alpha |coef|_1, "elasticnet" 2 alpha
        l1_ratio |coef|_1 + alpha (1 - l1_ratio) |coef|^2. The intercept is
        not penalized, and the penalty is on the coefficients in the units of
        X: ``standardize=True`` preconditions the fit and never changes what
        it minimizes. The L1 term is not differentiable: ``solver="batch"``
        runs it (FISTA, accelerated proximal gradient with adaptive restart),
        and "auto" picks batch. For the squared loss the fit stops on the
        duality gap, a certified bound on (F - F*) / F*
        (``fastgd._training.gap``). "sgd", "minibatch" and "svrg" take
        proximal steps on dense, file-backed and Dask data, "sgd" and
        "minibatch" on a CSR matrix too (lazily, in O(entries of a row)); "cg"
        refuses it.
    alpha : float, default=0.0001
        Strength of the penalty (ignored when ``penalty=None``).
    l1_ratio : float, default=0.15
        The L1 share of "elasticnet", in [0, 1] (0: "l2", 1: "l1").
    positive : bool, default=False
        Constrain the coefficients to be >= 0 (the bound is a proximal step,
        as the L1 term: "batch", picked by "auto", "sgd", "minibatch" or
        "svrg").
    fit_intercept : bool, default=True
        Whether to fit the intercept. Without it, features are scaled but not
        centred, so the intercept stays 0 in the original units.
    standardize : bool, default=True
        Fit in standardized coordinates without copying X (see above).
    max_iter : int, default=1000
        Maximum epochs (iterations for ``solver="batch"``).
    tol : float or None, default=1e-4
        Stop when the estimated relative excess loss (F - F*) / F* is at most
        ``tol`` (F the objective, F* its minimum; for targets fitted almost
        exactly, relative to sqrt(eps) var(y) instead). The estimate is
        g^T H^-1 g / 4 with the exact full gradient g, measured by one fused pass
        over X (which batch and SVRG take anyway; averaged SGD and mini-batch
        take one more per epoch), and H from a sample of rows: see
        ``fastgd._training.excess``. Where nothing is averaged (SGD or
        mini-batch with ``average=False``, a schedule or an adaptive optimizer):
        stop when the epoch loss has not improved by ``tol * var(y)`` for
        ``n_iter_no_change`` epochs. With ``early_stopping``: the validation R^2
        must improve by ``tol``. None: run ``max_iter``.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or dividing the step, with
        "adaptive").
    shuffle : bool, "auto" or "block", default="auto"
        Reshuffle the samples every epoch (True), or visit them in order (False).
        "block": shuffle blocks of rows, then rows within groups of blocks, for
        data read from files (:mod:`fastgd.sources.blocks`). "auto": True in
        memory, "block" for a file source larger than its ``memory_budget``.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffle and the validation split.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its R^2
        stops improving, and keep the best coefficients seen (scikit-learn keeps
        the last ones).
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping.
    average : bool, int or "auto", default="auto"
        Averaged SGD: report the mean of the iterates (from the start, or after
        ``average`` steps). Stochastic solvers only. "auto": from the second epoch
        on, with a constant step (Polyak-Ruppert averaging; for least squares
        Bach & Moulines, 2013, show O(1/t) convergence with a constant step),
        when the optimizer is "sgd", ``learning_rate`` is "adaptive" or
        "constant" and the loss is smooth; otherwise no averaging (the losses
        with kinks shrink their step on the loss plateau instead).
    warm_start : bool, default=False
        ``fit`` starts from the previous fit's coefficients. When no parameter
        changed but ``max_iter``, ``tol``, ``n_iter_no_change`` or ``verbose``
        (and X has as many columns), it continues the whole previous fit:
        step count, step size, shuffle stream and standardization, so ``fit``
        with ``max_iter=k`` twice equals ``max_iter=2k`` (with ``tol=None``).
        Otherwise, as in scikit-learn, only the coefficients carry over and the
        new parameters apply (solver, step size and standardization derived
        anew from the data).
    verbose : int, default=0
        Print one line per epoch.
    impl : {"compiled", "numpy", "loop"}, default="compiled"
        Which implementation runs the epochs (the twins are for comparison).
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}, \
default="sgd"
        Update rule, run inside the compiled epoch; its state (velocities,
        moment estimates) carries over between epochs, ``partial_fit`` calls and
        ``warm_start`` fits. See :mod:`fastgd.optimizers` for the rules and their
        default constants; the L2 penalty is applied as decoupled weight decay.
    loss : {"squared_error", "huber", "epsilon_insensitive", \
"squared_epsilon_insensitive", "quantile"}, default="squared_error"
        What the fit minimizes, scikit-learn's losses (twice each, so the same
        minimizer; :mod:`fastgd.losses`). For the smooth ones (squared, Huber,
        squared epsilon-insensitive) ``tol`` is the estimated relative excess
        loss and ``relative_excess_`` says where the fit stopped; for
        "epsilon_insensitive" and "quantile" nothing measures it
        (``relative_excess_`` is None): the fit stops on its loss plateau.
    epsilon : float, default=0.1
        The losses' epsilon, in the units of y: where Huber turns linear, the
        half-width of the epsilon-insensitive tubes.
    quantile : float, default=0.5
        For ``loss="quantile"``: the quantile of y the model predicts, in (0, 1).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients in the units of X, of X's dtype.
    intercept_ : ndarray of shape (1,) or (n_targets,)
    n_iter_ : int
        Epochs (iterations) run by the last ``fit`` (1 per ``partial_fit``).
    t_ : int
        Updates made so far (the step count schedules continue from).
    loss_curve_ : list of float
        Mean squared training error per epoch, recorded during the pass.
    eta0_ : float
        The initial step size used.
    solver_ : str
        The solver that ran ("auto" resolved).
    relative_excess_ : float or None
        The estimated relative excess loss where the last ``fit`` stopped, at
        any number of features (conjugate gradients on the Hessian beyond
        4,095); None after ``partial_fit``, with ``early_stopping`` and with
        ``tol=None``.
    validation_scores_ : list of float
        Validation R^2 per epoch (only with ``early_stopping``).
    best_loss_ : float
        Validation mean squared error of the kept coefficients (only with
        ``early_stopping``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X has feature names (pandas).

    Notes
    -----
    Divergence: if the loss becomes non-finite or explodes, the epoch is rolled
    back, the step size halved and a RuntimeWarning issued; after 5 such
    recoveries a :class:`fastgd.DivergenceError` is raised. Coefficients are never
    NaN. ``sample_weight`` is supported by every solver, and so are SciPy sparse
    matrices, data sources (:mod:`fastgd.sources`) and Dask collections.

    Compared with ``sklearn.linear_model.SGDRegressor``: same names for the same
    ideas; our loss is the mean squared error (theirs half of it, so their
    gradient is half ours); defaults differ (``penalty=None``,
    ``learning_rate="adaptive"``, ``eta0="auto"``, ``standardize=True``,
    ``average="auto"``, ``tol=1e-4`` on the relative excess loss); the
    "optimal" schedule is not offered; ``positive`` is (scikit-learn's
    ``SGDRegressor`` lacks it).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from fastgd import GDRegressor
    >>> X, y = load_diabetes(return_X_y=True, scaled=False)
    >>> model = GDRegressor(random_state=0).fit(X, y)
    >>> round(model.score(X, y), 2)
    0.52
    """

    _parameter_constraints = {  # noqa: RUF012 (scikit-learn's class-level table)
        **COMMON_CONSTRAINTS,
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "loss": [StrOptions(set(losses.LOSSES))],
        "epsilon": [Interval(numbers.Real, 0, None, closed="left")],
        "quantile": [Interval(numbers.Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        *,
        solver="auto",
        batch_size=32,
        learning_rate="adaptive",
        eta0="auto",
        power_t=0.25,
        penalty=None,
        alpha=0.0001,
        fit_intercept=True,
        standardize=True,
        max_iter=1000,
        tol=1e-4,
        n_iter_no_change=5,
        shuffle="auto",
        random_state=None,
        early_stopping=False,
        validation_fraction=0.1,
        average="auto",
        warm_start=False,
        verbose=0,
        impl="compiled",
        optimizer="sgd",
        loss="squared_error",
        epsilon=0.1,
        quantile=0.5,
        l1_ratio=0.15,
        positive=False,
    ):
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.penalty = penalty
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.average = average
        self.warm_start = warm_start
        self.verbose = verbose
        self.impl = impl
        self.optimizer = optimizer
        self.loss = loss
        self.epsilon = epsilon
        self.quantile = quantile
        self.l1_ratio = l1_ratio
        self.positive = positive

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags

    def _loss_options(self):
        return dict(loss=self.loss, epsilon=self.epsilon, quantile=self.quantile)

    def fit(self, X, y=None, sample_weight=None, coef_init=None, intercept_init=None):
        """Fit by gradient descent.

        Parameters
        ----------
        X : array-like, sparse matrix, data source or Dask collection
            float32 and float64 C-contiguous arrays are used without a copy; a
            data source (:func:`fastgd.sources.from_npy`,
            :func:`~fastgd.sources.from_parquet`) or an ``np.memmap`` is read
            in blocks when it is larger than its memory budget; a dask array or
            DataFrame is fitted where it lives, a task per chunk
            (:class:`~fastgd.sources.DaskSource`).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The targets; None when X is a data source that holds them.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; the loss is their weighted mean.
        coef_init : array-like of shape (n_features,) or (n_targets, n_features)
            Starting coefficients (units of X). Never modified.
        intercept_init : array-like of shape (1,) or (n_targets,)
            Starting intercept.

        Returns
        -------
        self
        """
        self._validate_params()  # every parameter, before the data is read
        return self._fit_all(X, y, sample_weight, coef_init, intercept_init)

    def partial_fit(self, X, y=None, sample_weight=None):
        """One epoch (one iteration for ``solver="batch"``) on (X, y).

        State (coefficients, step count, step size, shuffle stream and the
        standardization) carries over between calls, so k calls followed by k
        more equal 2k calls. The standardization follows the column moments of
        every batch so far, and with ``eta0="auto"`` the step is the smaller of
        the step so far and the one this batch asks for: any sequence of batch
        sizes works, a first batch of one row included. No early stopping or
        stopping rule applies; divergence is handled as in :meth:`fit`.

        Returns
        -------
        self
        """
        self._validate_params()
        return self._partial_fit_batch(X, y, sample_weight)

    # --------------------------------------------------------------- prediction

    def predict(self, X):
        """Predictions X coef + b, of X's dtype (float32 stays float32).

        Parameters
        ----------
        X : array-like, sparse matrix, data source or Dask collection
            A data source or an ``np.memmap`` is streamed in blocks; a dask
            array or DataFrame gives a lazy dask array (one task per chunk).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        return self._decision(X)

    def score(self, X, y=None, sample_weight=None):
        """R^2 of the predictions on (X, y), as scikit-learn's regressors; X may
        be a data source holding y (then y=None), streamed in blocks, or a Dask
        collection (the sums are computed on the cluster).

        Returns
        -------
        float
        """
        check_is_fitted(self)
        source = self._source(X, y)
        return source.score(
            self.coef_.T.astype(np.float64),
            self.intercept_.astype(np.float64),
            sample_weight,
        )
