"""Data larger than memory (issue 15): file sources streamed in blocks.

The oracle is the in-memory fit of the same data. Visiting the rows in order
(shuffle=False), a streamed fit must follow the in-memory trajectory up to
rounding, through both paths of :class:`~fastgd.sources.BlockSource` (views of a
mapped file; copies into double buffers, with the rows a mini-batch carries
over); block-shuffled epochs visit every training row once and reach the full
shuffle's R^2. Files are small, in tmp_path, with budgets of a few KB so that
every pass streams several units; nothing is ever written to them.
"""

import hashlib
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from fastgd import GDRegressor, _kernels, fit_batch, fit_minibatch, fit_sgd, fit_svrg
from fastgd.cli import main
from fastgd.sources import BlockSource, DenseSource, as_source, for_fit, from_npy
from fastgd.sources.readers import ArrayReader

from .conftest import make_problem

SOLVERS = {"batch": fit_batch, "sgd": fit_sgd, "minibatch": fit_minibatch,
           "svrg": fit_svrg}  # fmt: skip
OPTIONS = {"batch": dict(eta0=0.005, max_iter=4), "sgd": dict(eta0=0.001, max_iter=3),
           "minibatch": dict(eta0=0.005, batch_size=7, max_iter=3),
           "svrg": dict(eta0=0.0005, max_iter=2)}  # fmt: skip
# 600 rows of 5 float64 features: 24 KB. A budget of 4 KB streams 20-row
# blocks (a quarter of the budget each), one a unit; with block_rows=16 a unit
# gathers 3 blocks (copied).
BUDGET = 4096


def problem(m=600, n=5, k=1, seed=0, dtype=np.float64):
    X, y, _ = make_problem(m=m, n=n, k=k, seed=seed, dtype=dtype)
    X = X * np.linspace(0.5, 3.0, n).astype(dtype) + np.arange(n).astype(dtype)
    return X, y


def digest(path):
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


@pytest.fixture
def files(tmp_path):
    X, y = problem()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "X.npy", tmp_path / "y.npy", X, y


def streamed(path, y, block_rows=None):
    """The file streamed: default blocks, ``block_rows`` rows a block, or
    "array": the array in memory read in blocks where it is (no copies)."""
    if block_rows == "array":
        X = np.load(path)
        return BlockSource(ArrayReader(X, block_rows=20), y if not isinstance(
            y, os.PathLike) else np.load(y), memory_budget=BUDGET)  # fmt: skip
    source = from_npy(path, y, memory_budget=BUDGET, block_rows=block_rows)
    assert source.nbytes > source.memory_budget  # the fit streams it
    return source


# ------------------------------------------------------------------ the oracle


CASES = [
    (solver, name, options)
    for solver in SOLVERS
    for name, options in [
        ("plain", {}),
        ("standardized-weighted", dict(standardize=True, sample_weight="random")),
        ("l2-adam", dict(standardize=True, alpha=0.01, optimizer="adam")),
        (
            "proximal",
            dict(standardize=True, penalty="elasticnet", alpha=0.05, positive=True),
        ),
    ]
    if not (solver == "svrg" and "optimizer" in options)
]  # svrg: plain steps only


@pytest.mark.parametrize("block_rows", [None, 16, "array"],
                         ids=["default-blocks", "16-row-blocks", "array"])  # fmt: skip
@pytest.mark.parametrize("solver, name, options", CASES,
                         ids=[f"{s}-{name}" for s, name, _ in CASES])  # fmt: skip
def test_streamed_fit_in_order_equals_the_in_memory_fit(files, solver, name, options,
                                                        block_rows):  # fmt: skip
    x_path, y_path, X, y = files
    options = dict(options)
    if options.get("sample_weight") == "random":
        options["sample_weight"] = np.random.default_rng(1).uniform(0.2, 2, len(y))
    fit = SOLVERS[solver]
    common = dict(OPTIONS[solver], tol=None, random_state=0, **options)
    if solver != "batch":
        common["shuffle"] = False
    else:
        common["strategy"] = "pass"
    expected = fit(X, y, **common)
    got = fit(streamed(x_path, y_path, block_rows), **common)
    np.testing.assert_allclose(got.coef, expected.coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.intercept, expected.intercept, rtol=1e-9)
    np.testing.assert_allclose(got.loss_history, expected.loss_history, rtol=1e-9)
    assert got.n_steps == expected.n_steps


