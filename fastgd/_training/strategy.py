"""strategy="auto" for batch gradient descent: when forming X^T X once pays.

Costs are counted in passes over X (one fused gradient evaluation). The "pass"
strategy costs one pass per iteration. The "gram" strategy costs a one-off
``gram_cost_in_passes`` (X^T X through BLAS, plus one pass for X^T y and the column
sums), then O(n^2 k) per iteration, which is ``n k / m`` of a pass.

The one-off cost was measured against the fused gradient on a 2-core AVX-512 Xeon
with OpenBLAS (docs/performance.md, "The Gram strategy"): for float64 data with
uniform weights X^T X costs 4.2, 6.4, 10.7, 10.7 and 19 passes at n = 10, 20, 100,
300 and 1,000, which ``GRAM_PASSES_SCALE * n ** (1/3)`` follows within about 25%.
float32 data (cast to float64 in chunks, and half the bytes per pass) costs about
three times as many of its own passes; sample weights (chunks multiplied by the
weights) about twice.

The number of iterations a fit will need is unknown in advance, so the plan starts
from log2(1 / tol) iterations (``max_iter`` when ``tol`` is None or 0), which
means one of two things:

* With the relative gradient-norm rule (``fit_batch``), a lower bound: even a
  perfectly conditioned problem at a stable step size at best halves the
  gradient per iteration.
* With the relative excess loss (``GDRegressor``, CG), ``tol`` is a distance
  to the optimum, not a ratio to the start, and nothing bounds the count but 1
  (a target with little signal starts near its optimum). There it is a count
  such fits mostly run past: at tol 1e-4 (14), 10 of 14 default batch and CG
  fits on the tables benchmark's tables and on N(0, 1) and AR(1) features ran
  longer (medians 74 and 19 iterations); N(0, 1) features took 5 to 7 and lost
  0.07-0.1 s at 1,000,000 x 100 to forming X^T X (docs/performance.md, "The
  Gram strategy"). Reading it as a bound of 1 instead started every fit with
  passes, and ill-conditioned ones paid for the ski-rental's switch: 0.67 ->
  1.38 s at 1,000,000 x 100 with AR(1) columns.

If that count already pays for the Gram matrix, the fit forms it at once.
Otherwise it starts with passes and switches to the Gram matrix once it has spent
as many passes as the matrix costs (the ski-rental rule: never more than about twice
the cost of the better strategy in hindsight, however many iterations it turns
out to need), or earlier where a fit that stops on the excess measures that it
will run past that point
(:meth:`~fastgd._training.full_gradient.FullGradient.note_excess`).
"""

import math
from dataclasses import dataclass

import numpy as np

GRAM_PASSES_SCALE = 2.0
FLOAT32_GRAM_FACTOR = 3.0
WEIGHTED_GRAM_FACTOR = 2.0
# Beyond this many features X^T X (n^2 float64) is not formed automatically.
MAX_GRAM_FEATURES = 4096


@dataclass(frozen=True)
class BatchPlan:
    """The strategy to start with, and the iteration after which to switch to
    "gram" (None: never)."""

    start: str
    switch_after: int | None = None

    def describe(self):
        if self.switch_after is None:
            return self.start
        return f"pass, then gram after {self.switch_after} iterations"


def gram_cost_in_passes(n_features, dtype, weighted):
    """Estimated one-off cost of X^T X and X^T y, in passes over X."""
    passes = GRAM_PASSES_SCALE * n_features ** (1.0 / 3.0)
    if np.dtype(dtype) != np.float64:
        passes *= FLOAT32_GRAM_FACTOR
    elif weighted:
        passes *= WEIGHTED_GRAM_FACTOR
    return passes


def min_iterations(max_iter, tol):
    """The iterations the plan counts on (see the module docstring: a lower
    bound for the gradient rule, the count fits rarely undercut for the excess
    rule)."""
    if tol is None or tol <= 0:
        return max_iter
    return min(max_iter, max(1, math.ceil(math.log2(1.0 / tol))))


