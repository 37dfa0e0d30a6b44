"""Check the analytic gradient of the mean squared error (with an L2 penalty)
against central differences, and catch a wrong one.

Run: python examples/gradient_check.py
"""

import numpy as np

from fastgd import check_gradient
from fastgd.datasets import make_regression


def main():
    X, y, _ = make_regression(200, 4, random_state=0)
    alpha = 0.1

    def loss(theta):
        return np.mean((X @ theta - y) ** 2) + alpha * theta @ theta

    def gradient(theta):
        return 2 / len(y) * X.T @ (X @ theta - y) + 2 * alpha * theta

    theta = np.random.default_rng(1).normal(size=4)
    _, error = check_gradient(loss, gradient, theta)
    print(f"MSE + L2 gradient: largest relative error {error:.2e}")
    _, wrong = check_gradient(loss, lambda t: gradient(t) / 2, theta)
    print(f"gradient missing its factor 2: largest relative error {wrong:.2e}")


if __name__ == "__main__":
    main()
