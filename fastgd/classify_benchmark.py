"""``fastgd bench --classify``: GDClassifier beside scikit-learn's classifiers.

Three cases, on generated data (N(0,1) features; labels drawn from a logistic
model whose scores have a standard deviation of 3, so the classes overlap and
an optimum exists without a penalty):

* **binary log-loss, nearly unpenalized**: the objective of
  ``LogisticRegression(C=1e4)``, mean log-loss + |w|^2 / (2 C m), fitted by the
  default ``GDClassifier(alpha=1 / (C m))``, by ``LogisticRegression``'s
  solvers with their defaults (lbfgs, newton-cholesky on dense X, saga on
  sparse) and by ``SGDClassifier(loss="log_loss")`` with its defaults (its
  own alpha = 1e-4: timed, and its excess on this objective reported). The
  reference is ``LogisticRegression(tol=1e-12)``, timed too. Dense
  (``BINARY_SIZE``) and CSR (``SPARSE_SIZE``, ``SPARSE_ENTRIES`` a row, the
  scores scaled to the same spread).
* **ten classes** (``MULTICLASS_SIZE``): ``GDClassifier()`` fits one class
  against the rest (k outputs sharing each pass) where ``LogisticRegression``
  fits the multinomial model: different objectives, so the rows compare
  accuracy on held-out rows, and time.
* **hinge, L2** (``HINGE_SIZE``): ``GDClassifier(loss="hinge")`` with
  ``alpha = 1 / (HINGE_C m)`` against ``LinearSVC(loss="hinge", C=HINGE_C,
  tol=1e-8)`` (its default C), on the primal objective (HINGE_C sum hinge +
  |w|^2 / 2) / m relative to LinearSVC's (tighter tolerances take liblinear
  hours at this size). LinearSVC penalizes its intercept as a feature of 1
  and the objective here does not (as GDClassifier): a fit can come out below
  it, a negative excess.

Every fastgd timing excludes compilation (:func:`fastgd.benchmark.timed`, after
an untimed fit on part of the data).
"""

import time
import warnings

import numpy as np

from .benchmark import timed, warm_rows
from .models_benchmark import row_notes, timed_rows

C = 1e4
BINARY_SIZE = (1_000_000, 100)
SPARSE_SIZE = (1_000_000, 100_000)
SPARSE_ENTRIES = 20
MULTICLASS_SIZE = (200_000, 100)
N_CLASSES = 10
HINGE_SIZE = (200_000, 100)
HINGE_C = 1.0
SCORE_SPREAD = 3.0


def make_binary(m, n, sparse=False, random_state=0):
    """(X, y): N(0,1) features (``SPARSE_ENTRIES`` a row when sparse), labels
    0/1 drawn with probability sigmoid(x.w + 0.5), the scores' spread
    ``SCORE_SPREAD``."""
    rng = np.random.default_rng(random_state)
    if sparse:
        import scipy.sparse as sp

        entries = min(SPARSE_ENTRIES, n)
        columns = rng.integers(0, n, size=(m, entries))
        starts = np.arange(0, m * entries + 1, entries)
        X = sp.csr_matrix((rng.normal(size=m * entries), columns.ravel(), starts),
                          shape=(m, n))  # fmt: skip
        X.sum_duplicates()
        spread = np.sqrt(entries)
    else:
        X = rng.normal(size=(m, n))
        spread = np.sqrt(n)
    w = rng.normal(size=n) * SCORE_SPREAD / spread
    scores = X @ w + 0.5
    y = (rng.random(m) < 1.0 / (1.0 + np.exp(-scores))).astype(np.int64)
    return X, y


def make_multiclass(m, n, k=N_CLASSES, random_state=0):
    """(X, y): N(0,1) features, labels 0..k-1 drawn from a softmax of k linear
    scores."""
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(m, n))
    scores = X @ (rng.normal(size=(n, k)) * SCORE_SPREAD / np.sqrt(n))
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.random((m, 1)) < p.cumsum(axis=1)).argmax(axis=1)
    return X, y


def logistic_objective(X, y, coef, intercept, C=C):
    """mean log-loss + |w|^2 / (2 C m), y in {0, 1}."""
    coef = np.ravel(coef)
    z = np.where(y == 1, 1.0, -1.0) * (X @ coef + intercept)
    return float(np.mean(np.logaddexp(0.0, -z)) + coef @ coef / (2 * C * len(y)))


def hinge_objective(X, y, coef, intercept, C=C):
    """(C sum hinge + |w|^2 / 2) / m, y in {0, 1}."""
    coef = np.ravel(coef)
    z = np.where(y == 1, 1.0, -1.0) * (X @ coef + intercept)
    return float((C * np.sum(np.maximum(1.0 - z, 0.0)) + 0.5 * coef @ coef) / len(y))


def _reference(fit):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit()
    return model, time.perf_counter() - start