def plan_batch_strategy(n_samples, n_features, n_targets, dtype, weighted, max_iter,
                        tol, gram_passes=None):  # fmt: skip
    """The :class:`BatchPlan` for strategy="auto" (see the module docstring).

    >>> plan_batch_strategy(1_000_000, 100, 1, "float64", False, 1000, 1e-8)
    BatchPlan(start='gram', switch_after=None)
    >>> plan_batch_strategy(1_000_000, 100, 1, "float64", False, 5, None)
    BatchPlan(start='pass', switch_after=None)
    """
    if n_features > min(n_samples, MAX_GRAM_FEATURES):
        return BatchPlan("pass")
    # What a Gram iteration saves over a pass, in passes.
    saved = 1.0 - n_features * n_targets / n_samples
    if saved <= 0:
        return BatchPlan("pass")
    if gram_passes is None:
        gram_passes = gram_cost_in_passes(n_features, dtype, weighted)
    break_even = math.ceil(gram_passes / saved)
    if min_iterations(max_iter, tol) >= break_even:
        return BatchPlan("gram")
    if max_iter > break_even:
        return BatchPlan("pass", switch_after=break_even)
    return BatchPlan("pass")


def resolve_batch_strategy(strategy, impl, data, max_iter, tol):
    """The :class:`BatchPlan` for a fit: ``strategy`` as given, or for "auto" the
    plan above (always "pass" for the NumPy and loop twins, which exist to be
    compared pass for pass)."""
    if strategy != "auto":
        return BatchPlan(strategy)
    if impl != "compiled":
        return BatchPlan("pass")
    weighted = data.sample_weight.shape[0] != 1
    return plan_batch_strategy(len(data.train_rows), data.n_features, data.n_targets,
                               data.dtype, weighted, max_iter, tol,
                               data.source.gram_passes(weighted))  # fmt: skip


def exact_curvature_after(data, spec):
    """After how many excess estimates a fit pays for the exact covariance
    (the Gram statistics) when the sampled one has not let it stop: as many
    as cost what forming it costs, counted in the fit's units (an epoch of a
    stochastic solver and its measuring pass, an iteration of batch)."""
    weighted = data.sample_weight.shape[0] != 1
    passes = data.source.gram_passes(weighted)
    if passes is None:
        passes = gram_cost_in_passes(data.n_features, data.dtype, weighted)
    return max(1, math.ceil(passes / unit_cost_in_passes(data, spec)))


def unit_cost_in_passes(data, spec):
    """What one unit of a fit that measures its excess costs, in passes over
    X: an iteration of batch; an epoch and its measuring pass otherwise."""
    unit = 1.0
    if not spec.full_batch:
        unit += epoch_cost_in_passes(data.source.row_elements)
    return unit


# --------------------------------------------------------------------------- #
# solver="auto"
# --------------------------------------------------------------------------- #

# What a shuffled per-sample epoch costs in passes over X: a fixed part (the
# update's arithmetic and the random row order's memory latency), plus a part
# per row that weighs most when rows are short. Measured against the fused
# gradient pass on a 2-vCPU AMD EPYC (docs/performance.md, "Time to solution"):
# 12-29 passes at n = 20, 7-9 at n = 100, 4.2 at n = 1,000.
EPOCH_PASSES_BASE = 2.0
EPOCH_PASSES_PER_ROW = 200.0
# X^T X's cost in passes varies 2x between the hosts of one machine kind (at
# n = 100: 9.3 passes on the Xeon where GRAM_PASSES_SCALE was measured, 17 on the
# AMD EPYC host), where an epoch's does not; "auto" takes the Gram route only
# when its estimate is below this fraction of the next best.
GRAM_MARGIN = 0.75
# Averaging every iterate adds this fraction to an epoch (measured: 30-55%).
AVERAGING_COST = 0.4
# An SVRG unit (a pass and an inner epoch) divides the relative excess by at
# least this much (measured: 10-20 near the optimum).
SVRG_CONTRACTION = 10.0


def epoch_cost_in_passes(n_features):
    """The estimated cost of one per-sample epoch, in passes over X."""
    return EPOCH_PASSES_BASE + EPOCH_PASSES_PER_ROW / n_features


