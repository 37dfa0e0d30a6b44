"""``fastgd bench --models``: every loss and penalty beside scikit-learn.

Each case fits generated data (N(0,1) features, y = X w + N(0,1) noise, 5% of
the targets moved by gross outliers of scale 100) with the default
``GDRegressor(loss=...)`` and with ``SGDRegressor`` of the same loss and the
same (no) penalty, scikit-learn's defaults otherwise, and reports the time and
the relative objective excess (F - F*) / F* each reached, F the mean loss
(scikit-learn's definition; fastgd's is twice it, with the same minimizer).

F* comes from a tight reference solve of the same objective, timed too: L-BFGS
to a projected gradient of 1e-11 for the smooth losses (Huber, squared
epsilon-insensitive); for the losses with kinks (epsilon-insensitive,
quantile) the exact linear program, solved by HiGHS, up to
``LP_MAX_ROWS`` rows (beyond, the case is skipped: no reference that is both
exact and affordable). Every fastgd timing excludes compilation
(:func:`fastgd.benchmark.timed`, after an untimed fit on part of the data).

The penalties (``PENALTY_CASES``: the Lasso and the elastic-net, on the same
data) are fitted by the default ``GDRegressor(penalty=...)``, by it with
``tol=1e-10``, by its proximal mini-batch and prox-SVRG solvers
(``PROXIMAL_PER_SAMPLE``), by scikit-learn's coordinate descent (``Lasso()`` or
``ElasticNet()`` with their defaults) and by ``SGDRegressor`` with the same
penalty; F is scikit-learn's objective (half the mean squared error plus
alpha R(coef)) and F* that of coordinate descent run to a duality gap of
1e-12 (relative to |y|^2 / m), timed as the reference.
"""

import time
import warnings
from functools import partial

import numpy as np

from . import losses
from .benchmark import timed, warm_rows

# (loss, its parameter): epsilon, or the quantile.
CASES = (
    ("huber", 1.35),
    ("squared_epsilon_insensitive", 0.1),
    ("epsilon_insensitive", 0.1),
    ("quantile", 0.5),
)
SMOOTH = ("huber", "squared_epsilon_insensitive")
# The linear program of a loss with kinks has 2 m + n + 1 variables: HiGHS
# took 33 s (quantile) and 85 s (epsilon-insensitive) at 20,000 x 20 on the AMD
# EPYC host, and QuantileRegressor 397 s at 50,000 x 50.
LP_MAX_ROWS = 5_000
DEFAULT_SIZES = ((1_000_000, 100), (5_000, 20))
OUTLIER_SHARE = 0.05
# (penalty, alpha, l1_ratio): scikit-learn's Lasso() and ElasticNet() defaults.
PENALTY_CASES = (("l1", 1.0, 1.0), ("elasticnet", 1.0, 0.5))
# The per-sample solvers timed with each penalty (proximal steps; per-sample
# SGD takes several times mini-batch's time: docs/performance.md).
PROXIMAL_PER_SAMPLE = ("minibatch", "svrg")


def make_case(m, n, random_state=0):
    """(X, y): N(0,1) features; y = X w + N(0,1), 5% of it + N(0, 100^2)."""
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((m, n))
    y = X @ rng.standard_normal(n) + rng.standard_normal(m)
    gross = rng.random(m) < OUTLIER_SHARE
    y[gross] += rng.normal(scale=100.0, size=int(gross.sum()))
    return X, y


def mean_loss(X, y, coef, intercept, name, parameter):
    """scikit-learn's mean loss (half fastgd's) at (coef, intercept)."""
    r = X @ coef + intercept - y
    return 0.5 * float(np.mean(losses.values(losses.LOSSES[name], r, y, parameter)))


def reference(X, y, name, parameter):
    """(coef, intercept) minimizing the mean loss (see the module docstring)."""
    if name in SMOOTH:
        return _lbfgs(X, y, losses.LOSSES[name], parameter)
    return _linear_program(X, y, name, parameter)


