"""The losses: their rules, the kernels and twins that run them, the fits that
minimize them, and the certificate of the smooth ones.

The reference optima are solved here from scikit-learn's definitions of each
loss (written out below, independently of :mod:`fastgd.losses`): L-BFGS for the
smooth losses, an exact linear program for the piecewise-linear ones.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog, minimize
from sklearn.datasets import load_diabetes
from sklearn.linear_model import QuantileRegressor

from fastgd import GDRegressor, fit_batch, fit_minibatch, fit_sgd, losses
from fastgd._training.objective import make_loss

from .conftest import make_problem, relative_error, slow_without_jit

SMOOTH = ["huber", "squared_epsilon_insensitive"]
KINKED = ["epsilon_insensitive", "quantile"]
LOSSES = SMOOTH + KINKED
PARAMETER = {"huber": 1.0, "squared_epsilon_insensitive": 0.3,
             "epsilon_insensitive": 0.3, "quantile": 0.7}  # fmt: skip


def _options(name):
    key = "quantile" if name == "quantile" else "epsilon"
    return {"loss": name, key: PARAMETER[name]}


def sklearn_loss(name, r, parameter):
    """scikit-learn's loss of residual r = prediction - y, from its docs
    (SGDRegressor; the pinball loss of QuantileRegressor)."""
    size = np.abs(r)
    if name == "squared_error":
        return 0.5 * r * r
    if name == "huber":
        return np.where(size <= parameter, 0.5 * r * r,
                        parameter * size - 0.5 * parameter**2)  # fmt: skip
    if name == "epsilon_insensitive":
        return np.maximum(size - parameter, 0.0)
    if name == "squared_epsilon_insensitive":
        return np.maximum(size - parameter, 0.0) ** 2
    return np.where(r < 0, -parameter * r, (1 - parameter) * r)  # y - p = -r


def objective(X, y, coef, intercept, name, parameter):
    """scikit-learn's mean loss (fastgd's is twice it: same minimizer)."""
    return float(np.mean(sklearn_loss(name, X @ coef + intercept - y, parameter)))


def reference(X, y, name, parameter):
    """(coef, intercept) minimizing the mean loss: an LP for the kinked losses,
    L-BFGS to a gradient of 1e-12 for the smooth ones."""
    m, n = X.shape
    ones = np.ones((m, 1))
    free = [(None, None)] * (n + 1)
    if name == "quantile":  # X c + b - y = u - v, cost (1 - tau) u + tau v
        cost = np.concatenate([np.zeros(n + 1), (1 - parameter) * np.ones(m),
                               parameter * np.ones(m)])  # fmt: skip
        A = np.hstack([X, ones, -np.eye(m), np.eye(m)])
        solution = linprog(cost, A_eq=A, b_eq=y, bounds=free + [(0, None)] * (2 * m),
                           method="highs").x  # fmt: skip
        return solution[:n], solution[n]
    if name == "epsilon_insensitive":  # |X c + b - y| - eps <= s
        cost = np.concatenate([np.zeros(n + 1), np.ones(m)])
        A = np.vstack([np.hstack([X, ones, -np.eye(m)]),
                       np.hstack([-X, -ones, -np.eye(m)])])  # fmt: skip
        bound = np.concatenate([y + parameter, parameter - y])
        solution = linprog(cost, A_ub=A, b_ub=bound, bounds=free + [(0, None)] * m,
                           method="highs").x  # fmt: skip
        return solution[:n], solution[n]
    step = 1e-7

    def value_and_gradient(z):
        r = X @ z[:n] + z[n] - y
        slope = (sklearn_loss(name, r + step, parameter)
                 - sklearn_loss(name, r - step, parameter)) / (2 * step)  # fmt: skip
        return np.mean(sklearn_loss(name, r, parameter)), np.append(
            X.T @ slope, slope.sum()
        ) / m

    z = minimize(value_and_gradient, np.zeros(n + 1), jac=True, method="L-BFGS-B",
                 options=dict(maxiter=20_000, ftol=1e-16, gtol=1e-12)).x  # fmt: skip
    return z[:n], z[n]


def relative_excess(X, y, coef, intercept, name, parameter):
    best = objective(X, y, *reference(X, y, name, parameter), name, parameter)
    got = objective(X, y, coef, intercept, name, parameter)
    return (got - best) / best


def outliers(m=2000, n=6, seed=0, share=0.05):
    """Heavy-tailed columns of several scales and offsets, y with gross outliers."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(0, 2, n)
    X = rng.standard_t(3, size=(m, n)) * scales + 50.0
    y = X @ (rng.normal(size=n) / scales) + rng.normal(size=m)
    gross = rng.random(m) < share
    y[gross] += rng.normal(scale=30.0, size=gross.sum())
    return X, y


