"""Time to solution (#12): SVRG, the excess-loss stopping rule, solver="auto",
averaged and accelerated defaults, and every optimizer with its own eta0="auto"."""

import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from fastgd import (
    DivergenceError,
    GDRegressor,
    _kernels,
    choose_solver,
    fit_batch,
    fit_svrg,
    reference,
)
from fastgd._training import ExcessEstimate, prepare, solver_costs
from fastgd._validation import check_data
from fastgd.sources import DenseSource

from .conftest import lstsq, make_problem, relative_error, slow_without_jit


def _objective_optimum(X, y, w, alpha):
    """Closed-form minimizer of (1/W) sum w (x.theta + b - y)^2 + alpha |theta|^2."""
    m, n = X.shape
    A = np.hstack([X, np.ones((m, 1))])
    weights = w / w.sum()
    H = (A * weights[:, None]).T @ A
    H[np.arange(n), np.arange(n)] += alpha
    solution = np.linalg.solve(H, (A * weights[:, None]).T @ y)
    return solution[:n], solution[n]


def _relative_excess(X, y, coef, intercept):
    best_coef, best_b = lstsq(X, y)
    best = np.mean((X @ best_coef + best_b - y) ** 2)
    return (np.mean((X @ coef + intercept - y) ** 2) - best) / best


# ------------------------------------------------------------------------ SVRG


def test_svrg_reaches_the_weighted_ridge_optimum():
    X, y, _ = make_problem(m=600, n=6, seed=3)
    w = np.random.default_rng(0).uniform(0.2, 3.0, 600)
    coef, b = _objective_optimum(X, y, w, alpha=0.05)
    result = fit_svrg(X, y, alpha=0.05, sample_weight=w, tol=1e-12, max_iter=300,
                      random_state=0)  # fmt: skip
    assert result.converged
    assert relative_error(result.coef, coef) < 1e-5
    assert abs(result.intercept - b) < 1e-5 * max(1.0, abs(b))


@pytest.mark.parametrize("standardize", [False, True])
def test_svrg_reaches_lstsq_for_one_and_several_outputs(n_targets, standardize):
    X, y, _ = make_problem(m=500, n=4, k=n_targets, seed=5)
    coef, b = lstsq(X, y)
    result = fit_svrg(X, y, tol=1e-12, max_iter=300, standardize=standardize,
                      random_state=1)  # fmt: skip
    assert relative_error(result.coef, coef) < 1e-6
    assert relative_error(result.intercept, b) < 1e-6


def test_svrg_float32_reaches_lstsq_within_float32_rounding():
    X, y, _ = make_problem(m=800, n=5, dtype=np.float32, seed=2)
    coef, _ = lstsq(X, y)
    result = fit_svrg(X, y, tol=1e-6, max_iter=200, random_state=0)
    assert result.coef.dtype == np.float32
    assert relative_error(result.coef, coef) < 1e-3


@pytest.mark.parametrize("impl", ["numpy", "loop"])
def test_svrg_twins_follow_the_compiled_trajectory(impl, n_targets):
    X, y, _ = make_problem(m=150, n=4, k=n_targets, seed=8)
    w = np.random.default_rng(1).uniform(0.5, 2.0, 150)
    options = dict(sample_weight=w, alpha=0.01, standardize=True, max_iter=6,
                   tol=None, random_state=4)  # fmt: skip
    compiled = fit_svrg(X, y, **options)
    twin = fit_svrg(X, y, impl=impl, **options)
    assert relative_error(twin.coef, compiled.coef) < 1e-10
    np.testing.assert_allclose(twin.loss_history, compiled.loss_history, rtol=1e-10)


@pytest.mark.parametrize("dtype_", [np.float64, np.float32])
def test_svrg_epoch_kernel_replays_on_its_twins(dtype_, n_targets):
    """The inner epoch with drift, standardization, weights and a decay, kernel
    against both twins on the order the kernel used."""
    X, y, _ = make_problem(m=97, n=5, k=n_targets, dtype=dtype_, seed=6)
    X, y = check_data(X, y)
    rng = np.random.default_rng(2)
    shape = (5, *y.shape[1:])
    start = rng.normal(size=shape).astype(dtype_) * 0.1
    start_b = rng.normal(size=y.shape[1:] or (1,)).astype(dtype_) * 0.1
    drift = (rng.normal(size=shape).astype(dtype_),
             rng.normal(size=y.shape[1:] or (1,)).astype(dtype_))  # fmt: skip
    shift = X.mean(axis=0).astype(dtype_)
    scale = (1 / X.std(axis=0)).astype(dtype_)
    weights = rng.uniform(0.5, 1.5, 97).astype(dtype_)
    etas = np.array([0.003], dtype_)
    decays = np.array([0.999], dtype_)

    def arguments(coef, intercept, shuffle, order):
        return (X, y, weights, (shift, scale), (coef, intercept, True, None), None,
                None, drift, (etas, decays, 0), order,
                (np.array([5], np.uint64), shuffle, 7), None)  # fmt: skip

    coef, intercept = start.copy(), start_b.copy()
    order = np.arange(97, dtype=np.int64)
    loss = _kernels.run_epoch(*arguments(coef, intercept, True, order))
    tolerance = 1e-10 if dtype_ == np.float64 else 2e-4
    for twin in (reference.run_epoch_numpy, reference.run_epoch_loop):
        twin_coef, twin_b = start.copy(), start_b.copy()
        twin_loss = twin(*arguments(twin_coef, twin_b, False, order.copy()))
        assert relative_error(twin_coef, coef) < tolerance
        assert relative_error(twin_b, intercept) < tolerance
        assert abs(twin_loss - loss) <= tolerance * max(1.0, abs(loss))


