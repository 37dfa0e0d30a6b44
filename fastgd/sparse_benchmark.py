"""``fastgd bench --sparse``: the sparse kernels beside scikit-learn and SciPy.

On a random CSR matrix (:func:`fastgd.datasets.make_sparse_regression`; default
1,000,000 x 100,000 with 20 entries a row, float64) it times, interleaved round
by round (:func:`fastgd.benchmark.compare`):

* one shuffled SGD epoch, compiled, against scikit-learn's
  ``SGDRegressor(max_iter=1)`` on the same matrix and the NumPy twin;
* one mini-batch epoch, compiled and the NumPy twin;
* one batch gradient with its loss, compiled, against SciPy's
  ``X.T @ (X @ w - y)``, the NumPy twin (SciPy's products) and the loop twin;
* one SVRG unit (an inner epoch and a fused gradient);

then fits: the default ``GDRegressor`` against ``SGDRegressor()`` and
``scipy.sparse.linalg.lsqr`` (R^2 and seconds), and the peak growth of resident
memory during a default fit, against the matrix's bytes. The twins densify a
row at a time (O(n) a row): they are timed on the first rows and scaled up.

>>> from fastgd.sparse_benchmark import unit_timings
>>> from fastgd.datasets import make_sparse_regression
>>> X, y, _ = make_sparse_regression(3000, 500, 5, random_state=0)
>>> rows = unit_timings(X, y, repeats=1, methods=("batch",), settle=0)
>>> sorted({row["impl"] for row in rows})
['compiled', 'loop', 'numpy', 'scipy']
"""

import os
import subprocess
import sys
import threading
import time
import warnings

import numpy as np

from . import _training
from .benchmark import compare, timed, warm_rows
from .sources import SparseSource

DEFAULT_SIZE = (1_000_000, 100_000)
DEFAULT_NNZ_PER_ROW = 20
DEFAULT_BATCH_SIZE = 32
METHODS = ("sgd", "minibatch", "batch", "svrg")
# The twins densify one row (NumPy) or loop in Python: timed on this many rows.
TWIN_ROWS = 2000


def sparse_step_size(X):
    """A step size that keeps SGD stable: eta * |x|^2 <= 0.1 on average."""
    head = X[:1000]
    return 0.1 / max(float(head.multiply(head).sum()) / head.shape[0], 1.0)


def _head(X, y, rows):
    return (X, y) if rows is None or rows >= X.shape[0] else (X[:rows], y[:rows])


def _epoch(method, impl, X, y, batch_size, rows=None):
    X, y = _head(X, y, rows)
    spec = _training.make_spec(
        method, impl=impl, random_state=0,
        batch_size=batch_size if method == "minibatch" else None,
    )  # fmt: skip
    engine = _training.StochasticEngine(_training.prepare(SparseSource(X, y)), spec)
    etas = np.array([sparse_step_size(X)])
    return lambda: engine.run(etas)


def _gradient(impl, X, y, rows=None):
    X, y = _head(X, y, rows)
    data = _training.prepare(SparseSource(X, y))
    engine = _training.BatchEngine(data, _training.make_spec("batch", impl=impl))
    return lambda: engine.run(None)


def _svrg(X, y):
    data = _training.prepare(SparseSource(X, y))
    engine = _training.SVRGEngine(data, _training.make_spec("svrg", random_state=0))
    etas = np.array([sparse_step_size(X) / 8])
    engine.run(etas)  # the warm-start epoch, untimed

    def unit():
        engine.advance(etas)
        return engine.run(etas)

    return unit


def _sklearn_epoch(X, y):
    """SGDRegressor, one epoch at the same steps (it minimizes half our loss)."""
    from sklearn.linear_model import SGDRegressor

    model = SGDRegressor(max_iter=1, tol=None, learning_rate="constant",
                         eta0=2 * sparse_step_size(X), penalty=None, shuffle=True,
                         random_state=0)  # fmt: skip

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after one epoch
            model.fit(X, y)

    return run


def _scipy_gradient(X, y):
    w = np.full(X.shape[1], 0.01)
    return lambda: X.T @ (X @ w - y)


def _contenders(method, X, y, batch_size):
    """{impl: (callable, rows timed, what it is)} for one method."""
    m = X.shape[0]
    twin = min(TWIN_ROWS, m)
    if method == "sgd":
        return {
            "compiled": (_epoch("sgd", "compiled", X, y, None), m,
                         "one shuffled epoch, lazy decay, compiled"),
            "sklearn": (_sklearn_epoch(X, y), m, "SGDRegressor(max_iter=1)"),
            "numpy": (_epoch("sgd", "numpy", X, y, None, twin), twin,
                      "Python loop over samples, rows densified"),
        }  # fmt: skip
    if method == "minibatch":
        return {
            "compiled": (_epoch("minibatch", "compiled", X, y, batch_size), m,
                         "one shuffled epoch, compiled"),
            "numpy": (_epoch("minibatch", "numpy", X, y, batch_size, twin), twin,
                      "Python loop over batches, rows densified"),
        }  # fmt: skip
    if method == "batch":
        return {
            "compiled": (_gradient("compiled", X, y), m,
                         "fused gradient + loss, one parallel pass"),
            "scipy": (_scipy_gradient(X, y), m, "X.T @ (X @ w - y)"),
            "numpy": (_gradient("numpy", X, y), m, "the NumPy twin: SciPy's products"),
            "loop": (_gradient("loop", X, y, twin), twin, "pure-Python loops"),
        }  # fmt: skip
    return {"compiled": (_svrg(X, y), m, "inner epoch + fused full gradient")}


