"""Compile the kernels a default fit needs into numba's disk cache, ahead of time.

A fresh install, a new container or a CI job starts with an empty cache, and the
first fit of each solver and dtype compiles its kernels (1-3 s each on a small
problem; docs/performance.md). ``fastgd warmup`` (or :func:`warmup`) pays that
once, for example in a Dockerfile right after ``pip install fastgd``: it fits
small generated problems with every solver, for each dtype, once on data that
runs the serial builds of the kernels and once on data big enough for their
parallel builds, on dense arrays and (``sparse``, when SciPy is installed) on
CSR matrices, and the default classifier's fits on the same rows. Later
processes load the machine code from the cache (numba's ``NUMBA_CACHE_DIR``,
or ``__pycache__`` beside the package) in milliseconds.

>>> seconds = warmup(solvers=("batch",), dtypes=("float64",), parallel=False,
...                  sparse=False, classifier=False)
>>> seconds["batch", "float64"] >= 0
True
"""

import time
import warnings

import numpy as np

from . import _kernels, _training
from .datasets import make_regression, make_sparse_regression

SOLVERS = _training.SOLVERS
DTYPES = ("float64", "float32")
SMALL_ROWS = 500
PARALLEL_FEATURES = 32
SPARSE_FEATURES = 1000
SPARSE_ENTRIES_PER_ROW = 8


def parallel_rows(row_bytes):
    """Rows for the parallel builds, for rows of ``row_bytes`` bytes: at least
    two fixed row blocks, and X past the size from which epochs use a second
    thread (both depend on the machine)."""
    by_bytes = -(-_kernels.HELPER_MIN_BYTES // row_bytes) + 1
    return max(2 * _kernels.ROWS_PER_BLOCK, by_bytes)


def _parallel_rows(dtype):
    return parallel_rows(PARALLEL_FEATURES * np.dtype(dtype).itemsize)


def _sparse_parallel_rows(dtype):
    return parallel_rows(SPARSE_ENTRIES_PER_ROW * (np.dtype(dtype).itemsize + 4))


def _sparse_available():
    try:
        import scipy.sparse  # noqa: F401
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        return False
    return True


def warmup(solvers=SOLVERS, dtypes=DTYPES, parallel=True, sparse=True,
           verbose=False, classifier=True):  # fmt: skip
    """Fit every solver once per dtype so its kernels are compiled and cached.

    Returns {(solver, dtype): seconds}. With ``parallel`` (and more than one numba
    thread) a second fit on a larger problem compiles the parallel builds too;
    with ``sparse`` the same fits run on CSR matrices as well; with
    ``classifier`` the default ``GDClassifier`` (log-loss, Newton steps) and
    its hinge (SGD) fit the same rows' signs too (the kernels take a margin
    loss as a type of their own): {("classifier", dtype): seconds}.
    """
    from .classifier import GDClassifier
    from .linear_model import GDRegressor

    seconds = {}
    threads = parallel and _kernels.get_num_threads() > 1
    for dtype in dtypes:
        problems = [SMALL_ROWS]
        if threads:
            problems.append(_parallel_rows(dtype))
        data = [make_regression(m, PARALLEL_FEATURES, dtype=dtype, random_state=0)[:2]
                for m in problems]  # fmt: skip
        if sparse and _sparse_available():
            rows = [SMALL_ROWS] + ([_sparse_parallel_rows(dtype)] if threads else [])
            data += [make_sparse_regression(m, SPARSE_FEATURES, SPARSE_ENTRIES_PER_ROW,
                                            dtype=dtype, random_state=0)[:2]
                     for m in rows]  # fmt: skip
        for solver in solvers:
            start = time.perf_counter()
            for X, y in data:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # max_iter is kept short
                    GDRegressor(solver=solver, max_iter=3, random_state=0).fit(X, y)
            seconds[solver, dtype] = time.perf_counter() - start
            _report(seconds, solver, dtype, verbose)
        if classifier:
            start = time.perf_counter()
            for X, y in data:
                for loss in ("log_loss", "hinge"):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        model = GDClassifier(loss=loss, max_iter=3, random_state=0)
                        model.fit(X, y > np.median(y))
            seconds["classifier", dtype] = time.perf_counter() - start
            _report(seconds, "classifier", dtype, verbose)
    return seconds


def _report(seconds, solver, dtype, verbose):
    if verbose:
        print(f"  {solver:10s} {dtype:8s} {seconds[solver, dtype]:6.2f} s", flush=True)