def test_svrg_divergence_is_explained_not_returned():
    X, y, _ = make_problem(m=300, n=4)
    with pytest.raises(DivergenceError, match="diverged"):
        fit_svrg(X, y, eta0=50.0, max_iter=20, random_state=0)
    with pytest.warns(RuntimeWarning, match="Rolled back"):
        model = GDRegressor(solver="svrg", eta0=0.4, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.coef_))


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (dict(optimizer="adam"), "solver='svrg' makes its own steps"),
        (dict(average=True), "average is for solver='sgd' or 'minibatch'"),
    ],
)
def test_svrg_rejects_what_it_does_not_do(options, words):
    X, y, _ = make_problem(m=50, n=3)
    with pytest.raises(ValueError, match=words):
        GDRegressor(solver="svrg", **options).fit(X, y)


# ------------------------------------------------------------ the excess rule


def test_the_excess_estimate_is_exact_with_every_row_and_close_from_a_sample():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 8)) @ rng.normal(size=(8, 8))
    y = X @ rng.normal(size=8) + rng.normal(size=20000)
    data = prepare(DenseSource(X, y))
    coef, b = lstsq(X, y)
    off = coef + 0.01 * rng.normal(size=8)
    residual = X @ off + b - y
    grad = 2 * X.T @ residual / 20000
    grad_b = np.array([2 * residual.mean()])
    actual = np.mean(residual**2) - np.mean((X @ coef + b - y) ** 2)
    estimate = ExcessEstimate(data, fit_intercept=True, alpha=0.0)(grad, grad_b)
    # 20,000 rows x 8 columns: the sample holds every row, so the estimate is exact.
    assert estimate == pytest.approx(actual, rel=1e-6)
    big = prepare(DenseSource(np.vstack([X] * 10), np.tile(y, 10)))
    sampled = ExcessEstimate(big, fit_intercept=True, alpha=0.0)(grad, grad_b)
    assert 0.5 * actual < sampled < 2.0 * actual


@pytest.mark.parametrize("solver", ["sgd", "minibatch", "batch", "svrg", "auto"])
def test_every_default_solver_stops_at_the_relative_excess_it_reports(solver):
    X, y, _ = make_problem(m=4000, n=10, noise=0.5, seed=11)
    X = X * np.logspace(-2, 2, 10)  # badly scaled: standardize=True takes care
    model = GDRegressor(solver=solver, random_state=0).fit(X, y)
    actual = _relative_excess(X, y, model.coef_, model.intercept_[0])
    assert model.relative_excess_ <= 1e-4
    assert actual <= 2e-4
    assert actual == pytest.approx(model.relative_excess_, rel=0.5, abs=2e-6)


def test_batch_tolerance_no_longer_stops_far_from_the_optimum():
    """The relative gradient norm said "converged" at a 6e-2 excess on correlated
    features; the excess rule runs on to the optimum (accelerated)."""
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(5000, 20))
    for j in range(1, 20):
        Z[:, j] = 0.95 * Z[:, j - 1] + np.sqrt(1 - 0.95**2) * Z[:, j]
    y = Z @ rng.normal(size=20) + 0.1 * rng.normal(size=5000)
    model = GDRegressor(solver="batch").fit(Z, y)
    assert _relative_excess(Z, y, model.coef_, model.intercept_[0]) <= 2e-4
    # Nesterov with restart: plain steps of the same size, as many of them, end
    # much farther away.
    plain = fit_batch(Z, y, eta0=model.eta0_, standardize=True, tol=None,
                      max_iter=model.n_iter_)  # fmt: skip
    plain_excess = _relative_excess(Z, y, plain.coef, plain.intercept)
    assert plain_excess > 10 * max(model.relative_excess_, 1e-6)


