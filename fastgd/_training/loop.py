"""The training loop: schedules, stopping rules, early stopping that keeps the best
coefficients, divergence detection and bounded recovery."""

import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import schedules
from .engines import BatchEngine, DivergenceError

# learning_rate="adaptive": divide the step by this when the loss stalls, and stop
# once it has fallen below ADAPTIVE_MIN_RATIO times its start.
ADAPTIVE_DIVISOR = 5.0
ADAPTIVE_MIN_RATIO = 1e-4
# The stochastic stopping rule looks at rounds of whole epochs holding at least
# this many updates (one epoch, whenever an epoch has that many).
MIN_UPDATES_PER_ROUND = 256


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
