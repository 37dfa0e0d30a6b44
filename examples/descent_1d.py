"""Gradient descent on f(x) = (x - 3.5)^2 - 4.5 x + 10 (minimum at x = 5.75) with a
step that is too small, a good one, and one too large (it oscillates outwards).

Run: python examples/descent_1d.py [output.png]
"""

import sys

import numpy as np

from fastgd import minimize
from fastgd.plotting import _pyplot


def f(x):
    return (x - 3.5) ** 2 - 4.5 * x + 10


def gradient(x):
    return 2 * (x - 3.5) - 4.5


def main(path="descent_1d.png"):
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(7, 4.5))
    grid = np.linspace(-2, 14, 200)
    ax.plot(grid, f(grid), color="black", linewidth=1)
    for rate, label in [(0.02, "too small"), (0.3, "good"), (1.05, "too large")]:
        result = minimize(f, gradient, x0=0.0, learning_rate=rate, max_iter=25)
        ax.plot(result.path, f(result.path), marker="o", markersize=3,
                label=f"eta={rate} ({label}): x={result.x:.3f} after "
                      f"{result.n_iter} steps")  # fmt: skip
        print(
            f"eta={rate:<5} {label:<10} x={result.x:8.4f}  f={result.fun:9.4f}  "
            f"steps={result.n_iter}  converged={result.converged}"
        )
    ax.set_ylim(-15, 60)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(fontsize=8)
    figure.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
