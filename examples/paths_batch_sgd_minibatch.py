"""Batch, stochastic and mini-batch gradient descent on y = b + w x: their paths on
the contours of the loss J(b, w), one point per epoch.

Run: python examples/paths_batch_sgd_minibatch.py [output.png]
"""

import sys

import numpy as np

from fastgd import fit_batch, fit_minibatch, fit_sgd, normal_equation
from fastgd.plotting import plot_descent_paths


def epoch_path(fit, X, y, epochs, **options):
    """(b, w) after each epoch, fitting one epoch at a time from the last point."""
    coef, intercept = np.zeros(1), 0.0
    points = [(intercept, coef[0])]
    for _ in range(epochs):
        result = fit(X, y, coef_init=coef, intercept_init=intercept, max_iter=1,
                     tol=None, **options)  # fmt: skip
        coef, intercept = result.coef, float(result.intercept)
        points.append((intercept, coef[0]))
    return np.array(points)


def main(path="paths.png"):
    rng = np.random.default_rng(42)
    X = 2 * rng.random((100, 1))
    y = 4 + 3 * X[:, 0] + rng.normal(size=100)
    paths = {
        "batch (eta=0.1)": epoch_path(fit_batch, X, y, 40, eta0=0.1),
        "mini-batch (B=16, eta=0.05)": epoch_path(
            fit_minibatch, X, y, 40, batch_size=16, eta0=0.05, random_state=0
        ),
        "SGD (eta=0.01)": epoch_path(fit_sgd, X, y, 40, eta0=0.01, random_state=0),
    }

    def loss(p):
        return float(np.mean((p[0] + p[1] * X[:, 0] - y) ** 2))

    coef, intercept = normal_equation(X, y)
    print(f"normal equation: b={intercept:.4f} w={coef[0]:.4f}")
    for label, trace in paths.items():
        print(f"{label:<28} b={trace[-1, 0]:.4f} w={trace[-1, 1]:.4f}")
    plot_descent_paths(loss, paths, path=path, labels=("intercept b", "slope w"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
