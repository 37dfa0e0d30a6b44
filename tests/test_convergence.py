"""Every method reaches the closed-form least-squares solution (numpy.linalg.lstsq)."""

import warnings

import numpy as np
import pytest

from fastgd import fit_batch, fit_minibatch, fit_sgd
from fastgd._errors import convergence_warning
from fastgd._training.fit import CERTIFIED_EXCESS

from .conftest import lstsq, make_problem, relative_error


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("strategy", ["pass", "gram"])
def test_batch_reaches_lstsq_to_1e8(n_targets, fit_intercept, strategy):
    X, y, _ = make_problem(m=500, n=6, k=n_targets, noise=0.5)
    coef, intercept = lstsq(X, y, fit_intercept)
    result = fit_batch(
        X, y, eta0=0.2, tol=1e-12, max_iter=5000, fit_intercept=fit_intercept,
        strategy=strategy,
    )  # fmt: skip
    assert result.converged and result.stop_reason == "tol"
    assert relative_error(result.coef, coef) <= 1e-8
    assert relative_error(result.intercept, intercept) <= 1e-8
    # The loss of gradient descent with a stable step never increases.
    assert np.all(np.diff(result.loss_history) <= 1e-12 * result.loss_history[0])


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize(
    "fit, options",
    [
        (fit_sgd, dict(eta0=0.01, learning_rate="annealing")),
        (fit_minibatch, dict(eta0=0.1, batch_size=16, learning_rate="annealing")),
    ],
    ids=["sgd", "minibatch"],
)
def test_stochastic_methods_reach_lstsq_within_noise(
    n_targets, fit_intercept, fit, options
):
    X, y, _ = make_problem(m=600, n=5, k=n_targets, noise=0.5, seed=3)
    coef, intercept = lstsq(X, y, fit_intercept)
    result = fit(
        X, y, max_iter=60, tol=None, fit_intercept=fit_intercept, random_state=0,
        **options,
    )  # fmt: skip
    # The noise (0.5) puts lstsq's own error near 0.5 / sqrt(600) = 0.02; a decaying
    # step brings the stochastic iterate well inside that.
    assert np.max(np.abs(result.coef - coef)) < 0.01
    assert np.max(np.abs(np.asarray(result.intercept) - intercept)) < 0.01
    assert result.loss_history[-1] < result.loss_history[0]


@pytest.mark.parametrize("fit", [fit_sgd, fit_minibatch])
def test_tol_stops_a_stochastic_fit_when_the_loss_stalls(fit):
    X, y, _ = make_problem(m=300, n=3, noise=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", convergence_warning())
        result = fit(X, y, eta0=0.01, tol=1e-3, n_iter_no_change=3, random_state=0)
    # The rule stopped it; the excess measured there says whether that is the
    # optimum (test_honest_convergence.py).
    assert result.stop_reason in ("tol", "uncertified")
    assert result.converged == (result.relative_excess <= CERTIFIED_EXCESS)
    assert result.n_iter < 1000
    assert result.n_steps == result.n_iter * (300 if fit is fit_sgd else 10)
    assert len(result.loss_history) == result.n_iter