@pytest.mark.parametrize("impl", ["numpy", "loop"])
def test_twins_stream_too(files, impl):
    x_path, y_path, X, y = files
    for solver in ("sgd", "batch"):
        options = dict(OPTIONS[solver], tol=None, impl=impl)
        options.update(shuffle=False) if solver == "sgd" else options.update(
            strategy="pass")  # fmt: skip
        expected = SOLVERS[solver](X, y, **options)
        got = SOLVERS[solver](streamed(x_path, y_path, 16), **options)
        np.testing.assert_allclose(got.coef, expected.coef, rtol=1e-9)


def test_gram_strategy_and_moments_stream(files):
    x_path, y_path, X, y = files
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    for sample_weight in (None, weights):
        options = dict(strategy="gram", eta0="auto", max_iter=50, tol=None,
                       standardize=True, sample_weight=sample_weight)  # fmt: skip
        expected = fit_batch(X, y, **options)
        got = fit_batch(streamed(x_path, y_path, 16), **options)
        assert got.strategy == "gram"
        np.testing.assert_allclose(got.coef, expected.coef, rtol=1e-9)
    source = streamed(x_path, y_path, 16)
    mean, variance = source.column_moments(weights)
    np.testing.assert_allclose(mean, np.average(X, axis=0, weights=weights))
    np.testing.assert_allclose(
        variance, np.average((X - mean) ** 2, axis=0, weights=weights))  # fmt: skip


def test_multi_output_streams(tmp_path):
    X, Y = problem(k=3)
    np.save(tmp_path / "X.npy", X)
    source = streamed(tmp_path / "X.npy", Y, 16)
    for solver in ("sgd", "minibatch", "batch"):
        options = dict(OPTIONS[solver], tol=None)
        options.update(shuffle=False) if solver != "batch" else None
        expected = SOLVERS[solver](X, Y, **options)
        got = SOLVERS[solver](source, **options)
        np.testing.assert_allclose(got.coef, expected.coef, rtol=1e-9)
    model = GDRegressor(random_state=0).fit(source)
    np.testing.assert_allclose(model.predict(source), model.predict(X), rtol=1e-6)


# ------------------------------------------------------------ block shuffling


@pytest.mark.parametrize("solver", ["sgd", "minibatch", "svrg"])
@pytest.mark.parametrize("block_rows", [None, 16, "array"],
                         ids=["default-blocks", "16-row-blocks", "array"])  # fmt: skip
def test_a_block_shuffled_epoch_visits_every_training_row_once(files, solver,
                                                               block_rows):  # fmt: skip
    """At a negligible step, an epoch's loss is the sum of every row's squared
    residual: a row visited twice, or missed, would change it."""
    x_path, y_path, X, y = files
    options = dict(OPTIONS[solver], eta0=1e-12, max_iter=2, tol=None,
                   random_state=3, shuffle="block")  # fmt: skip
    if solver == "svrg":
        options["eta0"] = 1e-12
    got = SOLVERS[solver](streamed(x_path, y_path, block_rows), **options)
    expected = SOLVERS[solver](X, y, **{**options, "shuffle": True})
    np.testing.assert_allclose(got.loss_history, expected.loss_history, rtol=1e-9)
    assert got.n_steps == expected.n_steps


def test_block_shuffle_is_deterministic_for_a_seed_and_differs_between_seeds(files):
    x_path, y_path, _, _ = files
    source = streamed(x_path, y_path, 16)

    def run(seed, shuffle="block"):
        return fit_sgd(source, eta0=0.01, max_iter=2, tol=None, random_state=seed,
                       shuffle=shuffle).coef  # fmt: skip

    np.testing.assert_array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))
    assert not np.array_equal(run(0), run(0, shuffle=False))


