"""Every compiled kernel against its loop and NumPy twins, trajectory by trajectory.

Given the sample order a compiled epoch used (left in its index array) and the same
step sizes, the twins must reproduce its coefficients: 1e-10 relative in float64,
float32 within its own rounding.
"""

import numpy as np
import pytest

from fastgd import _kernels, fit_batch, fit_minibatch, fit_sgd, reference
from fastgd._validation import check_data
from fastgd.solvers import n_gradient_blocks

from .conftest import make_problem, relative_error

TOLERANCE = {np.float64: 1e-10, np.float32: 2e-4}
# Samples per chunk of the epoch kernels' helper-thread prefetch: small, so that
# these small problems run the chunked epoch (whose results must not change).
HELPER_CHUNK = 7


def _start(X, y, seed=1):
    """Non-zero starting coefficients and intercept, so every term is exercised."""
    rng = np.random.default_rng(seed)
    coef_shape = (X.shape[1], *y.shape[1:])
    coef = rng.normal(size=coef_shape).astype(X.dtype)
    intercept = rng.normal(size=y.shape[1:] or (1,)).astype(X.dtype)
    return coef, intercept


def _etas(kind, n_steps, dtype):
    if kind == "constant":
        return np.array([0.01], dtype=dtype)
    return (0.02 / (1.0 + 0.01 * np.arange(n_steps))).astype(dtype)


def _run_kernel(X, y, coef, intercept, order, etas, fit_intercept, batch_size=None,
                seed=12345):  # fmt: skip
    """One plain (unweighted, unstandardized, unaveraged) compiled epoch, shuffled."""
    schedule = (etas, np.ones(len(etas), X.dtype), 0)
    return _kernels.run_epoch(
        X, y, np.ones(1, X.dtype), None, (coef, intercept, fit_intercept, None),
        None, None, None, schedule, order,
        (np.array([seed], dtype=np.uint64), True, HELPER_CHUNK), batch_size,
    )  # fmt: skip


def _run_sgd_kernel(X, y, coef, intercept, order, etas, fit_intercept):
    return _run_kernel(X, y, coef, intercept, order, etas, fit_intercept)


def _run_minibatch_kernel(X, y, coef, intercept, order, etas, batch, fit_intercept):
    return _run_kernel(X, y, coef, intercept, order, etas, fit_intercept, batch, 777)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("schedule", ["constant", "per-step"])