def _compiled(estimator, X, y):
    """``estimator`` fitted once, untimed, on rows that compile what a fit on
    all of X runs."""
    rows = warm_rows(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what a fit on part of X says is moot
        estimator.fit(X[:rows], y[:rows])
    return estimator


def run_binary(X, y):
    """The rows of the binary log-loss case (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from .classifier import GDClassifier

    m = X.shape[0]
    sparse = hasattr(X, "nnz")
    exact, seconds = _reference(
        lambda: LogisticRegression(C=C, tol=1e-12, max_iter=100_000).fit(X, y)
    )
    best = logistic_objective(X, y, exact.coef_, exact.intercept_[0])
    rows = [dict(fit="reference", seconds=seconds, relative_excess=0.0, warnings=[])]
    ours = _compiled(GDClassifier(alpha=1.0 / (C * m)), X, y)
    fits = {"GDClassifier()": lambda: ours.fit(X, y)}
    for solver in ("lbfgs", "saga" if sparse else "newton-cholesky"):
        fits[f"LogisticRegression(solver={solver!r})"] = lambda solver=solver: (
            LogisticRegression(C=C, solver=solver).fit(X, y)
        )
    fits['SGDClassifier(loss="log_loss")'] = lambda: SGDClassifier(
        loss="log_loss", random_state=0
    ).fit(X, y)
    return rows + timed_rows(
        fits, lambda coef, b: logistic_objective(X, y, coef, b), best
    )


def run_multiclass(X, y, X_test, y_test):
    """The rows of the ten-class case: time and held-out accuracy."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from .classifier import GDClassifier

    ours = _compiled(GDClassifier(), X, y)
    fits = {
        "GDClassifier() (one-vs-rest)": lambda: ours.fit(X, y),
        "LogisticRegression() (multinomial)": lambda: LogisticRegression().fit(X, y),
        'SGDClassifier(loss="log_loss") (one-vs-rest)': lambda: SGDClassifier(
            loss="log_loss", random_state=0
        ).fit(X, y),
    }
    rows = []
    for label, fit in fits.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = timed(fit)
        rows.append(dict(fit=label, seconds=run.seconds,
                         accuracy=float(run.result.score(X_test, y_test)),
                         solver=getattr(run.result, "solver_", None),
                         warnings=sorted({type(w.message).__name__
                                          for w in caught})))  # fmt: skip
    return rows


def run_hinge(X, y):
    """The rows of the hinge case (see the module docstring)."""
    from sklearn.svm import LinearSVC

    from .classifier import GDClassifier

    m = X.shape[0]
    reference = LinearSVC(loss="hinge", C=HINGE_C, tol=1e-8, max_iter=100_000)
    exact, seconds = _reference(lambda: reference.fit(X, y))
    best = hinge_objective(X, y, exact.coef_, exact.intercept_[0], HINGE_C)
    rows = [dict(fit='LinearSVC(loss="hinge", tol=1e-8)', seconds=seconds,
                 relative_excess=0.0, warnings=[])]  # fmt: skip
    ours = _compiled(GDClassifier(loss="hinge", alpha=1.0 / (HINGE_C * m)), X, y)
    fits = {'GDClassifier(loss="hinge")': lambda: ours.fit(X, y)}
    return rows + timed_rows(
        fits, lambda coef, b: hinge_objective(X, y, coef, b, HINGE_C), best
    )


def run(scale=1.0, report=print):
    """Every case, its sizes times ``scale`` in rows; returns the rows (each
    with its case, m and n)."""
    results = []

    def record(rows, case, m, n):
        for row in rows:
            row.update(case=case, m=m, n=n)
            results.append(row)
            report(format_row(row))

    def rows_of(size):
        return max(1_000, int(size[0] * scale)), size[1]

    m, n = rows_of(BINARY_SIZE)
    record(run_binary(*make_binary(m, n)), "binary log-loss, dense", m, n)
    m, n = rows_of(SPARSE_SIZE)
    record(run_binary(*make_binary(m, n, sparse=True)), "binary log-loss, CSR", m, n)
    m, n = rows_of(MULTICLASS_SIZE)
    X, y = make_multiclass(m + m // 4, n)
    record(run_multiclass(X[:m], y[:m], X[m:], y[m:]), f"{N_CLASSES} classes", m, n)
    m, n = rows_of(HINGE_SIZE)
    record(run_hinge(*make_binary(m, n, random_state=1)), "hinge, L2", m, n)
    return results


def format_row(row):
    said, solver, warned = row_notes(row)
    figure = (f"accuracy {row['accuracy']:.4f}" if "accuracy" in row
              else f"excess {row['relative_excess']:.1e}{said}")  # fmt: skip
    return (f"  {row['m']:>9,} x {row['n']:<7,} {row['case']:<24} "
            f"{row['fit'] + solver:<46} {row['seconds']:8.2f}s  "
            f"{figure}{warned}")  # fmt: skip