def solver_costs(n_samples, n_features, dtype="float64",
                 weighted=False, tol=1e-4, gram=True, source=None):  # fmt: skip
    """Estimated passes over X for each solver to reach a relative excess loss
    of ``tol`` (see :func:`choose_solver`). A sparse ``source`` prices an epoch
    by its stored entries a row and X^T X by its own estimate."""
    epoch = epoch_cost_in_passes(n_features if source is None else source.row_elements)
    tol = 1e-4 if tol is None or tol <= 0 else tol
    # SVRG: the warm-start epoch, averaged over its second half (about
    # 2 (n + 1) / m of relative excess), then units until tol, then a pass.
    start = 2.0 * (n_features + 1) / n_samples
    units = max(0, math.ceil(math.log(start / tol, SVRG_CONTRACTION)))
    costs = {"svrg": epoch * (1.0 + AVERAGING_COST / 2) + units * (epoch + 1.0) + 1}
    if gram and n_features <= min(n_samples - 1, MAX_GRAM_FEATURES):
        passes = None if source is None else source.gram_passes(weighted)
        if passes is None:
            passes = gram_cost_in_passes(n_features, dtype, weighted)
        costs["batch"] = passes
    # Averaged SGD's relative excess after A averaged epochs is about
    # (n + 1) / (A m) (Bach & Moulines), after one epoch of burn-in; each epoch
    # is measured by one pass.
    averaged = max(1, math.ceil((n_features + 1) / (n_samples * tol)))
    costs["sgd"] = (1 + averaged) * epoch * (1.0 + AVERAGING_COST) + averaged
    return costs


def choose_solver(n_samples, n_features, dtype="float64",
                  weighted=False, tol=1e-4, gram=True, source=None,
                  cg=True):  # fmt: skip
    """What ``solver="auto"`` runs.

    ``"cg"`` whenever it may (``cg``: a fit on the whole data with plain
    steps and no early stopping; not ``partial_fit``): conjugate gradients
    need about sqrt(kappa) passes per digit of the excess, with the columns'
    scales and offsets preconditioned away, and no step size. The stochastic
    and batch solvers take their steps from a curvature estimate and a
    per-unit contraction that real tables break (rare one-hot levels make a
    few rows far heavier than the typical one, exact collinearity leaves
    tiny eigenvalues: docs/performance.md, "Real tables"). Its X^T X is
    formed by batch's ski-rental rule (:func:`plan_batch_strategy`).

    Otherwise the solver with the fewest estimated passes over X to a
    relative excess loss of ``tol``:

    * ``"batch"`` (accelerated gradient descent on X^T X, formed at once): the
      one-off cost of X^T X (:func:`gram_cost_in_passes`), then O(n^2) per
      iteration. Only when the source can form it (``gram``), n <= 4096, and
      its estimate is below ``GRAM_MARGIN`` (3/4) of the best other: BLAS speed
      varies more between hosts than an epoch does.
    * ``"svrg"``: a warm-start SGD epoch whose averaged second half lands at
      about 2 (n + 1) / m of relative excess, then units of a fused pass and a
      per-sample epoch (:func:`epoch_cost_in_passes`), each dividing the excess
      by 10 or more whatever the conditioning, then the measuring pass.
    * ``"sgd"`` (averaged, constant step): one epoch of burn-in, then A averaged
      epochs with A = ceil((n + 1) / (m tol)), each measured by one pass.

    SVRG's averaged warm start gets where averaged SGD's first epochs get, and
    its later units converge linearly, so in this model "auto" chooses between
    "batch" and "svrg"; averaged SGD and mini-batch (whose epoch costs about
    what an SGD epoch does, for the same statistical progress) are never
    cheaper. The estimates are in ``solver_costs``.

    >>> choose_solver(1_000_000, 100)
    'cg'
    >>> choose_solver(5_000_000, 20, cg=False)
    'batch'
    >>> choose_solver(1_000_000, 100, cg=False)
    'svrg'
    >>> choose_solver(200_000, 1_000, dtype="float32", cg=False)
    'svrg'
    """
    if cg:
        return "cg"
    costs = solver_costs(n_samples, n_features, dtype, weighted, tol,
                         gram, source)  # fmt: skip
    gram_cost = costs.pop("batch", np.inf)
    best = min(costs, key=costs.get)
    return "batch" if gram_cost < GRAM_MARGIN * costs[best] else best