def test_block_shuffle_reaches_the_full_shuffles_r2_on_sorted_rows(tmp_path):
    """Rows sorted by y, the worst order for blocks: the defaults still reach
    the in-memory R^2 within 1e-3."""
    X, y = problem(m=4000, n=6, seed=4)
    order = np.argsort(y)
    X, y = X[order], y[order]
    np.save(tmp_path / "X.npy", X)
    source = from_npy(tmp_path / "X.npy", y, memory_budget=40_000)
    assert source.n_blocks > 100  # 64 blocks drawn at random a buffer
    for solver in ("sgd", "minibatch", "svrg"):
        in_memory = GDRegressor(solver=solver, random_state=0).fit(X, y).score(X, y)
        model = GDRegressor(solver=solver, random_state=0).fit(source)
        assert model.score(source) == pytest.approx(in_memory, abs=1e-3)


def test_in_memory_data_can_be_block_shuffled():
    X, y = problem()
    got = fit_sgd(X, y, eta0=0.01, max_iter=2, tol=None, shuffle="block",
                  random_state=0)  # fmt: skip
    assert isinstance(for_fit(as_source(X, y), "block"), BlockSource)
    assert np.all(np.isfinite(got.coef))


# ----------------------------------------------------- memory, auto, entry points


def test_a_file_that_fits_the_budget_is_read_into_memory(files):
    x_path, y_path, X, y = files
    source = from_npy(x_path, y_path)  # the default budget: a quarter of RAM
    assert isinstance(for_fit(source, "auto"), DenseSource)
    assert isinstance(for_fit(source, True), DenseSource)
    assert for_fit(source, "block") is source
    expected = fit_sgd(X, y, eta0=0.01, max_iter=3, tol=None, random_state=0)
    got = fit_sgd(source, eta0=0.01, max_iter=3, tol=None, random_state=0)
    np.testing.assert_array_equal(got.coef, expected.coef)


def test_auto_streams_a_file_larger_than_the_budget_and_true_is_refused(files):
    x_path, y_path, _, _ = files
    source = streamed(x_path, y_path)
    assert for_fit(source, "auto") is source and for_fit(source, False) is source
    with pytest.raises(ValueError, match="shuffle='auto' or 'block'"):
        fit_sgd(source, shuffle=True)
    with pytest.raises(ValueError, match="memory_budget"):
        from_npy(x_path, y_path, memory_budget=0)


def test_memmap_and_np_load_arrays_are_accepted_as_x(files):
    x_path, _, X, y = files
    before = digest(x_path)
    mapped = np.load(x_path, mmap_mode="r")
    as_memmap = np.memmap(x_path, dtype=X.dtype, mode="r", offset=128, shape=X.shape)
    for array in (mapped, as_memmap):
        model = GDRegressor(random_state=0).fit(array, y)
        reference = GDRegressor(random_state=0).fit(X, y)
        np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-12)
        np.testing.assert_allclose(model.predict(array), reference.predict(X))
        assert model.score(array, y) == pytest.approx(reference.score(X, y))
        got = fit_sgd(array, y, eta0=0.01, max_iter=2, tol=None, random_state=0)
        assert np.all(np.isfinite(got.coef))
    assert digest(x_path) == before


def test_estimator_fit_predict_score_partial_fit_on_a_streamed_source(files):
    x_path, y_path, X, y = files
    before = digest(x_path), digest(y_path)
    source = streamed(x_path, y_path)
    model = GDRegressor(random_state=0).fit(source)
    assert model.n_features_in_ == X.shape[1]
    np.testing.assert_allclose(model.predict(source), model.predict(X), rtol=1e-12)
    assert model.score(source) == pytest.approx(model.score(X, y), rel=1e-12)
    assert model.score(source) > 0.99
    targets_free = from_npy(x_path, memory_budget=BUDGET)
    np.testing.assert_allclose(model.predict(targets_free), model.predict(X))
    assert model.score(targets_free, y) == pytest.approx(model.score(X, y))
    with pytest.raises(ValueError, match="has no targets"):
        GDRegressor().fit(targets_free)
    fitted = GDRegressor(random_state=0).fit(targets_free, y)
    np.testing.assert_allclose(fitted.coef_, model.coef_)
    with pytest.raises(ValueError, match="holds its own targets"):
        GDRegressor().fit(source, y)
    partial = GDRegressor(solver="sgd", random_state=0)
    for _ in range(3):
        partial.partial_fit(source)
    assert partial.score(source) > 0.9
    with pytest.raises(ValueError, match="expecting 5 features"):
        model.predict(from_npy(x_path, memory_budget=BUDGET).reader.X[:, :3])
    early = GDRegressor(random_state=0, early_stopping=True).fit(source)
    assert early.validation_scores_ and early.score(source) > 0.99
    eta = GDRegressor(solver="sgd", random_state=0, eta0="auto").fit(source)
    assert eta.eta0_ == pytest.approx(GDRegressor(solver="sgd", random_state=0)
                                      .fit(X, y).eta0_)  # fmt: skip
    assert (digest(x_path), digest(y_path)) == before


