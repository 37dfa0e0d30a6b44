"""The realistic-tables section of the benchmark on a table small enough to run
without the JIT."""

import numpy as np

from fastgd import tables_benchmark
from fastgd.datasets import make_tabular_regression
from fastgd.reference import least_squares_loss


def test_run_case_reports_every_contender_against_the_exact_optimum():
    X, y = make_tabular_regression(1500, categorical_levels=(4, 30), random_state=0)
    rows, reference_seconds = tables_benchmark.run_case(X, y, solvers=("auto",))
    assert reference_seconds > 0
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"GDRegressor(auto)", "LinearRegression", "Ridge(lsqr)",
                            "SGDRegressor+scaler"}  # fmt: skip
    ours = by_name["GDRegressor(auto)"]
    assert ours["solver"] == "cg" and ours["reached"] and not ours["warnings"]
    assert ours["estimated_excess"] is not None
    for row in rows:
        assert row["seconds"] > 0 and (row["error"] or np.isfinite(row["seconds"]))


def test_the_reference_solves_dense_and_sparse_tables_alike():
    X, y = make_tabular_regression(800, categorical_levels=(5,), sparse=True,
                                   random_state=1)  # fmt: skip
    dense, _ = least_squares_loss(X.toarray(), y)
    sparse, _ = least_squares_loss(X, y)
    np.testing.assert_allclose(sparse, dense, rtol=1e-9)


def test_generated_cases_scale_and_real_ones_are_optional():
    names = [name for name, X, y in tables_benchmark.cases(0.01, real=False)]
    assert names == [name for name, *_ in tables_benchmark.GENERATED]
