"""Penalties: scikit-learn's objective in the user's units, proximal batch steps,
and the duality gap that certifies them (fastgd._training.penalty, .gap)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize, nnls
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Ridge

from fastgd import GDRegressor, fit_batch, fit_cg, fit_minibatch, fit_sgd, fit_svrg
from fastgd._training import make_penalty
from fastgd._training.penalty import ZPenalty
from fastgd.datasets import load_real_table, make_tabular_regression

from .conftest import slow_without_jit


def diabetes():
    """Raw units: columns from about 0.05 (the blood serum measures' scale) to
    tens (age, BMI): a standardized fit's penalty must still be the user's."""
    return load_diabetes(return_X_y=True, scaled=False)


def objective(X, y, coef, intercept, alpha, l1_ratio):
    """scikit-learn's ElasticNet objective (l1_ratio 1: Lasso's)."""
    r = X @ coef + intercept - y
    return 0.5 * np.mean(r * r) + alpha * (
        l1_ratio * np.abs(coef).sum() + 0.5 * (1 - l1_ratio) * (coef @ coef)
    )


def reference(X, y, alpha, l1_ratio, positive=False, tol=1e-14):
    """scikit-learn's coordinate descent to a duality gap of ``tol`` (relative
    to |y|^2; a table with exact collinearity stalls below about 1e-10)."""
    model = ElasticNet(
        alpha=alpha, l1_ratio=l1_ratio, positive=positive, tol=tol, max_iter=1_000_000
    ).fit(X, y)
    return model.coef_, model.intercept_


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# --------------------------------------------------------------- the seam


def test_the_penalty_factors_are_scikit_learns_doubled():
    l1 = make_penalty("l1", 0.3)
    net = make_penalty("elasticnet", 0.3, l1_ratio=0.25)
    l2 = make_penalty("l2", 0.3)
    assert (l1.lasso, l1.ridge) == (0.6, 0.0)
    assert net.lasso == pytest.approx(0.15) and net.ridge == pytest.approx(0.225)
    assert (l2.lasso, l2.ridge) == (0.0, 0.3)
    assert make_penalty(None, 0.3).ridge == 0.0
    assert (
        l2.smooth and not l1.smooth and not make_penalty(None, 0, positive=True).smooth
    )


def test_in_z_units_the_weights_are_the_scale_and_its_square():
    scale = np.array([2.0, 0.5, 1.0])
    penalty = make_penalty("elasticnet", 1.0, l1_ratio=0.5).in_z_units(scale)
    np.testing.assert_allclose(penalty.lasso, 1.0 * scale)
    np.testing.assert_allclose(penalty.ridge, 0.5 * scale**2)
    # What it charges a z-unit coefficient w is what the user's scale * w costs.
    w = np.array([0.3, -2.0, 1.5])
    user = scale * w
    assert penalty.value(w) == pytest.approx(np.abs(user).sum() + 0.5 * user @ user)
    # Unscaled L2 stays the scalar decay of the kernels (the legacy path).
    assert make_penalty("l2", 0.1).in_z_units(np.ones(3)).legacy


@pytest.mark.parametrize("positive", [False, True])
def test_the_prox_minimizes_its_one_dimensional_problem(positive):
    rng = np.random.default_rng(0)
    penalty = ZPenalty(np.array([0.0, 0.7, 2.0]), np.array([1.0, 0.3, 0.0]), positive)
    grid = np.linspace(-15, 15, 600_001)
    for _ in range(20):
        point, eta = rng.normal(scale=3, size=3), rng.uniform(0.1, 2)
        proximal = penalty.prox(point, eta)
        for j in range(3):
            values = (
                (grid - point[j]) ** 2 / (2 * eta)
                + penalty.ridge[j] * grid**2
                + penalty.lasso[j] * np.abs(grid)
            )
            if positive:
                values = np.where(grid >= 0, values, np.inf)
            assert proximal[j] == pytest.approx(grid[np.argmin(values)], abs=1e-4)


def test_the_subgradient_is_zero_exactly_at_a_lasso_optimum():
    X, y = diabetes()
    coef, intercept = reference(X, y, 0.5, 1.0)
    penalty = make_penalty("l1", 0.5).in_z_units(np.ones(X.shape[1]))
    # fastgd's loss is twice scikit-learn's: its gradient is twice theirs.
    grad = 2 * X.T @ (X @ coef + intercept - y) / len(y)
    assert np.max(np.abs(penalty.subgradient(coef, grad))) < 1e-6 * np.max(np.abs(grad))
    moved = coef + 0.1
    assert np.max(np.abs(penalty.subgradient(moved, grad))) > 1e-2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(penalty="l3"), "penalty='l3' is not supported"),
        (dict(penalty="elasticnet", l1_ratio=1.5), r"l1_ratio=1.5 is outside \[0, 1\]"),
        (dict(penalty="elasticnet", l1_ratio=-0.1), "outside"),
        (dict(alpha=-1.0), "alpha must be >= 0"),
    ],
)
def test_bad_penalty_options_are_named_with_the_fix(options, message):
    X, y = diabetes()
    with pytest.raises(ValueError, match=message):
        fit_batch(X, y, **options)


def test_solvers_without_proximal_steps_refuse_l1_and_name_those_with():
    X, y = diabetes()
    with pytest.raises(ValueError, match=r"solver='batch'.*'minibatch'.*'svrg'"):
        GDRegressor(penalty="l1", alpha=0.1, solver="cg").fit(X, y)
    with pytest.raises(ValueError, match=r"positive=True .* solver=.batch."):
        GDRegressor(positive=True, solver="cg").fit(X, y)
    for fit in (fit_batch, fit_sgd, fit_minibatch):
        with pytest.raises(ValueError, match="optimizer='sgd'"):
            fit(X, y, penalty="l1", alpha=0.1, optimizer="adam")


# ------------------------------------------------- L1 and elastic-net by batch


@pytest.mark.parametrize("standardize", [True, False])
# Passes by Python loops take a minute per fit without the JIT; the gram
# strategy runs the same proximal steps there.
@pytest.mark.parametrize(
    "strategy", ["gram", pytest.param("pass", marks=slow_without_jit)]
)
@pytest.mark.parametrize(("penalty", "l1_ratio"), [("l1", 1.0), ("elasticnet", 0.4)])
def test_batch_reaches_scikit_learns_lasso_and_elastic_net(
    penalty, l1_ratio, strategy, standardize
):
    X, y = diabetes()
    if not standardize:
        # Raw units leave plain steps with a condition number of 1e5 to walk;
        # the fit without standardize runs on columns of comparable scale.
        X = (X - X.mean(0)) / X.std(0) * [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    alpha = 0.3
    coef, intercept = reference(X, y, alpha, l1_ratio)
    result = fit_batch(
        X, y, eta0="auto", penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
        strategy=strategy, standardize=standardize, tol=1e-9, max_iter=20_000,
    )  # fmt: skip
    optimum = objective(X, y, coef, intercept, alpha, l1_ratio)
    ours = objective(X, y, result.coef, result.intercept, alpha, l1_ratio)
    true_excess = (ours - optimum) / optimum
    assert result.converged
    assert true_excess < 1e-8
    # The duality gap bounds the excess: never below the true one.
    assert result.relative_excess >= true_excess - 1e-12
    np.testing.assert_array_equal(result.coef == 0, coef == 0)


def test_the_default_estimator_stops_on_a_gap_that_bounds_the_true_excess():
    X, y = diabetes()
    for alpha, l1_ratio, penalty in [(0.05, 1.0, "l1"), (2.0, 0.7, "elasticnet")]:
        coef, intercept = reference(X, y, alpha, l1_ratio)
        model = GDRegressor(penalty=penalty, alpha=alpha, l1_ratio=l1_ratio).fit(X, y)
        optimum = objective(X, y, coef, intercept, alpha, l1_ratio)
        ours = objective(X, y, model.coef_, model.intercept_[0], alpha, l1_ratio)
        true_excess = (ours - optimum) / optimum
        assert model.solver_ == "batch"
        assert true_excess <= model.relative_excess_ <= 1e-4


@pytest.mark.parametrize("impl", ["numpy", "loop"])
def test_the_twins_take_the_same_proximal_steps(impl):
    X, y = diabetes()
    X, y = X[:120], y[:120]
    options = dict(
        eta0="auto",
        penalty="elasticnet",
        alpha=0.2,
        l1_ratio=0.6,
        standardize=True,
        strategy="pass",
        tol=None,
        max_iter=40,
    )
    compiled = fit_batch(X, y, **options)
    twin = fit_batch(X, y, impl=impl, **options)
    np.testing.assert_allclose(twin.coef, compiled.coef, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(twin.loss_history, compiled.loss_history, rtol=1e-10)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_positive_matches_scikit_learns_positive_lasso(l1_ratio):
    X, y = diabetes()
    coef, _ = reference(X, y, 0.2, l1_ratio, positive=True)
    options = dict(penalty="elasticnet", alpha=0.2, l1_ratio=l1_ratio)
    model = GDRegressor(positive=True, tol=1e-10, max_iter=100_000, **options)
    model.fit(X, y)
    assert model.coef_.min() >= 0.0
    assert np.max(np.abs(model.coef_ - coef)) < 1e-4 * np.max(np.abs(coef))
    np.testing.assert_array_equal(model.coef_ == 0, coef == 0)


def test_positive_without_a_penalty_is_non_negative_least_squares():
    X, y = diabetes()
    A = np.column_stack([X, np.ones(len(y))])
    # nnls on [X, 1] with a free intercept: split it into two non-negative parts.
    solution, _ = nnls(np.column_stack([A, -np.ones(len(y))]), y)
    coef, intercept = solution[:-2], solution[-2] - solution[-1]
    model = GDRegressor(positive=True, tol=1e-10, max_iter=100_000).fit(X, y)
    r_ours = X @ model.coef_ + model.intercept_[0] - y
    r_ref = X @ coef + intercept - y
    assert np.mean(r_ours**2) <= np.mean(r_ref**2) * (1 + 1e-8)
    np.testing.assert_array_equal(model.coef_ == 0, coef == 0)


def test_a_sparse_matrix_fits_the_same_lasso_as_the_dense_one():
    X, y = diabetes()
    dense = GDRegressor(penalty="l1", alpha=0.3, tol=1e-10, max_iter=100_000).fit(X, y)
    sparse = GDRegressor(penalty="l1", alpha=0.3, tol=1e-10, max_iter=100_000).fit(
        sp.csr_matrix(X), y
    )
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-6, atol=1e-8)


def test_sample_weights_count_as_repeated_rows():
    X, y = diabetes()
    counts = np.random.default_rng(0).integers(0, 4, size=len(y))
    options = dict(
        penalty="elasticnet", alpha=0.1, l1_ratio=0.5, tol=1e-10, max_iter=100_000
    )
    weighted = GDRegressor(**options).fit(X, y, sample_weight=counts)
    repeated = GDRegressor(**options).fit(np.repeat(X, counts, 0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-8)


def test_several_outputs_are_each_their_own_lasso():
    X, y = diabetes()
    Y = np.column_stack([y, np.sqrt(y) * 10, -y])
    model = GDRegressor(penalty="l1", alpha=0.4, tol=1e-10, max_iter=100_000).fit(X, Y)
    for c in range(3):
        coef, intercept = reference(X, Y[:, c], 0.4, 1.0)
        np.testing.assert_allclose(
            model.coef_[c], coef, rtol=1e-5, atol=1e-6 * np.max(np.abs(coef))
        )
        assert model.intercept_[c] == pytest.approx(intercept, rel=1e-6)


def test_a_realistic_table_gets_its_lasso_from_the_defaults():
    """Heavy tails, a timestamp offset, columns of scale 1e-6 and 1e6, an exact
    duplicate and one-hot blocks with rare levels."""
    X, y = make_tabular_regression(3000, categorical_levels=(8, 60), random_state=0)
    alpha = 0.5
    coef, intercept = reference(X, y, alpha, 1.0, tol=1e-10)
    model = quiet(GDRegressor(penalty="l1", alpha=alpha).fit, X, y)
    optimum = objective(X, y, coef, intercept, alpha, 1.0)
    ours = objective(X, y, model.coef_, model.intercept_[0], alpha, 1.0)
    assert (ours - optimum) / optimum <= model.relative_excess_ <= 1e-4


@pytest.mark.parametrize(("penalty", "l1_ratio"), [("l1", 1.0), ("elasticnet", 0.5)])
def test_a_real_table_gets_scikit_learns_model_within_the_gap_it_reports(
    penalty, l1_ratio
):
    """ggplot2's diamonds (53,940 rows; carat, depth, table and sizes with
    heavy tails and collinearity, three one-hot categoricals)."""
    X, y = load_real_table("diamonds", sparse=False)
    coef, intercept = reference(X, y, 1.0, l1_ratio, tol=1e-10)
    model = GDRegressor(penalty=penalty, alpha=1.0, l1_ratio=l1_ratio).fit(X, y)
    optimum = objective(X, y, coef, intercept, 1.0, l1_ratio)
    ours = objective(X, y, model.coef_, model.intercept_[0], 1.0, l1_ratio)
    assert (ours - optimum) / optimum <= model.relative_excess_ <= 1e-4


def test_huber_with_l1_reaches_the_bound_constrained_reference():
    """Huber + L1 has no duality gap here; the split w = u - v, u, v >= 0, makes
    it a smooth bound-constrained problem L-BFGS-B solves tightly."""
    X, y = diabetes()
    rng = np.random.default_rng(0)
    y = y + (rng.random(len(y)) < 0.05) * 2000.0  # gross outliers
    n, epsilon, alpha = X.shape[1], 20.0, 0.5

    def huber(r):  # scikit-learn's: half of fastgd's
        small = np.abs(r) <= epsilon
        return np.where(small, 0.5 * r * r, epsilon * np.abs(r) - 0.5 * epsilon**2)

    def split(params):
        return params[:n] - params[n : 2 * n], params[-1]

    def value(params):
        coef, b = split(params)
        return np.mean(huber(X @ coef + b - y)) + alpha * np.sum(params[: 2 * n])

    bounds = [(0, None)] * (2 * n) + [(None, None)]
    start = np.zeros(2 * n + 1)
    start[-1] = np.median(y)
    best = minimize(
        value,
        start,
        method="L-BFGS-B",
        bounds=bounds,
        options=dict(maxiter=100_000, maxfun=1_000_000, ftol=1e-15, gtol=1e-12),
    )
    model = quiet(
        GDRegressor(
            loss="huber",
            epsilon=epsilon,
            penalty="l1",
            alpha=alpha,
            tol=1e-8,
            max_iter=100_000,
        ).fit,
        X,
        y,
    )
    ours = np.concatenate(
        [np.maximum(model.coef_, 0), np.maximum(-model.coef_, 0), model.intercept_]
    )
    assert model.solver_ == "batch"
    assert (value(ours) - best.fun) / best.fun < 1e-6


# ------------------------------------- the L2 penalty in the user's units


def scaled_problem(seed=0):
    rng = np.random.default_rng(seed)
    scales = np.logspace(-3, 2, 6)
    X = rng.normal(size=(4000, 6)) * scales + 10.0
    y = X @ (rng.normal(size=6) / scales) + rng.normal(size=4000)
    return X, y


def ridge_excess(X, y, alpha, coef, intercept):
    """The relative excess of fastgd's ridge objective (mean squared error +
    alpha |coef|^2, in the user's units) over scikit-learn's Ridge optimum."""

    def value(c, b):
        r = X @ c + b - y
        return np.mean(r * r) + alpha * c @ c

    ridge = Ridge(alpha=alpha * len(y)).fit(X, y)  # its loss is a sum, ours a mean
    optimum = value(ridge.coef_, ridge.intercept_)
    return (value(coef, np.ravel(intercept)[0]) - optimum) / optimum


@pytest.mark.parametrize("impl", ["compiled", "numpy"])
def test_svrg_and_batch_reach_ridge_with_standardized_columns(impl):
    X, y = scaled_problem()
    alpha = 1e-2
    svrg = fit_svrg(X, y, alpha=alpha, standardize=True, impl=impl, tol=1e-10,
                    max_iter=200)  # fmt: skip
    batch = fit_batch(X, y, alpha=alpha, standardize=True, impl=impl, eta0="auto",
                      tol=1e-12, max_iter=10_000)  # fmt: skip
    cg = fit_cg(X, y, alpha=alpha, standardize=True, tol=1e-12)
    for result in (svrg, batch, cg):
        assert ridge_excess(X, y, alpha, result.coef, result.intercept) < 1e-9


@slow_without_jit
@pytest.mark.parametrize("solver", ["sgd", "minibatch", "svrg", "batch", "cg", "auto"])
def test_every_solver_fits_the_same_ridge_standardized_or_not(solver):
    X, y = scaled_problem(1)
    alpha = 1e-2
    model = quiet(
        GDRegressor(solver=solver, penalty="l2", alpha=alpha, random_state=0).fit, X, y
    )
    assert ridge_excess(X, y, alpha, model.coef_, model.intercept_) < 3e-4


@pytest.mark.parametrize(
    ("fit", "options"),
    [(fit_sgd, {}), (fit_minibatch, dict(batch_size=7)), (fit_svrg, {})],
)
@pytest.mark.parametrize("impl", ["numpy", "loop"])
def test_the_weighing_decay_has_the_same_arithmetic_in_every_implementation(
    fit, options, impl
):
    X, y = scaled_problem(2)
    X, y = X[:150], y[:150]
    Y = np.column_stack([y, -2 * y])
    for target in (y, Y):
        common = dict(
            alpha=0.05,
            standardize=True,
            eta0=0.002,
            max_iter=3,
            tol=None,
            random_state=3,
            **options,
        )
        compiled = fit(X, target, **common)
        twin = fit(X, target, impl=impl, **common)
        np.testing.assert_allclose(twin.coef, compiled.coef, rtol=1e-10, atol=1e-12)


def test_a_column_of_tiny_scale_does_not_make_the_penalized_steps_unstable():
    """In z units the L2 factor of a column of scale 1e-7 is 1e14 alpha: the
    proximal form divides by it where the plain decay would flip sign."""
    X, y = scaled_problem(3)
    X = X.copy()
    X[:, 0] *= 1e-5
    for solver in ("sgd", "minibatch", "svrg", "batch"):
        model = quiet(
            GDRegressor(solver=solver, penalty="l2", alpha=1e-3, random_state=0).fit,
            X,
            y,
        )
        assert np.all(np.isfinite(model.coef_))
        assert abs(model.coef_[0]) < 1.0  # shrunk to almost nothing, as Ridge does


# ------------------------------------------------- proximal SGD


def tabular():
    """Heavy tails, a timestamp offset, columns of scale 1e-6 and 1e6, an exact
    duplicate and one-hot blocks with rare levels."""
    return make_tabular_regression(3000, categorical_levels=(8, 60), random_state=0)


# Tens of epochs of per-sample steps: minutes as Python loops.
@slow_without_jit
@pytest.mark.parametrize("solver", ["sgd", "minibatch", "svrg"])
@pytest.mark.parametrize(
    ("data", "alpha", "penalty", "l1_ratio", "positive"),
    [
        (diabetes, 0.3, "l1", 1.0, False),
        (tabular, 0.5, "l1", 1.0, False),
        (tabular, 0.5, "elasticnet", 0.5, False),
        (diabetes, 0.3, "elasticnet", 0.5, True),
    ],
)
def test_proximal_steps_reach_the_lasso_and_report_their_excess(
    solver, data, alpha, penalty, l1_ratio, positive
):
    check_proximal_fit(solver, data(), alpha, penalty, l1_ratio, positive)


# Tens of epochs of per-sample steps: minutes as Python loops.
@slow_without_jit
@pytest.mark.parametrize("solver", ["sgd", "minibatch"])
@pytest.mark.parametrize("data", [diabetes, tabular])
def test_lazy_proximal_steps_on_a_csr_matrix_reach_the_lasso(solver, data):
    """The realistic table as CSR: rare one-hot levels, whose coefficients wait
    for their rows' pending soft-thresholds, centred rows (the catch-up's
    approximation), and the same reach as dense rows."""
    X, y = data()
    check_proximal_fit(solver, (sp.csr_matrix(X), y), 0.5, "l1", 1.0, False)


def check_proximal_fit(solver, data, alpha, penalty, l1_ratio, positive):
    """Proximal steps, the step shrunk on a plateau, and one proximal batch step
    from the averaged iterate: the excess reported is the smaller of the gap and
    the estimate on the iterate's face: never below half the true one, and
    above it by at most the estimate's margin (an upper bound on the face)."""
    X, y = data
    coef, intercept = reference(X, y, alpha, l1_ratio, positive=positive, tol=1e-10)
    model = quiet(
        GDRegressor(
            solver=solver, penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
            positive=positive, random_state=0,
        ).fit, X, y,
    )  # fmt: skip
    optimum = objective(X, y, coef, intercept, alpha, l1_ratio)
    ours = objective(X, y, model.coef_, model.intercept_[0], alpha, l1_ratio)
    true_excess = (ours - optimum) / optimum
    assert model.solver_ == solver
    assert true_excess <= 2e-3
    assert 0.5 * true_excess <= model.relative_excess_ <= 10.0 * true_excess + 1e-12
    if positive:
        assert np.all(model.coef_ >= 0)
    # The reported iterate is a proximal step's: the zeros are exact.
    assert np.sum(model.coef_ == 0) >= np.sum(coef == 0) - 1