def test_concurrent_fits_on_one_source_agree(files):
    x_path, y_path, _, _ = files
    source = streamed(x_path, y_path, 16)
    options = dict(eta0=0.01, max_iter=3, tol=None, random_state=0, shuffle="block")
    expected = fit_sgd(source, **options).coef
    results = [None] * 4

    def work(index):
        results[index] = fit_sgd(source, **options).coef

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)


# ------------------------------------------------------------------ formats


def test_raw_binary_big_endian_and_integer_files(tmp_path, files):
    _, _, X, y = files
    X.astype(">f8").tofile(tmp_path / "X.bin")
    raw = from_npy(tmp_path / "X.bin", y, dtype=">f8", shape=(-1, 5),
                   memory_budget=BUDGET)  # fmt: skip
    assert raw.shape == X.shape and raw.dtype == np.float64
    expected = fit_batch(X, y, eta0=0.05, max_iter=3, tol=None, strategy="pass")
    got = fit_batch(raw, eta0=0.05, max_iter=3, tol=None, strategy="pass")
    np.testing.assert_allclose(got.coef, expected.coef, rtol=1e-12)
    np.save(tmp_path / "big.npy", X.astype(">f4"))
    big = from_npy(tmp_path / "big.npy", y, memory_budget=BUDGET)
    assert big.dtype == np.float32
    got = fit_batch(big, eta0=0.05, max_iter=3, tol=None, strategy="pass")
    assert got.coef.dtype == np.float32
    np.testing.assert_allclose(got.coef, expected.coef, rtol=1e-4)
    np.save(tmp_path / "int.npy", np.round(X * 10).astype(np.int32))
    integers = from_npy(tmp_path / "int.npy", y, memory_budget=BUDGET)
    assert integers.dtype == np.float64
    assert np.all(np.isfinite(fit_sgd(integers, eta0=1e-4, max_iter=2, tol=None).coef))


def test_float32_files_stay_float32(tmp_path):
    X, y = problem(dtype=np.float32)
    np.save(tmp_path / "X.npy", X)
    source = from_npy(tmp_path / "X.npy", y, memory_budget=BUDGET)
    for solver in ("sgd", "batch"):
        options = dict(OPTIONS[solver], tol=None)
        if solver == "sgd":
            options["shuffle"] = False
        got = SOLVERS[solver](source, **options)
        expected = SOLVERS[solver](X, y, **options)
        assert got.coef.dtype == np.float32
        np.testing.assert_allclose(got.coef, expected.coef, rtol=1e-5)


pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def write_parquet(folder, X, y, files=3, row_group_size=37, names=None):
    names = names or [f"x{j}" for j in range(X.shape[1])]
    folder.mkdir(exist_ok=True)
    for index, rows in enumerate(np.array_split(np.arange(len(y)), files)):
        table = pa.table({**{name: X[rows, j] for j, name in enumerate(names)},
                          "y": y[rows]})  # fmt: skip
        pq.write_table(table, folder / f"part-{index}.parquet",
                       row_group_size=row_group_size)  # fmt: skip
    return folder


