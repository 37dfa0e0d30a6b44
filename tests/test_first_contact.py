"""First contact (issue 25): what a new user's first calls load and see."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastgd
from fastgd import GDRegressor


def _run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, check=True, timeout=600).stdout  # fmt: skip


def test_the_functional_api_never_imports_scikit_learn():
    out = _run_python(
        "import sys, numpy as np, fastgd\n"
        "X = np.random.default_rng(0).normal(size=(2000, 10)); y = X.sum(axis=1)\n"
        "for name in ('fit_sgd', 'fit_minibatch', 'fit_batch', 'fit_svrg', 'fit_cg'):\n"
        "    getattr(fastgd, name)(X, y)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n"
    )  # fmt: skip
    assert out.strip() == "[]"


def test_every_public_subpackage_is_an_attribute():
    for name in ("sources", "datasets", "schedules", "optimizers", "reference"):
        assert getattr(fastgd, name).__name__ == f"fastgd.{name}"
    assert callable(fastgd.sources.from_npy)


def test_a_functional_fit_that_stops_short_warns_without_scikit_learn():
    out = _run_python(
        "import sys, warnings, numpy as np, fastgd\n"
        "X = np.random.default_rng(0).normal(size=(500, 3)); y = X.sum(axis=1)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    fastgd.fit_batch(X, y, max_iter=2)\n"
        "print(type(caught[0].message).__module__, 'sklearn' in sys.modules)\n"
    )  # fmt: skip
    assert out.split() == ["fastgd._errors", "False"]


def test_with_scikit_learn_loaded_the_warning_is_scikit_learns():
    from sklearn.exceptions import ConvergenceWarning

    X = np.random.default_rng(0).normal(size=(500, 3))
    with pytest.warns(ConvergenceWarning):
        fastgd.fit_batch(X, X.sum(axis=1), max_iter=2)


@pytest.mark.parametrize("row, column", [(0, 0), (7, 2)])
def test_a_nan_in_dense_x_names_its_row_and_the_fix(row, column):
    X = np.ones((10, 3))
    X[row, column] = np.nan
    with pytest.raises(ValueError, match=rf"at row {row}, column {column}.*impute"):
        fastgd.fit_sgd(X, np.ones(10))
    y = np.ones(10)
    y[row] = np.inf
    with pytest.raises(ValueError, match=rf"y contains infinity.*at row {row}"):
        fastgd.fit_sgd(np.ones((10, 3)), y)


def test_random_state_checks_without_scikit_learn():
    from fastgd._validation import check_random_state

    assert check_random_state(3).randint(100) == np.random.RandomState(3).randint(100)
    state = np.random.RandomState(0)
    assert check_random_state(state) is state
    with pytest.raises(ValueError, match="cannot be used to seed"):
        check_random_state("seed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_random_state(None)


def test_cli_version_and_argument_errors(capsys):
    from fastgd.cli import main

    with pytest.raises(SystemExit) as exit_code:
        main(["--version"])
    assert exit_code.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastgd {fastgd.__version__}"
    with pytest.raises(SystemExit) as exit_code:
        main(["fit", "data.csv", "--random-state", "-1"])
    assert exit_code.value.code == 2
    assert "negative" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--batch-size must be at least 1"):
        main(["bench", "--sizes", "100x2", "--batch-size", "0"])


def test_warm_start_applies_new_parameters_from_the_old_coefficients():
    from fastgd import GDRegressor
    from fastgd.datasets import make_regression

    X, y, _ = make_regression(3000, 5, noise=0.5, random_state=0)
    model = GDRegressor(warm_start=True, solver="batch", random_state=0).fit(X, y)
    model.set_params(solver="sgd", eta0=0.001, optimizer="adam")
    model.fit(X, y)
    assert model.solver_ == "sgd" and model.eta0_ == 0.001  # the new step applies
    assert model.score(X, y) > 0.9  # adam-SGD from the batch fit: no blow-up
    # new data, other scales: derived anew, no divergence
    model.set_params(solver="auto", eta0="auto", optimizer="sgd")
    model.fit(X * 100, y)
    assert model.solver_ == "cg"
    np.testing.assert_allclose(model.coef_ * 100,
                               GDRegressor().fit(X, y).coef_, rtol=1e-3)  # fmt: skip


# ------------------------------------------- partial_fit: running estimates


def _stream_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 10)) * np.logspace(-2, 2, 10) + 5.0
    y = X @ rng.normal(size=10) + rng.normal(size=20_000)
    return X, y


@pytest.mark.parametrize("solver", ["sgd", "minibatch", "batch", "svrg"])
@pytest.mark.parametrize("first", [1, 2, 5])
def test_partial_fit_works_whatever_the_first_batch_size(solver, first):
    """A first batch of 1, 2 or 5 rows, then 500-row batches: before running
    estimates, DivergenceError or R^2 0.39 against 0.913."""
    from sklearn.linear_model import LinearRegression

    X, y = _stream_problem()
    best = LinearRegression().fit(X, y).score(X, y)
    model = GDRegressor(solver=solver, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "diverged" fails the test
        model.partial_fit(X[:first], y[:first])
        for start in range(first, len(y), 500):
            model.partial_fit(X[start : start + 500], y[start : start + 500])
    assert model.score(X, y) >= best - 5e-3
    # The standardization is the running one until 1,000 rows were seen (the
    # first batch and two of 500), then stays.
    seen = first + 1000
    mean, variance = model._statistics
    np.testing.assert_allclose(mean, X[:seen].mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(variance, X[:seen].var(axis=0), rtol=1e-8)


def test_a_new_standardization_keeps_the_models_predictions():
    from fastgd._training import restandardize

    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3)) * [1.0, 10.0, 0.1] + [3.0, -2.0, 0.0]
    before = (X[:10].mean(axis=0), X[:10].var(axis=0))
    after = (X.mean(axis=0), X.var(axis=0))
    coef, intercept = rng.normal(size=3), np.array([0.7])
    state = {"coef": coef, "intercept": intercept, "avg_coef": np.zeros(0),
             "avg_intercept": np.zeros(0), "t": 5}  # fmt: skip
    moved = restandardize(state, before, after, fit_intercept=True)

    def predict(stats, coef, intercept):
        shift, scale = stats[0], 1.0 / np.sqrt(stats[1])
        return (X - shift) * scale @ coef + intercept

    expected = predict(before, coef, intercept)
    np.testing.assert_allclose(
        predict(after, moved["coef"], moved["intercept"]), expected, rtol=1e-12
    )
    assert moved["t"] == 5 and state["coef"] is coef  # the input state is kept


def test_partial_fit_with_an_explicit_eta0_keeps_it():
    X, y = _stream_problem()
    model = GDRegressor(solver="sgd", eta0=1e-4, random_state=0, standardize=True)
    model.partial_fit(X[:2], y[:2])
    model.partial_fit(X[2:500], y[2:500])
    assert model.eta0_ == 1e-4


# ------------------------------------------------ column names from sources


def _parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X = np.random.default_rng(0).normal(size=(600, 2))
    path = tmp_path / "d.parquet"
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "y": X @ [1.0, -1.0]})
    pq.write_table(table, path, row_group_size=200)
    return X, path


def test_a_parquet_fit_keeps_its_column_names(tmp_path):
    pd = pytest.importorskip("pandas")
    from fastgd.sources import from_parquet

    X, path = _parquet(tmp_path)
    model = GDRegressor(random_state=0).fit(from_parquet(path, target="y"))
    assert list(model.feature_names_in_) == ["a", "b"]
    frame = pd.DataFrame(X, columns=["a", "b"])
    np.testing.assert_allclose(model.predict(frame), X @ [1.0, -1.0], atol=1e-8)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[["b", "a"]])  # reordered: refused, not wrong
    with pytest.raises(ValueError, match="feature names"):
        model.predict(from_parquet(path, target=None, columns=["b", "a"]))
    # Refitting on unnamed data drops the names.
    model.fit(X, X @ [1.0, -1.0])
    assert not hasattr(model, "feature_names_in_")


def test_from_parquet_refuses_the_target_among_the_features(tmp_path):
    from fastgd.sources import from_parquet

    _, path = _parquet(tmp_path)
    with pytest.raises(ValueError, match="target column 'y' is among columns"):
        from_parquet(path, columns=["a", "y"], target="y")


def test_a_dask_dataframe_fit_keeps_its_column_names():
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X = np.random.default_rng(1).normal(size=(400, 2))
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b"]), npartitions=2)
    y = dd.from_pandas(pd.Series(X @ [2.0, 1.0]), npartitions=2)
    model = GDRegressor(random_state=0).fit(frame, y)
    assert list(model.feature_names_in_) == ["a", "b"]
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[["b", "a"]])


# ------------------------------------------------ errors that name the file


def test_file_sources_name_the_file_that_holds_a_bad_value(tmp_path):
    from fastgd.sources import from_npy

    X = np.random.default_rng(2).normal(size=(50, 3))
    X[5, 1] = np.nan
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match=r"X\.npy: .*NaN \(at row 5, column 1"):
        GDRegressor().fit(from_npy(tmp_path / "X.npy", np.ones(50)))
    y = np.ones(50)
    y[7] = np.inf
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "ok.npy", np.nan_to_num(X))
    with pytest.raises(ValueError, match=r"y\.npy \(y\) holds inf at row 7"):
        from_npy(tmp_path / "ok.npy", tmp_path / "y.npy")


@pytest.mark.parametrize("content", [b"", b"not parquet at all"])
def test_a_broken_parquet_file_is_named(tmp_path, content):
    pytest.importorskip("pyarrow")
    from fastgd.sources import from_parquet

    _, good = _parquet(tmp_path)
    (tmp_path / "z_broken.parquet").write_bytes(content)
    with pytest.raises(ValueError, match=r"z_broken\.parquet is not a readable"):
        from_parquet(tmp_path)  # the directory: the good file, then the broken one
    assert from_parquet(good).shape == (600, 2)


def test_a_partitioned_parquet_directory_is_refused_not_half_read(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from fastgd.sources import from_parquet

    for key in (1, 2):
        folder = tmp_path / f"k={key}"
        folder.mkdir()
        pq.write_table(pa.table({"a": [1.0, 2.0], "y": [1.0, 2.0]}),
                       folder / "part.parquet")  # fmt: skip
    with pytest.raises(ValueError, match="partitioned Parquet dataset"):
        from_parquet(tmp_path)


def test_a_pandas_sparse_frame_fits_as_sparse_data():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    A = (rng.random((300, 3)) < 0.3) * rng.normal(size=(300, 3))
    y = A @ [1.0, 2.0, 3.0] + 0.5
    frame = pd.DataFrame({c: pd.arrays.SparseArray(A[:, j], fill_value=0.0)
                          for j, c in enumerate("abc")})  # fmt: skip
    model = GDRegressor(random_state=0).fit(frame, y)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_allclose(model.predict(frame), y, atol=1e-6)
    assert fastgd.fit_sgd(frame, y, random_state=0).coef.shape == (3,)
    missing = pd.DataFrame({c: pd.arrays.SparseArray(A[:, j])  # fill value NaN
                            for j, c in enumerate("abc")})  # fmt: skip
    with pytest.raises(ValueError, match="fill value"):
        GDRegressor().fit(missing, y)


def test_early_stopping_on_a_tiny_table_does_not_flood_overflow_warnings():
    rng = np.random.default_rng(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GDRegressor(early_stopping=True, solver="sgd", max_iter=50).fit(
            rng.random((5, 2)), rng.random(5)
        )
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
