"""One benchmark per method x implementation x size x dtype, grouped as
``method|size|dtype`` so each group compares implementations side by side.

The pure-Python loop runs on the first ``LOOP_ROWS`` rows only, in its own groups
``method|LOOP_ROWSxN|dtype`` beside the compiled and NumPy versions on the same rows.

Run:   pytest bench/ --benchmark-only
Large: pytest bench/ --benchmark-only --large
"""

import pytest

from fastgd.benchmark import LOOP_ROWS, REGISTRY, settle_cores

FULL_SIZE = sorted(key for key, entry in REGISTRY.items() if entry.max_rows is None)
LOOP_METHODS = sorted({method for method, impl in REGISTRY if impl == "loop"})
SMALL = [
    (method, impl) for method in LOOP_METHODS for impl in ("compiled", "numpy", "loop")
]


def _run(benchmark, entry, X, y, dtype):
    m, n = X.shape
    benchmark.group = f"{entry.method}|{m}x{n}|{dtype}"
    benchmark.extra_info["description"] = entry.description
    # The slowest Python baselines get one round: their spread is not the question.
    slow = entry.impl == "loop" or (entry.impl == "numpy" and entry.method == "sgd")
    benchmark.pedantic(
        entry.setup(X, y),
        # Before each round, untimed: BLAS threads stop spinning, the cores wake
        # (as in `fastgd bench`).
        setup=None if benchmark.disabled else settle_cores,
        rounds=1 if slow and m > LOOP_ROWS else 5,
        iterations=1,
        warmup_rounds=entry.warmup,
    )


@pytest.mark.parametrize(
    "method, impl", FULL_SIZE, ids=["/".join(e) for e in FULL_SIZE]
)
def test_unit_of_work(benchmark, method, impl, data):
    dtype, X, y = data
    _run(benchmark, REGISTRY[method, impl], X, y, dtype)


@pytest.mark.parametrize("method, impl", SMALL, ids=["/".join(e) for e in SMALL])
def test_unit_of_work_small(benchmark, method, impl, data):
    dtype, X, y = data
    entry = REGISTRY[method, impl]
    _run(benchmark, entry, X[:LOOP_ROWS], y[:LOOP_ROWS], dtype)
