"""Batch gradient descent against the closed-form solution on 200,000 x 50.

Run: python examples/gd_vs_normal_equation.py
"""

import time

import numpy as np

from fastgd import fit_batch, normal_equation
from fastgd.datasets import make_regression


def main():
    X, y, _ = make_regression(200_000, 50, noise=0.5, random_state=0)
    start = time.perf_counter()
    reference, _ = normal_equation(X, y)
    print(f"{'normal equation (lstsq)':<30} {time.perf_counter() - start:6.3f}s")
    for name, options in [
        ("batch GD, one pass/iteration", {}),
        ("batch GD, Gram strategy", {"strategy": "gram"}),
    ]:
        start = time.perf_counter()
        result = fit_batch(X, y, eta0=0.3, tol=1e-10, **options)
        seconds = time.perf_counter() - start
        print(
            f"{name:<30} {seconds:6.3f}s  {result.n_iter} iterations, "
            f"max |coef - lstsq| {np.abs(result.coef - reference).max():.1e}"
        )


if __name__ == "__main__":
    main()
