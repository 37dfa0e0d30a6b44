"""A guard against lost speedups: ratios measured side by side in this run, with
generous floors, so CI catches a kernel that stopped compiling, an accidental copy
of X or a Python-level fallback without flaking on a noisy machine. Absolute
figures live in the benchmarks (bench/, fastgd bench)."""

import pytest

from fastgd import _kernels
from fastgd.benchmark import REGISTRY, compare, scaled_rows

from .conftest import make_problem

pytestmark = [
    pytest.mark.speed,
    pytest.mark.skipif(
        _kernels.JIT_DISABLED,
        reason="NUMBA_DISABLE_JIT=1: the kernels run as Python, speed is not measured",
    ),
]

M, N = 20_000, 10


def _medians(method, impls):
    """Median seconds per unit of work over the full M rows (loop: scaled up from
    the rows it ran on)."""
    X, y, _ = make_problem(m=M, n=N)
    entries = {impl: REGISTRY[method, impl] for impl in impls}
    runs = {impl: entry.setup(X, y) for impl, entry in entries.items()}
    timings = compare(runs, repeats=3, warmup=1)
    return {
        impl: timings[impl].median * M / scaled_rows(entries[impl], M) for impl in impls
    }


def test_compiled_sgd_epoch_beats_the_twins():
    times = _medians("sgd", ["compiled", "numpy", "loop"])
    assert times["loop"] / times["compiled"] >= 20
    assert times["numpy"] / times["compiled"] >= 5


def test_compiled_minibatch_epoch_beats_the_twins():
    times = _medians("minibatch", ["compiled", "numpy", "loop"])
    assert times["loop"] / times["compiled"] >= 20
    assert times["numpy"] / times["compiled"] >= 1.5


def test_fused_batch_gradient_keeps_up_with_blas():
    times = _medians("batch", ["compiled", "numpy"])
    assert times["numpy"] / times["compiled"] >= 0.8