# ------------------------------------------------------------------ the rules


@pytest.mark.parametrize("name", ["squared_error", *LOSSES])
def test_each_rule_is_twice_scikit_learns_and_its_twin_agrees(name):
    parameter = PARAMETER.get(name, 0.0)
    kind = losses.LOSSES[name]
    r = np.concatenate([np.linspace(-4, 4, 801), [-parameter, 0.0, parameter]])
    expected = 2.0 * sklearn_loss(name, r, parameter)
    scalar = np.array([losses.value(kind, x, 0.0, parameter) for x in r])
    np.testing.assert_allclose(scalar, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(losses.values(kind, r, 0.0, parameter), expected,
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    slopes = np.array([losses.derivative(kind, x, 0.0, parameter) for x in r])
    np.testing.assert_array_equal(losses.derivatives(kind, r, 0.0, parameter), slopes)
    # The slope is the derivative of the value away from the kinks.
    smooth_here = np.all(np.abs(np.abs(r)[:, None] - [0.0, parameter]) > 1e-3, axis=1)
    step = 1e-6
    above = losses.values(kind, r + step, 0.0, parameter)
    numeric = (above - losses.values(kind, r - step, 0.0, parameter)) / (2 * step)
    np.testing.assert_allclose(slopes[smooth_here], numeric[smooth_here], atol=1e-5)


@pytest.mark.parametrize("name", ["squared_error", *SMOOTH])
def test_the_curvature_bound_bounds_the_second_derivative(name):
    kind = losses.LOSSES[name]
    r = np.linspace(-5, 5, 1001)
    parameter = PARAMETER.get(name, 0.0)
    curvature = losses.curvatures(kind, r, 0.0, parameter)
    assert curvature.max() == losses.CURVATURE_BOUND[kind]
    inside = np.abs(np.abs(r) - parameter) > 1e-3
    step = 1e-4
    above = losses.derivatives(kind, r + step, 0.0, parameter)
    numeric = (above - losses.derivatives(kind, r - step, 0.0, parameter)) / (2 * step)
    np.testing.assert_allclose(curvature[inside], numeric[inside], atol=1e-6)


# ------------------------------------------------------- kernels and twins

FITS = {
    "sgd": lambda X, y, **kw: fit_sgd(X, y, random_state=0, **kw),
    "minibatch": lambda X, y, **kw: fit_minibatch(X, y, batch_size=8,
                                                  random_state=0, **kw),
    "batch": lambda X, y, **kw: fit_batch(X, y, strategy="pass", **kw),
}  # fmt: skip
TOLERANCE = {np.float64: 1e-10, np.float32: 2e-4}


@pytest.mark.parametrize("method", FITS)
@pytest.mark.parametrize("name", LOSSES)
def test_compiled_epochs_equal_the_twins(method, name, n_targets, dtype):
    """Same order, same steps: the compiled fit, the NumPy twin and the loop twin
    agree to rounding, standardized and weighted, with an L2 decay."""
    X, y, _ = make_problem(m=90, n=4, k=n_targets, dtype=dtype, noise=1.0)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, 90)
    options = dict(eta0=0.02, max_iter=3, tol=None, alpha=0.01, standardize=True,
                   sample_weight=weights, **_options(name))  # fmt: skip
    compiled = FITS[method](X, y, **options)
    for impl in ("numpy", "loop"):
        twin = FITS[method](X, y, impl=impl, **options)
        assert relative_error(compiled.coef, twin.coef) <= TOLERANCE[dtype], impl
        np.testing.assert_allclose(compiled.loss_history, twin.loss_history,
                                   rtol=TOLERANCE[dtype])  # fmt: skip


@pytest.mark.parametrize("method", ["sgd", "minibatch", "batch"])
@pytest.mark.parametrize("name", LOSSES)
def test_a_sparse_fit_equals_the_dense_one(method, name):
    X, y, _ = make_problem(m=120, n=6, noise=1.0)
    X[np.abs(X) < 0.7] = 0.0
    options = dict(eta0=0.02, max_iter=4, tol=None, standardize=True,
                   **_options(name))  # fmt: skip
    dense = FITS[method](X, y, **options)
    sparse = FITS[method](sp.csr_matrix(X), y, **options)
    assert relative_error(sparse.coef, dense.coef) <= 1e-10
    np.testing.assert_allclose(sparse.loss_history, dense.loss_history, rtol=1e-10)


def test_the_squared_loss_runs_the_code_it_always_ran():
    """loss="squared_error" is the kernels' None: the same bits as no loss given
    (the golden trajectories, tests/test_golden.py, hold them to the saved ones)."""
    X, y, _ = make_problem(m=200, n=5)
    for fit in FITS.values():
        plain = fit(X, y, eta0=0.01, max_iter=3, tol=None)
        named = fit(X, y, eta0=0.01, max_iter=3, tol=None, loss="squared_error")
        np.testing.assert_array_equal(plain.coef, named.coef)
        np.testing.assert_array_equal(plain.loss_history, named.loss_history)


# ------------------------------------------------------- fits reach the optimum


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("solver", ["auto", "batch", "minibatch"])
def test_a_smooth_loss_is_fitted_to_tol_and_says_how_far_it_is(name, solver):
    """Raw heavy-tailed columns with offsets, 5% gross outliers: the default
    fit reaches the reference optimum's objective to tol, and its
    relative_excess_ (the Newton decrement) says so within a factor 3."""
    X, y = outliers()
    parameter = PARAMETER[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divergence, no ConvergenceWarning
        model = GDRegressor(solver=solver, random_state=0, **_options(name)).fit(X, y)
    true = relative_excess(X, y, model.coef_, model.intercept_[0], name, parameter)
    assert true <= 1.5 * model.tol
    said = model.relative_excess_
    assert said is not None and said <= model.tol
    assert true / 3 <= said <= 3 * max(true, 1e-7)


@pytest.mark.parametrize("name", SMOOTH)
def test_the_smooth_losses_fit_a_real_table(name):
    """load_diabetes, unscaled: batch (what "auto" runs) to tol, certified."""
    X, y = load_diabetes(return_X_y=True)
    parameter = {"huber": 20.0, "squared_epsilon_insensitive": 10.0}[name]
    key = "epsilon"
    model = GDRegressor(loss=name, random_state=0, **{key: parameter}).fit(X, y)
    assert model.solver_ == "batch"
    true = relative_excess(X, y, model.coef_, model.intercept_[0], name, parameter)
    assert true <= 1.5 * model.tol
    assert model.relative_excess_ <= model.tol


@pytest.mark.parametrize("name", KINKED)
def test_a_kinked_loss_gets_near_its_optimum_with_no_certificate(name):
    """Nothing cheap measures the distance of a loss with kinks: no
    relative_excess_, and the fit lands near the LP optimum."""
    X, y = outliers(m=1500)
    parameter = PARAMETER[name]
    model = GDRegressor(random_state=0, **_options(name)).fit(X, y)
    assert model.relative_excess_ is None
    true = relative_excess(X, y, model.coef_, model.intercept_[0], name, parameter)
    assert true <= 1e-2


@slow_without_jit
def test_the_quantile_loss_has_scikit_learns_minimizer():
    """QuantileRegressor(alpha=0) minimizes the same pinball loss."""
    X, y = outliers(m=400, n=3)
    expected = QuantileRegressor(quantile=0.8, alpha=0.0, solver="highs").fit(X, y)
    best = objective(X, y, expected.coef_, expected.intercept_, "quantile", 0.8)
    ours = objective(X, y, *reference(X, y, "quantile", 0.8), "quantile", 0.8)
    assert ours == pytest.approx(best, rel=1e-9)
    model = GDRegressor(loss="quantile", quantile=0.8, solver="batch",
                        max_iter=5000, tol=None, random_state=0).fit(X, y)  # fmt: skip
    got = objective(X, y, model.coef_, model.intercept_[0], "quantile", 0.8)
    assert (got - best) / best <= 1e-3


def test_huber_ignores_the_outliers_that_move_least_squares():
    X, y = outliers(share=0.1, seed=3)
    truth = GDRegressor(loss="huber", epsilon=1.0, random_state=0).fit(X, y[:])
    squares = GDRegressor(random_state=0).fit(X, y)
    clean = np.abs(y - X @ truth.coef_ - truth.intercept_) < 5
    X_clean, y_clean = X[clean], y[clean]
    inliers_fit = GDRegressor(random_state=0).fit(X_clean, y_clean)
    assert relative_error(truth.coef_, inliers_fit.coef_) < relative_error(
        squares.coef_, inliers_fit.coef_
    )


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(loss="absolute"), "loss='absolute' is not supported"),
        (dict(loss="huber", epsilon=-1.0), "epsilon=-1.0 is negative"),
        (dict(loss="quantile", quantile=1.0), r"quantile=1.0 is outside \(0, 1\)"),
        (dict(loss="quantile", quantile=0.0), "strictly between 0 and 1"),
        (dict(loss="huber", epsilon=np.inf), "not finite"),
    ],
)
def test_bad_loss_options_name_the_fix(options, message):
    X, y, _ = make_problem(m=50, n=2)
    with pytest.raises(ValueError, match=message):
        fit_sgd(X, y, **options)