def test_parquet_directory_streams_like_the_arrays(tmp_path):
    from fastgd.sources import from_parquet

    X, y = problem()
    folder = write_parquet(tmp_path / "data", X, y)
    before = {p: digest(p) for p in folder.iterdir()}
    source = from_parquet(folder, target="y", memory_budget=BUDGET)
    assert source.shape == X.shape and source.n_blocks == 3 * 6
    for solver in ("sgd", "minibatch", "batch"):
        options = dict(OPTIONS[solver], tol=None)
        if solver != "batch":
            options["shuffle"] = False
        got = SOLVERS[solver](source, **options)
        expected = SOLVERS[solver](X, y, **options)
        np.testing.assert_allclose(got.coef, expected.coef, rtol=1e-9)
    model = GDRegressor(random_state=0).fit(source)
    assert model.score(source) == pytest.approx(model.score(X, y), rel=1e-12)
    files = sorted(folder.iterdir())
    listed = from_parquet(files[:2], target="y", memory_budget=BUDGET)
    assert listed.shape[0] == sum(pq.ParquetFile(f).metadata.num_rows
                                  for f in files[:2])  # fmt: skip
    picked = from_parquet(files[0], target="y", columns=["x3", "x1"])
    assert picked.shape[1] == 2
    assert {p: digest(p) for p in folder.iterdir()} == before


def test_fastgd_fit_streams_a_parquet_directory(tmp_path, capsys):
    X, y = problem()
    folder = write_parquet(tmp_path / "data", X, y)
    code = main(["fit", str(folder), "--target", "y", "--memory-budget", "4096"])
    assert code == 0
    out = capsys.readouterr().out
    assert "600 samples x 5 features" in out
    assert float(out.split("R^2 = ")[1].split()[0]) > 0.99


# ------------------------------------------------------------------ bad input


def test_bad_npy_files_are_explained(tmp_path, files):
    x_path, _, X, y = files
    with pytest.raises(FileNotFoundError, match=r"missing\.npy"):
        from_npy(tmp_path / "missing.npy", y)
    with pytest.raises(FileNotFoundError, match=r"nope\.npy"):
        from_npy(x_path, tmp_path / "nope.npy")
    data = x_path.read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match=r"cut\.npy is truncated"):
        from_npy(tmp_path / "cut.npy", y)
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    with pytest.raises(ValueError, match=r"not a \.npy file"):
        from_npy(tmp_path / "junk.npy", y)
    np.save(tmp_path / "text.npy", np.array([["a", "b"]] * 3))
    with pytest.raises(TypeError, match="float32 or float64"):
        from_npy(tmp_path / "text.npy")
    np.save(tmp_path / "fortran.npy", np.asfortranarray(X))
    with pytest.raises(ValueError, match="Fortran"):
        from_npy(tmp_path / "fortran.npy", y)
    X.tofile(tmp_path / "X.bin")
    with pytest.raises(ValueError, match="not a whole number of rows"):
        from_npy(tmp_path / "X.bin", y, dtype=np.float64, shape=(-1, 7))
    with pytest.raises(ValueError, match="truncated"):
        from_npy(tmp_path / "X.bin", y, dtype=np.float64, shape=(601, 5))
    with pytest.raises(ValueError, match="shape"):
        from_npy(tmp_path / "X.bin", y, dtype=np.float64)
    with pytest.raises(ValueError, match="600 samples but y has 599"):
        from_npy(x_path, y[:-1])
    with pytest.raises(ValueError, match="2-D"):
        np.save(tmp_path / "one.npy", y)
        from_npy(tmp_path / "one.npy", y)


def test_nan_in_a_block_names_the_file_and_rows(tmp_path):
    X, y = problem()
    X[437, 2] = np.nan
    np.save(tmp_path / "X.npy", X)
    before = digest(tmp_path / "X.npy")
    for block_rows in (None, 16):
        source = from_npy(tmp_path / "X.npy", y, memory_budget=BUDGET,
                          block_rows=block_rows)  # fmt: skip
        for fit, options in ((fit_batch, {}), (fit_sgd, {"shuffle": False})):
            with pytest.raises(ValueError, match=r"X.npy, row 437 \(in the block"):
                fit(source, max_iter=1, **options)
    with pytest.raises(ValueError, match="NaN"):
        GDRegressor().fit(from_npy(tmp_path / "X.npy", y))  # read into memory
    assert digest(tmp_path / "X.npy") == before


