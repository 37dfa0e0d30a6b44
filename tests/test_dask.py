"""fastgd on Dask: DaskSource against the in-memory fits, on Dask's default
scheduler and on the session's LocalCluster (2 worker processes, 1 thread each)."""

import hashlib
import os
import signal

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from fastgd import GDRegressor, _kernels, fit_batch, fit_minibatch, fit_sgd
from fastgd.sources import DaskSource, dask_source
from fastgd.sources.dask_source import tree_sum

from .conftest import make_problem, relative_error


@pytest.fixture(params=["local", "cluster"])
def scheduler(request):
    """Dask's default scheduler (no client), or the session cluster's client."""
    if request.param == "cluster":
        if _kernels.JIT_DISABLED:
            pytest.skip(
                "NUMBA_DISABLE_JIT=1: the same test runs on the default scheduler "
                "(in this process, where coverage sees the chunk tasks); on the "
                "cluster it runs in the JIT suite. The fault and cross-scheduler "
                "tests still run on the cluster here."
            )
        request.getfixturevalue("dask_client")
    return request.param


def chunked(X, y, rows):
    """X and y as dask arrays in chunks of ``rows`` rows."""
    return (da.from_array(X, chunks=(rows, X.shape[1])),
            da.from_array(y, chunks=(rows, *y.shape[1:])))  # fmt: skip


# ------------------------------------------------------------- batch and Gram


@pytest.mark.parametrize("rows", [37, 1000], ids=["uneven-chunks", "one-chunk"])
@pytest.mark.parametrize(
    "case", ["plain", "standardized-weighted", "multi-output", "float32", "l2-adam"]
)
def test_batch_gradient_descent_equals_the_in_memory_fit(scheduler, rows, case):
    dtype = np.float32 if case == "float32" else np.float64
    X, y = make_problem(m=300, n=4, k=3 if case == "multi-output" else 1,
                        dtype=dtype)[:2]  # fmt: skip
    options = dict(max_iter=25, tol=None, strategy="pass")
    if case == "standardized-weighted":
        options.update(standardize=True, sample_weight=np.linspace(0.5, 2.0, 300))
    if case == "l2-adam":
        options.update(alpha=0.01, optimizer="adam", eta0=0.05)
    expected = fit_batch(X, y, **options)
    result = fit_batch(*chunked(X, y, rows), **options)
    assert result.n_iter == expected.n_iter
    tolerance = 1e-5 if dtype == np.float32 else 1e-8
    assert relative_error(result.coef, expected.coef) < tolerance
    assert relative_error(result.intercept, expected.intercept) < tolerance
    assert result.coef.dtype == expected.coef.dtype


def test_gram_strategy_equals_the_in_memory_fit(scheduler):
    X, y = make_problem(m=300, n=6)[:2]
    weights = np.linspace(1.0, 3.0, 300)
    options = dict(max_iter=40, tol=None, strategy="gram", sample_weight=weights)
    expected = fit_batch(X, y, **options)
    result = fit_batch(*chunked(X, y, 70), **options)
    assert relative_error(result.coef, expected.coef) < 1e-10


def test_tree_sum_adds_in_a_fixed_pairwise_order():
    # Floating point addition is not associative: these parts give another
    # result in another order, so the test sees the tree.
    parts = [1e16, 1.0, -1e16, 1.0, 3.0]
    assert tree_sum(parts) == ((1e16 + 1.0) + (-1e16 + 1.0)) + 3.0
    assert tree_sum([np.ones(2)] * 3).tolist() == [3.0, 3.0]


# ------------------------------------------------------------- mixing rounds


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling"])
def test_a_round_is_the_weighted_average_of_the_chunks_local_epochs(
    scheduler, learning_rate
):
    # Each chunk's epoch takes the epoch's first step sizes, as a fit of its
    # own rows would.
    X, y = make_problem(m=250, n=4)[:2]
    options = dict(max_iter=1, tol=None, shuffle=False, learning_rate=learning_rate,
                   eta0=0.02)  # fmt: skip
    result = fit_sgd(*chunked(X, y, 150), **options)
    first = fit_sgd(X[:150], y[:150], **options)
    second = fit_sgd(X[150:], y[150:], **options)
    expected = (150 * first.coef + 100 * second.coef) / 250
    expected_b = (150 * first.intercept + 100 * second.intercept) / 250
    assert relative_error(result.coef, expected) < 1e-12
    assert relative_error(result.intercept, expected_b) < 1e-12


