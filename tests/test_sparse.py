"""Sparse X (issue 14): every solver on SciPy sparse matrices, never densified.

The oracle is the dense fit of the same data: the sparse kernels (lazy decay,
averaging and centring) must give the dense trajectory up to rounding. The
twins replay the compiled epochs; bad input raises clear errors and the
caller's matrix is never changed.
"""

import os
import warnings

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

from fastgd import (  # noqa: E402
    GDRegressor,
    _kernels,
    fit_batch,
    fit_minibatch,
    fit_sgd,
    fit_svrg,
)
from fastgd._kernels.sparse import lazy as lazy_kernels  # noqa: E402
from fastgd._training import make_penalty  # noqa: E402
from fastgd.sources import EpochWork, SparseSource, as_source  # noqa: E402
from fastgd.sources.rows import CentredSparseRows, StandardizedRows  # noqa: E402
from fastgd.sparse_benchmark import memory_growth  # noqa: E402

SOLVERS = {"batch": fit_batch, "sgd": fit_sgd, "minibatch": fit_minibatch,
           "svrg": fit_svrg}  # fmt: skip


def sparse_problem(m=240, n=15, k=1, density=0.3, dtype=np.float64, seed=0):
    """A sparse X with columns of different scales and means, and y from it."""
    rng = np.random.default_rng(seed)
    values = lambda size: rng.normal(2.0, 1.0, size)  # noqa: E731
    X = sp.random(m, n, density=density, format="csr", random_state=seed,
                  dtype=np.float64, data_rvs=values)  # fmt: skip
    X = (X @ sp.diags(np.linspace(0.5, 3.0, n))).tocsr().astype(dtype)
    coef = rng.normal(size=(n, k))
    y = X @ coef + 0.1 * rng.normal(size=(m, k)) + 1.5
    return X, (y[:, 0] if k == 1 else y).astype(dtype)


def snapshot(X):
    """Copies of what a caller could see change in a sparse matrix."""
    parts = [getattr(X, name, None) for name in ("data", "indices", "indptr", "row",
                                                 "col")]  # fmt: skip
    # LIL and DOK keep Python objects: their dense values stand for them.
    parts = [
        np.copy(p) for p in parts if isinstance(p, np.ndarray) and p.dtype != object
    ]
    return X.format, X.dtype, X.shape, [X.toarray(), *parts]


def assert_unchanged(X, before):
    after = snapshot(X)
    assert after[:3] == before[:3]
    for a, b in zip(after[3], before[3], strict=True):
        assert np.array_equal(a, b, equal_nan=True)


def close(a, b, tol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.max(np.abs(a - b)) <= tol * max(1.0, np.max(np.abs(b)))


# --------------------------------------------------------------------------- #
# The same fit as on dense data
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_every_solver_matches_the_dense_fit(solver, standardize, k):
    X, y = sparse_problem(k=k)
    # The lazy decay is one scalar: it runs unstandardized (a standardized
    # penalty weighs each coefficient, which the CSR epochs refuse; see
    # test_a_standardized_penalty_is_refused_by_the_lazy_epochs).
    options = dict(max_iter=6, tol=None, random_state=0, standardize=standardize,
                   alpha=0.0 if standardize else 0.01, eta0=0.005)  # fmt: skip
    if solver == "minibatch":
        options["batch_size"] = 16
    sparse_fit = SOLVERS[solver](X, y, **options)
    dense_fit = SOLVERS[solver](X.toarray(), y, **options)
    assert close(sparse_fit.coef, dense_fit.coef, 1e-10)
    assert close(sparse_fit.intercept, dense_fit.intercept, 1e-10)
    assert np.allclose(sparse_fit.loss_history, dense_fit.loss_history, rtol=1e-10)


@pytest.mark.parametrize("solver", ["sgd", "minibatch"])
@pytest.mark.parametrize("average", [True, 50])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("standardize", "alpha"), [(True, 0.0), (False, 0.05)])
def test_lazy_averaging_and_weights_match_the_dense_fit(
    solver, average, weighted, standardize, alpha
):
    X, y = sparse_problem(k=1)
    weights = (
        np.random.default_rng(1).uniform(0.0, 2.0, X.shape[0]) if weighted else None
    )
    options = dict(max_iter=4, tol=None, random_state=3, standardize=standardize,
                   alpha=alpha, eta0=0.004, average=average,
                   sample_weight=weights)  # fmt: skip
    if solver == "minibatch":
        options["batch_size"] = 7
    sparse_fit = SOLVERS[solver](X, y, **options)
    dense_fit = SOLVERS[solver](X.toarray(), y, **options)
    assert close(sparse_fit.coef, dense_fit.coef, 1e-10)
    assert close(sparse_fit.intercept, dense_fit.intercept, 1e-10)


