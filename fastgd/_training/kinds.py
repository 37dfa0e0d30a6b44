"""What each solver is to the training path, decided here once: its engine, the
rows a step of ``eta0="auto"`` is sized for, and how it stops.
:func:`fastgd._training.fit.fit` reads a :class:`SolverKind` from
:data:`SOLVER_KINDS` and never branches on a solver's name."""

from collections.abc import Callable
from dataclasses import dataclass

from .. import optimizers
from .cg import SAMPLED_MAX_PARAMETERS, CGEngine, TailExcess
from .data import auto_step_size
from .engines import BatchEngine, StochasticEngine
from .excess import ExcessEstimate, relative_floor
from .loop import Stopping
from .newton import NewtonEngine
from .strategy import resolve_batch_strategy
from .svrg import SVRGEngine
from .visits import row_visits

# SVRG's eta0="auto": this fraction of SGD's, about 0.1 / L for the mean
# per-sample smoothness L (Johnson & Zhang use 0.1 / L; its theory needs
# eta < 1 / (4 L)). Measured at m / n = 20 and 1,000: 1/8 takes 4-6 units to a
# relative excess of 1e-4 where 1/2 and 1 do not converge (docs/performance.md).
SVRG_STEP_FRACTION = 0.125


@dataclass(frozen=True)
class SolverKind:
    """One solver as the training path sees it.

    ``build(data, spec, tol, measure, initial)`` makes its engine (``measure``:
    the fit stops on the measured excess, which the stochastic epochs then
    measure at every unit). ``step_rows(spec)``: the rows a step averages over
    (None: all of them), which sizes ``eta0="auto"``, times ``step_fraction``;
    ``own_steps``: the engine takes its own step lengths and ``eta0`` is not
    used. ``stops_on_excess``: it stops on the measured excess whatever
    ``tol_rule`` says. ``constant_step_converges(spec, source)``: a constant
    step reaches the optimum (otherwise a step that must shrink shrinks on a
    stalled loss). ``gradient_rule(spec)``: its classic rule is the relative
    gradient norm, not the loss's patience. ``stopping(spec, tol, data,
    engine)``: a rule of its own, or None."""

    build: Callable
    step_rows: Callable = lambda spec: 1
    step_fraction: float = 1.0
    own_steps: bool = False
    stops_on_excess: bool = False
    constant_step_converges: Callable = lambda spec, source: True
    gradient_rule: Callable = lambda spec: False
    stopping: Callable | None = None


def _visits(spec, data):
    """The stochastic solvers' :class:`~fastgd._training.visits.RowVisits`
    (None: one visit a row), for eta0="auto" with steps that scale with the
    row (not a normalized optimizer's)."""
    if not spec.row_visits or spec.optimizer in optimizers.NORMALIZED:
        return None
    return row_visits(data, auto_step_size(data, 1, spec.fit_intercept),
                      spec.fit_intercept)  # fmt: skip


def _stochastic(data, spec, tol, measure, initial):
    return StochasticEngine(data, spec, measure=measure, visits=_visits(spec, data),
                            **initial)  # fmt: skip


def _svrg(data, spec, tol, measure, initial):
    return SVRGEngine(data, spec, visits=_visits(spec, data), **initial)


def _full_batch(engine_class):
    """The builder of a full-batch engine: the batch strategy planned first
    (X^T X gives the squared loss's gradient only)."""

    def build(data, spec, tol, measure, initial):
        strategy = spec.strategy if spec.loss_function.quadratic else "pass"
        plan = resolve_batch_strategy(strategy, spec.impl, data, spec.max_iter, tol)
        kind = engine_class(spec, data)
        return kind(data, spec, strategy=plan.start, gram_after=plan.switch_after,
                    **initial)  # fmt: skip

    return build


def runs_newton(spec):
    """Whether batch steps are Newton's: accelerated batch steps (plain steps,
    ``spec.accelerate``) are Nesterov's for the squared loss (FISTA's proximal
    ones with an L1 term or a bound), and for another smooth loss, with a
    smooth penalty, Newton's (:mod:`.newton`: on the sampled Hessian, or by
    conjugate gradients beyond ``excess.MAX_PARAMETERS``)."""
    loss = spec.loss_function
    return (spec.solver == "batch" and spec.accelerate and not loss.quadratic
            and loss.smooth and spec.penalty_function.smooth)  # fmt: skip


def _batch_engine(spec, data):
    return NewtonEngine if runs_newton(spec) else BatchEngine


def _averaged_steps_converge(spec, source):
    """Averaged stochastic steps reach the optimum with a constant step unless
    the source's epochs average models trained apart (``mixed_epochs``: each
    chunk's model leans to its own optimum) or the steps are proximal
    (averaged proximal SGD with a constant step stays a step-sized distance
    off the optimum of an L1 term)."""
    if not spec.penalty_function.smooth:
        return False
    return spec.average is not False and not source.mixed_epochs


def _cg_stopping(spec, tol, data, engine):
    """CG certifies itself (its decrements); nothing else to measure."""
    floor = relative_floor(data)
    excess = None
    if tol is not None:
        sampled = None
        if data.n_features + 1 <= SAMPLED_MAX_PARAMETERS:
            sampled = ExcessEstimate(data, spec.fit_intercept,
                                     engine.penalty.ridge_diagonal)  # fmt: skip
        excess = TailExcess(engine, tol, floor, sampled)
    return Stopping(patience_tol=None, excess=excess, excess_tol=tol,
                    excess_floor=floor)  # fmt: skip


_STOCHASTIC = dict(build=_stochastic, constant_step_converges=_averaged_steps_converge)

SOLVER_KINDS = {
    "sgd": SolverKind(**_STOCHASTIC),
    "minibatch": SolverKind(step_rows=lambda spec: spec.batch_size, **_STOCHASTIC),
    "batch": SolverKind(build=_full_batch(_batch_engine), step_rows=lambda spec: None,
                        gradient_rule=lambda spec: not spec.adaptive),
    "svrg": SolverKind(build=_svrg, step_fraction=SVRG_STEP_FRACTION,
                       stops_on_excess=True, gradient_rule=lambda spec: True),
    "cg": SolverKind(build=_full_batch(lambda spec, data: CGEngine), own_steps=True,
                     stops_on_excess=True, stopping=_cg_stopping),
}  # fmt: skip