@pytest.mark.parametrize(
    "fit, options",
    [
        (fit_sgd, dict(average=True)),
        (fit_sgd, dict(average=40, optimizer="adam", eta0=0.01)),
        (fit_minibatch, dict(batch_size=16, alpha=0.01)),
        (fit_minibatch, dict(batch_size=16, average=3, optimizer="rmsprop", eta0=0.01)),
        (fit_sgd, dict(penalty="elasticnet", alpha=0.05, positive=True, eta0=0.01)),
    ],
    ids=[
        "sgd-averaged",
        "sgd-adam-averaged-late",
        "minibatch-l2",
        "minibatch-rmsprop",
        "sgd-proximal",
    ],
)
def test_one_chunk_in_order_is_the_in_memory_epoch(scheduler, fit, options):
    # One chunk, no shuffle: a round is the in-memory epoch itself, so the
    # optimizer state and the averaged iterate carry over rounds exactly.
    X, y = make_problem(m=200, n=4)[:2]
    options = dict(max_iter=4, tol=None, shuffle=False, **options)
    expected = fit(X, y, **options)
    result = fit(*chunked(X, y, 200), **options)
    assert relative_error(result.coef, expected.coef) < 1e-10
    assert relative_error(result.intercept, expected.intercept) < 1e-10


@pytest.mark.parametrize("solver", ["sgd", "minibatch", "svrg", "batch"])
def test_each_solver_fits_as_well_as_in_memory(scheduler, solver):
    X, y = make_problem(m=1000, n=5, noise=0.5)[:2]
    Xd, yd = chunked(X, y, 250)
    expected = GDRegressor(solver=solver, random_state=0).fit(X, y).score(X, y)
    model = GDRegressor(solver=solver, random_state=0).fit(Xd, yd)
    assert model.score(Xd, yd) == pytest.approx(expected, abs=1e-3)
    again = GDRegressor(solver=solver, random_state=0).fit(Xd, yd)
    np.testing.assert_array_equal(again.coef_, model.coef_)


def test_the_result_depends_on_the_chunking_not_on_who_runs_it(_dask_session_client):
    X, y = make_problem(m=600, n=4)[:2]
    Xd, yd = chunked(X, y, 110)
    fits = {
        "batch": lambda: fit_batch(Xd, yd, max_iter=20, tol=None).coef,
        "sgd": lambda: fit_sgd(Xd, yd, max_iter=3, tol=None, random_state=1).coef,
        "default": lambda: GDRegressor(solver="svrg", random_state=0).fit(Xd, yd).coef_,
    }
    local = {name: fit() for name, fit in fits.items()}
    with _dask_session_client.as_current():
        on_cluster = {name: fit() for name, fit in fits.items()}
    for name in fits:
        np.testing.assert_array_equal(on_cluster[name], local[name], err_msg=name)


def test_seeds_change_the_shuffled_rounds():
    X, y = make_problem(m=300, n=3)[:2]
    Xd, yd = chunked(X, y, 100)
    first = fit_sgd(Xd, yd, max_iter=2, tol=None, random_state=0).coef
    second = fit_sgd(Xd, yd, max_iter=2, tol=None, random_state=1).coef
    assert not np.array_equal(first, second)


def test_early_stopping_holds_validation_rows_out_of_every_chunk(scheduler):
    X, y = make_problem(m=600, n=4, noise=0.5)[:2]
    Xd, yd = chunked(X, y, 150)
    model = GDRegressor(solver="sgd", early_stopping=True, random_state=0)
    model.fit(Xd, yd)
    again = GDRegressor(solver="sgd", early_stopping=True, random_state=0).fit(Xd, yd)
    np.testing.assert_array_equal(model.coef_, again.coef_)
    in_memory = GDRegressor(solver="sgd", early_stopping=True, random_state=0)
    assert model.score(Xd, yd) == pytest.approx(in_memory.fit(X, y).score(X, y),
                                                abs=2e-3)  # fmt: skip