# ------------------------------------------------------------------ auto


def test_auto_chooses_by_the_documented_cost_model():
    # A fit on the whole data with plain steps: conjugate gradients.
    assert choose_solver(5_000_000, 20) == "cg"
    assert choose_solver(100_000, 5_000, gram=False) == "cg"
    # Otherwise (partial_fit, other optimizers, early stopping): passes.
    assert choose_solver(5_000_000, 20, cg=False) == "batch"
    assert choose_solver(1_000_000, 100, cg=False) == "svrg"  # within GRAM_MARGIN
    assert choose_solver(200_000, 1_000, cg=False) == "svrg"
    # X^T X is not formed above 4096 features
    assert choose_solver(100_000, 5_000, cg=False) == "svrg"
    # A source that cannot form X^T X: SVRG, whose averaged warm-start epoch
    # costs no more than averaged SGD's first.
    assert choose_solver(100_000_000, 10, gram=False, cg=False) == "svrg"
    costs = solver_costs(100_000_000, 10, gram=False)
    assert set(costs) == {"svrg", "sgd"} and costs["svrg"] <= costs["sgd"]


def test_auto_says_what_ran_and_partial_fit_keeps_it():
    X, y, _ = make_problem(m=300, n=4)
    model = GDRegressor(random_state=0).fit(X, y)
    assert model.solver_ == choose_solver(300, 4) == "cg"
    model = GDRegressor(random_state=0, early_stopping=True).fit(X, y)
    assert model.solver_ == choose_solver(300, 4, cg=False)
    model = GDRegressor(random_state=0)
    for _ in range(3):
        model.partial_fit(X, y)
    assert model.solver_ == choose_solver(300, 4, cg=False)


@pytest.mark.speed
@pytest.mark.skipif(
    _kernels.JIT_DISABLED,
    reason="NUMBA_DISABLE_JIT=1: the kernels run as Python, speed is not measured",
)
def test_default_fit_beats_sgdregressor_in_one_run():
    """Speed as a ratio in one run, with a generous floor (#12's target is 5x at
    a million rows; here the data is small enough for CI)."""
    from sklearn.linear_model import SGDRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200_000, 20))
    y = X @ rng.normal(size=20) + 1.5 + 0.1 * rng.normal(size=200_000)
    GDRegressor().fit(X, y)  # compile outside the timing
    started = time.perf_counter()
    ours = GDRegressor(random_state=0).fit(X, y)
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SGDRegressor(penalty=None, random_state=0).fit(X, y)
    their_seconds = time.perf_counter() - started
    assert _relative_excess(X, y, ours.coef_, ours.intercept_[0]) <= 2e-4
    assert _relative_excess(X, y, theirs.coef_, theirs.intercept_[0]) > 1e-4
    assert their_seconds > 1.5 * ours_seconds


# ------------------------------------------------------------ the optimizers


def _problems():
    yield "diabetes-scaled", *load_diabetes(return_X_y=True)
    yield "diabetes-raw", *load_diabetes(return_X_y=True, scaled=False)
    rng = np.random.default_rng(0)
    scales = np.logspace(-3, 3, 8)
    X = rng.normal(size=(2000, 8)) * scales
    yield (
        "scaled-1e-3..1e3",
        X,
        X @ (rng.normal(size=8) / scales) + 3.0 + rng.normal(size=2000),
    )


@slow_without_jit
@pytest.mark.parametrize("solver", ["sgd", "minibatch", "batch"])
@pytest.mark.parametrize(
    "optimizer", ["momentum", "nesterov", "adagrad", "rmsprop", "adam"]
)
def test_every_optimizer_with_defaults_reaches_the_least_squares_r2(
        optimizer, solver):  # fmt: skip
    if optimizer == "rmsprop" and solver == "sgd":
        pytest.xfail(
            "rmsprop's per-sample steps (rho=0.9) are close to sign steps, whose "
            "fixed point is biased: R^2 within 2e-3 on diabetes, not 1e-3"
        )
    for name, X, y in _problems():
        coef, b = lstsq(X, y)
        best = 1 - np.mean((X @ coef + b - y) ** 2) / np.var(y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter on slow adagrad is fine
            model = GDRegressor(solver=solver, optimizer=optimizer,
                                random_state=0).fit(X, y)  # fmt: skip
        assert best - model.score(X, y) < 1e-3, name


def test_fit_batch_functional_defaults_are_unchanged():
    """The functional API keeps its rules (relative gradient norm for batch);
    the excess measured where the rule fired confirms it."""
    X, y, _ = make_problem(m=300, n=3, noise=0.0)
    result = fit_batch(X, y, eta0=0.1, tol=1e-10)
    assert result.converged and result.relative_excess <= 1e-3