@pytest.mark.parametrize(
    ("solver", "matrix"),
    [("sgd", np.asarray), ("minibatch", np.asarray), ("svrg", np.asarray),
     ("sgd", sp.csr_matrix), ("minibatch", sp.csr_matrix)],
    ids=["sgd", "minibatch", "svrg", "sgd-csr", "minibatch-csr"],
)  # fmt: skip
def test_proximal_steps_find_the_zeros_of_a_sparse_model(solver, matrix):
    """Gaussian columns, half the true coefficients 0: a few epochs, the exact
    zeros of the reported proximal step, and an excess within a factor of the
    true one (small enough to run as Python without the JIT); on a CSR matrix
    the steps are taken lazily."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 6))
    y = X @ [1.5, 0.0, -2.0, 0.0, 0.7, 0.0] + rng.normal(size=2000)
    alpha = 0.05
    coef, intercept = reference(X, y, alpha, 1.0)
    model = GDRegressor(solver=solver, penalty="l1", alpha=alpha, random_state=0)
    model.fit(matrix(X), y)
    optimum = objective(X, y, coef, intercept, alpha, 1.0)
    ours = objective(X, y, model.coef_, model.intercept_[0], alpha, 1.0)
    true_excess = (ours - optimum) / optimum
    assert true_excess <= model.relative_excess_ * 2.0 <= 2e-4
    np.testing.assert_array_equal(model.coef_ == 0, coef == 0)


# Tens of epochs of per-sample steps: minutes as Python loops.
@slow_without_jit
def test_proximal_sgd_on_collinear_columns_says_it_is_not_certified():
    """ggplot2's diamonds (collinear sizes): the Lasso's face leaves the Hessian
    singular and only the loose gap bounds the excess; the fit is good, and says
    it cannot prove it."""
    X, y = load_real_table("diamonds", sparse=False)
    coef, intercept = reference(X, y, 1.0, 1.0, tol=1e-10)
    with pytest.warns(ConvergenceWarning, match="relative excess"):
        model = GDRegressor(solver="minibatch", penalty="l1", alpha=1.0).fit(X, y)
    optimum = objective(X, y, coef, intercept, 1.0, 1.0)
    ours = objective(X, y, model.coef_, model.intercept_[0], 1.0, 1.0)
    assert (ours - optimum) / optimum <= min(model.relative_excess_, 1e-3)


@pytest.mark.parametrize(
    ("fit", "options"),
    [(fit_sgd, {}), (fit_minibatch, dict(batch_size=16)), (fit_svrg, {})],
)
@pytest.mark.parametrize("impl", ["numpy", "loop"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_twins_take_the_same_proximal_steps_per_sample(fit, options, impl,
                                                            dtype):  # fmt: skip
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6)) * [1, 10, 0.1, 1, 1, 3] + [0, 5, 0, 0, 1, 0]
    y = X @ [1.0, 0, 2, 0, 0.5, 0] + rng.normal(size=300)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for target in (y, np.column_stack([y, -y])):
        for standardize, penalty in ((True, "l1"), (False, "elasticnet")):
            common = dict(
                eta0="auto", max_iter=3, tol=None, standardize=standardize,
                random_state=0, penalty=penalty, alpha=0.05, l1_ratio=0.5,
                positive=not standardize, **options,
            )  # fmt: skip
            compiled = fit(X.astype(dtype), target, **common)
            twin = fit(X.astype(dtype), target, impl=impl, **common)
            np.testing.assert_allclose(twin.coef, compiled.coef, atol=tolerance)
            assert np.any(compiled.coef == 0)


# Tens of epochs of per-sample steps: minutes as Python loops.
@slow_without_jit
def test_partial_fit_streams_a_lasso_by_proximal_minibatch_steps():
    """Chunks of 500 rows, one epoch a call at a constant step: within 1% of the
    Lasso's objective on the realistic table (per-sample steps stay about 14%
    off there: their constant step's noise on heavy tails; README, "Penalties")."""
    X, y = tabular()
    alpha = 0.5
    coef, intercept = reference(X, y, alpha, 1.0, tol=1e-10)
    model = GDRegressor(solver="minibatch", penalty="l1", alpha=alpha, random_state=0)
    for _ in range(5):
        for start in range(0, len(y), 500):
            model.partial_fit(X[start : start + 500], y[start : start + 500])
    optimum = objective(X, y, coef, intercept, alpha, 1.0)
    ours = objective(X, y, model.coef_, model.intercept_[0], alpha, 1.0)
    assert model.solver_ == "minibatch"
    assert (ours - optimum) / optimum < 1e-2