def test_partial_fit_and_weights(scheduler):
    X, y = make_problem(m=400, n=3)[:2]
    Xd, yd = chunked(X, y, 100)
    weights = np.linspace(0.5, 1.5, 400)
    model = GDRegressor(solver="sgd", random_state=0)
    for _ in range(3):
        model.partial_fit(Xd, yd, sample_weight=weights)
    assert model.score(X, y) > 0.99


# ------------------------------------------------------------- predict, score


def test_predict_is_lazy_and_score_matches_scikit_learn(scheduler, n_targets):
    X, y = make_problem(m=300, n=4, k=n_targets)[:2]
    Xd, yd = chunked(X, y, 64)
    model = GDRegressor(solver="batch").fit(X, y)
    prediction = model.predict(Xd)
    assert isinstance(prediction, da.Array)
    assert prediction.shape == y.shape
    np.testing.assert_allclose(prediction.compute(), model.predict(X), rtol=1e-12)
    weights = np.linspace(1.0, 2.0, 300)
    for w in (None, weights):
        expected = r2_score(y, model.predict(X), sample_weight=w)
        score = model.score(Xd, yd, sample_weight=w)
        assert score == pytest.approx(expected, rel=1e-12)
    # Predicting and scoring go through a source that persists nothing.
    source = DaskSource(Xd, None)
    source.predict(model.coef_.T, model.intercept_)
    assert DaskSource(Xd, yd).score(model.coef_.T, model.intercept_) == pytest.approx(
        r2_score(y, model.predict(X)), rel=1e-12
    )
    assert "_loaded" not in vars(source)
    with pytest.raises(ValueError, match="y is required"):
        source.targets  # noqa: B018 - a fit's first read


def test_dataframes_fit_as_their_arrays(scheduler):
    X, y = make_problem(m=400, n=3)[:2]
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=3)
    target = dd.from_pandas(pd.Series(y, name="y"), npartitions=3)
    expected = fit_batch(X, y, max_iter=30, tol=None).coef
    assert relative_error(fit_batch(frame, target, max_iter=30, tol=None).coef,
                          expected) < 1e-8  # fmt: skip
    model = GDRegressor(solver="batch").fit(frame, target)
    prediction = model.predict(frame)
    assert isinstance(prediction, da.Array)
    np.testing.assert_allclose(prediction.compute(), model.predict(X), rtol=1e-12)
    assert model.score(frame, target) == pytest.approx(model.score(X, y), rel=1e-12)
    integers = dd.from_pandas(pd.DataFrame({"a": np.arange(400) % 7}), npartitions=2)
    assert GDRegressor(solver="batch").fit(integers, target).coef_.dtype == np.float64


def test_a_numpy_y_and_a_y_in_other_chunks(scheduler):
    X, y = make_problem(m=300, n=3)[:2]
    Xd = da.from_array(X, chunks=(100, 3))
    expected = fit_batch(X, y, max_iter=10, tol=None).coef
    for target in (y, da.from_array(y, chunks=70)):
        coef = fit_batch(Xd, target, max_iter=10, tol=None).coef
        assert relative_error(coef, expected) < 1e-10


