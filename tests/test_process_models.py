"""Fits in forked children and in concurrent threads, under each threading layer.

Each layer runs in a subprocess with a timeout, so a child that dies (GNU OpenMP
after fork) or a process that aborts (workqueue entered by two threads) fails the
test instead of hanging the suite. The logic that picks a kernel's serial or
parallel build is tested in-process with stand-ins.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from fastgd import _kernels
from fastgd._kernels import parallel

SCRIPT = Path(__file__).parent / "scripts" / "fit_in_processes.py"
LAYER_TIMEOUT_S = 420


@pytest.mark.skipif(_kernels.JIT_DISABLED, reason="threading layers need the JIT")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
@pytest.mark.parametrize("layer", ["omp", "workqueue", "tbb"])
def test_forked_children_and_threads_get_the_parents_coefficients(layer):
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, NUMBA_NUM_THREADS="2")
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), layer], env=env, capture_output=True,
        text=True, timeout=LAYER_TIMEOUT_S,
    )  # fmt: skip
    if finished.returncode == 3:
        hint = " (pip install tbb)" if layer == "tbb" else ""
        pytest.skip(f"numba cannot load the {layer} layer here{hint}")
    assert finished.returncode == 0, finished.stdout + finished.stderr[-3000:]


class Recorder:
    """Stand-in builds: record which one ran."""

    def __init__(self):
        self.calls = []

    def build(self, name):
        return lambda *args: self.calls.append(name) or name


def kernel(recorder, wanted=True):
    return parallel.ParallelKernel(recorder.build("parallel"),
                                   recorder.build("serial"),
                                   lambda *args: wanted)  # fmt: skip


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setattr(parallel.numba, "get_num_threads", lambda: 2)


def test_small_work_runs_the_serial_build(two_threads):
    recorder = Recorder()
    assert kernel(recorder, wanted=False)() == "serial"


def test_one_numba_thread_runs_the_serial_build(monkeypatch):
    monkeypatch.setattr(parallel.numba, "get_num_threads", lambda: 1)
    assert kernel(Recorder())() == "serial"


@pytest.mark.parametrize("layer", ["tbb", "omp"])
def test_thread_safe_layers_run_in_parallel_without_the_lock(
    monkeypatch, two_threads, layer
):
    monkeypatch.setattr(parallel, "threading_layer", lambda: layer)
    with parallel._workqueue_lock:  # held elsewhere: irrelevant to these layers
        assert kernel(Recorder())() == "parallel"


@pytest.mark.parametrize("layer", ["workqueue", None])
def test_workqueue_runs_one_parallel_region_at_a_time(monkeypatch, two_threads, layer):
    """workqueue (or no layer launched yet): the lock's holder runs in parallel,
    any other thread meanwhile runs the serial build instead of waiting."""
    monkeypatch.setattr(parallel, "threading_layer", lambda: layer)
    recorder = Recorder()
    assert kernel(recorder)() == "parallel"
    assert not parallel._workqueue_lock.locked(), "released after the call"
    with parallel._workqueue_lock:
        assert kernel(recorder)() == "serial"
        seen = []
        other = threading.Thread(target=lambda: seen.append(kernel(recorder)()))
        other.start()
        other.join()
        assert seen == ["serial"]


def test_a_child_forked_after_omp_runs_serially(monkeypatch, two_threads):
    monkeypatch.setattr(parallel, "_serial_only", False)
    monkeypatch.setattr(parallel, "threading_layer", lambda: "workqueue")
    parallel._after_fork_in_child()
    assert not parallel.serial_only(), "workqueue survives fork"
    monkeypatch.setattr(parallel, "threading_layer", lambda: "omp")
    parallel._after_fork_in_child()
    assert parallel.serial_only()
    assert kernel(Recorder())() == "serial"
    assert not parallel._workqueue_lock.locked()


def _blocks(m):
    return _kernels.n_gradient_blocks(m)


def test_serial_and_parallel_builds_agree_bit_for_bit():
    """Several fixed row blocks: the builds must give identical sums (a forked
    child or a thread that finds workqueue busy runs the serial one)."""
    rng = np.random.default_rng(1)
    m, n = 3 * _kernels.ROWS_PER_BLOCK + 17, 7
    X = rng.standard_normal((m, n))
    y = rng.standard_normal(m)
    Y = rng.standard_normal((m, 2))
    w = rng.random(m)
    coef, b = rng.standard_normal(n), np.array([0.3])
    blocks = _blocks(m)
    assert blocks > 1
    calls = {
        "streaming_read": lambda: (X, np.empty(blocks)),
        "column_moments": lambda: (X, w, np.empty(n), np.empty(n),
                                   np.empty((blocks, 2 * n + 1))),
        "cross_products": lambda: (X, Y, np.empty((blocks, 3, n))),
        "batch_gradient": lambda: (X, y, w, w.sum(), coef, b, None, np.empty(n),
                                   np.empty((blocks, n + 2))),
        "batch_gradient_multi": lambda: (
            X, Y, w, w.sum(), rng.standard_normal((n, 2)), np.zeros(2), None,
            np.empty((n, 2)), np.empty(2), np.empty((blocks, n + 3, 2))),
    }  # fmt: skip
    for name, make_arguments in calls.items():
        kernel = getattr(_kernels, name)
        serial_args = make_arguments()
        parallel_args = tuple(a.copy() if isinstance(a, np.ndarray) else a
                              for a in serial_args)  # fmt: skip
        serial_result = kernel.serial(*serial_args)
        parallel_result = kernel.parallel(*parallel_args)
        assert np.array_equal(np.asarray(serial_result), np.asarray(parallel_result))
        for s, p in zip(serial_args, parallel_args, strict=True):
            if isinstance(s, np.ndarray):
                assert np.array_equal(s, p), name