def test_bad_parquet_files_are_explained(tmp_path):
    from fastgd.sources import from_parquet

    X, y = problem(m=60)
    folder = write_parquet(tmp_path / "ok", X, y, files=2)
    with pytest.raises(ValueError, match="target column 'price' is not in"):
        from_parquet(folder, target="price")
    with pytest.raises(ValueError, match=r"columns \['nope'\] are not in"):
        from_parquet(folder, columns=["nope"])
    with pytest.raises(FileNotFoundError, match="no such Parquet file"):
        from_parquet(tmp_path / "none.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*\.parquet file"):
        from_parquet(tmp_path / "empty")
    text = pa.table({"a": ["u", "v"], "y": [1.0, 2.0]})
    pq.write_table(text, tmp_path / "text.parquet")
    with pytest.raises(TypeError, match=r"column 'a'.*not numeric"):
        from_parquet(tmp_path / "text.parquet")
    holes = pa.table({"a": [1.0, None, 3.0], "y": [1.0, 2.0, 3.0]})
    pq.write_table(holes, tmp_path / "holes.parquet")
    with pytest.raises(
        ValueError, match=r"null values in .*holes.parquet, rows 0 to 2"
    ):
        fit_sgd(from_parquet(tmp_path / "holes.parquet"), max_iter=1)
    missing_y = pa.table({"a": [1.0, 2.0], "y": [1.0, None]})
    pq.write_table(missing_y, tmp_path / "missing_y.parquet")
    with pytest.raises(ValueError, match=r"target column 'y'.*null"):
        from_parquet(tmp_path / "missing_y.parquet")
    other = tmp_path / "other"
    write_parquet(other, X.astype(np.float32), y, files=1)
    with pytest.raises(ValueError, match="schemas of the Parquet files disagree"):
        from_parquet([folder / "part-0.parquet", other / "part-0.parquet"])


# ------------------------------------------------------------------ memory


MEMORY_SCRIPT = """
import os, sys, threading, time
import numpy as np
from fastgd import fit_batch, fit_sgd
from fastgd.sources import from_npy

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

path, budget = sys.argv[1], int(sys.argv[2])
y = np.load(sys.argv[3])
source = from_npy(path, y, memory_budget=budget)
fits = [lambda: fit_sgd(source, eta0=1e-4, max_iter=2, tol=None, shuffle="block"),
        lambda: fit_batch(source, eta0=1e-3, max_iter=2, tol=None, strategy="pass")]
for fit in fits:
    fit()  # compiled, buffers allocated
base = peak = rss()
done = threading.Event()
def sample():
    global peak
    while not done.wait(0.002):
        peak = max(peak, rss())
thread = threading.Thread(target=sample)
thread.start()
for fit in fits:
    fit()
done.set()
thread.join()
print(base, max(peak, rss()))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.skipif(_kernels.JIT_DISABLED, reason="a size that needs the JIT")
def test_resident_memory_stays_within_the_budget(tmp_path):
    """A 64 MB file streamed with a 16 MB budget: the resident memory of a fit
    (after the first, which allocates the buffers) grows by less than the
    budget, in a fresh process; the file's pages are released as it goes."""
    m, n = 80_000, 100
    rng = np.random.default_rng(0)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", "w+", np.float64, (m, n))
    X[:] = rng.normal(size=(m, n))
    X.flush()
    np.save(tmp_path / "y.npy", rng.normal(size=m))
    budget = 16 * 2**20
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "X.npy"), str(budget),
         str(tmp_path / "y.npy")],
        capture_output=True, text=True, check=True, timeout=600,
        env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"},
    )  # fmt: skip
    base, peak = (int(v) for v in out.stdout.split()[-2:])
    assert peak - base < budget, (peak - base, budget)
    assert peak - base < 0.25 * X.nbytes


def test_shuffle_options_are_checked():
    X, y = problem(m=50)
    with pytest.raises(ValueError, match="'auto' or 'block'"):
        fit_sgd(X, y, shuffle="yes")
    with pytest.raises(ValueError, match="shuffle"):
        GDRegressor(shuffle="yes").fit(X, y)
    options = dict(eta0=1e-3, max_iter=2, tol=None, random_state=0)
    got = fit_sgd(X, y, shuffle=np.True_, **options)
    assert np.array_equal(got.coef, fit_sgd(X, y, shuffle=True, **options).coef)
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValueError, match="SparseSource is shuffled in full"):
        fit_sgd(sparse.csr_matrix(X), y, shuffle="block")
