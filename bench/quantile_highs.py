"""The quantile loss's default fit beside QuantileRegressor's exact HiGHS solve.

    python bench/quantile_highs.py [M N]        (default 50,000 x 50)

issue 26's anchor: ``QuantileRegressor(solver="highs")`` took 397 s at 50,000 x
50. Prints both times, their ratio, and the relative excess of fastgd's fit
against HiGHS's optimum (scikit-learn's mean pinball loss). Compilation is
done on part of the data first, outside the timing.
"""

import sys
import time
import warnings

from sklearn.linear_model import QuantileRegressor

from fastgd import GDRegressor
from fastgd.models_benchmark import make_case, mean_loss


def main(m=50_000, n=50, quantile=0.5):
    X, y = make_case(m, n)
    GDRegressor(loss="quantile", quantile=quantile).fit(X[:5000], y[:5000])
    start = time.perf_counter()
    ours = GDRegressor(loss="quantile", quantile=quantile, random_state=0).fit(X, y)
    ours_s = time.perf_counter() - start
    print(f"GDRegressor(loss='quantile') {ours_s:.3f}s ({ours.solver_}, "
          f"{ours.n_iter_} epochs)", flush=True)  # fmt: skip
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = QuantileRegressor(quantile=quantile, alpha=0.0, solver="highs")
        exact.fit(X, y)
    exact_s = time.perf_counter() - start
    best = mean_loss(X, y, exact.coef_, exact.intercept_, "quantile", quantile)
    got = mean_loss(X, y, ours.coef_, ours.intercept_[0], "quantile", quantile)
    print(f"QuantileRegressor(alpha=0, solver='highs') {exact_s:.1f}s")
    print(f"relative excess {(got - best) / best:.2e}; {exact_s / ours_s:.0f}x faster")


if __name__ == "__main__":
    main(*(int(value) for value in sys.argv[1:3]))
