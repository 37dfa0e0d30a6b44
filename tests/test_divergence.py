"""Divergence is caught and explained; max_iter without convergence warns."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastgd import DivergenceError, fit_batch, fit_minibatch, fit_sgd

from .conftest import make_problem

FITS = {
    "sgd": fit_sgd,
    "minibatch": lambda X, y, **kw: fit_minibatch(X, y, batch_size=4, **kw),
    "batch": fit_batch,
    "batch-gram": lambda X, y, **kw: fit_batch(X, y, strategy="gram", **kw),
}


@pytest.mark.parametrize("impl", ["compiled", "numpy"])
@pytest.mark.parametrize("method", FITS)
def test_a_too_large_step_raises_a_divergence_error(method, impl, n_targets):
    X, y, _ = make_problem(m=200, n=4, k=n_targets)
    X = X * 30.0  # badly scaled features make eta0=1 explode at once
    coef_init = np.zeros((4, *y.shape[1:]))
    with pytest.raises(DivergenceError) as info:
        FITS[method](X, y, eta0=1.0, max_iter=50, impl=impl, coef_init=coef_init)
    message = str(info.value)
    assert "eta=1" in message
    assert "smaller eta0" in message
    assert "standardize" in message
    assert "epoch" in message or "iteration" in message
    assert np.all(coef_init == 0), "the caller's starting point must be untouched"


def test_divergence_message_names_the_epoch():
    X, y, _ = make_problem(m=200, n=4)
    with pytest.raises(DivergenceError, match=r"epoch 1\b"):
        fit_sgd(X * 30.0, y, eta0=1.0)


def test_divergence_error_is_a_floating_point_error():
    assert issubclass(DivergenceError, FloatingPointError)


@pytest.mark.parametrize("method", FITS)
def test_max_iter_without_convergence_warns(method):
    X, y, _ = make_problem(m=100, n=3, noise=1.0)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        result = FITS[method](X, y, max_iter=2, tol=1e-12)
    assert result.converged is False
    assert result.stop_reason == "max_iter"
    assert np.all(np.isfinite(result.coef))
