"""The Lasso by every fastgd solver that takes proximal steps, beside Lasso() and
SGDRegressor(penalty="l1").

    python bench/proximal_lasso.py dense [M N]    (default 1,000,000 x 100)
    python bench/proximal_lasso.py csr [M N]      (default 1,000,000 x 100,000)

Dense: N(0, 1) features, a third of the true coefficients nonzero, alpha 0.05;
every solver ("auto" -> batch, "minibatch", "svrg", "sgd"). CSR: 20 N(0, 1)
entries a row, a tenth of the true coefficients nonzero, alpha 0.05 times the
smallest alpha that zeroes every coefficient; "auto" -> batch, "minibatch" and
"sgd" (lazy proximal steps; SVRG's drift refuses them there). Prints seconds,
the true relative excess of scikit-learn's objective against a tight
coordinate descent, what the fit reported, and the zeros. Compilation is done
on part of the data first, outside the timing.
"""

import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import Lasso, SGDRegressor

from fastgd import GDRegressor

ROWS_PER_COMPILE = 5000


def dense_case(m, n, rng):
    X = rng.normal(size=(m, n))
    coef = rng.normal(size=n) * (rng.random(n) < 1 / 3)
    return X, X @ coef + rng.normal(size=m), 0.05


def csr_case(m, n, rng, entries=20):
    columns = np.sort(rng.integers(0, n, size=(m, entries)), axis=1)
    X = sp.csr_matrix(
        (rng.normal(size=m * entries), columns.ravel(),
         np.arange(0, m * entries + 1, entries)),
        shape=(m, n),
    )  # fmt: skip
    X.sum_duplicates()
    coef = rng.normal(size=n) * (rng.random(n) < 0.1)
    y = X @ coef + 0.5 * rng.normal(size=m)
    return X, y, 0.05 * np.abs(X.T @ (y - y.mean())).max() / m


def main(kind="dense", m=1_000_000, n=None):
    n = n or (100 if kind == "dense" else 100_000)
    rng = np.random.default_rng(0)
    X, y, alpha = (dense_case if kind == "dense" else csr_case)(m, n, rng)

    def objective(coef, intercept):
        r = X @ coef + intercept - y
        return 0.5 * np.mean(r * r) + alpha * np.abs(coef).sum()

    start = time.perf_counter()
    tight = Lasso(alpha=alpha, tol=1e-10, max_iter=100_000).fit(X, y)
    print(f"{m:,} x {n:,} {kind}, alpha {alpha:.3g}; Lasso(tol=1e-10) "
          f"{time.perf_counter() - start:.2f}s", flush=True)  # fmt: skip
    best = objective(tight.coef_, tight.intercept_)
    solvers = ("auto", "minibatch", "svrg", "sgd")
    solvers = solvers if kind == "dense" else ("auto", "minibatch", "sgd")
    fits = {}
    for solver in solvers:
        estimator = GDRegressor(solver=solver, penalty="l1", alpha=alpha)
        with warnings.catch_warnings():  # a few rows of many columns: max_iter
            warnings.simplefilter("ignore")
            estimator.fit(X[:ROWS_PER_COMPILE], y[:ROWS_PER_COMPILE])  # compile
        fits[f"GDRegressor(solver={solver!r})"] = estimator
    fits["Lasso()"] = Lasso(alpha=alpha)
    fits["SGDRegressor(penalty='l1')"] = SGDRegressor(penalty="l1", alpha=alpha,
                                                      random_state=0)  # fmt: skip
    for name, estimator in fits.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, y)
        seconds = time.perf_counter() - start
        excess = (objective(estimator.coef_, np.ravel(estimator.intercept_)[0])
                  - best) / best  # fmt: skip
        said = getattr(estimator, "relative_excess_", None)
        said = "" if said is None else f", reported {said:.2g}"
        print(f"{name:34s} {seconds:7.2f}s  true excess {excess:.2g}{said}, zeros "
              f"{np.sum(estimator.coef_ == 0)} (optimum "
              f"{np.sum(tight.coef_ == 0)})", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dense",
         *(int(value) for value in sys.argv[2:4]))  # fmt: skip