def test_a_csr_matrix_refuses_proximal_svrg_and_names_the_solvers_that_run():
    X, y = scaled_problem(4)
    with pytest.raises(ValueError, match=r"solver='batch'.*'sgd' or 'minibatch'"):
        GDRegressor(solver="svrg", penalty="l1", alpha=1e-2).fit(sp.csr_matrix(X), y)


def sparse_rows(seed=2, m=400, n=12):
    """Rows with a fifth of their entries stored, of several scales and means."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n)) * (rng.random((m, n)) < 0.2)
    X *= rng.choice([0.1, 1.0, 10.0], size=n)
    y = X @ np.where(np.arange(n) < 4, 1.0, 0.0) + 0.5 + 0.3 * rng.normal(size=m)
    return X, y


@pytest.mark.parametrize("fit", [fit_sgd, fit_minibatch])
@pytest.mark.parametrize(
    "options",
    [
        dict(penalty="l1", standardize=False),
        dict(penalty="l1", standardize=True, fit_intercept=False),
        dict(penalty="elasticnet", l1_ratio=0.5, standardize=False),
        dict(penalty="l1", standardize=False, positive=True),
        dict(penalty=None, standardize=True, fit_intercept=False, positive=True),
        # A strong L2 term: in each SGD epoch alpha falls below MIN_ALPHA once
        # and folds into v, after the catch-up of every coefficient.
        dict(penalty="elasticnet", l1_ratio=0.1, alpha=5.0, standardize=False),
    ],
    ids=["l1", "l1-scaled", "elasticnet", "l1-positive", "positive-scaled",
         "elasticnet-folds"],
)  # fmt: skip
def test_lazy_proximal_steps_on_csr_rows_are_the_dense_ones(fit, options):
    """Rows that are not centred: between two rows that touch a coefficient no
    gradient moves it, and the soft-thresholds of the steps between add up, so
    the lazy catch-up takes the dense epochs' proximal steps, to rounding, for
    one output and several, with and without a decaying step."""
    X, y = sparse_rows()
    for target in (y, np.column_stack([y, 2 * y])):
        for learning_rate in ("constant", "invscaling"):
            common = dict(dict(alpha=0.02, max_iter=3, tol=None, eta0="auto",
                               average=False, learning_rate=learning_rate,
                               random_state=0), **options)  # fmt: skip
            dense = fit(X, target, **common)
            lazy = fit(sp.csr_matrix(X), target, **common)
            np.testing.assert_allclose(lazy.coef, dense.coef, rtol=0, atol=1e-12)
            np.testing.assert_allclose(lazy.intercept, dense.intercept, atol=1e-12)
            np.testing.assert_array_equal(lazy.coef == 0, dense.coef == 0)
            assert np.any(lazy.coef == 0)


@pytest.mark.parametrize("fit", [fit_sgd, fit_minibatch])
def test_lazy_proximal_steps_on_centred_csr_rows_stay_near_the_dense_ones(fit):
    """Standardized with an intercept, rows are centred: every coefficient moves
    along the centring at every step, and the catch-up thresholds where it is
    when a row touches it (Tsuruoka et al.'s approximation): the same zeros,
    and coefficients within a small fraction of the step's scale."""
    X, y = sparse_rows()
    common = dict(penalty="l1", alpha=0.02, max_iter=5, tol=None, eta0="auto",
                  average=False, random_state=0)  # fmt: skip
    dense = fit(X, y, **common)
    lazy = fit(sp.csr_matrix(X), y, **common)
    np.testing.assert_allclose(lazy.coef, dense.coef, atol=2e-2)
    np.testing.assert_array_equal(lazy.coef == 0, dense.coef == 0)


def test_a_csr_matrix_with_standardized_l2_runs_batch_or_refuses_the_lazy_epochs():
    X, y = scaled_problem(4)
    X = sp.csr_matrix(X - 10.0)
    model = quiet(GDRegressor(penalty="l2", alpha=1e-2).fit, X, y)
    assert model.solver_ in ("batch", "cg")
    partial = quiet(GDRegressor(penalty="l2", alpha=1e-2).partial_fit, X, y)
    assert partial.solver_ == "batch"
    with pytest.raises(ValueError, match="standardize=False"):
        GDRegressor(solver="sgd", penalty="l2", alpha=1e-2).fit(X, y)
    plain = quiet(
        GDRegressor(
            solver="sgd",
            penalty="l2",
            alpha=1e-2,
            standardize=False,
            eta0=1e-6,
            max_iter=2,
        ).fit,
        X,
        y,
    )
    assert np.all(np.isfinite(plain.coef_))
