"""Same random_state, same bits: across runs and whatever the thread count."""

import numpy as np
import pytest

from fastgd import _kernels, fit_batch, fit_minibatch, fit_sgd

from .conftest import make_problem

FITS = {
    "sgd": lambda X, y, seed: fit_sgd(X, y, max_iter=4, tol=None, random_state=seed),
    "minibatch": lambda X, y, seed: fit_minibatch(
        X, y, batch_size=8, max_iter=4, tol=None, random_state=seed
    ),
    "batch": lambda X, y, seed: fit_batch(X, y, max_iter=20, tol=None),
}


def _same(a, b):
    return np.array_equal(a.coef, b.coef) and np.array_equal(
        np.asarray(a.intercept), np.asarray(b.intercept)
    )


@pytest.mark.parametrize("method", FITS)
def test_same_random_state_gives_identical_bits(method, n_targets):
    X, y, _ = make_problem(m=100, n=4, k=n_targets)
    first = FITS[method](X, y, 7)
    second = FITS[method](X, y, 7)
    assert _same(first, second)
    np.testing.assert_array_equal(first.loss_history, second.loss_history)


@pytest.mark.parametrize("method", ["sgd", "minibatch"])
def test_different_random_states_give_different_orders(method):
    X, y, _ = make_problem(m=100, n=4)
    assert not _same(FITS[method](X, y, 1), FITS[method](X, y, 2))


def test_random_state_accepts_a_random_state_instance():
    X, y, _ = make_problem(m=50, n=2)
    a = fit_sgd(X, y, max_iter=2, tol=None, random_state=np.random.RandomState(3))
    b = fit_sgd(X, y, max_iter=2, tol=None, random_state=np.random.RandomState(3))
    assert _same(a, b)


@pytest.mark.skipif(
    _kernels.max_threads() < 2, reason="numba has a single thread on this machine"
)
@pytest.mark.parametrize("method", FITS)
def test_results_do_not_depend_on_the_thread_count(method, n_targets):
    # Enough rows for several blocks of the parallel batch gradient.
    X, y, _ = make_problem(m=12_000, n=3, k=n_targets)
    previous = _kernels.get_num_threads()
    try:
        _kernels.set_num_threads(1)
        one = FITS[method](X, y, 5)
        _kernels.set_num_threads(2)
        two = FITS[method](X, y, 5)
    finally:
        _kernels.set_num_threads(previous)
    assert _same(one, two)
