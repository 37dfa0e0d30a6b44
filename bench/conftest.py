"""pytest-benchmark suites on fastgd.benchmark's registry.

Default sizes are modest for a 2-core machine; ``--large`` adds 1,000,000 x 100 and
5,000,000 x 20. Data is generated once per size and dtype and shared.
"""

import numpy as np
import pytest

from fastgd.datasets import make_regression

DEFAULT_SIZES = [(100_000, 100), (500_000, 20)]
LARGE_SIZES = [(1_000_000, 100), (5_000_000, 20)]
# With --benchmark-disable each benchmark runs once as a plain test: a smoke pass
# (CI runs it) on sizes that take seconds, not minutes.
SMOKE_SIZES = [(3_000, 20)]


def pytest_addoption(parser):
    parser.addoption(
        "--large",
        action="store_true",
        help="also benchmark 1,000,000 x 100 and 5,000,000 x 20 (several GB of RAM)",
    )


def pytest_generate_tests(metafunc):
    if "size" in metafunc.fixturenames:
        config = metafunc.config
        if config.getoption("benchmark_disable", default=False):
            sizes = SMOKE_SIZES
        else:
            sizes = DEFAULT_SIZES + (LARGE_SIZES if config.getoption("--large") else [])
        metafunc.parametrize(
            "size", sizes, ids=[f"{m}x{n}" for m, n in sizes], scope="module"
        )


@pytest.fixture(scope="module", params=["float64", "float32"])
def data(request, size):
    m, n = size
    X, y, _ = make_regression(m, n, dtype=np.dtype(request.param), random_state=0)
    return request.param, X, y
