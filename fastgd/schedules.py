"""Learning-rate schedules: plain functions of the update step t -> step size eta.

A schedule is any callable taking the step count ``t`` (0 for the first update; an
int or an integer NumPy array) and returning the step size(s). The factories below
build the common ones; they are vectorized, so the solvers evaluate a whole epoch
of step sizes in one call, outside the compiled kernels (no Python callable ever
enters compiled code). What ``t`` counts depends on the solver: samples for
``fit_sgd``, batches for ``fit_minibatch`` and iterations for ``fit_batch``.

>>> from fastgd import schedules
>>> schedules.annealing(5.0, 50.0)([0, 50])
array([0.1 , 0.05])
"""

from dataclasses import dataclass

import numpy as np


def _check_positive(name, value):
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return value


@dataclass(frozen=True)
class Constant:
    """eta_t = eta0 for every t."""

    eta0: float

    def __call__(self, step):
        return np.full(np.shape(step), self.eta0)


@dataclass(frozen=True)
class Annealing:
    """eta_t = t0 / (t + t1): the 1/t decay of simulated annealing."""

    t0: float
    t1: float

    def __call__(self, step):
        return self.t0 / (np.asarray(step, dtype=np.float64) + self.t1)


@dataclass(frozen=True)
class InvScaling:
    """eta_t = eta0 / (t + 1)^power_t: scikit-learn's invscaling (its t starts at 1)."""

    eta0: float
    power_t: float

    def __call__(self, step):
        return self.eta0 / np.power(
            np.asarray(step, dtype=np.float64) + 1.0, self.power_t
        )


def constant(eta0):
    """Constant step size: eta_t = eta0.

    >>> constant(0.01)(3)
    array(0.01)
    """
    return Constant(_check_positive("eta0", eta0))


def annealing(t0, t1):
    """Annealing schedule eta_t = t0 / (t + t1), starting at t0 / t1.

    The course's choice is ``annealing(5, 50)``: eta starts at 0.1 and decays as 1/t.

    >>> annealing(5, 50)(np.array([0, 950]))
    array([0.1  , 0.005])
    """
    return Annealing(_check_positive("t0", t0), _check_positive("t1", t1))


def invscaling(eta0, power_t=0.25):
    """Inverse scaling: eta_t = eta0 / (t + 1)^power_t (scikit-learn's invscaling).

    >>> invscaling(1.0, 0.5)(np.array([0, 3]))
    array([1. , 0.5])
    """
    power_t = float(power_t)
    if not np.isfinite(power_t) or power_t < 0:
        raise ValueError(f"power_t must be a finite number >= 0, got {power_t!r}.")
    return InvScaling(_check_positive("eta0", eta0), power_t)


def _steps(step):
    return np.asarray(step, dtype=np.float64)


def inverse_time(eta0, decay):
    """Inverse-time decay: eta_t = eta0 / (1 + decay * t).

    >>> inverse_time(1.0, 0.5)(np.array([0, 2]))
    array([1. , 0.5])
    """
    eta0 = _check_positive("eta0", eta0)
    decay = _check_non_negative("decay", decay)
    return lambda step: eta0 / (1.0 + decay * _steps(step))


def exponential(eta0, rate):
    """Exponential decay: eta_t = eta0 * rate^t, with 0 < rate <= 1.

    >>> exponential(1.0, 0.5)(np.array([0, 3]))
    array([1.   , 0.125])
    """
    eta0 = _check_positive("eta0", eta0)
    rate = _check_positive("rate", rate)
    if rate > 1:
        raise ValueError(f"rate must be <= 1 for a decay, got {rate!r}.")
    return lambda step: eta0 * np.power(rate, _steps(step))


def natural_exp(eta0, decay):
    """Natural exponential decay: eta_t = eta0 * exp(-decay * t).

    >>> float(natural_exp(2.0, 0.0)(10))
    2.0
    """
    eta0 = _check_positive("eta0", eta0)
    decay = _check_non_negative("decay", decay)
    return lambda step: eta0 * np.exp(-decay * _steps(step))


def cosine(eta0, total_steps, eta_min=0.0):
    """Cosine decay from eta0 to eta_min over ``total_steps``, then eta_min:
    eta_t = eta_min + (eta0 - eta_min) (1 + cos(pi min(t, T) / T)) / 2.

    With eta_min = 0 the step at t >= T is 0, which a solver rejects: give a
    positive eta_min when training may run past T.

    >>> cosine(1.0, 4, eta_min=0.5)(np.array([0, 2, 4, 9]))
    array([1.  , 0.75, 0.5 , 0.5 ])
    """
    eta0 = _check_positive("eta0", eta0)
    total = _check_positive("total_steps", total_steps)
    eta_min = _check_non_negative("eta_min", eta_min)
    if eta_min > eta0:
        raise ValueError(f"eta_min={eta_min} must not exceed eta0={eta0}.")

    def schedule(step):
        progress = np.minimum(_steps(step), total) / total
        return eta_min + (eta0 - eta_min) * 0.5 * (1.0 + np.cos(np.pi * progress))

    return schedule


