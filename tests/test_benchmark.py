"""The shared registry: every implementation of a method does the same work."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from fastgd import _kernels, benchmark
from fastgd.benchmark import (
    LOOP_ROWS,
    REGISTRY,
    compare,
    implementations,
    machine_record,
    scaled_rows,
    wake_cores,
)

from .conftest import make_problem


def _loss_of(result):
    """The loss a unit of work reports: batch returns (grad, grad_b, loss)."""
    return result[2] if isinstance(result, tuple) else result


@pytest.mark.parametrize("method", ["batch", "sgd", "minibatch", "svrg"])
def test_registry_implementations_compute_the_same_thing(method, n_targets):
    X, y, _ = make_problem(m=120, n=4, k=n_targets)
    results = {}
    for impl in ("compiled", "numpy", "loop"):
        run = REGISTRY[method, impl].setup(X, y, random_state=3)
        results[impl] = [_loss_of(run()) for _ in range(2)]
    np.testing.assert_allclose(results["numpy"], results["compiled"], rtol=1e-10)
    np.testing.assert_allclose(results["loop"], results["compiled"], rtol=1e-10)


def test_read_limit_entries_agree():
    X, y, _ = make_problem(m=300, n=4)
    compiled = REGISTRY["read", "compiled"].setup(X, y)()
    assert compiled == pytest.approx(REGISTRY["read", "numpy"].setup(X, y)())


def test_baselines_run(n_targets):
    X, y, _ = make_problem(m=200, n=3, k=n_targets)
    solution = REGISTRY["batch", "normal_equation"].setup(X, y)()
    assert solution.shape == (3, *y.shape[1:])
    if n_targets == 1:
        model = REGISTRY["sgd", "sklearn"].setup(X, y)()
        assert model.coef_.shape == (3,)


def test_loop_entries_time_a_subset_and_say_so():
    entry = REGISTRY["sgd", "loop"]
    assert entry.max_rows == LOOP_ROWS
    assert scaled_rows(entry, 10 * LOOP_ROWS) == LOOP_ROWS
    assert scaled_rows(REGISTRY["sgd", "compiled"], 10 * LOOP_ROWS) == 10 * LOOP_ROWS
    assert "loop" in implementations("sgd") and "sklearn" in implementations("sgd")


def test_compare_interleaves_and_reports_medians():
    calls = []
    timings = compare(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        repeats=3,
        warmup={"a": 1, "b": 0},
        settle=0,
    )
    assert calls == ["a", "a", "b", "a", "b", "a", "b"]
    assert set(timings) == {"a", "b"}
    assert len(timings["a"].times) == 3
    assert timings["a"].min <= timings["a"].median


@pytest.mark.speed  # "fast" regions need the cores to itself
def test_wake_cores_runs_until_regions_are_fast_and_never_past_its_limit(
    monkeypatch,
):
    partial = np.zeros(2)
    _kernels.spin_threads(partial, 3)  # three steps of x = 0.999 x + 1 from 0
    np.testing.assert_allclose(partial, 1 + 0.999 + 0.999**2)
    wake_cores()  # compiles (or loads) the spin kernel
    if _kernels.JIT_DISABLED:
        assert wake_cores() == 0, "the spin would run as Python: skipped"
        return
    assert wake_cores() >= benchmark.WAKE_CALM_REGIONS
    # Regions that are never fast enough: it gives up at its time limit.
    monkeypatch.setattr(benchmark, "WAKE_CALM_SECONDS", 0.0)
    monkeypatch.setattr(benchmark, "WAKE_MAX_SECONDS", 0.05)
    start = time.perf_counter()
    assert wake_cores() >= 1
    assert time.perf_counter() - start < 0.05 + 0.5


def test_machine_record_names_blas_threads_and_versions(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    record = machine_record()
    text = "\n".join(record.lines())
    assert "numba" in text and "numpy" in text and "scikit-learn" in text
    assert "OPENBLAS_CORETYPE=Haswell" in text
    assert record.numba_threads >= 1
    assert all("num_threads" in blas for blas in record.blas)


@pytest.mark.skipif(_kernels.JIT_DISABLED, reason="nothing compiles without the JIT")
def test_a_first_bench_run_times_no_compilation(tmp_path):
    """Issue 25: with an empty numba cache, no timed region of `fastgd bench`
    compiles. Every timed call listens to numba's compile events
    (fastgd.benchmark.timed); the report lists any first attempt that
    compiled, and the warm-ups must leave that list empty."""
    report_path = tmp_path / "bench.json"
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    subprocess.run(
        [sys.executable, "-m", "fastgd", "bench", "--sizes", "20000x20",
         "--repeats", "1", "--no-compile-times", "--impls", "compiled",
         "--tables-scale", "0.05",
         "--json", str(report_path), "--quiet"],
        check=True, env=environment, capture_output=True, timeout=900,
    )  # fmt: skip
    report = json.loads(report_path.read_text())
    assert report["retimed_compilations"] == []
    size = report["sizes"][0]
    assert size["fits"] and size["time_to_solution"]
