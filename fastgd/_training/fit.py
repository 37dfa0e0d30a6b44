"""The one training path: spec -> prepare -> step size -> strategy -> engine -> loop.

``fit_sgd``, ``fit_minibatch``, ``fit_batch``, ``GDRegressor.fit`` and
``GDRegressor.partial_fit`` all call :func:`fit`.
"""

from dataclasses import dataclass

import numpy as np

from .. import schedules
from ..sources import as_source
from .data import auto_step_size, prepare
from .engines import BatchEngine, StochasticEngine, SVRGEngine
from .excess import ExcessEstimate, relative_floor
from .loop import Outcome, Stopping, train
from .strategy import resolve_batch_strategy

# SVRG's eta0="auto": this fraction of SGD's, about 0.1 / L for the mean
# per-sample smoothness L (Johnson & Zhang use 0.1 / L; its theory needs
# eta < 1 / (4 L)). Measured at m / n = 20 and 1,000: 1/8 takes 4-6 units to a
# relative excess of 1e-4 where 1/2 and 1 do not converge (docs/performance.md).
SVRG_STEP_FRACTION = 0.125


@dataclass
class Fitted:
    """What :func:`fit` returns: the engine (state, coefficients), the prepared
    data, the loop's :class:`~fastgd._training.loop.Outcome` and the initial step
    size used."""

    engine: object
    data: object
    outcome: Outcome
    eta0: float


def _uses_excess_rule(spec):
    """SVRG always; batch and averaged stochastic fits when asked."""
    if spec.solver == "svrg":
        return True
    averaging = spec.average is not False
    return spec.tol_rule == "excess" and (spec.full_batch or averaging)


def _stopping(spec, tol, data):
    measured = _uses_excess_rule(spec) and not spec.early_stopping
    if measured and tol is not None and ExcessEstimate.affordable(data.n_features):
        return Stopping(
            patience_tol=None, min_updates_per_round=1,
            excess=ExcessEstimate(data, spec.fit_intercept, spec.alpha),
            excess_tol=tol, excess_floor=relative_floor(data),
        )  # fmt: skip
    if spec.full_batch or spec.solver == "svrg":
        return Stopping(
            patience_tol=tol if spec.early_stopping else None,
            n_iter_no_change=spec.n_iter_no_change, min_updates_per_round=1,
            gradient_tol=tol,
        )  # fmt: skip
    return Stopping(patience_tol=tol, n_iter_no_change=spec.n_iter_no_change,
                    adaptive=spec.adaptive)  # fmt: skip


def _target_moments(data):
    """Weighted mean (per output) and variance (averaged over outputs) of y on
    the training rows."""
    Y = data.y.reshape(data.y.shape[0], -1)[data.train_rows].astype(np.float64)
    w = np.broadcast_to(data.original_weight, (data.y.shape[0],))[data.train_rows]
    mean = np.average(Y, axis=0, weights=w)
    return mean, float(np.mean(np.average((Y - mean) ** 2, axis=0, weights=w)))


def target_variance(data):
    """Weighted variance of y on the training rows, averaged over outputs."""
    return _target_moments(data)[1]


def fit(spec, X, y=None, *, sample_weight=None, coef_init=None, intercept_init=None,
        state=None, statistics=None, stacklevel=5):  # fmt: skip
    """Train by ``spec`` (a :class:`~fastgd._training.spec.FitSpec`) on X, y.

    ``state`` (an engine's exported state) resumes a previous fit and
    ``statistics`` (mean, variance) reuses its standardization; initial values,
    when given, replace the resumed coefficients. ``spec.eta0`` must be a number
    when resuming (the step size the first fit used).
    """
    source = as_source(X, y)
    data = prepare(
        source, sample_weight=sample_weight, standardize=spec.standardize,
        fit_intercept=spec.fit_intercept,
        validation_fraction=spec.validation_fraction if spec.early_stopping else None,
        random_state=spec.random_state, statistics=statistics,
    )  # fmt: skip
    rows = len(data.train_rows)
    eta0 = spec.eta0
    if eta0 == "auto":
        batch_rows = {"sgd": 1, "svrg": 1, "minibatch": spec.batch_size,
                      "batch": None}  # fmt: skip
        size = batch_rows[spec.solver]
        eta0 = auto_step_size(data, None if size is None else min(size, rows),
                              spec.fit_intercept)  # fmt: skip
        if spec.solver == "svrg":
            eta0 *= SVRG_STEP_FRACTION
    tol = spec.tol
    patience = not (spec.full_batch or spec.early_stopping or _uses_excess_rule(spec))
    if spec.tol_scale == "target_variance" and tol is not None and patience:
        tol = tol * max(target_variance(data), np.finfo(np.float64).tiny)
    if (intercept_init is None and spec.fit_intercept and state is None
            and spec.intercept_start == "mean"):  # fmt: skip
        # The optimum's intercept when the features are centred: adaptive
        # optimizers, whose steps are about eta per coordinate, then need not
        # walk the intercept from 0 to a mean of y that may be far from it.
        intercept_init = _target_moments(data)[0]
    initial = dict(coef_init=coef_init, intercept_init=intercept_init,
                   recoverable=spec.max_recoveries > 0)  # fmt: skip
    if spec.solver == "svrg":
        engine = SVRGEngine(data, spec, **initial)
    elif spec.full_batch:
        plan = resolve_batch_strategy(spec.strategy, spec.impl, data, spec.max_iter,
                                      tol)  # fmt: skip
        engine = BatchEngine(data, spec, strategy=plan.start,
                             gram_after=plan.switch_after, **initial)  # fmt: skip
    else:
        measure = _uses_excess_rule(spec) and not spec.early_stopping
        engine = StochasticEngine(data, spec, measure=measure and tol is not None,
                                  **initial)  # fmt: skip
    if state is not None:
        if coef_init is not None or intercept_init is not None:
            state = {k: v for k, v in state.items() if k not in ("coef", "intercept")}
        engine.restore(state)
    schedule = schedules.resolve(spec.learning_rate, eta0, engine.steps_per_unit,
                                 spec.power_t)  # fmt: skip
    outcome = train(
        engine, schedule, _stopping(spec, tol, data), max_iter=spec.max_iter,
        early_stopping=spec.early_stopping, max_recoveries=spec.max_recoveries,
        verbose=spec.verbose, name=spec.name, stacklevel=stacklevel,
    )  # fmt: skip
    return Fitted(engine=engine, data=data, outcome=outcome, eta0=float(eta0))
