"""Kernel-level properties: the shuffle, the bandwidth probe, caching, threads."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastgd import _kernels, reference
from fastgd._validation import check_data
from fastgd.solvers import n_gradient_blocks

from .conftest import make_problem, relative_error


def test_shuffle_is_a_seeded_permutation():
    order = np.arange(1000, dtype=np.int64)
    state = np.array([99], dtype=np.uint64)
    _kernels.shuffle(order, state)
    assert np.array_equal(np.sort(order), np.arange(1000))
    assert state[0] != 99, "the generator state advances in place"
    again = np.arange(1000, dtype=np.int64)
    _kernels.shuffle(again, np.array([99], dtype=np.uint64))
    assert np.array_equal(order, again)


@pytest.mark.parametrize("method", ["sgd", "minibatch"])
@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("diverge", [False, True])
def test_chunked_epoch_shuffles_as_the_plain_one(method, n_targets, diverge):
    """With a helper chunk the two threads take turns training chunks and
    prefetching the next. Same updates, final order and generator state as the
    epoch without chunks; on divergence (where the chunked epoch may stop a few
    updates sooner, on the chunk's loss) the same final order and state."""
    X, y, _ = make_problem(m=103, n=5, k=n_targets, seed=4)
    X, y = check_data(X, y)
    eta = 1e8 if diverge else 0.01
    outcomes = []
    for helper_chunk in (0, 8):
        coef = np.zeros((5, *y.shape[1:]), X.dtype)
        intercept = np.zeros(y.shape[1:] or (1,), X.dtype)
        order = np.arange(103, dtype=np.int64)
        state = np.array([11], dtype=np.uint64)
        schedule = (np.array([eta], X.dtype), np.ones(1, X.dtype), 0)
        loss = _kernels.run_epoch(
            X, y, np.ones(1, X.dtype), None, (coef, intercept, True, None), None, None,
            None, schedule, order, (state, True, helper_chunk),
            None if method == "sgd" else 4,
        )  # fmt: skip
        outcomes.append((loss, coef, intercept, order, state[0]))
    (loss_a, *plain), (loss_b, *chunked) = outcomes
    assert np.isfinite(loss_a) != diverge and np.isfinite(loss_b) != diverge
    assert np.array_equal(np.sort(plain[2]), np.arange(103))
    checked = slice(2, 4) if diverge else slice(0, 4)
    for a, b in zip(plain[checked], chunked[checked], strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("n", "dtype", "rows_ahead"),
    [
        (100, np.float64, 3),  # 800-byte rows: 2,048 bytes ahead is 3 rows
        (100, np.float32, 6),
        (20, np.float32, 8),  # 80-byte rows: capped at 8 rows
        (256, np.float64, 1),  # exactly 2,048 bytes
        (257, np.float64, 0),  # longer rows stream by themselves
        (1000, np.float64, 0),
    ],
)
def test_streaming_kernels_prefetch_about_2kb_ahead_on_short_rows(n, dtype, rows_ahead):
    X = np.zeros((2, n), dtype=dtype)
    assert _kernels.stream_prefetch_rows(X) == rows_ahead


def test_shuffle_is_close_to_uniform():
    """Each of 5 items lands in each of 5 places about 1/5 of the time."""
    counts = np.zeros((5, 5))
    state = np.array([2024], dtype=np.uint64)
    order = np.arange(5, dtype=np.int64)
    trials = 20_000
    for _ in range(trials):
        order[:] = np.arange(5)
        _kernels.shuffle(order, state)
        counts[order, np.arange(5)] += 1
    expected = trials / 5
    # 5 standard deviations of a binomial(20000, 0.2) count is about 283.
    assert np.max(np.abs(counts - expected)) < 5 * np.sqrt(trials * 0.2 * 0.8)


def test_streaming_read_sums_every_element(dtype):
    X = np.random.default_rng(0).normal(size=(5000, 7)).astype(dtype)
    blocks = np.empty(n_gradient_blocks(X.shape[0]))
    assert _kernels.streaming_read(X, blocks) == pytest.approx(
        X.sum(dtype=np.float64), rel=1e-5
    )


def test_cache_fallback_warns_once_and_still_compiles(monkeypatch):
    """When numba finds no writable cache directory, kernels compile uncached."""
    from fastgd._kernels import config

    real_njit = config.numba.njit

    def njit_without_cache_dir(*args, cache=False, **kwargs):
        if cache:
            raise RuntimeError("cannot cache function 'f': no locator available")
        return real_njit(*args, **kwargs)

    monkeypatch.setattr(config.numba, "njit", njit_without_cache_dir)
    monkeypatch.setattr(config, "_cache_warning_shown", False)

    def add_one(x):
        return x + 1

    with pytest.warns(RuntimeWarning, match="NUMBA_CACHE_DIR"):
        compiled = config.jit()(add_one)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config.jit()(add_one)
    assert compiled(1) == 2


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 40),
    n=st.integers(1, 6),
    k=st.integers(0, 3),
    single=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_batch_gradient_matches_numpy_for_any_shape(m, n, k, single, seed):
    X, y, _ = make_problem(m=m, n=n, k=max(k, 1), seed=seed)
    if single:
        y = y if y.ndim == 1 else y[:, 0]
    X, y = check_data(X, y)
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=(n, *y.shape[1:]))
    intercept = rng.normal(size=y.shape[1:] or (1,))
    n_blocks = n_gradient_blocks(m)
    if y.ndim == 1:
        grad = np.empty(n)
        loss, grad_b = _kernels.batch_gradient(
            X, y, np.ones(1, X.dtype), float(m), coef, intercept, None, grad,
            np.empty((n_blocks, n + 2)),
        )  # fmt: skip
    else:
        grad, grad_b = np.empty(coef.shape), np.empty(y.shape[1])
        loss = _kernels.batch_gradient_multi(
            X, y, np.ones(1, X.dtype), float(m), coef, intercept, None, grad, grad_b,
            np.empty((n_blocks, n + 3, y.shape[1])),
        )  # fmt: skip
    expected = reference.batch_gradient_numpy(X, y, coef, intercept)
    assert relative_error(grad, expected[0]) <= 1e-10
    assert relative_error(np.atleast_1d(grad_b), expected[1]) <= 1e-10
    assert loss == pytest.approx(expected[2], rel=1e-10)


