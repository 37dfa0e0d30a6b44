"""strategy="auto" for batch gradient descent: the cost model's choices, and the
switch from passes to the Gram matrix during a fit."""

import numpy as np
import pytest

from fastgd import GDRegressor, fit_batch, fit_cg
from fastgd._training.full_gradient import FullGradient
from fastgd._training.strategy import (
    BatchPlan,
    gram_cost_in_passes,
    min_iterations,
    plan_batch_strategy,
)

from .conftest import make_problem, relative_error


def test_gram_cost_follows_the_measured_passes():
    # Measured on the reference machine (float64, uniform weights): 4.2, 10.7 and
    # 19 passes at n = 10, 100 and 1,000; the model is within 25% of each.
    for n, measured in [(10, 4.2), (100, 10.7), (1000, 19.0)]:
        assert gram_cost_in_passes(n, np.float64, False) == pytest.approx(
            measured, rel=0.25
        )
    base = gram_cost_in_passes(100, np.float64, False)
    assert gram_cost_in_passes(100, np.float32, False) == pytest.approx(3 * base)
    assert gram_cost_in_passes(100, np.float64, True) == pytest.approx(2 * base)


@pytest.mark.parametrize(
    ("max_iter", "tol", "expected"),
    [(1000, 1e-8, 27), (1000, 1e-6, 20), (10, 1e-8, 10), (500, None, 500),
     (500, 0.0, 500), (1000, 0.9, 1), (1000, 2.0, 1)],
)  # fmt: skip
def test_min_iterations_is_the_halving_bound(max_iter, tol, expected):
    assert min_iterations(max_iter, tol) == expected


@pytest.mark.parametrize(
    ("shape", "dtype", "weighted", "max_iter", "tol", "plan"),
    [
        # The case: tol 1e-8 needs >= 27 iterations; X^T X costs ~9 passes.
        ((1_000_000, 100), "float64", False, 2000, 1e-8, BatchPlan("gram")),
        # A few iterations never pay for X^T X.
        ((1_000_000, 100), "float64", False, 5, None, BatchPlan("pass")),
        # Loose tol: the bound (4 iterations) does not pay, but a long fit would;
        # start with passes and switch once they cost what X^T X costs.
        ((1_000_000, 100), "float64", False, 1000, 0.1, BatchPlan("pass", 10)),
        # float32 and weights make X^T X dearer: later switch.
        ((1_000_000, 100), "float32", False, 1000, 0.1, BatchPlan("pass", 28)),
        ((1_000_000, 100), "float64", True, 1000, 0.1, BatchPlan("pass", 19)),
        # Wide data: X^T X is n^2; fewer rows than features never pays.
        ((500, 1000), "float64", False, 10_000, 1e-8, BatchPlan("pass")),
        ((100_000, 5000), "float64", False, 10_000, 1e-8, BatchPlan("pass")),
        # n k / m of a pass per Gram iteration: a big k at small m delays the switch.
        ((2000, 100), "float64", False, 1000, 1e-8, BatchPlan("gram")),
    ],
)
def test_plan_batch_strategy_choices(shape, dtype, weighted, max_iter, tol, plan):
    m, n = shape
    assert plan_batch_strategy(m, n, 1, dtype, weighted, max_iter, tol) == plan


