"""partial_fit's running estimates: the standardization and the step size are
updated as batches arrive, not frozen by the first one.

A stream's first batch may hold one row, or two: its column variances are then
zero or noise, and the step size ``eta0="auto"`` takes from it fits those rows,
not the data to come (issue 25: a first batch of 2 rows, then 500-row batches,
raised DivergenceError). So, until ``RUNNING_ROWS`` rows have been seen, each
call merges its batch's column moments into the running ones (Chan et al.'s
pairwise update, as the block sources merge theirs) and re-standardizes the
model to them (the same function in the original units, only its z-unit
coordinates change). And every call takes the smaller of the step so far and
the step its own batch asks for: a step only shrinks, so no later batch meets
a step too large for it.
"""

import numpy as np

from .._validation import check_sample_weight
from ..sources.reductions import merge_moments
from .data import standardization

# The standardization follows the running moments until this many rows have
# been seen, then stays: its estimate is then good to a few percent for the
# typical column, and moving it at every batch on (a column seen for the first
# time in batch 2 of a stream of 5,000-row batches gets 100 times its scale)
# cost a stream of a real table 5 times the excess after three passes.
RUNNING_ROWS = 1000
# Moments closer than this (relative) to the standardization in use leave it.
RESTANDARDIZE_RTOL = 1e-9
# The model's points in z units that a new standardization moves: (coefficients,
# intercept) pairs of every engine's state.
POINTS = (("coef", "intercept"), ("avg_coef", "avg_intercept"),
          ("previous_coef", "previous_intercept"))  # fmt: skip


def running_moments(source, sample_weight, moments):
    """``moments`` (rows seen, mean, variance) merged with the batch in
    ``source`` (``sample_weight`` as given to the fit, or None), each row
    weighted by its sample weight relative to the batch's mean weight."""
    m = source.shape[0]
    weights = check_sample_weight(sample_weight, m, source.dtype)
    mean, variance = source.column_moments(weights)
    parts = [(float(moments[0]), *moments[1:]), (float(m), mean, variance)]
    merged_mean, merged_variance = merge_moments(iter(parts), source.shape[1])
    return moments[0] + m, merged_mean, merged_variance


def moved(before, after, rtol=RESTANDARDIZE_RTOL):
    """Whether the moments ``after`` (mean, variance) differ from ``before`` by
    more than rounding: a mean by ``rtol`` of its column's spread, a variance
    by ``rtol`` of itself. (Merging a batch like the ones before moves them by
    an ulp or two, and re-standardizing for that would change nothing but the
    last bits of the trajectory.)"""
    spread = np.sqrt(np.maximum(before[1], after[1]))
    mean_moved = np.abs(after[0] - before[0]) > rtol * spread
    variance_moved = np.abs(after[1] - before[1]) > rtol * np.abs(before[1])
    return bool(np.any(mean_moved) or np.any(variance_moved))


def restandardize(state, before, after, fit_intercept):
    """The engine ``state`` with its z-unit points moved from the
    standardization of moments ``before`` (mean, variance) to ``after``: the
    same predictions in the original units. Optimizer state stays as it is
    (its steps adapt)."""
    dtype = state["coef"].dtype
    old_shift, old_scale = standardization(*before, fit_intercept, np.float64)
    new_shift, new_scale = standardization(*after, fit_intercept, np.float64)
    state = dict(state)
    for coef_key, intercept_key in POINTS:
        coef = state.get(coef_key)
        if coef is None or coef.size == 0:
            continue
        shape = (-1,) + (1,) * (coef.ndim - 1)
        coef_x = coef.astype(np.float64) * old_scale.reshape(shape)
        intercept_x = state[intercept_key].astype(np.float64) - old_shift @ coef_x
        state[coef_key] = (coef_x / new_scale.reshape(shape)).astype(dtype)
        state[intercept_key] = (intercept_x + new_shift @ coef_x).astype(dtype)
    return state
