"""minimize, check_gradient and normal_equation."""

import numpy as np
import pytest

from fastgd import (
    DivergenceError,
    check_gradient,
    minimize,
    normal_equation,
    reference,
    schedules,
)

from .conftest import lstsq, make_problem, relative_error


def course(x):
    return (x - 3.5) ** 2 - 4.5 * x + 10


def course_grad(x):
    return 2 * (x - 3.5) - 4.5


def double_well(x):
    return x**4 - 3 * x**2 + x


def double_well_grad(x):
    return 4 * x**3 - 6 * x + 1


def test_course_example_reaches_5_75():
    result = minimize(course, course_grad, x0=0.0, learning_rate=0.1)
    assert result.converged
    # Stopping on the change in f leaves x within about sqrt(tol) of the minimum.
    assert result.x == pytest.approx(5.75, abs=1e-4)
    assert result.fun == pytest.approx(course(5.75), abs=1e-9)
    assert result.path.shape == (result.n_iter + 1,) and result.path[0] == 0.0


def test_smaller_steps_take_longer():
    slow = minimize(course, course_grad, x0=0.0, learning_rate=0.01, tol=1e-14)
    fast = minimize(course, course_grad, x0=0.0, learning_rate=0.1, tol=1e-14)
    assert slow.converged and fast.converged
    assert slow.n_iter > 5 * fast.n_iter
    assert slow.x == pytest.approx(5.75, abs=1e-5)
    assert fast.x == pytest.approx(5.75, abs=1e-6)


def test_too_large_a_step_diverges_with_a_clear_error():
    with pytest.raises(DivergenceError, match="smaller learning_rate"):
        minimize(course, course_grad, x0=0.0, learning_rate=1.5)


def test_restarts_find_the_global_minimum_of_a_double_well():
    local = minimize(double_well, double_well_grad, x0=2.0, learning_rate=0.01)
    assert local.x == pytest.approx(1.1309, abs=1e-3), "from x0=2: the local minimum"
    best = minimize(double_well, double_well_grad, x0=2.0, learning_rate=0.01,
                    n_restarts=10, restart_range=(-2, 2), random_state=0)  # fmt: skip
    assert best.x == pytest.approx(-1.3008, abs=1e-3)
    assert best.fun < local.fun and best.n_runs == 11


def test_maximize_and_vectors_and_schedules():
    peak = minimize(lambda x: -((x - 2.0) ** 2), lambda x: -2 * (x - 2.0), x0=-1.0,
                    maximize=True, tol=1e-14)  # fmt: skip
    assert peak.x == pytest.approx(2.0, abs=1e-6)
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    bowl = minimize(lambda v: 0.5 * v @ A @ v - b @ v, lambda v: A @ v - b,
                    x0=np.zeros(2), learning_rate=schedules.constant(0.2),
                    tol=1e-14)  # fmt: skip
    np.testing.assert_allclose(bowl.x, np.linalg.solve(A, b), atol=1e-6)
    assert bowl.path.shape == (bowl.n_iter + 1, 2)


def test_restarts_survive_runs_that_diverge():
    # Starts near +-50 blow up with this step; the run from x0 does not.
    result = minimize(double_well, double_well_grad, x0=-0.5, learning_rate=0.05,
                      n_restarts=5, restart_range=(-50, 50),
                      random_state=1)  # fmt: skip
    assert result.x == pytest.approx(-1.3008, abs=1e-3)
    assert result.n_runs == 6


@pytest.mark.parametrize(
    "kwargs, words",
    [({"learning_rate": 0.0}, "learning_rate"),
     ({"max_iter": 0}, "max_iter"), ({"n_restarts": -1}, "n_restarts")],
)  # fmt: skip
def test_bad_arguments(kwargs, words):
    with pytest.raises((ValueError, TypeError), match=words):
        minimize(course, course_grad, 0.0, **kwargs)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_every_analytic_gradient_checks_out(n_targets, alpha):
    """The MSE gradient fastgd implements (the twins the kernels are tested
    against), with the L2 penalty, single and multi-output."""
    X, y, _ = make_problem(m=40, n=3, k=n_targets)
    k = 1 if y.ndim == 1 else y.shape[1]
    shape = (3, *y.shape[1:])

    def unpack(v):
        return v[: 3 * k].reshape(shape), v[3 * k :]

    def loss(v):
        coef, intercept = unpack(v)
        residual = X @ coef + (intercept if y.ndim > 1 else intercept[0]) - y
        return float(np.sum(residual**2)) / len(y) + alpha * float(np.sum(coef**2))

    def gradient(v):
        coef, intercept = unpack(v)
        g, g_b, _ = reference.batch_gradient_numpy(X, y, coef, intercept)
        return np.concatenate([(g + 2 * alpha * coef).ravel(), g_b])

    point = np.random.default_rng(0).normal(size=4 * k)
    _, error = check_gradient(loss, gradient, point)
    assert error < 1e-7
    _, wrong = check_gradient(loss, lambda v: 2 * gradient(v), point)
    assert wrong > 0.1, "a wrong gradient must be caught"


def test_check_gradient_at_a_stationary_point():
    numerical, error = check_gradient(lambda v: np.sum(v**2), lambda v: 2 * v,
                                      np.zeros(3))  # fmt: skip
    assert error == 0.0 and np.all(numerical == 0)


def test_normal_equation_matches_lstsq(n_targets):
    X, y, _ = make_problem(m=100, n=4, k=n_targets)
    coef, intercept = normal_equation(X, y)
    expected_coef, expected_intercept = lstsq(X, y)
    assert relative_error(coef, expected_coef) < 1e-12
    assert relative_error(intercept, expected_intercept) < 1e-12
    coef0, intercept0 = normal_equation(X, y, fit_intercept=False)
    assert relative_error(coef0, lstsq(X, y, fit_intercept=False)[0]) < 1e-12
    assert np.all(np.asarray(intercept0) == 0)