def _lbfgs(X, y, kind, parameter):
    from scipy.optimize import minimize

    m, n = X.shape

    def value_and_gradient(z):
        r = X @ z[:n] + z[n] - y
        slope = losses.derivatives(kind, r, y, parameter)
        gradient = np.append(X.T @ slope, slope.sum()) / m
        return float(np.mean(losses.values(kind, r, y, parameter))), gradient

    z = minimize(value_and_gradient, np.zeros(n + 1), jac=True, method="L-BFGS-B",
                 options=dict(maxiter=20_000, ftol=1e-16, gtol=1e-11)).x  # fmt: skip
    return z[:n], z[n]


def _linear_program(X, y, name, parameter):
    """The exact optimum: X c + b - y = u - v with u, v >= 0, at cost
    (1 - tau) u + tau v (quantile), or |X c + b - y| - eps <= s, s >= 0, at
    cost s (epsilon-insensitive); sparse constraints, HiGHS."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    m, n = X.shape
    model = sp.hstack([sp.csr_matrix(X), sp.csr_matrix(np.ones((m, 1)))])
    identity = sp.identity(m, format="csr")
    free = [(None, None)] * (n + 1)
    if name == "quantile":
        cost = np.concatenate([np.zeros(n + 1), np.full(m, 1.0 - parameter),
                               np.full(m, parameter)])  # fmt: skip
        A = sp.hstack([model, -identity, identity], format="csr")
        solution = linprog(cost, A_eq=A, b_eq=y, bounds=free + [(0, None)] * (2 * m),
                           method="highs")  # fmt: skip
    else:
        cost = np.concatenate([np.zeros(n + 1), np.ones(m)])
        A = sp.vstack([sp.hstack([model, -identity]), sp.hstack([-model, -identity])],
                      format="csr")  # fmt: skip
        bound = np.concatenate([y + parameter, parameter - y])
        solution = linprog(cost, A_ub=A, b_ub=bound, bounds=free + [(0, None)] * m,
                           method="highs")  # fmt: skip
    return solution.x[:n], solution.x[n]


def _loss_options(name, parameter):
    return {"loss": name, ("quantile" if name == "quantile" else "epsilon"): parameter}


def run_case(X, y, name, parameter):
    """The rows of one case: the reference, fastgd's default fit and
    SGDRegressor, each with seconds and relative excess; None when the case
    has no affordable reference (a loss with kinks beyond ``LP_MAX_ROWS``)."""
    from sklearn.linear_model import SGDRegressor

    from .linear_model import GDRegressor

    if name not in SMOOTH and X.shape[0] > LP_MAX_ROWS:
        return None
    start = time.perf_counter()
    best = mean_loss(X, y, *reference(X, y, name, parameter), name, parameter)
    rows = [dict(fit="reference", seconds=time.perf_counter() - start,
                 relative_excess=0.0, warnings=[])]  # fmt: skip
    options = _loss_options(name, parameter)
    warm = warm_rows(X)
    GDRegressor(random_state=0, **options).fit(X[:warm], y[:warm])  # compile
    fits = {
        "GDRegressor()": lambda: GDRegressor(random_state=0, **options).fit(X, y),
        "SGDRegressor(penalty=None)": lambda: SGDRegressor(
            penalty=None, random_state=0, **options
        ).fit(X, y),
    }
    if name == "quantile":  # SGDRegressor has no quantile loss
        del fits["SGDRegressor(penalty=None)"]
    return rows + timed_rows(
        fits, lambda coef, b: mean_loss(X, y, coef, b, name, parameter), best
    )


def timed_rows(fits, objective, best):
    """A row for each of ``fits`` (label -> a callable fitting a model): its
    seconds, the relative excess of ``objective(coef, intercept)`` over
    ``best``, what the model said of it, the solver that ran and the warnings
    it raised."""
    rows = []
    for label, fit in fits.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = timed(fit)
        model = run.result
        got = objective(model.coef_, float(np.ravel(model.intercept_)[0]))
        rows.append(dict(
            fit=label, seconds=run.seconds, relative_excess=(got - best) / best,
            said=getattr(model, "relative_excess_", None),
            solver=getattr(model, "solver_", None),
            warnings=sorted({type(w.message).__name__ for w in caught}),
        ))  # fmt: skip
    return rows


def penalized_objective(X, y, coef, intercept, alpha, l1_ratio):
    """scikit-learn's elastic-net objective (l1_ratio 1: the Lasso's)."""
    r = X @ coef + intercept - y
    return 0.5 * float(np.mean(r * r)) + alpha * (
        l1_ratio * float(np.sum(np.abs(coef)))
        + 0.5 * (1.0 - l1_ratio) * float(coef @ coef)
    )


def run_penalty_case(X, y, penalty, alpha, l1_ratio):
    """The rows of one penalty: the reference (coordinate descent to a gap of
    1e-12), fastgd's default fit and a tight one, coordinate descent's
    default and SGDRegressor, each with seconds and relative excess."""
    from sklearn.linear_model import ElasticNet, SGDRegressor

    from .linear_model import GDRegressor

    def descent(**options):
        return ElasticNet(alpha=alpha, l1_ratio=l1_ratio, **options)

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = descent(tol=1e-12, max_iter=100_000).fit(X, y)
    best = penalized_objective(X, y, exact.coef_, exact.intercept_, alpha, l1_ratio)
    rows = [dict(fit="reference", seconds=time.perf_counter() - start,
                 relative_excess=0.0, warnings=[])]  # fmt: skip
    options = dict(penalty=penalty, alpha=alpha, l1_ratio=l1_ratio)
    warm = warm_rows(X)
    default = "Lasso()" if penalty == "l1" else "ElasticNet()"
    fits = {
        "GDRegressor()": lambda: GDRegressor(**options).fit(X, y),
        "GDRegressor(tol=1e-10)": lambda: GDRegressor(tol=1e-10, **options).fit(X, y),
    }
    # Proximal mini-batch SGD and prox-SVRG, beside batch (what "auto" runs).
    for solver in PROXIMAL_PER_SAMPLE:
        estimator = GDRegressor(solver=solver, **options)
        estimator.fit(X[:warm], y[:warm])  # compile
        fits[f"GDRegressor(solver={solver!r})"] = partial(estimator.fit, X, y)
    GDRegressor(**options).fit(X[:warm], y[:warm])  # compile
    fits |= {
        default: lambda: descent().fit(X, y),
        "SGDRegressor()": lambda: SGDRegressor(random_state=0, **options).fit(X, y),
    }
    return rows + timed_rows(
        fits,
        lambda coef, b: penalized_objective(X, y, coef, b, alpha, l1_ratio),
        best,
    )


def run(sizes=DEFAULT_SIZES, report=print):
    """Every case at every size; returns the rows (with loss, m, n)."""
    results = []

    def record(rows, name, parameter, m, n):
        for row in rows or ():  # None: no affordable reference
            row.update(loss=name, parameter=parameter, m=m, n=n)
            results.append(row)
            report(format_row(row))

    for m, n in sizes:
        X, y = make_case(m, n)
        for name, parameter in CASES:
            record(run_case(X, y, name, parameter), name, parameter, m, n)
        for penalty, alpha, l1_ratio in PENALTY_CASES:
            record(run_penalty_case(X, y, penalty, alpha, l1_ratio),
                   f"squared_error + {penalty}", alpha, m, n)  # fmt: skip
    return results


def row_notes(row):
    """(what the fit said of its excess, the solver it ran, its warnings) as
    text to print beside a row."""
    said = row.get("said")
    said = "" if said is None else f"  (says {said:.1e})"
    solver = f" -> {row['solver']}" if row.get("solver") else ""
    warned = f"  warned {', '.join(row['warnings'])}" if row["warnings"] else ""
    return said, solver, warned


def format_row(row):
    said, solver, warned = row_notes(row)
    return (f"  {row['m']:>9,} x {row['n']:<4} {row['loss']:<28} "
            f"{row['fit'] + solver:<32} {row['seconds']:8.2f}s  "
            f"excess {row['relative_excess']:.1e}{said}{warned}")  # fmt: skip