def test_strong_decay_folds_the_scale_into_the_coefficients():
    """alpha * eta large enough that the lazy scale passes 1e-9 within an epoch."""
    X, y = sparse_problem(m=400, k=1)
    options = dict(max_iter=2, tol=None, random_state=0, alpha=20.0, eta0=0.005,
                   average=True, standardize=False)  # fmt: skip
    sparse_fit = fit_sgd(X, y, **options)
    dense_fit = fit_sgd(X.toarray(), y, **options)
    assert close(sparse_fit.coef, dense_fit.coef, 1e-9)


@pytest.mark.parametrize("solver", ["sgd", "minibatch", "svrg"])
def test_a_standardized_penalty_is_refused_by_the_lazy_epochs(solver):
    """The penalty is on the user's coefficients: standardized, each coefficient
    decays by its own factor, which one lazy scalar cannot carry."""
    X, y = sparse_problem(k=1)
    with pytest.raises(ValueError, match="solver='batch' or 'cg'"):
        SOLVERS[solver](X, y, alpha=0.01, standardize=True, max_iter=2)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adagrad", "rmsprop",
                                       "adam"])  # fmt: skip
@pytest.mark.parametrize("solver", ["sgd", "minibatch"])
def test_optimizers_match_the_dense_fit(optimizer, solver):
    X, y = sparse_problem(k=2)
    # Momentum's steps add up: a tenth of the adaptive methods' step is stable.
    eta0 = 0.001 if optimizer in ("momentum", "nesterov") else 0.01
    options = dict(max_iter=3, tol=None, random_state=0, standardize=True,
                   optimizer=optimizer, eta0=eta0)  # fmt: skip
    if solver == "minibatch":
        options["batch_size"] = 10
    sparse_fit = SOLVERS[solver](X, y, **options)
    dense_fit = SOLVERS[solver](X.toarray(), y, **options)
    assert close(sparse_fit.coef, dense_fit.coef, 1e-10)


def test_float32_data_stays_float32_and_matches_float64():
    X, y = sparse_problem(dtype=np.float32)
    fit32 = fit_sgd(X, y, max_iter=5, tol=None, random_state=0, eta0=0.005)
    fit64 = fit_sgd(X.astype(np.float64), y.astype(np.float64), max_iter=5, tol=None,
                    random_state=0, eta0=0.005)  # fmt: skip
    assert fit32.coef.dtype == np.float32
    assert close(fit32.coef, fit64.coef, 1e-4)


