"""What GDRegressor and GDClassifier share: the scikit-learn estimator around the
one training path (:func:`fastgd._training.fit`).

:class:`LinearEstimator` works out what X is (:meth:`LinearEstimator._source`:
every input becomes the data source that reads it), resolves ``solver="auto"``
and ``average="auto"``, builds the fit specification, runs ``fit``,
``partial_fit`` and warm starts, and stores what a fit leaves. A subclass says
what it minimizes (``_loss_options``) and what its targets are: the regressor
fits y as given, the classifier fits labels encoded as -1 and +1 (one output
per class beyond two).
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _training, optimizers, schedules
from ._training.objective import Loss
from ._validation import FLOAT_DTYPES, check_alpha, check_int, reject_unusable_dtype
from .sources import (
    DataSource,
    DenseSource,
    SparseSource,
    as_source,
    is_memmap,
    is_sparse,
)
from .sources.dask_source import is_dask_collection
from .sources.sparse import check_sparse_fill

SOLVERS = ("auto", *_training.SOLVERS)
# Roll back, halve the step and retry at most this many times on divergence.
MAX_RECOVERIES = 5

# The parameters both estimators share, each checked at fit and partial_fit,
# whatever the solver and whether it is used, with scikit-learn's own messages
# ("The 'alpha' parameter of GDRegressor must be a float in the range [0.0,
# inf). Got -1 instead."). Combinations (average with batch, an optimizer with
# svrg, ...) are checked by fastgd._training.make_spec.
COMMON_CONSTRAINTS = {
    "solver": [StrOptions(set(SOLVERS))],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions(set(schedules.NAMED_SCHEDULES)), callable],
    "eta0": [StrOptions({"auto"}), Interval(numbers.Real, 0, None,
                                            closed="neither")],
    "power_t": [Interval(numbers.Real, None, None, closed="neither")],
    "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
    "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
    "positive": ["boolean"],
    "alpha": [Interval(numbers.Real, 0, None, closed="left")],
    "fit_intercept": ["boolean"],
    "standardize": ["boolean"],
    "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
    "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
    "shuffle": ["boolean", StrOptions({"auto", "block"})],
    "random_state": ["random_state"],
    "average": ["boolean", StrOptions({"auto"}),
                Interval(numbers.Integral, 0, None, closed="left")],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
    "impl": [StrOptions(set(_training.IMPLS))],
    "optimizer": [StrOptions(set(optimizers.OPTIMIZERS))],
}  # fmt: skip


class LinearEstimator(BaseEstimator):
    """The machinery of :class:`fastgd.GDRegressor` and
    :class:`fastgd.GDClassifier` (see the module docstring); not an estimator
    by itself."""

    def _loss_options(self):
        """The ``loss``, ``epsilon`` and ``quantile`` options of the fit."""
        raise NotImplementedError

    def _smooth_loss(self):
        """Whether the loss is smooth, as the training path's description of it
        says (:class:`fastgd._training.objective.Loss`)."""
        return Loss(self.loss).smooth

    # ------------------------------------------------------------------ checks

    def _resolve_solver(self, source, sample_weight, incremental=False):
        """``solver``, with "auto" decided from the data (see choose_solver):
        CG may run on a whole data set (``fit``, not ``partial_fit``) with
        plain steps and no early stopping."""
        if self.solver == "cg" and incremental:
            raise ValueError(
                "solver='cg' solves one data set to tol and cannot take it in "
                "mini-batches; use fit, or partial_fit with solver='sgd', "
                "'minibatch', 'batch', 'svrg' or 'auto'."
            )
        if self.solver != "auto":
            return self.solver
        penalty = _training.make_penalty(self.penalty, self.alpha, self.l1_ratio,
                                         self.positive)  # fmt: skip
        if not penalty.smooth:
            return "batch"  # an L1 term or a bound: proximal steps
        solver = self._auto_solver(source, sample_weight, incremental)
        lazy = not source.decays_per_coefficient and self.standardize and penalty.ridge
        if lazy and solver in ("sgd", "minibatch", "svrg"):
            # The CSR epochs decay one lazy scalar, which cannot weigh each
            # coefficient by its column's scale (fastgd._training.engines.
            # check_lazy_decay): batch passes apply the penalty exactly.
            return "batch"
        return solver

    def _auto_solver(self, source, sample_weight, incremental):
        """ "auto" for a smooth penalty."""
        if self.loss != "squared_error":
            # Not a quadratic: no CG, SVRG or Gram route (make_spec says why).
            # Batch Newton steps converge on a smooth loss; on one with kinks
            # stochastic steps, shrinking on each plateau, settle. partial_fit
            # takes SGD steps whatever the loss: a Newton step on a mini-batch
            # (a first batch of two rows) takes its Hessian from those rows.
            return "batch" if self._smooth_loss() and not incremental else "sgd"
        tol = self.tol if isinstance(self.tol, numbers.Real) else None
        cg = not incremental and self.optimizer == "sgd" and not self.early_stopping
        return _training.choose_solver(
            *source.shape, source.dtype, sample_weight is not None, tol,
            source=source, cg=cg,
        )  # fmt: skip

    def _average(self, solver):
        """``average``, with "auto" resolved: averaging with a constant step where
        it is the method (plain steps, a constant or adaptive step size, a
        smooth loss). A loss with kinks keeps a distance of the order of the
        step, averaged or not; its steps shrink on the loss plateau instead, and
        the mean of iterates taken with the larger steps lags behind the last
        one (on a heavy-tailed table: 5e-5 against 4e-6 of relative excess,
        quantile 0.5; docs/performance.md, "Losses")."""
        if not (isinstance(self.average, str) and self.average == "auto"):
            return self.average
        steps = ("adaptive", "constant")
        plain = self.optimizer == "sgd" and self.learning_rate in steps
        smooth = self._smooth_loss()
        return "auto" if plain and smooth and solver in ("sgd", "minibatch") else False

    def _spec(self, solver, **overrides):
        """The fit specification of these parameters for ``solver`` (every one
        checked)."""
        options = dict(
            batch_size=self.batch_size if solver == "minibatch" else None,
            learning_rate=self.learning_rate, eta0=self.eta0, power_t=self.power_t,
            penalty=self.penalty, alpha=self.alpha, l1_ratio=self.l1_ratio,
            positive=self.positive,
            max_iter=self.max_iter, tol=self.tol,
            n_iter_no_change=self.n_iter_no_change, fit_intercept=self.fit_intercept,
            shuffle=self.shuffle, random_state=self.random_state,
            average=self._average(solver), standardize=self.standardize,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction, impl=self.impl,
            optimizer=self.optimizer, verbose=self.verbose,
            max_recoveries=MAX_RECOVERIES, tol_scale="target_variance",
            tol_rule="excess", intercept_start="mean", eta0_rule="optimizer",
            accelerate=True, name=type(self).__name__,
            **self._loss_options(),
        )  # fmt: skip
        # Checked even where unused (other solvers, no penalty), as scikit-learn does.
        check_int("batch_size", self.batch_size)
        check_alpha(self.alpha)
        return _training.make_spec(solver, **{**options, **overrides})

    def _source(self, X, y=None, reset=False, fitting=False):
        """X (and y) as the :class:`~fastgd.sources.DataSource` that reads them:
        the one place the estimator works out what X is. Data read where it
        lives (a data source, an array mapped from a file, a Dask collection)
        is checked against the fitted columns by its own width and names;
        arrays and sparse matrices by scikit-learn's checks (n_features_in_,
        feature_names_in_), then by the source (NaN/inf once, conversions
        never in place). ``fitting``: y is required (scikit-learn's error where
        it is None), unless the source holds its own; otherwise y None means
        rows to predict on."""
        if _reads_in_place(X):
            source = as_source(X, y)
            if fitting:
                source.targets  # noqa: B018 - a source without targets raises here
            self._check_n_features(source.n_features, reset)
            self._check_source_names(source.feature_names, reset)
            return source
        reject_unusable_dtype(X, "X", sparse_ok=True, bool_ok=True)
        reject_unusable_dtype(y, "y")
        predicting = not fitting and y is None
        # scikit-learn's checks of y, where there is one.
        targets = {} if predicting else dict(y=y, multi_output=True, y_numeric=True)
        if is_sparse(X):
            check_sparse_fill(X)  # before scikit-learn converts a pandas one
            # scikit-learn's checks of n_features_in_ and y; the matrix itself is
            # checked and converted (once, never in place) by the source.
            validate_data(self, X, reset=reset, accept_sparse=True, dtype=None,
                          ensure_all_finite=False, **targets)  # fmt: skip
            return SparseSource(X, y)
        # NaN/inf are checked once, by the data source: checking here too would
        # scan X twice.
        checked = validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES, order="C",
                                ensure_all_finite=False, **targets)  # fmt: skip
        X, y = (checked, None) if predicting else checked
        return DenseSource(X, y)

    def _check_source_names(self, names, reset):
        """scikit-learn's feature_names_in_ rule, for the column names of data
        it does not see (Parquet files, a dask DataFrame): set when fitting,
        and the same names in the same order asked of later data."""
        if reset:
            if names is not None:
                self.feature_names_in_ = np.asarray(names, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
        expected = getattr(self, "feature_names_in_", None)
        if names is not None and expected is not None and list(expected) != names:
            raise ValueError(
                f"The feature names should match those that were passed during "
                f"fit, in the same order: fitted on {list(expected)}, got {names}. "
                "Select the columns in the fitted order."
            )

    def _check_n_features(self, n_features, reset):
        """scikit-learn's n_features_in_ rule, for data it does not see."""
        if reset:
            self.n_features_in_ = n_features
        elif n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )

    # Parameters a warm start may change and still continue the previous fit.
    _CONTINUABLE = ("max_iter", "tol", "n_iter_no_change", "verbose", "warm_start")

    def _run_key(self):
        """What a fit that a warm start continues must share with this one."""
        return tuple((name, repr(value)) for name, value
                     in sorted(self.get_params().items())
                     if name not in self._CONTINUABLE)  # fmt: skip

    def _fit(self, spec, source, sample_weight, first, incremental=False, **initial):
        """The one training path; stores what the estimator keeps.

        A resumed fit (warm_start) keeps the first fit's step size and
        standardization. A later partial_fit call updates both from its batch
        (:mod:`fastgd._training.incremental`): running column moments, and the
        smaller of the step so far and its own batch's."""
        eta0_cap = None
        if not first and incremental and self.eta0 == "auto":
            eta0_cap = self.eta0_
        elif not first:
            spec = spec.replace(eta0=self.eta0_)
        if (not first and incremental and self._statistics[0] is not None
                and self._moments[0] < _training.RUNNING_ROWS):  # fmt: skip
            self._moments = _training.running_moments(
                source, sample_weight, self._moments
            )  # fmt: skip
            if _training.moved(self._statistics, self._moments[1:]):
                self._state = _training.restandardize(
                    self._state, self._statistics, self._moments[1:],
                    self.fit_intercept,
                )  # fmt: skip
                self._statistics = self._moments[1:]
        fitted = _training.fit(
            spec, source, sample_weight=sample_weight,
            state=None if first else self._state,
            statistics=None if first else self._statistics, eta0_cap=eta0_cap,
            stacklevel=5, **initial,
        )  # fmt: skip
        engine, data = fitted.engine, fitted.data
        self.eta0_ = fitted.eta0
        if first:
            self._statistics = (data.mean, data.variance)
            # partial_fit's running (rows seen, mean, variance)
            self._moments = (len(data.train_rows), data.mean, data.variance)
        self._store_coefficients(*engine.coefficients(), data.dtype)
        self.t_ = int(engine.t)
        self._state = engine.export_state()
        return fitted.outcome

    def _store_coefficients(self, coef, intercept, dtype):
        """coef_ (n_features,) or (n_targets, n_features) and intercept_ from
        the training path's (n_features[, n_targets]) and (n_targets,)."""
        self.coef_ = (coef if coef.ndim == 1 else coef.T).astype(dtype)
        self.intercept_ = intercept.astype(dtype)

    def _warm_coefficients(self):
        """The coefficients a warm start begins from, as ``coef_init`` takes them."""
        return self.coef_, self.intercept_

    def _fit_all(self, X, y, sample_weight, coef_init, intercept_init):
        """``fit``'s body, on targets as the training path takes them (the
        parameters checked already)."""
        warm = self.warm_start and hasattr(self, "_state")
        resume = warm and getattr(self, "_resume_key", None) == self._run_key()
        source = self._source(X, y, reset=not resume, fitting=True)
        resume = resume and source.n_features == self.n_features_in_
        solver = self.solver_ if resume else self._resolve_solver(source, sample_weight)
        spec = self._spec(solver)
        if warm and not resume and coef_init is None and intercept_init is None:
            coef_init, intercept_init = self._warm_coefficients()
        if coef_init is not None:  # scikit-learn's layout (n_targets, n_features)
            coef_init = np.array(coef_init, dtype=np.float64)
            coef_init = coef_init.T if coef_init.ndim == 2 else coef_init
        if intercept_init is not None:
            intercept_init = np.reshape(np.array(intercept_init, np.float64), -1)
        initial = dict(coef_init=coef_init, intercept_init=intercept_init)
        outcome = self._fit(spec, source, sample_weight, not resume, **initial)
        self._resume_key = self._run_key()
        self.solver_ = solver
        self.relative_excess_ = outcome.relative_excess
        self.n_iter_ = len(outcome.loss_history)
        history = list(self.loss_curve_) if resume else []
        self.loss_curve_ = history + list(outcome.loss_history)
        if self.early_stopping:
            self.validation_scores_ = list(outcome.validation_scores)
            self.best_loss_ = outcome.best_validation_loss
        return self

    def _partial_fit_batch(self, X, y, sample_weight):
        """``partial_fit``'s body, on targets as the training path takes them
        (the parameters checked already)."""
        first = not hasattr(self, "_state")
        source = self._source(X, y, reset=first, fitting=True)
        solver = (self._resolve_solver(source, sample_weight, incremental=True)
                  if first else self.solver_)  # fmt: skip
        spec = self._spec(solver, max_iter=1, tol=None, early_stopping=False)
        targets = source.targets
        if not first and self._state["coef"].shape != (source.n_features,
                                                       *targets.shape[1:]):  # fmt: skip
            raise ValueError(
                f"partial_fit got y of shape {targets.shape[1:] or '(n_samples,)'} per "
                "sample, but the model was fitted with a different number of "
                "targets; keep the targets' shape across calls."
            )
        outcome = self._fit(spec, source, sample_weight, first, incremental=True)
        self._resume_key = self._run_key()
        self.solver_ = solver
        self.relative_excess_ = None
        self.n_iter_ = 1
        self.loss_curve_ = (getattr(self, "loss_curve_", []) or []) + list(
            outcome.loss_history
        )
        return self

    def _decision(self, X):
        """X coef + b (one column per output), streamed, lazy or in memory as X
        is read."""
        check_is_fitted(self)
        source = self._source(X)
        return source.predict(self.coef_.T.astype(np.float64),
                              self.intercept_.astype(np.float64))  # fmt: skip


def _reads_in_place(X):
    """Whether X is read where it lives, through a data source of its own
    kind: a source, an array mapped from a file or a Dask collection."""
    return (isinstance(X, DataSource) or is_memmap(X)
            or is_dask_collection(X))  # fmt: skip
