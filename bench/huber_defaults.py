"""Huber with scikit-learn's defaults on both sides, the issue's target case.

    python bench/huber_defaults.py [M N]    (default 1,000,000 x 100)

``fastgd.models_benchmark.make_case`` (N(0, 1) features, 5% gross outliers),
epsilon 0.1, penalty "l2", alpha 1e-4: ``GDRegressor(loss="huber",
penalty="l2", alpha=1e-4)`` (its defaults otherwise) beside
``SGDRegressor(loss="huber")`` (its defaults), in one run, each timed once
after a compile on part of the data. The reference is L-BFGS-B on the same
objective (scikit-learn's: the mean of half fastgd's loss plus alpha/2 |coef|^2)
to a gradient of 1e-11; prints seconds and the relative excess of each.
"""

import sys
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import SGDRegressor

from fastgd import GDRegressor, losses
from fastgd.models_benchmark import make_case

EPSILON, ALPHA = 0.1, 1e-4


def objective_and_gradient(X, y, z):
    n = X.shape[1]
    r = X @ z[:n] + z[n] - y
    slope = 0.5 * losses.derivatives(losses.HUBER, r, EPSILON)
    value = 0.5 * np.mean(losses.values(losses.HUBER, r, EPSILON))
    value += 0.5 * ALPHA * z[:n] @ z[:n]
    gradient = np.append(X.T @ slope / len(y) + ALPHA * z[:n], slope.mean())
    return float(value), gradient


def main(m=1_000_000, n=100):
    X, y = make_case(m, n)
    start = time.perf_counter()
    best = minimize(lambda z: objective_and_gradient(X, y, z), np.zeros(n + 1),
                    jac=True, method="L-BFGS-B",
                    options=dict(maxiter=20_000, ftol=1e-16, gtol=1e-11))  # fmt: skip
    print(f"{m:,} x {n:,}, Huber epsilon {EPSILON}, alpha {ALPHA}; L-BFGS-B "
          f"{time.perf_counter() - start:.2f}s", flush=True)  # fmt: skip
    fits = {
        "GDRegressor(loss='huber', penalty='l2', alpha=1e-4)": GDRegressor(
            loss="huber", penalty="l2", alpha=ALPHA, epsilon=EPSILON
        ),
        "SGDRegressor(loss='huber')": SGDRegressor(loss="huber", random_state=0),
    }
    seconds = {}
    for name, estimator in fits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X[:5000], y[:5000])  # compile, outside the timing
            start = time.perf_counter()
            estimator.fit(X, y)
        seconds[name] = time.perf_counter() - start
        z = np.append(estimator.coef_, np.ravel(estimator.intercept_)[0])
        excess = (objective_and_gradient(X, y, z)[0] - best.fun) / best.fun
        print(f"{name:<55} {seconds[name]:7.2f}s  relative excess {excess:.2g}",
              flush=True)  # fmt: skip
    ours, theirs = seconds.values()
    print(f"SGDRegressor / GDRegressor: {theirs / ours:.2f}x")


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
