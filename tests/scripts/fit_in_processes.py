"""Fit in forked children and in concurrent threads under one threading layer.

Run by tests/test_process_models.py in a subprocess with NUMBA_THREADING_LAYER
set: ``python fit_in_processes.py LAYER``. Exit status 0 when every fit in a
forked ``multiprocessing`` child and in six concurrent Python threads gives the
parent's coefficients bit for bit; 3 when numba cannot load LAYER here.
"""

import multiprocessing
import sys
import threading

import numpy as np

import fastgd
from fastgd._kernels import parallel

SOLVERS = ("sgd", "minibatch", "batch", "svrg")
CHILD_TIMEOUT_S = 240


def problem():
    """8 MB of float64, big enough for the parallel builds (several row blocks,
    a chunked two-thread epoch), small enough for a few seconds a run."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((25_000, 40))
    return X, X @ rng.standard_normal(40) + 0.1 * rng.standard_normal(25_000)


def fit(solver):
    X, y = problem()
    return fastgd.GDRegressor(solver=solver, random_state=0).fit(X, y).coef_


def main(layer):
    try:
        parent = {solver: fit(solver) for solver in SOLVERS}
    except ValueError as error:  # numba: "No threading layer could be loaded."
        if "threading layer" in str(error):
            print(error)
            return 3
        raise
    launched = parallel.threading_layer()
    assert launched == layer, f"asked for {layer}, numba launched {launched}"

    with multiprocessing.get_context("fork").Pool(2) as pool:
        children = pool.map_async(fit, SOLVERS).get(timeout=CHILD_TIMEOUT_S)
    for solver, coef in zip(SOLVERS, children, strict=True):
        assert np.array_equal(coef, parent[solver]), f"forked child, {solver}"

    failures = []

    def fit_twice(index):
        solver = SOLVERS[index % len(SOLVERS)]
        for _ in range(2):
            if not np.array_equal(fit(solver), parent[solver]):
                failures.append(f"thread {index}, {solver}")

    threads = [threading.Thread(target=fit_twice, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    print(f"ok: {layer}, forked children and 6 threads agree with the parent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
