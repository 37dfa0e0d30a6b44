"""The fit_* options beyond the plain method: standardize, L2, weights, averaging,
early stopping, eta0="auto", initial values."""

import numpy as np
import pytest

from fastgd import fit_batch, fit_minibatch, fit_sgd

from .conftest import lstsq, make_problem, relative_error

FITS = {
    "sgd": lambda X, y, **kw: fit_sgd(X, y, random_state=0, **kw),
    "minibatch": lambda X, y, **kw: fit_minibatch(
        X, y, batch_size=8, random_state=0, **kw
    ),
    "batch": lambda X, y, **kw: fit_batch(X, y, **kw),
}


@pytest.mark.parametrize("method", FITS)
def test_standardize_reaches_the_same_minimizer_in_original_units(method):
    from fastgd.datasets import make_regression

    X, y, _ = make_regression(
        400, 3, noise=0.5, bias=2.0, feature_scales=[0.01, 1.0, 100.0], random_state=1
    )
    coef, intercept = lstsq(X, y)
    options = dict(standardize=True, eta0="auto", max_iter=4000, tol=None)
    if method != "batch":
        options.update(learning_rate="annealing", max_iter=400)
    result = FITS[method](X, y, **options)
    assert (
        relative_error(result.coef * [0.01, 1.0, 100.0], coef * [0.01, 1, 100]) < 1e-2
    )
    assert result.intercept == pytest.approx(intercept, rel=1e-2)
    assert result.eta0 > 0


def test_standardize_without_intercept_keeps_b_zero():
    X, y, _ = make_problem(m=300, n=3, bias=0.0)
    result = fit_batch(X + 5.0, y, standardize=True, fit_intercept=False,
                       eta0="auto", tol=1e-10, max_iter=5000)  # fmt: skip
    coef, _ = lstsq(X + 5.0, y, fit_intercept=False)
    assert result.intercept == 0
    assert relative_error(result.coef, coef) < 1e-6


def test_sample_weight_zero_equals_dropping_rows_for_batch():
    X, y, _ = make_problem(m=120, n=3, noise=1.0)
    weights = np.ones(120)
    weights[::4] = 0
    options = dict(eta0=0.2, tol=1e-12, max_iter=5000)
    weighted = fit_batch(X, y, sample_weight=weights, **options)
    dropped = fit_batch(X[weights > 0], y[weights > 0], **options)
    assert relative_error(weighted.coef, dropped.coef) < 1e-9


@pytest.mark.parametrize("method", FITS)
def test_weighted_fit_matches_weighted_lstsq(method):
    X, y, _ = make_problem(m=300, n=3, noise=0.5)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, 300)
    root = np.sqrt(weights)
    A = np.hstack([X, np.ones((300, 1))]) * root[:, None]
    solution = np.linalg.lstsq(A, y * root, rcond=None)[0]
    options = dict(eta0=0.2, tol=1e-12, max_iter=5000)
    if method != "batch":
        options = dict(eta0=0.01, learning_rate="annealing", max_iter=300, tol=None)
    result = FITS[method](X, y, sample_weight=weights, **options)
    tol = 1e-8 if method == "batch" else 2e-2
    assert relative_error(result.coef, solution[:-1]) < tol


@pytest.mark.parametrize("method", ["sgd", "minibatch"])
def test_early_stopping_reports_validation_scores_and_keeps_the_best(method):
    X, y, _ = make_problem(m=500, n=3, noise=1.0)
    result = FITS[method](X, y, early_stopping=True, eta0=0.05, n_iter_no_change=3,
                          learning_rate="constant")  # fmt: skip
    assert len(result.validation_scores) == result.n_iter
    assert result.converged
    assert np.argmax(result.validation_scores) < result.n_iter - 1


@pytest.mark.parametrize("method", ["sgd", "minibatch"])
def test_averaging_smooths_a_constant_step(method):
    X, y, _ = make_problem(m=400, n=3, noise=1.0, seed=2)
    coef, _ = lstsq(X, y)
    options = dict(eta0=0.05, learning_rate="constant", max_iter=30, tol=None)
    plain = FITS[method](X, y, **options)
    averaged = FITS[method](X, y, average=True, **options)
    assert relative_error(averaged.coef, coef) < relative_error(plain.coef, coef)


def test_l2_penalty_shrinks_towards_ridge():
    X, y, _ = make_problem(m=200, n=3)
    alpha = 0.5
    result = fit_batch(X, y, alpha=alpha, eta0=0.2, tol=1e-12, max_iter=5000,
                       fit_intercept=False)  # fmt: skip
    # Minimizer of mean (Xw - y)^2 + alpha |w|^2: (X^T X / m + alpha I) w = X^T y / m.
    expected = np.linalg.solve(X.T @ X / 200 + alpha * np.eye(3), X.T @ y / 200)
    assert relative_error(result.coef, expected) < 1e-9


def test_initial_values_are_used_and_not_modified():
    X, y, true_coef = make_problem(m=100, n=3, noise=0.0, bias=0.5)
    coef_init, intercept_init = true_coef.copy(), np.array([0.5])
    result = fit_batch(X, y, coef_init=coef_init, intercept_init=intercept_init,
                       max_iter=1, tol=None)  # fmt: skip
    assert relative_error(result.coef, true_coef) < 1e-12
    assert np.array_equal(coef_init, true_coef)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"alpha": -1.0}, "alpha"),
        ({"average": -2}, "average"),
        ({"early_stopping": True, "validation_fraction": 0.0}, "validation_fraction"),
        ({"sample_weight": np.zeros(20)}, "all zero"),
        ({"sample_weight": [1.0, np.nan] * 10}, "NaN"),
        ({"eta0": "fastest"}, "'auto'"),
        ({"learning_rate": "invscaling", "power_t": -1.0}, "power_t"),
    ],
)
def test_option_errors(kwargs, words):
    X, y, _ = make_problem(m=20, n=2)
    with pytest.raises((ValueError, TypeError), match=words):
        fit_sgd(X, y, **kwargs)


def test_early_stopping_needs_room_for_both_splits():
    X, y, _ = make_problem(m=2, n=2)
    with pytest.raises(ValueError, match="leaves no training"):
        fit_sgd(X, y, early_stopping=True, validation_fraction=0.9)