# ------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_the_fix(scheduler):
    X, y = make_problem(m=100, n=3)[:2]
    Xd, yd = chunked(X, y, 30)
    bad = X.copy()
    bad[47, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity \(row 47\)"):
        fit_batch(da.from_array(bad, chunks=(30, 3)), yd)
    bad_y = y.copy()
    bad_y[95] = np.inf
    with pytest.raises(ValueError, match=r"Input y contains NaN or infinity \(row 95"):
        fit_batch(Xd, da.from_array(bad_y, chunks=30))
    with pytest.raises(ValueError, match="X has 100 samples but y has 99"):
        fit_batch(Xd, yd[:99])
    with pytest.raises(ValueError, match="y is required"):
        GDRegressor().fit(Xd)
    with pytest.raises(ValueError, match="2-D"):
        fit_batch(Xd[:, 0], yd)
    # Boolean features are the numbers 0 and 1 (one rule for every input).
    np.testing.assert_allclose(
        fit_batch(Xd > 0, yd, max_iter=5).coef,
        fit_batch((Xd > 0).astype(float), yd, max_iter=5).coef,
    )
    with pytest.raises(TypeError, match="boolean"):
        fit_batch(Xd, yd > 0)
    with pytest.raises(ValueError, match="shuffle='block'"):
        fit_sgd(Xd, yd, shuffle="block")
    frame = dd.from_pandas(pd.DataFrame({"a": X[:, 0], "name": ["x"] * 100}),
                           npartitions=2)  # fmt: skip
    with pytest.raises(TypeError, match=r"not numbers: \['name'\]"):
        fit_batch(frame, yd)
    model = GDRegressor(solver="batch").fit(Xd, yd)
    with pytest.raises(ValueError, match="expecting 3 features"):
        model.predict(da.ones((5, 2)))


def test_the_callers_arrays_are_never_written(scheduler):
    X, y = make_problem(m=300, n=3)[:2]
    weights = np.linspace(0.5, 1.5, 300)
    digests = [hashlib.sha256(a.tobytes()).hexdigest() for a in (X, y, weights)]
    Xd, yd = chunked(X, y, 64)
    for solver in ("batch", "sgd", "svrg"):
        GDRegressor(solver=solver, standardize=True).fit(Xd, yd, sample_weight=weights)
    assert digests == [hashlib.sha256(a.tobytes()).hexdigest() for a in (X, y, weights)]


def test_the_source_persists_once_and_reports_its_chunks(scheduler):
    X, y = make_problem(m=100, n=3)[:2]
    source = DaskSource(*chunked(X, y, 30))
    assert source.n_chunks == 4
    assert source.shape == (100, 3)
    np.testing.assert_array_equal(source.targets, y)
    assert not source.targets.flags.writeable
    np.testing.assert_allclose(source.take_rows(np.array([0, 31, 99])), X[[0, 31, 99]])
    np.testing.assert_allclose(source.predict(np.ones(3), np.zeros(1)).compute(),
                               X.sum(axis=1))  # fmt: skip


# ------------------------------------------------------------- faults


def test_a_worker_lost_in_the_middle_of_a_fit_does_not_change_it(
    _dask_session_client, monkeypatch
):
    client = _dask_session_client
    client.wait_for_workers(2, timeout=60)
    with client.as_current():
        rng = da.random.default_rng(3)
        X = rng.normal(size=(4000, 5), chunks=(500, 5))
        y = X @ np.arange(1.0, 6.0) + 0.1 * rng.normal(size=4000, chunks=500)
        X, y = X.persist(), y.persist()
        options = dict(max_iter=20, tol=None, strategy="pass")
        expected = fit_batch(X, y, **options)
        pid = next(iter(client.run(os.getpid).values()))
        passes = []
        run_pass = dask_source._ClusterTasks.map

        def kill_during_the_fifth_pass(self, task, per_chunk, *common):
            passes.append(task)
            if len(passes) == 5:
                os.kill(pid, signal.SIGKILL)
            return run_pass(self, task, per_chunk, *common)

        monkeypatch.setattr(dask_source._ClusterTasks, "map",
                            kill_during_the_fifth_pass)  # fmt: skip
        result = fit_batch(X, y, **options)
    assert len(passes) > 5  # the worker died in the middle of the fit
    assert pid not in client.run(os.getpid).values()
    np.testing.assert_array_equal(result.coef, expected.coef)
    np.testing.assert_array_equal(result.intercept, expected.intercept)
    client.wait_for_workers(2, timeout=60)


def test_unknown_and_empty_chunks_dask_weights_and_several_outputs(scheduler):
    X, Y = make_problem(m=300, n=4, k=2)[:2]
    Xd, Yd = chunked(X, Y, 75)
    keep = np.arange(300) % 3 != 0
    keep[75:150] = False  # a chunk left without rows
    mask = da.from_array(keep, chunks=75)
    weights = np.linspace(1.0, 2.0, 300)
    options = dict(max_iter=15, tol=None)
    expected = fit_batch(X[keep], Y[keep, 0], sample_weight=weights[keep], **options)
    result = fit_batch(Xd[mask], Yd[:, 0][mask],  # chunk sizes unknown until run
                       sample_weight=da.from_array(weights, chunks=75)[mask],
                       **options)  # fmt: skip
    assert relative_error(result.coef, expected.coef) < 1e-10
    model = GDRegressor(solver="sgd", random_state=0).fit(Xd, Yd)
    assert model.coef_.shape == (2, 4)
    assert model.score(Xd, Yd) == pytest.approx(
        GDRegressor(solver="sgd", random_state=0).fit(X, Y).score(X, Y), abs=1e-3
    )