def test_plan_accounts_for_the_cost_of_a_gram_iteration():
    # n k / m = 0.5: each Gram iteration still costs half a pass.
    assert plan_batch_strategy(2000, 100, 10, "float64", False, 1000, 0.1) == (
        BatchPlan("pass", 19)
    )
    assert plan_batch_strategy(1000, 100, 10, "float64", False, 1000, 1e-8) == (
        BatchPlan("pass")
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_auto_reports_what_ran_and_matches_the_pass():
    X, y, _ = make_problem(m=3000, n=8)
    options = dict(eta0=0.1, max_iter=300)
    tight = fit_batch(X, y, tol=1e-8, **options)
    assert tight.strategy == "gram"
    few = fit_batch(X, y, tol=None, max_iter=3, eta0=0.1)
    assert few.strategy == "pass"
    loose = fit_batch(X, y, tol=0.5, **options)
    plan = plan_batch_strategy(3000, 8, 1, X.dtype, False, 300, 0.5)
    assert plan.switch_after is not None
    if loose.n_iter > plan.switch_after:
        switch = plan.switch_after + 1
        assert loose.strategy == f"pass, then gram from iteration {switch}"
    else:
        assert loose.strategy == "pass"
    # A fit that switches reaches what the pass alone reaches, to rounding.
    # (A small step keeps the gradient above half its start for 100 iterations.)
    slow = dict(tol=0.5, max_iter=100, eta0=1e-4)
    switched = fit_batch(X, y, strategy="auto", **slow)
    passes = fit_batch(X, y, strategy="pass", **slow)
    assert switched.strategy.startswith("pass, then gram")
    assert switched.n_iter == passes.n_iter == 100
    assert relative_error(switched.coef, passes.coef) <= 1e-9
    assert np.allclose(switched.loss_history, passes.loss_history, rtol=1e-9)


def test_auto_is_the_pass_for_the_twins():
    X, y, _ = make_problem(m=500, n=4)
    # tol=None: 50 iterations would pay for X^T X with the compiled kernels.
    assert fit_batch(X, y, tol=None, max_iter=50).strategy == "gram"
    for impl in ("numpy", "loop"):
        assert fit_batch(X, y, tol=None, max_iter=50, impl=impl).strategy == "pass"
    assert fit_batch(X, y, tol=None, max_iter=50, strategy="pass").strategy == "pass"


def test_stochastic_solvers_report_no_strategy():
    from fastgd import fit_minibatch, fit_sgd

    X, y, _ = make_problem(m=200, n=3)
    assert fit_sgd(X, y, max_iter=2, tol=None).strategy is None
    assert fit_minibatch(X, y, max_iter=2, tol=None).strategy is None


def test_gdregressor_batch_uses_the_plan():
    X, y, _ = make_problem(m=3000, n=8)
    model = GDRegressor(solver="batch", eta0=0.1, tol=1e-8, max_iter=500).fit(X, y)
    reference = fit_batch(
        X, y, eta0=0.1, tol=1e-8, max_iter=500, standardize=True, strategy="pass"
    )
    # Accelerated and stopped on the excess loss: the same optimum, reached
    # another way.
    assert relative_error(model.coef_, reference.coef) <= 1e-5


def _correlated(m, n, rho, rng):
    """Columns of an AR(1) process with correlation ``rho``, spread over four
    decades of scale: an ill-conditioned least squares problem."""
    X = rng.normal(size=(m, n))
    for j in range(1, n):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * X[:, j]
    return X * np.logspace(-2, 2, n)


def test_a_fit_that_measures_a_slow_excess_forms_the_gram_matrix_early():
    """A fit that stops on the excess switches to X^T X as soon as its measured
    contraction says it will run past the ski-rental switch; a fast one never
    forms it."""
    rng = np.random.default_rng(0)
    m, n = 20_000, 50
    slow = _correlated(m, n, 0.95, rng)
    fast = rng.normal(size=(m, n))
    y = slow @ (rng.normal(size=n) / np.logspace(-2, 2, n)) + rng.normal(size=m)
    weights = np.linspace(0.5, 1.5, m)  # weights make X^T X dearer: no Gram at once
    plan = plan_batch_strategy(m, n, 1, np.float64, True, 1000, 1e-4)
    assert plan == BatchPlan("pass", 15)
    result = fit_cg(slow, y, tol=1e-4, sample_weight=weights)
    assert result.converged and result.n_iter > plan.switch_after
    switched = int(result.strategy.rsplit(" ", 1)[1])
    assert result.strategy.startswith("pass, then gram from evaluation ")
    assert switched <= plan.switch_after
    result = fit_cg(fast, y, tol=1e-4, sample_weight=weights)
    assert result.converged and result.strategy == "pass"


def test_the_predicted_switch_reads_the_mean_contraction():
    """note_excess: from the third measurement, the evaluations left at the mean
    contraction so far decide; an unmeasured (infinite) excess is skipped."""
    full = FullGradient.__new__(FullGradient)
    full.gram_after, full._excesses = 15, []
    for evaluation, excess in enumerate((np.inf, 10.0, 5.0), start=1):
        full.evaluations = evaluation
        full.note_excess(excess, 1e-4)
    assert full.gram_after == 15  # two measurements: no prediction yet
    full.evaluations = 4
    full.note_excess(2.5, 1e-4)  # halving: 15 more evaluations to 1e-4
    assert full.gram_after == 4
    full.gram_after, full._excesses = 15, []
    for evaluation, excess in enumerate((10.0, 0.1, 1e-3), start=1):
        full.evaluations = evaluation
        full.note_excess(excess, 1e-4)  # 100x an evaluation: one more
    assert full.gram_after == 15