@pytest.mark.parametrize("twin", [reference.sgd_epoch_numpy, reference.sgd_epoch_loop])
def test_sgd_epoch_replays(dtype, n_targets, twin, schedule, fit_intercept):
    X, y, _ = make_problem(m=150, n=4, k=n_targets, dtype=dtype)
    X, y = check_data(X, y)
    coef, intercept = _start(X, y)
    order = np.arange(X.shape[0], dtype=np.int64)
    etas = _etas(schedule, X.shape[0], dtype)
    twin_coef, twin_intercept = coef.copy(), intercept.copy()

    loss = _run_sgd_kernel(X, y, coef, intercept, order, etas, fit_intercept)
    assert not np.array_equal(order, np.arange(X.shape[0])), "the epoch must shuffle"
    assert np.array_equal(np.sort(order), np.arange(X.shape[0]))
    twin_loss = twin(X, y, twin_coef, twin_intercept, order, etas, fit_intercept)

    tol = TOLERANCE[dtype]
    assert relative_error(coef, twin_coef) <= tol
    assert relative_error(intercept, twin_intercept) <= tol
    assert loss == pytest.approx(twin_loss, rel=tol)
    assert coef.dtype == dtype
    if not fit_intercept:
        assert np.array_equal(intercept, _start(X, y)[1])


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("batch_size", [1, 7, 32, 150])
@pytest.mark.parametrize(
    "twin", [reference.minibatch_epoch_numpy, reference.minibatch_epoch_loop]
)
def test_minibatch_epoch_replays(dtype, n_targets, twin, batch_size, fit_intercept):
    # m = 150 is not a multiple of 7 or 32: the last, shorter batch must be used.
    X, y, _ = make_problem(m=150, n=4, k=n_targets, dtype=dtype)
    X, y = check_data(X, y)
    coef, intercept = _start(X, y)
    order = np.arange(X.shape[0], dtype=np.int64)
    n_batches = -(-X.shape[0] // batch_size)
    etas = _etas("per-step", n_batches, dtype) * 5
    twin_coef, twin_intercept = coef.copy(), intercept.copy()

    loss = _run_minibatch_kernel(
        X, y, coef, intercept, order, etas, batch_size, fit_intercept
    )
    twin_loss = twin(
        X, y, twin_coef, twin_intercept, order, etas, batch_size, fit_intercept
    )

    tol = TOLERANCE[dtype]
    assert relative_error(coef, twin_coef) <= tol
    assert relative_error(intercept, twin_intercept) <= tol
    assert loss == pytest.approx(twin_loss, rel=tol)


def test_minibatch_uses_the_last_short_batch():
    """Rows in the last, shorter batch move the coefficients: changing only them
    must change the result."""
    X, y, _ = make_problem(m=10, n=3)
    X, y = check_data(X, y)
    order = np.arange(10, dtype=np.int64)
    etas = np.array([0.05])
    plain = np.zeros(3)
    reference.minibatch_epoch_numpy(X, y, plain, np.zeros(1), order, etas, 4, True)
    y_changed = y.copy()
    y_changed[order[8:]] += 100.0
    changed = np.zeros(3)
    reference.minibatch_epoch_numpy(
        X, y_changed, changed, np.zeros(1), order, etas, 4, True
    )
    assert not np.allclose(plain, changed)
    compiled = np.zeros(3)
    _run_minibatch_kernel(X, y_changed, compiled, np.zeros(1), order, etas, 4, True)
    # shuffle=True in the helper reorders; replay that order in the twin.
    twin = np.zeros(3)
    reference.minibatch_epoch_numpy(
        X, y_changed, twin, np.zeros(1), order, etas, 4, True
    )
    assert relative_error(compiled, twin) <= 1e-10


def test_batch_gradient_kernel_matches_twins(dtype, n_targets):
    X, y, _ = make_problem(m=300, n=6, k=n_targets, dtype=dtype)
    X, y = check_data(X, y)
    coef, intercept = (a.astype(np.float64) for a in _start(X, y))
    n_blocks = n_gradient_blocks(X.shape[0])
    if n_targets == 1:
        grad_coef = np.empty(X.shape[1])
        loss, grad_b = _kernels.batch_gradient(
            X, y, np.ones(1, X.dtype), float(X.shape[0]), coef, intercept, None,
            grad_coef, np.empty((n_blocks, X.shape[1] + 2)),
        )  # fmt: skip
        grad_intercept = np.array([grad_b])
    else:
        grad_coef = np.empty(coef.shape)
        grad_intercept = np.empty(n_targets)
        partial = np.empty((n_blocks, X.shape[1] + 3, n_targets))
        loss = _kernels.batch_gradient_multi(
            X, y, np.ones(1, X.dtype), float(X.shape[0]), coef, intercept, None,
            grad_coef, grad_intercept, partial,
        )  # fmt: skip
    # The loop twin computes in float64 like the kernel: tight in both dtypes.
    loop = reference.batch_gradient_loop(X, y, coef, intercept)
    assert relative_error(grad_coef, loop[0]) <= 1e-10
    assert relative_error(grad_intercept, loop[1]) <= 1e-10
    assert loss == pytest.approx(loop[2], rel=1e-10)
    numpy_twin = reference.batch_gradient_numpy(X, y, coef, intercept)
    assert relative_error(grad_coef, numpy_twin[0]) <= TOLERANCE[dtype]
    assert loss == pytest.approx(numpy_twin[2], rel=TOLERANCE[dtype])


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ten_batch_iterations_agree_across_implementations(
    dtype, n_targets, fit_intercept
):
    X, y, _ = make_problem(m=120, n=4, k=n_targets, dtype=dtype)
    options = dict(eta0=0.05, max_iter=10, tol=None, fit_intercept=fit_intercept)
    compiled = fit_batch(X, y, **options)
    assert compiled.n_iter == 10
    tol = TOLERANCE[dtype]
    for impl, strategy in [("numpy", "pass"), ("loop", "pass"), ("compiled", "gram")]:
        other = fit_batch(X, y, impl=impl, strategy=strategy, **options)
        assert relative_error(other.coef, compiled.coef) <= tol, (impl, strategy)
        assert relative_error(other.intercept, compiled.intercept) <= tol
        np.testing.assert_allclose(other.loss_history, compiled.loss_history, rtol=tol)


@pytest.mark.parametrize("fit", [fit_sgd, fit_minibatch])
def test_fit_api_replays_the_same_order_in_every_impl(fit, n_targets):
    """The three impls share the seeded shuffle: same random_state, same result."""
    X, y, _ = make_problem(m=90, n=3, k=n_targets)
    options = dict(eta0=0.01, max_iter=3, tol=None, random_state=42)
    compiled = fit(X, y, **options)
    for impl in ("numpy", "loop"):
        other = fit(X, y, impl=impl, **options)
        assert relative_error(other.coef, compiled.coef) <= 1e-10
        assert relative_error(other.intercept, compiled.intercept) <= 1e-10
        np.testing.assert_allclose(
            other.loss_history, compiled.loss_history, rtol=1e-10
        )


def test_gram_strategy_loss_and_gradient_match_the_pass(n_targets):
    X, y, _ = make_problem(m=400, n=5, k=n_targets, noise=1.0)
    gram = fit_batch(X, y, strategy="gram", eta0=0.1, tol=1e-10, max_iter=2000)
    fused = fit_batch(X, y, strategy="pass", eta0=0.1, tol=1e-10, max_iter=2000)
    assert gram.n_iter == fused.n_iter
    assert relative_error(gram.coef, fused.coef) <= 1e-10
    np.testing.assert_allclose(gram.loss_history, fused.loss_history, rtol=1e-9)


def _options(X, y, seed=5, averaging=True):
    """Weights, standardization, an L2 decay and averaging: every optional term."""
    rng = np.random.default_rng(seed)
    dtype, n = X.dtype, X.shape[1]
    weights = rng.uniform(0.2, 2.0, size=X.shape[0]).astype(dtype)
    shift = rng.normal(size=n).astype(dtype)
    scale = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    coef, intercept = _start(X, y, seed)
    avg = (coef.copy(), intercept.copy()) if averaging else (None, None)
    return weights, shift, scale, coef, intercept, avg


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("method", ["sgd", "minibatch"])
@pytest.mark.parametrize("impl", ["numpy", "loop"])
def test_weighted_standardized_penalized_averaged_epochs_replay(
    dtype, n_targets, method, impl, fit_intercept
):
    X, y, _ = make_problem(m=90, n=4, k=n_targets, dtype=dtype)
    X, y = check_data(X, y)
    weights, shift, scale, coef, intercept, (avg_coef, avg_b) = _options(X, y)
    order = np.arange(X.shape[0], dtype=np.int64)
    batch = 8
    steps = X.shape[0] if method == "sgd" else -(-X.shape[0] // batch)
    etas = _etas("per-step", steps, dtype)
    decays = (1 - 2 * 0.05 * etas).astype(dtype)
    t_start, average_start = 40, 45  # averaging starts mid-epoch
    twin = [a.copy() for a in (coef, intercept, avg_coef, avg_b)]
    batch_size = None if method == "sgd" else batch

    def arguments(coef, intercept, avg_coef, avg_b, shuffle):
        """The kernel's arguments; the twin takes the very same ones."""
        return (
            X, y, weights, (shift, scale), (coef, intercept, fit_intercept, None),
            (avg_coef, avg_b, average_start), None, None, (etas, decays, t_start),
            order, (np.array([31], dtype=np.uint64), shuffle, HELPER_CHUNK),
            batch_size,
        )  # fmt: skip

    loss = _kernels.run_epoch(*arguments(coef, intercept, avg_coef, avg_b, True))
    twin_epoch = getattr(reference, f"run_epoch_{impl}")
    twin_loss = twin_epoch(*arguments(*twin, False))  # replays the kernel's order
    tol = TOLERANCE[dtype]
    for compiled, expected in zip(
        (coef, intercept, avg_coef, avg_b), twin, strict=True
    ):
        assert relative_error(compiled, expected) <= tol
    assert loss == pytest.approx(twin_loss, rel=tol)


def test_weighted_batch_gradient_matches_twins(dtype, n_targets):
    X, y, _ = make_problem(m=200, n=5, k=n_targets, dtype=dtype)
    X, y = check_data(X, y)
    weights, *_ = _options(X, y)
    coef, intercept = (a.astype(np.float64) for a in _start(X, y))
    total = float(weights.sum(dtype=np.float64))
    n_blocks = n_gradient_blocks(X.shape[0])
    if n_targets == 1:
        grad = np.empty(X.shape[1])
        loss, grad_b = _kernels.batch_gradient(
            X, y, weights, total, coef, intercept, None, grad,
            np.empty((n_blocks, X.shape[1] + 2)),
        )  # fmt: skip
        grad_b = np.array([grad_b])
    else:
        grad, grad_b = np.empty(coef.shape), np.empty(n_targets)
        loss = _kernels.batch_gradient_multi(
            X, y, weights, total, coef, intercept, None, grad, grad_b,
            np.empty((n_blocks, X.shape[1] + 3, n_targets)),
        )  # fmt: skip
    loop = reference.batch_gradient_loop(X, y, coef, intercept, weights)
    assert relative_error(grad, loop[0]) <= 1e-10
    assert relative_error(grad_b, loop[1]) <= 1e-10
    assert loss == pytest.approx(loop[2], rel=1e-10)
    numpy_twin = reference.batch_gradient_numpy(X, y, coef, intercept, weights)
    assert relative_error(grad, numpy_twin[0]) <= TOLERANCE[dtype]
