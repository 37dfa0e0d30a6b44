"""The excess estimate beyond the formed Hessian's width (issue 24: "relative_excess_
is measured for every fit, including n + 1 > 4,096"): conjugate gradients on H
agree with the formed Hessian where both run, and wide fits say their excess."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import lsqr

from fastgd import GDRegressor, _kernels
from fastgd._training import prepare
from fastgd._training.excess import MAX_PARAMETERS, ExcessEstimate
from fastgd._training.krylov import KrylovExcess
from fastgd.sources import DenseSource, SparseSource


def _data(rng, m=400, n=6, k=1, offset=0.0, sparse=False, standardize=True):
    X = rng.normal(size=(m, n)) * np.logspace(-3, 3, n) + offset
    X[:, -1] = X[:, 0] + 1e-3 * X[:, -1]  # a near-duplicate column
    Y = X @ rng.normal(size=(n, k)) + rng.normal(size=(m, k))
    y = Y[:, 0] if k == 1 else Y
    source = SparseSource(sp.csr_matrix(X), y) if sparse else DenseSource(X, y)
    return prepare(source, standardize=standardize)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("case", ["dense", "multi", "offset", "sparse", "raw"])
def test_conjugate_gradients_agree_with_the_formed_hessian(case, fit_intercept, alpha):
    rng = np.random.default_rng(3)
    data = _data(rng, k=3 if case == "multi" else 1,
                 offset=1e4 if case == "offset" else 0.0, sparse=case == "sparse",
                 standardize=case != "raw")  # fmt: skip
    exact = ExcessEstimate(data, fit_intercept, alpha, exact_after=0)
    krylov = KrylovExcess(data, fit_intercept, alpha, impl="numpy")
    for _ in range(3):
        grad = rng.normal(size=data.coef_shape())
        grad_b = rng.normal(size=data.n_targets) if fit_intercept else np.zeros(
            data.n_targets)  # fmt: skip
        expected = exact(grad, grad_b)
        # Columns of mean 1e4 and spread 1e-3, one a near duplicate: products
        # through the data's own units lose digits that the centred Gram
        # statistics keep, and the ill-conditioned solve amplifies them.
        rel = 1e-4 if case == "offset" else 1e-6
        assert krylov(grad, grad_b) == pytest.approx(expected, rel=rel)
    # One pass at the origin, then one a product: at most n + 1 products an
    # estimate (CG is exact in n + 1 steps), never more.
    assert krylov.passes <= 1 + 3 * (data.n_features + 2)


def test_a_fit_estimates_again_only_once_it_has_paid_for_the_last_estimate():
    data = _data(np.random.default_rng(0), n=8)
    krylov = KrylovExcess(data, True, 0.0, impl="numpy", unit_passes=1.0)
    grad, grad_b = np.ones(8), np.ones(1)
    first = krylov(grad, grad_b)
    cost = krylov.passes
    assert cost > 2
    # Units that cost less than the estimate did repeat it, passing no data.
    for _ in range(cost - 2):
        assert krylov(grad * 1e-3, grad_b) == first
    assert krylov.passes == cost
    for _ in range(2):  # the fit has now paid for it: a fresh estimate
        fresh = krylov(grad * 1e-3, grad_b)
    assert krylov.passes > cost and fresh < first


def _wide_table(rng, m, levels):
    """Zipf-distributed one-hot levels (many seen once) and lognormal numbers,
    as CSR: more columns than excess.MAX_PARAMETERS."""
    codes = np.minimum(rng.zipf(1.3, size=m) - 1, levels - 1)
    onehot = sp.csr_matrix((np.ones(m), (np.arange(m), codes)), shape=(m, levels))
    numbers = rng.lognormal(size=(m, 5))
    X = sp.hstack([sp.csr_matrix(numbers), onehot]).tocsr()
    y = numbers @ rng.normal(size=5) + rng.normal(size=levels)[codes] + rng.normal(
        size=m)  # fmt: skip
    return X, y


@pytest.mark.skipif(_kernels.JIT_DISABLED, reason="a size that needs the JIT")
@pytest.mark.parametrize("solver", ["svrg", "batch"])
def test_a_wide_fit_says_its_excess(solver):
    X, y = _wide_table(np.random.default_rng(0), 30_000, MAX_PARAMETERS + 900)
    assert X.shape[1] + 1 > MAX_PARAMETERS
    A = sp.hstack([X, sp.csr_matrix(np.ones((X.shape[0], 1)))]).tocsr()
    solution = lsqr(A, y, atol=1e-14, btol=1e-14, iter_lim=100_000)[0]
    best = np.mean((A @ solution - y) ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, no divergence
        model = GDRegressor(solver=solver, random_state=0).fit(X, y)
    true = (np.mean((model.predict(X) - y) ** 2) - best) / best
    said = model.relative_excess_
    assert said is not None and said <= model.tol
    assert true <= 10 * model.tol
    assert true / 3 <= said <= 3 * true


def test_the_formed_estimate_is_exact_once_the_gram_statistics_exist():
    # The Gram route (batch, CG) forms them; the exact covariance then costs
    # only its factor, and CG reports that value (diamonds: 1.9e-5 said for a
    # true 1.4e-9 before).
    data = _data(np.random.default_rng(1), n=5)
    grad, grad_b = np.linspace(-1.0, 1.0, 5), np.array([0.2])
    sampled = ExcessEstimate(data, True, 0.0)
    exact = ExcessEstimate(data, True, 0.0, exact_after=0)(grad, grad_b)
    assert not sampled.exact
    data.gram_statistics()
    assert sampled(grad, grad_b) == pytest.approx(exact, rel=1e-12) and sampled.exact
    assert ExcessEstimate(data, True, 0.0).exact  # built after: exact at once