def _fresh_python(code):
    """stdout of ``code`` run by a new Python process (nothing imported yet)."""
    import subprocess
    import sys

    finished = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return finished.stdout


def test_import_loads_neither_scikit_learn_nor_numba():
    """``import fastgd`` is fast: the heavy imports wait for first use, and the
    public names still resolve (``fastgd.minimize`` is the function)."""
    code = (
        "import sys, fastgd\n"
        "print(sorted(m for m in ('sklearn', 'numba', 'scipy') if m in sys.modules))\n"
        "print(callable(fastgd.minimize), fastgd.GDRegressor.__name__,\n"
        "      sorted(set(fastgd.__all__) - set(dir(fastgd))))\n"
    )
    assert _fresh_python(code).split("\n")[:2] == ["[]", "True GDRegressor []"]


def test_import_compiles_nothing():
    """A fresh ``import fastgd`` leaves every kernel uncompiled (compilation, or
    loading numba's cache, happens on first use)."""
    code = (
        "import fastgd, fastgd._kernels as k\n"
        "names = ['batch_gradient', 'batch_gradient_multi', 'run_epoch',\n"
        "         'shuffle', 'rows_loss', 'column_moments', 'streaming_read',\n"
        "         'cross_products', 'optimizer_step', 'optimizer_delta']\n"
        "print(sum(len(k.compiled_signatures(getattr(k, n))) for n in names))\n"
    )
    assert _fresh_python(code).strip() == "0"


