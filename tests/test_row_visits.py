"""Row visits (issue 24): the stochastic solvers' default steps are stable on
every row of a real table, rare one-hot levels and heavy tails included, and
they stop on an excess estimate that such tables cannot fool."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastgd
from fastgd import GDRegressor, _kernels
from fastgd._training import prepare
from fastgd._training.data import auto_step_size
from fastgd._training.excess import ExcessEstimate, _sampled_covariance
from fastgd._training.visits import row_visits, visit_counts
from fastgd.datasets import make_tabular_regression
from fastgd.reference import least_squares_loss
from fastgd.sources import BlockSource, DenseSource, SparseSource, from_npy
from fastgd.sources.readers import ArrayReader

from .conftest import slow_without_jit

# Without the JIT the kernels run as Python: fewer rows, a looser tolerance.
ROWS = 5000 if _kernels.JIT_DISABLED else 20000
TOL = 1e-3 if _kernels.JIT_DISABLED else 1e-4


def table(sparse=False, seed=0, rows=ROWS):
    """Rare levels (Zipf, many seen once: rows of norm up to sqrt(m)), heavy
    tails, duplicates, a timestamp offset: the defaults diverged on it."""
    return make_tabular_regression(rows, categorical_levels=(8, 40),
                                   near_duplicate_gap=1e-3, sparse=sparse,
                                   random_state=seed)  # fmt: skip


def true_excess(X, y, model, weights=None):
    w = np.ones(len(y)) if weights is None else weights
    loss = np.average((model.predict(X) - y) ** 2, weights=w)
    best = least_squares_loss(X, y, weights)[0]
    return (loss - best) / best


def fit_quietly(model, X, y, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, **kwargs)
    return model, [str(w.message) for w in caught]


def prepared(X, y, weights=None):
    source = DenseSource(X, y) if isinstance(X, np.ndarray) else SparseSource(X, y)
    return prepare(source, sample_weight=weights, standardize=True)


def test_visit_counts_split_only_rows_too_heavy_for_the_step():
    step, weights = 0.5, np.array([1.0, 1.0, 2.0, 0.5])
    counts = visit_counts(step * weights * np.array([1.0, 2.5, 2.5, 2.0]))
    np.testing.assert_array_equal(counts, [1, 2, 3, 1])


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_visits_keep_each_rows_weight_and_make_every_visit_stable(sparse, weighted):
    X, y = table(sparse, rows=3000)
    weights = np.random.default_rng(1).uniform(0.2, 3.0, len(y)) if weighted else None
    original = None if weights is None else weights.copy()
    data = prepared(X, y, weights)
    step = auto_step_size(data, 1, True)
    visits = row_visits(data, step, True)
    assert visits is not None
    rows = data.train_rows
    counts = np.bincount(visits.order, minlength=len(y))[rows]
    assert np.all(counts >= 1) and np.any(counts > 1)
    assert np.all(np.diff(visits.order) >= 0)  # sorted, as block sources need
    # Each row's weight over its visits adds up to its own: an unbiased epoch.
    full = np.broadcast_to(data.sample_weight, (len(y),))[rows]
    np.testing.assert_allclose(visits.sample_weight[rows] * counts, full, rtol=1e-12)
    # Every visit is stable for SGD's step: step w |z|^2 <= 1.
    Xd = X.toarray() if sparse else X
    z = (Xd - data.shift) * data.scale
    norms = np.einsum("ij,ij->i", z, z) + 1.0
    assert np.max(step * visits.sample_weight[rows] * norms[rows]) <= 1.0 + 1e-9
    # The extra visits stay under half an epoch.
    assert len(visits.order) <= 1.5 * len(rows)
    if weights is not None:
        np.testing.assert_array_equal(weights, original)  # the caller's weights


def test_gaussian_features_have_no_heavy_rows_and_run_as_before():
    X, y, _ = fastgd.datasets.make_regression(5000, 100, random_state=0)
    data = prepared(X, y)
    assert row_visits(data, auto_step_size(data, 1, True), True) is None


def test_every_source_gives_the_same_row_norms(tmp_path):
    X, y = table(rows=2000)
    shift, scale = X.mean(axis=0), 1.0 / np.maximum(X.std(axis=0), 1e-300)
    z = (X - shift) * scale
    expected = np.einsum("ij,ij->i", z, z)
    np.save(tmp_path / "X.npy", X)
    budget = X.nbytes // 4
    sources = [DenseSource(X, y), SparseSource(sp.csr_matrix(X), y),
               BlockSource(ArrayReader(X), y),
               from_npy(tmp_path / "X.npy", y, memory_budget=budget)]  # fmt: skip
    for source in sources:
        norms = source.squared_row_norms(shift, scale)
        np.testing.assert_allclose(norms, expected, rtol=1e-8,
                                   err_msg=type(source).__name__)  # fmt: skip


def test_a_dask_source_gives_the_same_row_norms():
    da = pytest.importorskip("dask.array")
    from fastgd.sources import as_source

    X, y = table(rows=2000)
    shift, scale = X.mean(axis=0), 1.0 / np.maximum(X.std(axis=0), 1e-300)
    z = (X - shift) * scale
    source = as_source(da.from_array(X, chunks=(500, -1)), da.from_array(y, chunks=500))
    np.testing.assert_allclose(source.squared_row_norms(shift, scale),
                               np.einsum("ij,ij->i", z, z), rtol=1e-8)  # fmt: skip


@pytest.mark.parametrize("sparse", [False, True])
# SGD's epochs are the slowest as Python; minibatch and svrg run the same rows.
@pytest.mark.parametrize(
    "solver", [pytest.param("sgd", marks=slow_without_jit), "minibatch", "svrg"]
)
def test_stochastic_defaults_converge_on_a_real_table(solver, sparse):
    """Before row visits: "diverged" warnings and max_iter, or DivergenceError."""
    X, y = table(sparse)
    model, caught = fit_quietly(GDRegressor(solver=solver, tol=TOL, random_state=0),
                                X, y)  # fmt: skip
    assert not caught, caught
    true = true_excess(X, y, model)
    assert true <= TOL
    # The estimate it stopped on is within a factor 3 of the truth.
    assert true / 3 <= model.relative_excess_ <= 3 * max(true, TOL / 100)


def test_weighted_stochastic_fit_on_a_real_table():
    X, y = table(seed=2)
    weights = np.random.default_rng(2).uniform(0.1, 3.0, len(y))
    model, caught = fit_quietly(GDRegressor(solver="svrg", tol=TOL, random_state=0),
                                X, y, sample_weight=weights)  # fmt: skip
    assert not caught, caught
    assert true_excess(X, y, model, weights) <= TOL


def test_a_file_source_and_dask_run_stochastic_defaults_on_a_real_table(tmp_path):
    X, y = table(seed=3, rows=ROWS // 2)
    np.save(tmp_path / "X.npy", X)
    source = from_npy(tmp_path / "X.npy", y, memory_budget=X.nbytes // 4)
    model, caught = fit_quietly(GDRegressor(solver="svrg", tol=TOL, random_state=0),
                                source, None)  # fmt: skip
    assert not caught, caught
    assert true_excess(X, y, model) <= TOL
    da = pytest.importorskip("dask.array")
    model, caught = fit_quietly(
        GDRegressor(solver="minibatch", tol=None, max_iter=10, random_state=0),
        da.from_array(X, chunks=(ROWS // 8, -1)), da.from_array(y, chunks=ROWS // 8),
    )  # fmt: skip
    assert not any("diverged" in message for message in caught), caught


def test_partial_fit_keeps_row_visits_on_later_calls():
    X, y = table(seed=4)
    model = GDRegressor(solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a divergence warning fails the test
        for _ in range(3):  # three passes over a stream of four batches
            for start in range(0, len(y), len(y) // 4):
                stop = start + len(y) // 4
                model.partial_fit(X[start:stop], y[start:stop])
    # Before row visits: "diverged" twice, and an excess of 175 after 3 passes.
    assert true_excess(X, y, model) < 0.05


def test_row_visits_come_with_eta0_auto_and_stay_when_a_fit_resumes():
    from fastgd._training.spec import make_spec

    assert make_spec("sgd", eta0="auto").row_visits is True
    assert make_spec("sgd", eta0=0.01).row_visits is False  # runs as given
    resumed = make_spec("sgd", eta0="auto").replace(eta0=0.003)
    assert resumed.row_visits is True


@slow_without_jit
def test_the_excess_estimate_takes_the_exact_covariance_when_the_sample_misses_levels():
    # 400 levels: a sample of 1e6 / 420 rows misses or barely holds the rare ones.
    X, y = make_tabular_regression(ROWS, random_state=0)
    data = prepared(X, y)
    assert _sampled_covariance(data, data.z_moments()[1]) is None
    estimate = ExcessEstimate(data, fit_intercept=True, alpha=0.0)
    # At the zero model (z units) the estimate is the excess of predicting 0:
    # mean((y - 0)^2) - optimum, exactly for the exact Hessian.
    model = GDRegressor(solver="sgd", tol=None, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    z = (X - data.shift) * data.scale
    residual = model.predict(X) - y
    grad = 2 * z.T @ residual / len(y)
    grad_b = np.array([2 * residual.mean()])
    loss = np.mean(residual**2)
    best = least_squares_loss(X, y)[0]
    np.testing.assert_allclose(estimate(grad, grad_b), loss - best, rtol=1e-3)