def test_a_solver_that_needs_a_quadratic_names_the_ones_that_run_the_loss():
    X, y, _ = make_problem(m=50, n=2)
    with pytest.raises(ValueError, match="use solver='sgd', 'minibatch' or 'batch'"):
        GDRegressor(solver="svrg", loss="huber").fit(X, y)
    with pytest.raises(ValueError, match="use solver='sgd', 'minibatch' or 'batch'"):
        GDRegressor(solver="cg", loss="quantile").fit(X, y)
    with pytest.raises(ValueError, match="strategy='pass'"):
        fit_batch(X, y, strategy="gram", loss="huber")


def test_the_estimator_checks_its_loss_parameters_as_scikit_learn_does():
    X, y, _ = make_problem(m=50, n=2)
    with pytest.raises(ValueError, match="'epsilon' parameter"):
        GDRegressor(loss="huber", epsilon=-1).fit(X, y)
    with pytest.raises(ValueError, match="'quantile' parameter"):
        GDRegressor(loss="quantile", quantile=2).fit(X, y)


def test_the_loss_description_gates_what_needs_a_quadratic():
    assert make_loss("squared_error", 0.1, 0.5).quadratic
    huber = make_loss("huber", 1.35, 0.5)
    assert not huber.quadratic and huber.smooth and huber.kernel.tolist() == [1, 1.35]
    pinball = make_loss("quantile", 0.1, 0.25)
    assert not pinball.smooth and pinball.parameter == 0.25
    assert make_loss("squared_epsilon_insensitive", 0.1, 0.5).step_factor == 0.5