def test_helper_chunk_rows_follows_row_size_and_cache_not_threads():
    """Chunks depend on X alone, so one thread (or a forked child running the
    serial build) cuts an epoch where two threads do: the same rounding."""
    big = np.lib.stride_tricks.as_strided(np.zeros(1), (1_000_000, 100), (0, 0))
    wide = np.lib.stride_tricks.as_strided(np.zeros(1), (200_000, 1000), (0, 0))
    narrow = np.lib.stride_tricks.as_strided(np.zeros(1), (5_000_000, 20), (0, 0))
    from fastgd._kernels import memory

    chunk_bytes = memory.HELPER_CHUNK_BYTES
    assert chunk_bytes == memory.CACHES["l2"] // 5
    threads = _kernels.get_num_threads()
    try:
        for count in {1, min(2, _kernels.max_threads())}:
            _kernels.set_num_threads(count)
            assert _kernels.helper_chunk_rows(big, big.shape[0]) == min(
                chunk_bytes // 800, memory.HELPER_MAX_CHUNK_ROWS
            )
            assert _kernels.helper_chunk_rows(wide, wide.shape[0]) == min(
                chunk_bytes // 8000, memory.HELPER_MAX_CHUNK_ROWS
            )
            assert _kernels.helper_chunk_rows(narrow, narrow.shape[0]) == min(
                chunk_bytes // 160, memory.HELPER_MAX_CHUNK_ROWS
            )
            assert _kernels.helper_chunk_rows(big[:1000], 1000) == 0, "in cache"
            rows = min(chunk_bytes // 800, memory.HELPER_MAX_CHUNK_ROWS)
            assert _kernels.helper_chunk_rows(big, rows) == 0, "one chunk: no helper"
    finally:
        _kernels.set_num_threads(threads)


@pytest.mark.parametrize("solver", ["sgd", "minibatch"])
def test_helper_thread_changes_no_result(solver):
    """X past HELPER_MIN_BYTES runs the chunked epoch with two threads; one thread
    runs the plain one. The updates must be bit for bit the same (the epoch's loss
    is summed per chunk, so only its rounding may differ)."""
    from fastgd import fit_minibatch, fit_sgd

    fit = fit_sgd if solver == "sgd" else fit_minibatch
    X, y, _ = make_problem(m=6000, n=100, seed=3)
    assert X.nbytes >= _kernels.HELPER_MIN_BYTES
    threads = _kernels.get_num_threads()
    results = []
    try:
        for count in (1, min(2, _kernels.max_threads())):
            _kernels.set_num_threads(count)
            results.append(fit(X, y, eta0=1e-3, max_iter=2, tol=None, random_state=0))
    finally:
        _kernels.set_num_threads(threads)
    assert np.array_equal(results[0].coef, results[1].coef)
    assert np.allclose(results[0].loss_history, results[1].loss_history, rtol=1e-12)


@pytest.mark.skipif(_kernels.JIT_DISABLED, reason="NUMBA_DISABLE_JIT=1: no cache")
def test_cached_kernels_are_stamped_with_every_compiled_source():
    """An edit to any file compiled into the kernels (a helper in another module,
    an optimizer rule) must invalidate every kernel's disk cache, not only the
    cache of functions defined in the edited file."""
    from pathlib import Path

    from fastgd._kernels import config

    names = {path.name for path in config._COMPILED_SOURCES}
    assert {"epochs.py", "steps.py", "memory.py", "optimizers.py"} <= names
    kernels = (_kernels.run_epoch.parallel, _kernels.batch_gradient.parallel,
               _kernels.batch_gradient.serial, _kernels.optimizer_delta)  # fmt: skip
    for kernel in kernels:
        cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
        if cache_file is None or not hasattr(cache_file, "_source_stamp"):
            pytest.skip("this numba lays out its cache differently")
        assert cache_file._source_stamp[1] == config.SOURCE_DIGEST
    edited = [Path(p) for p in config._COMPILED_SOURCES]
    assert config._source_digest(edited[:-1]) != config.SOURCE_DIGEST


def test_cache_sizes_are_read_from_sysfs(tmp_path):
    """The sysfs layout of Linux: data and unified caches by level, instruction
    caches skipped, sizes in K or M."""
    from fastgd._kernels import caches

    for index, (level, kind, size) in enumerate(
        [(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", "2048K"),
         (3, "Unified", "105M")]
    ):  # fmt: skip
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        (folder / "level").write_text(f"{level}\n")
        (folder / "type").write_text(f"{kind}\n")
        (folder / "size").write_text(f"{size}\n")
    assert caches._from_sysfs(tmp_path) == {
        "l1d": 48 * 1024, "l2": 2 * 1024 * 1024, "l3": 105 * 1024 * 1024}  # fmt: skip
    assert caches._from_sysfs(tmp_path / "missing") == {}
    sizes, source = caches.cache_sizes()
    assert set(sizes) == {"l1d", "l2", "l3"} and all(v > 0 for v in sizes.values())
    assert source
