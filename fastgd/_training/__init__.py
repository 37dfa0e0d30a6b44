"""The training engine under ``fit_*`` and ``GDRegressor``: ``data`` (prepare),
``engines`` (state and one unit of work) and ``loop`` (train).

* :func:`prepare` validates the data once and derives what every epoch needs:
  sample weights, the validation split, and the standardization (shift, scale) that
  lets the kernels work in z = (x - shift) * scale without a standardized copy of X.
* :class:`StochasticEngine` and :class:`BatchEngine` hold the resumable state of a
  fit (coefficients in z units, averages, step count, shuffle stream) and run one
  epoch or iteration with the chosen implementation (compiled kernel or twin).
* :func:`train` is the loop: schedules, stopping rules, early stopping that keeps the
  best coefficients, divergence detection and optional bounded recovery.
"""

from .data import (
    IMPLS,
    Data,
    auto_step_size,
    column_moments,
    curvature,
    gram_statistics,
    n_gradient_blocks,
    prepare,
    to_original_units,
    to_z_units,
)
from .engines import (
    DIVERGENCE_FACTOR,
    BatchEngine,
    DivergenceError,
    StochasticEngine,
    quiet_overflow,
)
from .loop import MIN_UPDATES_PER_ROUND, Outcome, train
from .strategy import BatchPlan, plan_batch_strategy, resolve_batch_strategy

__all__ = [
    "DIVERGENCE_FACTOR",
    "IMPLS",
    "MIN_UPDATES_PER_ROUND",
    "BatchEngine",
    "BatchPlan",
    "Data",
    "DivergenceError",
    "Outcome",
    "StochasticEngine",
    "auto_step_size",
    "column_moments",
    "curvature",
    "gram_statistics",
    "n_gradient_blocks",
    "plan_batch_strategy",
    "prepare",
    "quiet_overflow",
    "resolve_batch_strategy",
    "to_original_units",
    "to_z_units",
    "train",
]
