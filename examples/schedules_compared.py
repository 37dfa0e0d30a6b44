"""Learning-rate schedules side by side, and what each does to an SGD fit.

Run: python examples/schedules_compared.py [output.png]
"""

import sys
import warnings

from fastgd import fit_sgd, schedules
from fastgd.datasets import make_regression
from fastgd.plotting import plot_schedules


def main(path="schedules.png"):
    X, y, true_coef = make_regression(2000, 5, noise=0.5, random_state=0)
    steps = 20 * len(y)
    compared = {
        "constant 0.01": schedules.constant(0.01),
        "annealing 5/(t+500)": schedules.annealing(5.0, 500.0),
        "invscaling 0.02/(t+1)^0.25": schedules.invscaling(0.02, 0.25),
        "inverse_time": schedules.inverse_time(0.02, 1e-3),
        "exponential": schedules.exponential(0.02, 0.9999),
        "cosine to 1e-4": schedules.cosine(0.02, steps, eta_min=1e-4),
        "warm-up then decay": schedules.join(
            [schedules.constant(0.005), schedules.natural_exp(0.02, 1e-4)], [2000]
        ),
    }
    for label, schedule in compared.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit_sgd(X, y, learning_rate=schedule, max_iter=20, tol=None,
                             random_state=0)  # fmt: skip
        error = abs(result.coef - true_coef).max()
        print(
            f"{label:<28} final loss {result.loss_history[-1]:.4f}  "
            f"max |coef - true| {error:.4f}"
        )
    plot_schedules(compared, steps=steps, log=True, path=path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
