"""A fresh install's first large fit against a warm one (issue 25's target: at
most 3 s more), and what numba compiled in it.

    python bench/first_large_fit.py                  # every default solver
    python bench/first_large_fit.py sgd --rows 200000 --compiles

Each solver runs in a fresh process with an empty ``NUMBA_CACHE_DIR`` (a new
temporary directory): ``GDRegressor(solver=s, random_state=0).fit(X, y)`` twice
on N(0, 1) features, 1,000,000 x 100 float64 by default. "extra" is the first
fit's time minus the second's. ``--compiles`` lists the functions numba
compiled during the first fit (its "numba:compile" events, nested calls
indented) with their seconds.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

SOLVERS = ("auto", "cg", "batch", "sgd", "minibatch", "svrg")


def _one(solver, rows, features, compiles):
    import numpy as np
    from numba.core import event

    log, stack = [], []

    class Listener(event.Listener):
        def on_start(self, ev):
            name = ev.data["dispatcher"].py_func.__qualname__
            stack.append((time.perf_counter(), name, len(stack)))

        def on_end(self, ev):
            started, name, depth = stack.pop()
            log.append((started, depth, name, time.perf_counter() - started))

    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, features))
    y = X @ rng.standard_normal(features) + rng.standard_normal(rows)
    import fastgd

    times = []
    for attempt in range(2):
        started = time.perf_counter()
        with event.install_listener("numba:compile", Listener()):
            model = fastgd.GDRegressor(solver=solver, random_state=0).fit(X, y)
        times.append(time.perf_counter() - started)
        if attempt == 0:
            first_log = list(log)
    print(f"{solver:10s} first {times[0]:6.2f} s  warm {times[1]:5.2f} s  "
          f"extra {times[0] - times[1]:6.2f} s  (solver_ {model.solver_}, "
          f"relative_excess_ {model.relative_excess_:.2g})", flush=True)  # fmt: skip
    if compiles:
        # Events end innermost first: print them in the order they started.
        for _, depth, name, seconds in sorted(first_log):
            print(f"    {'  ' * depth}{name:<40s} {seconds:5.2f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("solvers", nargs="*", default=SOLVERS)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--compiles", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _one(args.solvers[0], args.rows, args.features, args.compiles)
        return
    for solver in args.solvers:
        with tempfile.TemporaryDirectory() as cache:
            command = [sys.executable, __file__, solver, "--child", "--rows",
                       str(args.rows), "--features", str(args.features)]  # fmt: skip
            if args.compiles:
                command.append("--compiles")
            subprocess.run(command, check=True,
                           env={**os.environ, "NUMBA_CACHE_DIR": cache})  # fmt: skip


if __name__ == "__main__":
    main()
