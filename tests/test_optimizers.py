"""Optimizers inside the compiled epochs: the twins replay them, they converge, and
their state carries over."""

import pickle

import numpy as np
import pytest

from fastgd import GDRegressor, fit_batch, fit_minibatch, fit_sgd, optimizers

from .conftest import lstsq, make_problem, relative_error

ADAPTIVE = ["momentum", "nesterov", "adagrad", "rmsprop", "adam"]
STEP = {"momentum": 0.002, "nesterov": 0.002, "adagrad": 0.1, "rmsprop": 0.01,
        "adam": 0.01}  # fmt: skip
FITS = {
    "sgd": lambda X, y, **kw: fit_sgd(X, y, random_state=0, **kw),
    "minibatch": lambda X, y, **kw: fit_minibatch(
        X, y, batch_size=8, random_state=0, **kw
    ),
    "batch": lambda X, y, **kw: fit_batch(X, y, **kw),
}
TOLERANCE = {np.float64: 1e-10, np.float32: 2e-4}


@pytest.mark.parametrize("method", FITS)
@pytest.mark.parametrize("optimizer", ADAPTIVE)
def test_compiled_epochs_equal_the_numpy_twin(optimizer, method, n_targets, dtype):
    X, y, _ = make_problem(m=120, n=4, k=n_targets, dtype=dtype)
    options = dict(optimizer=optimizer, eta0=STEP[optimizer], max_iter=3, tol=None,
                   alpha=0.01, standardize=True)  # fmt: skip
    compiled = FITS[method](X, y, **options)
    twin = FITS[method](X, y, impl="numpy", **options)
    assert relative_error(compiled.coef, twin.coef) <= TOLERANCE[dtype]
    assert relative_error(compiled.intercept, twin.intercept) <= TOLERANCE[dtype]
    np.testing.assert_allclose(compiled.loss_history, twin.loss_history,
                               rtol=TOLERANCE[dtype])  # fmt: skip


@pytest.mark.parametrize("method", ["sgd", "minibatch"])
@pytest.mark.parametrize("optimizer", ADAPTIVE)
def test_each_optimizer_reaches_least_squares_stochastically(optimizer, method):
    X, y, _ = make_problem(m=400, n=4, noise=0.3, seed=7)
    coef, intercept = lstsq(X, y)
    result = FITS[method](X, y, optimizer=optimizer, eta0=STEP[optimizer] * 5,
                          learning_rate="annealing", max_iter=300,
                          tol=None)  # fmt: skip
    assert relative_error(result.coef, coef) < 2e-2, optimizer
    assert result.intercept == pytest.approx(intercept, abs=2e-2)


@pytest.mark.parametrize("optimizer", ADAPTIVE)
def test_each_optimizer_reaches_least_squares_in_batch(optimizer):
    """Deterministic gradients: a decaying step (1/sqrt(t)) lands on the solution;
    RMSprop's normalized steps keep a small oscillation of the order of eta."""
    X, y, _ = make_problem(m=400, n=4, noise=0.3, seed=7)
    coef, intercept = lstsq(X, y)
    scale = 50 if optimizer in ("momentum", "nesterov") else 5
    result = fit_batch(X, y, optimizer=optimizer, eta0=STEP[optimizer] * scale,
                       learning_rate="invscaling", power_t=0.5, max_iter=3000,
                       tol=None)  # fmt: skip
    limit = 1e-3 if optimizer == "rmsprop" else 1e-8
    assert relative_error(result.coef, coef) < limit
    assert result.intercept == pytest.approx(intercept, abs=limit)


@pytest.mark.parametrize("solver", ["sgd", "minibatch", "batch"])
def test_optimizer_state_carries_over_partial_fit(solver):
    X, y, _ = make_problem(m=200, n=3)
    options = dict(solver=solver, optimizer="adam", eta0=0.01, random_state=1,
                   learning_rate="constant")  # fmt: skip
    straight, resumed = GDRegressor(**options), GDRegressor(**options)
    for _ in range(4):
        straight.partial_fit(X, y)
    for _ in range(2):
        resumed.partial_fit(X, y)
    resumed = pickle.loads(pickle.dumps(resumed))
    for _ in range(2):
        resumed.partial_fit(X, y)
    np.testing.assert_array_equal(straight.coef_, resumed.coef_)
    restarted = GDRegressor(**options)
    for _ in range(2):
        restarted.partial_fit(X, y)
    restarted._state["opt_state"][:] = 0  # forget the moments: a different path
    for _ in range(2):
        restarted.partial_fit(X, y)
    assert not np.array_equal(straight.coef_, restarted.coef_)


def test_numpy_rules_match_their_formulas():
    grad = np.array([0.5, -2.0])
    params = np.zeros(2)
    state = optimizers.initial_state((2,))
    optimizers.step("adam", params, grad, state, eta=0.1, count=1)
    # After one Adam step the bias-corrected ratio is sign(g): w = -eta sign(g).
    np.testing.assert_allclose(params, [-0.1, 0.1], rtol=1e-6)
    params, state = np.zeros(2), optimizers.initial_state((2,))
    for _ in range(2):
        optimizers.step("momentum", params, grad, state, eta=0.1, count=1)
    np.testing.assert_allclose(params, -0.1 * grad * (1 + 1.9))


def test_loop_impl_and_unknown_names_are_refused():
    X, y, _ = make_problem(m=20, n=2)
    with pytest.raises(ValueError, match="impl='loop'"):
        fit_sgd(X, y, optimizer="adam", impl="loop")
    with pytest.raises(ValueError, match="'adam'"):
        fit_sgd(X, y, optimizer="lion")
    with pytest.raises(ValueError, match="'rmsprop'"):
        GDRegressor(optimizer="adadelta").fit(X, y)


@pytest.mark.parametrize("name", ["sgd", *ADAPTIVE])
def test_compiled_rule_equals_the_numpy_rule(name):
    """The two versions of each update rule in fastgd.optimizers, run side by side
    for 20 updates: the scalar rule compiled by the kernels (optimizer_step, which
    applies optimizer_delta to each parameter) and the vectorized NumPy step."""
    from fastgd import _kernels

    rng = np.random.default_rng(4)
    values_compiled = rng.normal(size=6)
    values_numpy = values_compiled.copy()
    state_compiled = optimizers.initial_state((6,))
    state_numpy = optimizers.initial_state((6,))
    kind, params = optimizers.OPTIMIZERS[name], optimizers.parameters(name)
    for count in range(1, 21):
        grads = rng.normal(size=6) * 10.0 ** rng.integers(-3, 3)
        _kernels.optimizer_step(values_compiled, grads, state_compiled, kind, params,
                                0.05, count)  # fmt: skip
        optimizers.step(name, values_numpy, grads, state_numpy, 0.05, count)
        assert relative_error(values_compiled, values_numpy) <= 1e-13, count
        assert relative_error(state_compiled, state_numpy) <= 1e-13, count