def test_estimator_fits_predicts_and_partial_fits_sparse_like_dense():
    X, y = sparse_problem(k=1)
    for solver in ("auto", "sgd", "batch", "svrg", "minibatch"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sparse_model = GDRegressor(solver=solver, random_state=0).fit(X, y)
            dense_model = GDRegressor(solver=solver, random_state=0).fit(X.toarray(), y)
        assert sparse_model.solver_ == dense_model.solver_
        assert close(sparse_model.coef_, dense_model.coef_, 1e-8)
        prediction = sparse_model.predict(X)
        assert isinstance(prediction, np.ndarray)
        assert np.allclose(prediction, dense_model.predict(X.toarray()))
    sparse_model, dense_model = (GDRegressor(solver="sgd", random_state=0)
                                 for _ in range(2))  # fmt: skip
    for start in range(0, X.shape[0], 80):
        sparse_model.partial_fit(X[start : start + 80], y[start : start + 80])
        dense_model.partial_fit(X[start : start + 80].toarray(), y[start : start + 80])
    assert close(sparse_model.coef_, dense_model.coef_, 1e-10)
    with pytest.raises(ValueError, match="features"):
        sparse_model.predict(sp.csr_matrix((3, X.shape[1] + 1)))


def test_default_fit_reaches_the_r2_of_lsqr():
    from scipy.sparse.linalg import lsqr
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    m, n = 20_000, 300
    X = sp.random(m, n, density=0.03, format="csr", random_state=2)
    y = X @ rng.normal(size=n) + 0.3 * rng.normal(size=m) + 2.0
    centred = sp.hstack([X, np.ones((m, 1))]).tocsr()
    solution = lsqr(centred, y, atol=1e-12, btol=1e-12, iter_lim=10_000)[0]
    best = r2_score(y, centred @ solution)
    model = GDRegressor(random_state=0).fit(X, y)
    assert best - model.score(X, y) < 1e-3


# --------------------------------------------------------------------------- #
# Formats, dtypes and the caller's matrix
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("convert", [
    "csc", "coo", "lil", "dok", "bsr", "csr_array", "int64_indices", "unsorted",
    "explicit_zeros",
])  # fmt: skip
def test_every_format_gives_the_csr_result(convert):
    X, y = sparse_problem()
    reference = fit_sgd(X, y, max_iter=3, tol=None, random_state=0, eta0=0.005)
    if convert == "csr_array":
        other = sp.csr_array(X)
    elif convert == "int64_indices":
        other = sp.csr_matrix((X.data, X.indices.astype(np.int64),
                               X.indptr.astype(np.int64)), shape=X.shape)  # fmt: skip
    elif convert == "unsorted":
        other = X.copy()
        for i in range(other.shape[0]):
            rows = slice(other.indptr[i], other.indptr[i + 1])
            other.indices[rows] = other.indices[rows][::-1]
            other.data[rows] = other.data[rows][::-1]
        other.has_sorted_indices = False
    elif convert == "explicit_zeros":
        other = X.copy()
        other.data[::5] = 0.0  # stored zeros: the same matrix as without them
        X = other.copy()
        X.eliminate_zeros()
        reference = fit_sgd(X, y, max_iter=3, tol=None, random_state=0, eta0=0.005)
    else:
        other = X.asformat(convert)
    before = snapshot(other)
    result = fit_sgd(other, y, max_iter=3, tol=None, random_state=0, eta0=0.005)
    assert close(result.coef, reference.coef, 1e-12)
    assert_unchanged(other, before)


def test_duplicates_mean_their_sum_and_the_matrix_is_left_alone():
    X, y = sparse_problem(m=60, n=6)
    # Every stored value split in two entries of the same column.
    half = X.data / 2
    raw = sp.csr_matrix(
        (np.ravel(np.column_stack([half, half])), np.repeat(X.indices, 2),
         2 * X.indptr), shape=X.shape,
    )  # fmt: skip
    assert raw.nnz == 2 * X.nnz and not raw.has_canonical_format
    before = snapshot(raw)
    options = dict(max_iter=3, tol=None, random_state=0, standardize=True, eta0=0.01)
    assert close(fit_sgd(raw, y, **options).coef, fit_sgd(X, y, **options).coef, 1e-12)
    assert close(fit_sgd(raw.tocoo(), y, **options).coef,
                 fit_sgd(X, y, **options).coef, 1e-12)  # fmt: skip
    assert_unchanged(raw, before)
    assert SparseSource(raw, y).copied


def test_a_canonical_csr_is_not_copied():
    X, y = sparse_problem()
    source = SparseSource(X, y)
    assert not source.copied
    assert np.shares_memory(source.X.data, X.data)
    assert not source.X.data.flags.writeable
    assert X.data.flags.writeable  # the caller's array keeps its flags


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #


def test_bad_sparse_input_raises_clear_errors_and_changes_nothing():
    X, y = sparse_problem(m=50, n=5)
    bad = X.copy()
    bad.data[7] = np.nan
    before = snapshot(bad)
    row = int(np.searchsorted(bad.indptr, 7, side="right") - 1)
    with pytest.raises(ValueError, match=f"NaN.*row {row}"):
        fit_sgd(bad, y)
    assert_unchanged(bad, before)
    bad.data[7] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        GDRegressor().fit(bad, y)
    with pytest.raises(ValueError, match="same number of rows"):
        fit_batch(X, y[:-1])
    with pytest.raises(ValueError, match="no stored entries"):
        fit_sgd(sp.csr_matrix((10, 4)), np.ones(10))
    out_of_range = sp.csr_matrix((X.data, X.indices.copy(), X.indptr), shape=X.shape)
    out_of_range.indices[3] = 99
    with pytest.raises(ValueError, match="out of range"):
        fit_sgd(out_of_range, y)
    broken = sp.csr_matrix((X.data, X.indices, X.indptr.copy()), shape=X.shape)
    broken.indptr[5] = broken.indptr[6] + 1
    with pytest.raises(ValueError, match="indptr"):
        fit_sgd(broken, y)
    as_bool = fit_sgd(X.astype(bool), y, random_state=0, max_iter=3)
    as_float = fit_sgd(X.astype(bool).astype(float), y, random_state=0, max_iter=3)
    np.testing.assert_array_equal(as_bool.coef, as_float.coef)  # bools are 0/1
    with pytest.raises(TypeError, match="boolean"):
        fit_sgd(X, y > 0)
    with pytest.raises(TypeError, match="sparse"):
        fit_sgd(X.toarray(), sp.csr_matrix(y[:, None]))


def test_integer_data_is_cast_once_to_float64():
    X, y = sparse_problem()
    integers = X.copy()
    integers.data = np.round(integers.data * 10).astype(np.int64)
    result = fit_batch(integers, y, max_iter=5, tol=None, standardize=True)
    assert result.coef.dtype == np.float64
    assert SparseSource(integers, y).copied


# --------------------------------------------------------------------------- #
# Kernels against their twins
# --------------------------------------------------------------------------- #


def _work(source, *, k, standardize, averaging, optimizer, drift, batch_size, seed):
    rng = np.random.default_rng(seed)
    n = source.shape[1]
    shape = (n,) if k == 1 else (n, k)
    out = (1,) if k == 1 else (k,)
    dtype = source.dtype
    standardization = None
    if standardize:
        standardization = (rng.normal(size=n).astype(dtype),
                           rng.uniform(0.5, 2, n).astype(dtype))  # fmt: skip
    average = None
    if averaging:
        average = (np.zeros(shape, dtype), np.zeros(out, dtype), 25)
    mu = None
    if drift:
        mu = (rng.normal(size=shape).astype(dtype), rng.normal(size=out).astype(dtype))
    return EpochWork(
        coef=rng.normal(size=shape).astype(dtype) * 0.1,
        intercept=np.zeros(out, dtype), fit_intercept=True,
        sample_weight=rng.uniform(0.5, 1.5, source.shape[0]).astype(dtype),
        standardization=standardization, averaging=average, optimizer=optimizer,
        optimizer_state=np.zeros((2, (n + 1) * k)), order=np.arange(source.shape[0]),
        rng_state=np.array([seed + 1], np.uint64), shuffle=True,
        batch_size=batch_size, drift=mu,
    )  # fmt: skip


def _case(standardize, averaging, optimizer, drift, batch_size):
    return dict(standardize=standardize, averaging=averaging, optimizer=optimizer,
                drift=drift, batch_size=batch_size)  # fmt: skip


CASES = [
    _case(False, False, "sgd", False, None),
    _case(True, True, "sgd", False, None),
    _case(True, True, "sgd", False, 9),
    _case(True, False, "sgd", True, None),
    _case(True, True, "adam", False, None),
    _case(False, False, "adagrad", False, 9),
]


# The loop twins implement plain steps only: optimizers replay on NumPy's.
REPLAYS = [(case, impl) for case in CASES for impl in ("numpy", "loop")
           if impl == "numpy" or case["optimizer"] == "sgd"]  # fmt: skip


@pytest.mark.parametrize(("case", "impl"), REPLAYS, ids=lambda value: "-".join(
    f"{key}={item}" for key, item in value.items()) if isinstance(value, dict)
    else value)  # fmt: skip
@pytest.mark.parametrize("k", [1, 2])
def test_compiled_epochs_replay_on_the_twins(case, impl, k):
    X, y = sparse_problem(m=90, n=8, k=k)
    source = SparseSource(X, y)
    runs = []
    for which in ("compiled", impl):
        work = _work(source, k=k, seed=4, **case)
        etas, decays = np.array([0.01]), np.array([0.999])
        loss = source.epoch_pass(work, which)(etas, decays, 10)
        runs.append((loss, work))
    (loss, compiled), (twin_loss, twin) = runs
    assert np.array_equal(compiled.order, twin.order)
    assert np.isclose(loss, twin_loss, rtol=1e-10)
    assert close(compiled.coef, twin.coef, 1e-10)
    assert close(compiled.intercept, twin.intercept, 1e-10)
    if compiled.averaging is not None:
        assert close(compiled.averaging[0], twin.averaging[0], 1e-10)
        assert close(compiled.averaging[1], twin.averaging[1], 1e-10)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_both_twins(k, weighted):
    X, y = sparse_problem(m=70, n=9, k=k)
    source = SparseSource(X, y)
    rng = np.random.default_rng(2)
    weights = rng.uniform(0, 2, 70) if weighted else np.ones(1)
    total = float(np.sum(np.broadcast_to(weights, (70,))))
    coef = rng.normal(size=(9,) if k == 1 else (9, k))
    intercept = rng.normal(size=k)
    results = [source.gradient_pass(weights, total, impl)(coef, intercept)
               for impl in ("compiled", "numpy", "loop")]  # fmt: skip
    for grad, grad_b, loss in results[1:]:
        assert close(results[0][0], grad, 1e-12)
        assert close(results[0][1], grad_b, 1e-12)
        assert np.isclose(results[0][2], loss, rtol=1e-12)


def test_moments_gram_and_rows_loss_match_dense():
    X, y = sparse_problem(m=80, n=7, k=2)
    sparse_source, dense_source = SparseSource(X, y), as_source(X.toarray(), y)
    weights = np.random.default_rng(0).uniform(0, 2, 80)
    for a, b in zip(sparse_source.column_moments(weights),
                    dense_source.column_moments(weights), strict=True):  # fmt: skip
        assert close(a, b, 1e-12)
    shift = (np.zeros(7), np.zeros(2))
    for a, b in zip(sparse_source.gram_statistics(weights, shift),
                    dense_source.gram_statistics(weights, shift),
                    strict=True):  # fmt: skip
        assert close(a, b, 1e-12)
    rows = np.arange(3, 80, 4, dtype=np.int64)
    coef, intercept = np.ones((7, 2)), np.array([0.5, -1.0])
    sparse_loss = sparse_source.rows_loss(rows, weights, coef, intercept)
    dense_loss = dense_source.rows_loss(rows, weights, coef, intercept)
    for a, b in zip(sparse_loss, dense_loss, strict=True):
        assert close(a, b, 1e-12)


@pytest.mark.skipif(_kernels.JIT_DISABLED, reason="one build without the JIT")
def test_threads_and_blocks_do_not_change_a_result():
    """The serial and parallel builds of the gradient and of the two-thread
    epoch give the same bits (fixed blocks, the same order of updates)."""
    X, y = sparse_problem(m=3000, n=40, k=1, density=0.2)
    source = SparseSource(X, y)
    Y = y[:, None]
    n = X.shape[1]
    bounds = np.array([0, 700, 1500, 2100, 3000], dtype=np.int64)
    results = []
    for build in _kernels.sparse_gradient.builds:
        grad, grad_b = np.empty((n, 1)), np.empty(1)
        buffers = (bounds, np.empty(4), np.empty((4, n + 1, 1)))
        loss = build(source.csr, Y, np.ones(1), 3000.0, np.ones((n, 1)), np.zeros(1),
                     None, grad, grad_b, *buffers)  # fmt: skip
        results.append((loss, grad.copy(), grad_b.copy()))
    assert results[0][0] == results[1][0]
    assert np.array_equal(results[0][1], results[1][1])
    # The L2 decay (a scalar) and the lazy proximal steps (records).
    proximal = make_penalty("elasticnet", 0.01, 0.5).proximal_decays(
        np.array([0.002]), np.float64
    )  # fmt: skip
    for decays in (np.array([0.9999]), proximal):
        floor = decays["floor"][:1] if decays.dtype.names else np.zeros(0)
        epochs = []
        for build in _kernels.run_epoch.builds:
            coef, intercept = np.zeros((n, 1)), np.zeros(1)
            order = np.arange(3000)
            _kernels.shuffle(order, np.array([7], np.uint64))
            scaling = (np.linspace(0.5, 2, n), np.linspace(-1, 1, n))
            averaging = (np.zeros((n, 1)), np.zeros(1), 100)
            no_drift = (np.zeros((0, 1)), np.zeros(1), np.zeros(1))
            lazy = lazy_kernels._lazy_model(coef, intercept, scaling, True, floor)
            schedule = (np.array([0.002]), decays, 0)
            rows = (True, 1, 128, True, 100, None)
            visit = (np.zeros(1, np.uint64), False, 128)
            loss = build(source.csr, y, np.ones(1), scaling, (*lazy, *rows), averaging,
                         None, no_drift, schedule, order, visit, None)  # fmt: skip
            if decays.dtype.names:
                alpha = lazy[2][[lazy_kernels.ALPHA, lazy_kernels.SUM_ALPHA]]
                lazy_kernels._catch_up_all(lazy, scaling, *alpha)
            model = (coef, intercept, True, None)
            lazy_kernels._write_back(lazy, scaling, no_drift, model, averaging, 0)
            epochs.append((loss, coef, averaging[0]))
        assert epochs[0][0] == epochs[1][0]
        assert np.array_equal(epochs[0][1], epochs[1][1])
        assert np.array_equal(epochs[0][2], epochs[1][2])


# --------------------------------------------------------------------------- #
# Memory
# --------------------------------------------------------------------------- #


# n-vectors the excess estimate holds beyond excess.MAX_PARAMETERS columns.
ESTIMATE_VECTORS = 16


@pytest.mark.skipif(_kernels.JIT_DISABLED, reason="a size that needs the JIT")
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc")
@pytest.mark.parametrize("solver", ["sgd", "svrg", "batch"])
def test_a_fit_grows_memory_by_a_tenth_of_the_matrix_at_most(solver):
    """Peak resident memory during a fit (sampled every 0.5 ms, in a fresh
    process, after a first fit compiled the kernels) grows by at most 10% of
    the matrix's bytes plus 64 bytes per row and column (the O(m + n) arrays:
    the order, weights, coefficients, their lazy state and snapshots), plus
    ESTIMATE_VECTORS vectors of n for the excess estimate at this width (the
    measuring pass and KrylovExcess's conjugate-gradient vectors: 14.2 -> 19.2
    MB for sgd when it came). A copy of the matrix fails it."""
    m, n = 200_000, 50_000
    growth, matrix_bytes = memory_growth(m, n, 10, solver=solver)
    allowed = 0.10 * matrix_bytes + 64 * (m + n) + ESTIMATE_VECTORS * 8 * n
    assert growth <= allowed, (growth, matrix_bytes)


@pytest.mark.parametrize("options", [dict(early_stopping=True, solver="sgd"),
                                     dict(warm_start=True, solver="svrg")])  # fmt: skip
def test_early_stopping_and_warm_start_match_the_dense_fit(options):
    X, y = sparse_problem(k=1, m=400)
    models = []
    for data in (X, X.toarray()):
        model = GDRegressor(random_state=0, max_iter=20, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data, y)
            model.fit(data, y)  # resumes with warm_start
        models.append(model)
    assert close(models[0].coef_, models[1].coef_, 1e-10)
    if options.get("early_stopping"):
        assert np.allclose(models[0].validation_scores_, models[1].validation_scores_,
                           rtol=1e-10)  # fmt: skip


def test_sparse_and_dense_rows_in_z_units_answer_alike():
    """A sample of rows in z units reads the same whether the source hands back
    dense rows (standardized in a copy) or sparse ones (centring implicit)."""
    X, y = sparse_problem(m=300, n=12, k=1, density=0.3)
    X = X.copy()
    X.data += 5.0  # stored entries far from zero: centring matters
    rows = np.arange(0, 300, 3, dtype=np.int64)
    shift, scale = np.linspace(-1.0, 4.0, 12), np.linspace(0.5, 2.0, 12)
    sparse_rows = SparseSource(X, y).standardized_rows(rows, shift, scale)
    dense_rows = as_source(X.toarray(), y).standardized_rows(rows, shift, scale)
    assert isinstance(sparse_rows, CentredSparseRows)
    assert isinstance(dense_rows, StandardizedRows)
    vector, weights = np.linspace(-2.0, 2.0, 12), np.linspace(1.0, 3.0, len(rows))
    weights /= weights.sum()
    np.testing.assert_allclose(sparse_rows.dot(vector), dense_rows.dot(vector))
    np.testing.assert_allclose(sparse_rows.transpose_dot(weights),
                               dense_rows.transpose_dot(weights))  # fmt: skip
    np.testing.assert_allclose(sparse_rows.squared_row_norms(),
                               dense_rows.squared_row_norms())  # fmt: skip
    for a, b in zip(sparse_rows.centred_products(weights),
                    dense_rows.centred_products(weights), strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, atol=1e-10)
    np.testing.assert_allclose(sparse_rows.every(7), dense_rows.every(7))


def test_the_estimator_predicts_on_any_sparse_format_and_on_empty_rows():
    """A fitted model predicts on CSR, CSC and COO alike, and on rows with no
    stored entry (the intercept), as on the dense rows."""
    X, y = sparse_problem(m=400, n=8, k=1, density=0.3)
    model = GDRegressor(solver="batch").fit(X, y)
    dense = X.toarray()
    for form in (X, X.tocsc(), X.tocoo()):
        np.testing.assert_allclose(model.predict(form), model.predict(dense))
    empty = sp.csr_matrix((2, 8))
    np.testing.assert_allclose(model.predict(empty), np.full(2, model.intercept_[0]))
    assert model.score(X, y) == pytest.approx(model.score(dense, y), rel=1e-12)
