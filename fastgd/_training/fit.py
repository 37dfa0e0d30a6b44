"""The one training path: spec -> prepare -> step size -> strategy -> engine -> loop.

``fit_sgd``, ``fit_minibatch``, ``fit_batch``, ``GDRegressor.fit`` and
``GDRegressor.partial_fit`` all call :func:`fit`.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from .. import optimizers, schedules
from .._errors import convergence_warning
from ..sources import as_source, for_fit
from .data import auto_step_size, prepare
from .engines import measure
from .excess import ExcessEstimate, LocalExcess, relative_floor
from .full_gradient import shared_pass
from .gap import DualityGap
from .kinds import SOLVER_KINDS, runs_newton
from .krylov import KrylovExcess
from .loop import MIN_UPDATES_PER_ROUND, Outcome, Stopping, train
from .strategy import exact_curvature_after, unit_cost_in_passes

# Batch rounds for a step that shrinks on a stalled loss (see _stopping).
SHRINK_ROUND_ITERATIONS = 10
# A fit stopped by a rule that does not measure its distance to the optimum
# (the loss plateau, the gradient ratio) is called converged only if the excess
# estimate, taken once where it stopped, is at most this relative excess loss:
# within 0.1% of the optimal loss (GDRegressor's own default tol is 1e-4).
CERTIFIED_EXCESS = 1e-3


@dataclass
class Fitted:
    """What :func:`fit` returns: the engine (state, coefficients), the prepared
    data, the loop's :class:`~fastgd._training.loop.Outcome` and the initial step
    size used."""

    engine: object
    data: object
    outcome: Outcome
    eta0: float


def _measurable(spec, data):
    """Whether an excess estimate measures this fit's loss: the squared loss at
    any width; a smooth loss that is not a quadratic where its Hessian is
    formed (:class:`~fastgd._training.excess.LocalExcess`), or at any width
    where batch Newton steps solve with it by conjugate gradients
    (:class:`~fastgd._training.hessian_free.HessianFree`); nothing measures
    the losses with kinks (epsilon-insensitive, quantile, hinge, perceptron)."""
    loss = spec.loss_function
    formed = LocalExcess.affordable(data.n_features)
    return loss.quadratic or (loss.smooth and (formed or runs_newton(spec)))


def _uses_excess_rule(spec, data):
    """Whether the fit stops on the measured excess loss: the solvers that
    always do (SVRG, CG), every solver with ``tol_rule="excess"`` (not with
    early stopping, which stops on the validation score), where an estimate
    measures the loss."""
    excess = SOLVER_KINDS[spec.solver].stops_on_excess or spec.tol_rule == "excess"
    return excess and not spec.early_stopping and _measurable(spec, data)


def _constant_step_converges(spec, source):
    """Whether a constant step reaches the optimum: never where the optimizer
    normalizes its steps, else as the solver says
    (:attr:`~fastgd._training.kinds.SolverKind.constant_step_converges`).
    Otherwise learning_rate="adaptive" must shrink the step as the loss
    stalls."""
    if spec.optimizer in optimizers.NORMALIZED:
        return False
    return SOLVER_KINDS[spec.solver].constant_step_converges(spec, source)


def _stopping(spec, tol, patience_tol, data, engine):
    kind = SOLVER_KINDS[spec.solver]
    if kind.stopping is not None:
        return kind.stopping(spec, tol, data, engine)
    if _uses_excess_rule(spec, data) and tol is not None:
        # Stop on the measured excess; a step that must shrink (if any) shrinks
        # whenever the loss has not improved at all for n_iter_no_change rounds:
        # shrinking on a small improvement would shrink it before it got there.
        shrinking = spec.adaptive and not _constant_step_converges(spec, data.source)
        return Stopping(
            patience_tol=0.0 if shrinking else None, adaptive=shrinking,
            n_iter_no_change=spec.n_iter_no_change,
            # Rounds of several iterations for batch: a normalized optimizer's
            # first iterations overshoot and oscillate without being stuck.
            min_updates_per_round=SHRINK_ROUND_ITERATIONS if spec.full_batch
            else MIN_UPDATES_PER_ROUND,
            excess=excess_estimate(data, spec, engine,
                                   exact_curvature_after(data, spec),
                                   unit_cost_in_passes(data, spec)),
            excess_tol=tol, excess_floor=relative_floor(data),
        )  # fmt: skip
    if kind.gradient_rule(spec):
        return Stopping(
            patience_tol=tol if spec.early_stopping else None,
            n_iter_no_change=spec.n_iter_no_change, min_updates_per_round=1,
            gradient_tol=tol,
        )  # fmt: skip
    return Stopping(
        patience_tol=tol if spec.early_stopping else patience_tol,
        n_iter_no_change=spec.n_iter_no_change, adaptive=spec.adaptive,
        min_updates_per_round=1 if spec.full_batch else MIN_UPDATES_PER_ROUND,
    )  # fmt: skip


def excess_estimate(data, spec, engine, exact_after=None, unit_passes=None):
    """The excess-loss estimate for this loss and width: for the squared loss,
    the formed Hessian's (:class:`~fastgd._training.excess.ExcessEstimate`,
    sampled, exact after ``exact_after`` estimates) up to
    ``excess.MAX_PARAMETERS``, conjugate gradients on it beyond
    (:class:`~fastgd._training.krylov.KrylovExcess`, estimating again once the
    fit has spent ``unit_passes`` a unit as much as the last estimate cost;
    None: at every call); for another smooth loss, the Newton decrement at
    ``engine``'s iterate (:class:`~fastgd._training.excess.LocalExcess`, or
    beyond it the Newton engine's conjugate gradients); for
    the squared loss with an L1 term or a bound, the duality gap
    (:class:`~fastgd._training.gap.DualityGap`), and for the per-sample
    solvers (proximal SGD, prox-SVRG) the smaller of the gap and the Hessian's
    estimate."""
    loss, penalty = spec.loss_function, engine.penalty
    ridge = penalty.ridge_diagonal
    factors = penalty.has_ridge or bool(np.any(penalty.lasso))
    gap = None
    if loss.quadratic and not penalty.smooth and factors:
        gap = DualityGap(data, engine, spec.fit_intercept, engine.penalty, spec.impl)
        if spec.full_batch:
            return gap
    if not loss.quadratic:
        if LocalExcess.affordable(data.n_features):
            return LocalExcess(data, engine, loss, spec.fit_intercept, ridge)
        return engine.hessian  # Newton's own solve, beyond a formed Hessian
    if ExcessEstimate.affordable(data.n_features):
        estimate = ExcessEstimate(data, spec.fit_intercept, ridge, exact_after)
    else:
        estimate = KrylovExcess(data, spec.fit_intercept, ridge, spec.impl,
                                unit_passes)  # fmt: skip
    return estimate if gap is None else _Smaller(gap, estimate)


@dataclass(frozen=True)
class _Smaller:
    """The smaller of the duality gap and the Hessian's estimate on the
    minimum-norm subgradient, for the per-sample solvers. The gap is linear in the
    distance to the optimum where the excess is quadratic: at the excess a
    stochastic fit reaches (1e-6 on 20,000 Gaussian rows) it says 1e-3, too
    loose to stop on. The estimate is the excess of the quadratic on the
    iterate's face (its support and signs), an upper bound of it (the Schur
    complement), exact once the face is the optimum's; but collinear columns
    leave that quadratic unbounded along the Hessian's null space, where the
    estimate explodes (ggplot2's diamonds: 1e10 at a true 6e-5) and the gap
    still bounds."""

    gap: object
    estimate: object

    def __call__(self, grad, grad_intercept):
        return min(self.gap(grad, grad_intercept),
                   self.estimate(grad, grad_intercept))  # fmt: skip


def target_variance(data):
    """Weighted variance of y on the training rows, averaged over outputs."""
    return data.target_moments()[1]


def target_scale(data, loss):
    """What ``tol_scale="target_variance"`` multiplies ``tol`` by: the loss of
    the best constant model, var(y) for the squared loss, and for another loss
    its mean over the training rows at a constant model
    (:meth:`~fastgd._training.objective.Loss.baseline_loss`)."""
    if loss.quadratic:
        return target_variance(data)
    return loss.baseline_loss(data.y[data.train_rows])


def fit(spec, X, y=None, *, sample_weight=None, coef_init=None, intercept_init=None,
        state=None, statistics=None, eta0_cap=None, stacklevel=5):  # fmt: skip
    """Train by ``spec`` (a :class:`~fastgd._training.spec.FitSpec`) on X, y.

    ``state`` (an engine's exported state) resumes a previous fit and
    ``statistics`` (mean, variance) reuses its standardization; initial values,
    when given, replace the resumed coefficients. When resuming, ``spec.eta0``
    is the step size the first fit used, or "auto" with ``eta0_cap`` (the step
    so far): the smaller of it and this data's own (partial_fit,
    :mod:`.incremental`).
    """
    source = for_fit(as_source(X, y), spec.shuffle)
    if spec.impl not in source.impls:
        raise ValueError(
            f"impl={spec.impl!r} does not run on a {type(source).__name__}; use "
            f"one of {list(source.impls)}."
        )
    data = prepare(
        source, sample_weight=sample_weight, standardize=spec.standardize,
        fit_intercept=spec.fit_intercept,
        validation_fraction=spec.validation_fraction if spec.early_stopping else None,
        random_state=spec.random_state, statistics=statistics,
    )  # fmt: skip
    spec.loss_function.check_targets(data.y)
    eta0 = _initial_step(spec, data, eta0_cap)
    tol = spec.tol
    patience_tol = tol
    if spec.tol_scale == "target_variance" and tol is not None:
        patience_tol = tol * max(target_scale(data, spec.loss_function),
                                 np.finfo(np.float64).tiny)  # fmt: skip
    if (intercept_init is None and spec.fit_intercept and state is None
            and spec.intercept_start == "mean"):  # fmt: skip
        # The optimum's intercept when the features are centred: adaptive
        # optimizers, whose steps are about eta per coordinate, then need not
        # walk the intercept from 0 to a mean of y that may be far from it.
        intercept_init = data.target_moments()[0]
    initial = dict(coef_init=coef_init, intercept_init=intercept_init,
                   recoverable=spec.max_recoveries > 0)  # fmt: skip
    # No measuring pass that nothing reads.
    measure = _uses_excess_rule(spec, data) and tol is not None
    engine = SOLVER_KINDS[spec.solver].build(data, spec, tol, measure, initial)
    if state is not None:
        if coef_init is not None or intercept_init is not None:
            state = {k: v for k, v in state.items() if k not in ("coef", "intercept")}
        engine.restore(state)
    schedule = schedules.resolve(spec.learning_rate, eta0, engine.steps_per_unit,
                                 spec.power_t)  # fmt: skip
    stopping = _stopping(spec, tol, patience_tol, data, engine)
    outcome = train(
        engine, schedule, stopping, max_iter=spec.max_iter,
        early_stopping=spec.early_stopping, max_recoveries=spec.max_recoveries,
        verbose=spec.verbose, name=spec.name, stacklevel=stacklevel,
    )  # fmt: skip
    _certify(outcome, spec, data, engine, state is None, stacklevel)
    return Fitted(engine=engine, data=data, outcome=outcome, eta0=float(eta0))


def _initial_step(spec, data, eta0_cap):
    """The step size the fit starts with: ``spec.eta0``, or for "auto" the
    plain step for the rows a step averages over (times the loss's and the
    solver's factors), then the optimizer's own rule if it has one, and at most
    ``eta0_cap`` (partial_fit). 1.0 for a solver that takes its own steps."""
    kind = SOLVER_KINDS[spec.solver]
    if kind.own_steps:
        return 1.0  # eta0 is not used
    if spec.eta0 != "auto":
        return spec.eta0
    rows = kind.step_rows(spec)
    if rows is not None:
        rows = min(rows, len(data.train_rows))
    eta0 = auto_step_size(data, rows, spec.fit_intercept)
    eta0 *= spec.loss_function.step_factor
    eta0 *= kind.step_fraction
    if spec.eta0_rule == "optimizer":
        eta0 = optimizers.auto_step_size(
            spec.optimizer, eta0, np.sqrt(data.target_moments()[1]),
            data.n_features + 1, stochastic=not spec.full_batch,
        )  # fmt: skip
    return eta0 if eta0_cap is None else min(eta0, eta0_cap)


def _certify(outcome, spec, data, engine, whole_fit, stacklevel):
    """Where a rule that does not measure the excess stopped a whole fit: measure
    it once (one gradient pass and the excess estimate), report it, and call the
    fit converged only if it is at most ``CERTIFIED_EXCESS`` (else stop_reason
    "uncertified", with a ConvergenceWarning). A fit stopped at max_iter short
    of its tol is measured too, so that it says how far it got (not one run
    with tol=None: it asked for max_iter units and nothing else). Early
    stopping aims at the validation score, not the training optimum, and is
    left alone."""
    stopped_at_limit = outcome.stop_reason == "max_iter"
    # The plateau stopped a fit that measures its excess at every unit (the
    # step could shrink no further): that measurement decides, as below.
    measured_plateau = outcome.stop_reason == "plateau"
    if measured_plateau:
        outcome.stop_reason = "tol"
    if not _measurable(spec, data):
        return  # nothing measures a loss with kinks (docs/losses.md)
    if (not (outcome.converged or stopped_at_limit) or spec.tol is None
            or (outcome.relative_excess is not None and not measured_plateau)
            or spec.early_stopping or not whole_fit):  # fmt: skip
        return
    if not measured_plateau:
        loss = spec.loss_function.kernel
        objective, grad, grad_b = measure(engine, shared_pass(data, spec.impl, loss))
        # The exact covariance once the fit has already cost what it does.
        exact = exact_curvature_after(data, spec) <= len(outcome.loss_history)
        estimate = excess_estimate(data, spec, engine, 0 if exact else None)
        excess = estimate(grad, grad_b)
        outcome.relative_excess = excess / max(objective - excess,
                                               relative_floor(data))  # fmt: skip
    if stopped_at_limit or outcome.relative_excess <= CERTIFIED_EXCESS:
        return  # max_iter: the loop has warned; the excess says how far it got
    outcome.converged, outcome.stop_reason = False, "uncertified"
    # What stops on the excess itself: CG and SVRG for the squared loss;
    # GDRegressor's batch Newton steps for another smooth one.
    exact_solvers = ("fit_cg / fit_svrg" if spec.loss_function.quadratic
                     else "GDRegressor(solver='batch')")  # fmt: skip
    warnings.warn(
        f"{spec.name} met its stopping rule at an estimated relative excess loss "
        f"of {outcome.relative_excess:.3g} (F - F*) / F*: not at the optimum "
        f"(converged=False, above {CERTIFIED_EXCESS:g}). A constant step stops at "
        "a distance that grows with it: lower eta0, set average=True or "
        "learning_rate='adaptive', standardize the features, or use "
        f"{exact_solvers} (stopping on the excess itself).",
        convergence_warning(), stacklevel=stacklevel - 1,
    )  # fmt: skip