def test_the_certificate_reads_sparse_data_as_dense():
    """On CSR the Newton decrement's sampled rows are densified: the same fit
    and the same certificate as on the dense array."""
    X, y = outliers(m=3000, n=5, seed=2)
    X[np.abs(X - 50.0) < 1.0] = 0.0
    dense = GDRegressor(loss="huber", epsilon=1.0, random_state=0).fit(X, y)
    sparse = GDRegressor(loss="huber", epsilon=1.0, random_state=0).fit(
        sp.csr_matrix(X), y
    )
    assert sparse.relative_excess_ <= sparse.tol
    assert sparse.relative_excess_ == pytest.approx(dense.relative_excess_, rel=0.5)
    true = relative_excess(X, y, sparse.coef_, sparse.intercept_[0], "huber", 1.0)
    assert true <= 1.5 * sparse.tol


def test_the_huber_reweighting_quadratic_lies_above_the_loss():
    """The Newton steps of the batch solver weigh a Huber residual beyond
    epsilon by 2 epsilon / abs(r): that quadratic majorizes the loss, so a step
    on it cannot raise the objective."""
    kind, epsilon = losses.HUBER, 1.0
    rng = np.random.default_rng(0)
    at, to = rng.normal(scale=4, size=(2, 10_000))
    weight = losses.majorizing_curvatures(kind, at, 0.0, epsilon)
    assert np.all(weight >= losses.curvatures(kind, at, 0.0, epsilon))
    quadratic = (losses.values(kind, at, 0.0, epsilon)
                 + losses.derivatives(kind, at, 0.0, epsilon) * (to - at)
                 + 0.5 * weight * (to - at) ** 2)  # fmt: skip
    assert np.all(quadratic >= losses.values(kind, to, 0.0, epsilon) - 1e-12)


@pytest.mark.parametrize("name", SMOOTH)
def test_newton_steps_descend_and_need_few_passes(name):
    """On the unscaled diabetes table accelerated gradient steps took 213
    passes to tol for Huber; the Newton steps on the sampled Hessian take a
    handful, and the objective never rises from one to the next."""
    X, y = load_diabetes(return_X_y=True)
    parameter = {"huber": 20.0, "squared_epsilon_insensitive": 10.0}[name]
    model = GDRegressor(loss=name, epsilon=parameter, random_state=0).fit(X, y)
    assert model.n_iter_ <= 30
    assert np.all(np.diff(model.loss_curve_) <= 1e-12 * model.loss_curve_[0])