def piecewise_constant(boundaries, values):
    """eta_t = values[i] for boundaries[i-1] <= t < boundaries[i] (len(values) =
    len(boundaries) + 1; boundaries increasing).

    >>> piecewise_constant([10, 20], [1.0, 0.5, 0.1])(np.array([0, 10, 25]))
    array([1. , 0.5, 0.1])
    """
    boundaries = np.asarray(boundaries, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(boundaries) + 1,):
        raise ValueError(
            f"piecewise_constant needs len(values) == len(boundaries) + 1, got "
            f"{len(values)} values for {len(boundaries)} boundaries."
        )
    if np.any(np.diff(boundaries) <= 0):
        raise ValueError("boundaries must be strictly increasing.")
    for value in values:
        _check_positive("each value", value)
    return lambda step: values[np.searchsorted(boundaries, _steps(step), side="right")]


def join(schedules, boundaries):
    """Chain schedules: schedules[i] runs for boundaries[i-1] <= t < boundaries[i],
    each restarted at its own t = 0 (len(schedules) = len(boundaries) + 1).

    >>> warm_then_decay = join([constant(0.1), exponential(0.1, 0.5)], [5])
    >>> warm_then_decay(np.array([0, 4, 5, 6]))
    array([0.1 , 0.1 , 0.1 , 0.05])
    """
    schedules = list(schedules)
    starts = np.concatenate([[0.0], np.asarray(boundaries, dtype=np.float64)])
    if len(schedules) != len(starts) or np.any(np.diff(starts) <= 0):
        raise ValueError(
            "join needs len(schedules) == len(boundaries) + 1 and strictly "
            "increasing boundaries > 0."
        )

    def schedule(step):
        t = _steps(step)
        piece = np.searchsorted(starts, t, side="right") - 1
        result = np.empty(np.shape(t))
        for index, part in enumerate(schedules):
            mask = piece == index
            if np.any(mask):
                result[mask] = np.broadcast_to(
                    part(t[mask] - starts[index]), result[mask].shape
                )
        return result if result.ndim else result[()]

    return schedule


def _check_non_negative(name, value):
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return value


def _named_constant(eta0, steps_per_epoch, power_t):
    return constant(eta0)


def _named_invscaling(eta0, steps_per_epoch, power_t):
    return invscaling(eta0, power_t)


def _named_annealing(eta0, steps_per_epoch, power_t):
    # Start at eta0 and halve after one epoch: the 1/t decay measured in epochs.
    return annealing(eta0 * steps_per_epoch, steps_per_epoch)


# One table for the string option; messages list its keys.
# "adaptive" is scikit-learn's: a constant step that the solver divides by 5 each
# time the loss stops improving (see fastgd.solvers); as a function of t it is
# constant.
NAMED_SCHEDULES = {
    "constant": _named_constant,
    "adaptive": _named_constant,
    "invscaling": _named_invscaling,
    "annealing": _named_annealing,
}


def resolve(learning_rate, eta0, steps_per_epoch, power_t=0.25):
    """The schedule for a ``learning_rate`` option: a name from NAMED_SCHEDULES
    (built from ``eta0``, and ``power_t`` for invscaling) or any callable t -> eta,
    returned as it is."""
    if callable(learning_rate):
        return learning_rate
    if isinstance(learning_rate, str) and learning_rate in NAMED_SCHEDULES:
        eta0 = _check_positive("eta0", eta0)
        return NAMED_SCHEDULES[learning_rate](eta0, steps_per_epoch, power_t)
    raise ValueError(
        f"learning_rate={learning_rate!r} is not supported. Use one of "
        f"{sorted(NAMED_SCHEDULES)} or a callable mapping the step t to a step size."
    )


def step_sizes(schedule, first_step, n_steps):
    """The step sizes of updates first_step .. first_step + n_steps - 1 (float64).

    Vectorized schedules are called once with an integer array; a callable that only
    takes a scalar is called step by step. Every value must be finite and > 0.
    """
    steps = np.arange(first_step, first_step + n_steps, dtype=np.int64)
    try:
        values = np.asarray(schedule(steps), dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or values.shape != steps.shape:
        values = np.array([schedule(int(t)) for t in steps], dtype=np.float64)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        t = int(steps[np.argmax(bad)])
        raise ValueError(
            f"the learning-rate schedule gave step size {values[t - first_step]!r} "
            f"at step t={t}; every step size must be finite and > 0."
        )
    return values
