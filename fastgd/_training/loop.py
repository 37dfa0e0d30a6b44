"""The training loop: schedules, stopping rules, early stopping that keeps the best
coefficients, divergence detection and bounded recovery.

The loop knows engines only through their protocol (:mod:`.engines`) and the
stopping rule through :class:`Stopping`; it never asks which engine or which data
source it has."""

import time
import warnings
from dataclasses import dataclass

import numpy as np

from .. import schedules
from .._errors import DivergenceError, convergence_warning
from .blas import one_blas_thread

# learning_rate="adaptive": divide the step by this when the loss stalls, and stop
# once it has fallen below ADAPTIVE_MIN_RATIO times its start.
ADAPTIVE_DIVISOR = 5.0
ADAPTIVE_MIN_RATIO = 1e-4
# The stochastic stopping rule looks at rounds of whole epochs holding at least
# this many updates (one epoch, whenever an epoch has that many).
MIN_UPDATES_PER_ROUND = 256


@dataclass(frozen=True)
class Stopping:
    """When training stops.

    ``patience_tol``: stop (or, with ``adaptive``, divide the step by 5) when the
    metric (training loss, or minus the validation R^2) has not improved by it for
    ``n_iter_no_change`` rounds; a round holds the fewest whole units making at
    least ``min_updates_per_round`` updates (None: no such rule).
    ``gradient_tol``: stop when the gradient norm falls below it times its first
    value (None: no such rule).
    ``excess``: an :class:`~fastgd._training.excess.ExcessEstimate`; stop when the
    estimated excess at the engine's measurement is at most ``excess_tol`` times
    the estimated optimum (or times ``excess_floor``, if that is larger).
    """

    patience_tol: float | None
    n_iter_no_change: int = 5
    min_updates_per_round: int = MIN_UPDATES_PER_ROUND
    gradient_tol: float | None = None
    adaptive: bool = False
    excess: object = None
    excess_tol: float | None = None
    excess_floor: float = 0.0

    @one_blas_thread  # between two passes: see .blas
    def relative_excess(self, engine):
        """The estimated relative excess loss at the engine's measurement (None
        when there is no such rule or no measurement yet)."""
        if self.excess is None or engine.measurement is None:
            return None
        _, grad, grad_intercept = engine.measurement
        excess = self.excess(grad, grad_intercept)
        # Read after the estimate: it may measure the iterate again (CG).
        objective = engine.measurement[0]
        return excess / max(objective - excess, self.excess_floor)


@dataclass
class Outcome:
    """What a training loop reports (see FitResult)."""

    loss_history: list
    validation_scores: list
    best_validation_loss: float | None
    converged: bool
    stop_reason: str
    relative_excess: float | None = None


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


def _warn_not_converged(name, max_iter, stacklevel):
    warnings.warn(
        f"{name} stopped after max_iter={max_iter} before meeting its tolerance. "
        "Increase max_iter, loosen tol, or raise eta0 if the loss is still falling "
        "steadily.",
        convergence_warning(),
        stacklevel=stacklevel,
    )


def train(engine, schedule, stopping, *, max_iter, early_stopping=False,
          max_recoveries=0, verbose=0, name="fit", stacklevel=4):  # fmt: skip
    """Run units of work (epochs or iterations) until a :class:`Stopping` rule
    or ``max_iter``.

    With ``early_stopping`` the best coefficients seen on the validation split are
    restored at the end. A divergence raises DivergenceError, unless
    ``max_recoveries`` > 0: then the engine rolls back, the step is halved, a
    warning issued, and the unit retried (at most that many times in all).
    """
    epochs_per_round = -(-stopping.min_updates_per_round // engine.steps_per_unit)
    patience = _Patience(stopping.patience_tol, stopping.n_iter_no_change,
                         epochs_per_round)  # fmt: skip
    history, scores = [], []
    best_score, best_state, best_loss = -np.inf, None, None
    first_norm, converged, recoveries, plateau = None, False, 0, False
    relative_excess = None
    eta_scale = engine.eta_scale
    iteration = 0
    while iteration < max_iter:
        started = time.perf_counter()
        etas = _step_sizes(schedule, engine.t, engine.steps_per_unit) * eta_scale
        where = f"{engine.unit} {iteration + 1}"
        loss = engine.run(etas)
        try:
            engine.check_divergence(loss, where, float(etas.max()))
        except DivergenceError as error:
            if recoveries >= max_recoveries or not engine.can_roll_back():
                raise
            recoveries += 1
            undone = engine.rollback()
            iteration -= undone
            del history[len(history) - undone :]
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
        small = False
        excess = stopping.relative_excess(engine)
        if excess is not None:
            relative_excess = excess
            small = excess <= stopping.excess_tol
            engine.note_excess(excess, stopping.excess_tol)
        if stopping.gradient_tol is not None:
            first_norm = engine.gradient_norm if first_norm is None else first_norm
            small = engine.gradient_norm <= stopping.gradient_tol * first_norm
        if small:
            converged = True
        elif engine.stalled:
            break
        elif stalled:
            shrinkable = eta_scale / ADAPTIVE_DIVISOR >= ADAPTIVE_MIN_RATIO
            if stopping.adaptive and shrinkable:
                eta_scale /= ADAPTIVE_DIVISOR
                patience.reset()
            else:
                converged = True
                # The plateau, not the measured excess, stopped it: the fit
                # decides whether the excess it measured certifies it.
                plateau = excess is not None
        if not converged:
            engine.advance(etas)
        if verbose:
            print(f"{name} {where}: loss {loss:.6g}, eta {float(etas.max()):.3g}"
                  + (f", validation R^2 {scores[-1]:.6f}" if scores else "")
                  + (f", est. relative excess {excess:.3g}" if excess is not None
                     else "")
                  + f", {time.perf_counter() - started:.3f}s")  # fmt: skip
        if converged:
            break
    engine.eta_scale = eta_scale
    if best_state is not None:
        best_state.pop("t", None)
        engine.restore(best_state)
    if not converged and engine.stalled:
        where = ""
        if relative_excess is not None:
            where = f", at an estimated relative excess of {relative_excess:.3g}"
        warnings.warn(
            f"{name} stopped at iteration {iteration}: rounding now decides its "
            f"steps{where}. Loosen tol, or centre and scale the columns whose "
            "mean is many times their spread.",
            convergence_warning(),
            stacklevel=stacklevel,
        )
    elif not converged and (stopping.patience_tol is not None
                            or stopping.gradient_tol is not None
                            or stopping.excess is not None):  # fmt: skip
        _warn_not_converged(name, max_iter, stacklevel)
    return Outcome(
        loss_history=history,
        validation_scores=scores,
        best_validation_loss=best_loss,
        converged=converged,
        stop_reason=_stop_reason(converged, plateau, engine.stalled),
        relative_excess=relative_excess,
    )


def _stop_reason(converged, plateau, stalled):
    """The stop: "tol", or "plateau" where the loss plateau stopped a fit that measures
    its excess (the fit then decides: fastgd._training.fit._certify), else
    "stalled" or "max_iter"."""
    if converged:
        return "plateau" if plateau else "tol"
    return "stalled" if stalled else "max_iter"