def unit_timings(X, y, repeats=3, methods=METHODS, batch_size=DEFAULT_BATCH_SIZE,
                 settle=None):  # fmt: skip
    """One row per (method, impl): median and best seconds for all rows (scaled
    up from the rows timed), and the speed-up of the compiled kernel over it."""
    rows = []
    for method in methods:
        contenders = _contenders(method, X, y, batch_size)
        options = {} if settle is None else {"settle": settle}
        timings = compare({impl: entry[0] for impl, entry in contenders.items()},
                          repeats=repeats, **options)  # fmt: skip
        factor = {impl: X.shape[0] / entry[1] for impl, entry in contenders.items()}
        compiled = timings["compiled"].median
        for impl, (_, timed_rows, note) in contenders.items():
            median = timings[impl].median * factor[impl]
            rows.append(dict(
                method=method, impl=impl, median_s=median,
                min_s=timings[impl].min * factor[impl], rows_timed=timed_rows,
                compiled_speedup=median / compiled, note=note,
            ))  # fmt: skip
    return rows


def _r2(y, prediction):
    y = np.asarray(y, dtype=np.float64)
    return 1.0 - float(np.sum((y - prediction) ** 2)) / float(
        np.sum((y - y.mean()) ** 2)
    )


def fits(X, y):
    """Default fits to convergence: (name, seconds, R^2, note) for fastgd's
    GDRegressor, scikit-learn's SGDRegressor and SciPy's lsqr."""
    import scipy.sparse
    from scipy.sparse.linalg import lsqr
    from sklearn.linear_model import SGDRegressor

    from .linear_model import GDRegressor
    from .solvers import fit_cg

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm = warm_rows(X)
        for strategy in ("pass", "gram"):  # what "auto" (CG) may run, untimed
            fit_cg(X[:warm], y[:warm], strategy=strategy, max_iter=3, tol=None)
        GDRegressor(random_state=0).fit(X[:warm], y[:warm])
        seconds, model, retimed = timed(lambda: GDRegressor(random_state=0).fit(X, y))
        note = f"solver={model.solver_}, {model.n_iter_} units"
        note += ", retimed: a first attempt compiled" if retimed else ""
        rows.append(dict(name="fastgd GDRegressor()", seconds=seconds,
                         r2=model.score(X, y), note=note))  # fmt: skip
        start = time.perf_counter()
        reference = SGDRegressor(random_state=0).fit(X, y)
        seconds = time.perf_counter() - start
        rows.append(dict(name="sklearn SGDRegressor()", seconds=seconds,
                         r2=reference.score(X, y),
                         note=f"{reference.n_iter_} epochs"))  # fmt: skip
    start = time.perf_counter()
    ones = scipy.sparse.csr_matrix(np.ones((X.shape[0], 1), dtype=X.dtype))
    augmented = scipy.sparse.hstack([X, ones], format="csr")
    result = lsqr(augmented, y, atol=1e-10, btol=1e-10, iter_lim=10 * X.shape[1])
    seconds = time.perf_counter() - start
    rows.append(dict(name="scipy lsqr", seconds=seconds,
                     r2=_r2(y, augmented @ result[0]),
                     note=f"{result[2]} iterations, exact least squares"))  # fmt: skip
    return rows


def _resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_growth_during(run, interval=0.0005):
    """Peak growth of resident memory while ``run()`` runs, sampled every
    ``interval`` seconds by a thread, in bytes."""
    peak, done = [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes())
            time.sleep(interval)

    before = _resident_bytes()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run()
    finally:
        done.set()
        watcher.join()
    return max(0, peak[0] - before)


def _child_memory_growth(m, n, nnz_per_row, solver, dtype):
    """In the child process of :func:`memory_growth`: print the growth and the
    matrix's bytes."""
    from .datasets import make_sparse_regression
    from .linear_model import GDRegressor

    X, y, _ = make_sparse_regression(m, n, nnz_per_row, dtype=dtype, random_state=0)
    warnings.simplefilter("ignore")

    def fit():
        GDRegressor(solver=solver, max_iter=3, random_state=0).fit(X, y)

    fit()  # compiles, or loads from the cache: not part of a fit's memory
    print(_peak_growth_during(fit), matrix_bytes(X))


def memory_growth(m, n, nnz_per_row=DEFAULT_NNZ_PER_ROW, solver="auto",
                  dtype="float64"):  # fmt: skip
    """(peak growth of resident memory during a fit, the matrix's bytes) for a
    ``GDRegressor(solver=solver, max_iter=3)`` fit of a generated m x n CSR
    matrix, measured in a fresh process after a first fit; None where
    /proc/self/statm does not exist.

    The child runs with glibc's ``MALLOC_MMAP_THRESHOLD_`` fixed at 128 KB: by
    default glibc raises that threshold after large frees, and the second fit
    would then reuse heap pages the first one freed (a copy of X in both fits
    would not show in the second).
    """
    if not os.path.exists("/proc/self/statm"):
        return None
    arguments = f"{m}, {n}, {nnz_per_row}, {solver!r}, {dtype!r}"
    code = (f"from fastgd.sparse_benchmark import _child_memory_growth; "
            f"_child_memory_growth({arguments})")  # fmt: skip
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True, env=env).stdout.split()  # fmt: skip
    return int(output[-2]), int(output[-1])


def matrix_bytes(X):
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
