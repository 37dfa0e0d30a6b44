"""Row visits: stochastic steps that are stable on every row, not only the
typical one.

``eta0="auto"`` takes the per-sample step from the average curvature: SGD's is
eta = 1 / (2 (1.2 lambda_max + E|z|^2)) (:func:`.data.auto_step_size`). A step
on row i multiplies that row's residual by 1 - 2 eta w_i |z_i|^2 (w_i its
weight over the mean weight), which leaves [-1, 1] once eta w_i |z_i|^2 > 1.
Real tables have such rows. A one-hot level seen k times in m rows is
standardized to about sqrt(m / k), so its rows' squared norms are near m / k,
thousands of times the mean; a heavy-tailed column's outliers sit 10 to 100
standard deviations out. Where a heavy row's direction is its own (a rare
level's column), nothing else pulls it back and its residual grows epoch after
epoch: the fit diverges.

So a row with s_i = eta w_i |z_i|^2 > 1 is visited r_i = ceil(s_i) times an
epoch, at weight w_i / r_i each, its visits shuffled among the other rows.
Every visit is then stable (eta (w_i / r_i) |z_i|^2 <= 1), and an epoch still
adds each row's weighted gradient exactly once: at the optimum the expected
update is zero, so averaged SGD and SVRG converge to the same optimum. (Capping
heavy rows' steps instead would reweight their loss, and move the optimum.)
Since sum_i s_i = eta m E_w|z|^2 <= m / 2, the extra visits never add more
than half an epoch; data without heavy rows has none, and runs as before.

The cap is the SGD step's, for every stochastic solver: a mini-batch step takes
eta_B / B per row with eta_B >= eta, so rows under SGD's cap are stable there,
with room for a few heavy rows sharing a direction in one batch; SVRG steps at
1/8 of eta, where its theory asks eta L_max < 1/4 (L_i = 2 |z_i|^2).
Measured on the realistic tables (docs/performance.md, "Row visits").
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RowVisits:
    """An epoch's rows: ``order`` (sorted training rows, each heavy row
    repeated) and ``sample_weight`` (one per row of X, a heavy row's split
    over its visits)."""

    order: np.ndarray
    sample_weight: np.ndarray


def visit_counts(load):
    """Visits an epoch for rows of ``load`` = step w |z|^2: ceil(load), and at
    least 1 (a row whose step is stable keeps its one visit), int32.

    >>> visit_counts(np.array([0.1, 1.0, 1.5, 0.0]))
    array([1, 1, 2, 1], dtype=int32)
    """
    return np.maximum(np.ceil(load), 1.0).astype(np.int32)


def row_visits(data, step, fit_intercept):
    """The :class:`RowVisits` for SGD's per-sample ``step`` (weights scaled as
    SGD scales them), or None when no training row is heavy for it. Without
    heavy rows it costs one pass and two arrays of m, no more."""
    m = data.source.shape[0]
    shift, scale = data.shift.astype(np.float64), data.scale.astype(np.float64)
    load = data.source.squared_row_norms(shift, scale)  # becomes step w |z|^2
    if fit_intercept:
        load += 1.0
    load *= step
    weights = data.sample_weight
    if weights.shape[0] == 1:
        load *= float(weights[0])
    else:
        load *= weights
    rows = data.train_rows
    counts = visit_counts(load[rows] if len(rows) < m else load)
    del load
    if counts.max() == 1:
        return None
    order = np.repeat(rows, counts)
    split = np.broadcast_to(weights, (m,)).astype(data.dtype)  # the caller's stays
    split[rows] /= counts.astype(data.dtype)
    return RowVisits(order=order, sample_weight=split)
