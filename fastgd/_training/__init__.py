"""The one training path under ``fit_*`` and ``GDRegressor``.

``spec`` (every option checked once) -> ``data`` (prepare: weights, validation
split, standardization, from a data source) -> ``eta0="auto"`` -> ``strategy``
(batch: passes or the Gram matrix) -> ``engines`` (state and one unit of work) ->
``loop`` (stopping rules, early stopping, divergence and recovery). :func:`fit`
runs it end to end.
"""

from .data import (
    Data,
    auto_step_size,
    curvature,
    prepare,
    to_original_units,
    to_z_units,
)
from .engines import (
    DIVERGENCE_FACTOR,
    BatchEngine,
    StochasticEngine,
    quiet_overflow,
)
from .excess import ExcessEstimate
from .fit import Fitted, fit, target_variance
from .incremental import RUNNING_ROWS, moved, restandardize, running_moments
from .loop import MIN_UPDATES_PER_ROUND, Outcome, Stopping, train
from .penalty import PENALTIES, Penalty, make_penalty
from .spec import BATCH_STRATEGIES, IMPLS, SOLVERS, FitSpec, make_spec
from .strategy import (
    BatchPlan,
    choose_solver,
    plan_batch_strategy,
    resolve_batch_strategy,
    solver_costs,
)
from .svrg import SVRGEngine

__all__ = [
    "BATCH_STRATEGIES",
    "DIVERGENCE_FACTOR",
    "IMPLS",
    "MIN_UPDATES_PER_ROUND",
    "PENALTIES",
    "RUNNING_ROWS",
    "SOLVERS",
    "BatchEngine",
    "BatchPlan",
    "Data",
    "ExcessEstimate",
    "FitSpec",
    "Fitted",
    "Outcome",
    "Penalty",
    "SVRGEngine",
    "StochasticEngine",
    "Stopping",
    "auto_step_size",
    "choose_solver",
    "curvature",
    "fit",
    "make_penalty",
    "make_spec",
    "moved",
    "plan_batch_strategy",
    "prepare",
    "quiet_overflow",
    "resolve_batch_strategy",
    "restandardize",
    "running_moments",
    "solver_costs",
    "target_variance",
    "to_original_units",
    "to_z_units",
    "train",
]
