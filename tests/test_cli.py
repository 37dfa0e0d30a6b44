import json
import re

import numpy as np
import pytest

from fastgd import _fit_job, _kernels
from fastgd._report import Reporter
from fastgd.cli import build_parser, main, run_bench

from .conftest import make_problem, slow_without_jit


def test_bench_runs_end_to_end_with_json_and_plot(tmp_path, capsys):
    path, png = tmp_path / "bench.json", tmp_path / "bench.png"
    # The tables section, whose sparse case has 5,420 columns, runs with the
    # JIT; without it tests/test_tables_benchmark.py covers it on a small table.
    tables = ["--no-tables"] if _kernels.JIT_DISABLED else ["--tables-scale", "0.02"]
    main(["bench", "--sizes", "1500x4", "--repeats", "1", "--json", str(path),
          *tables,
          "--plot", str(png)])  # fmt: skip
    out = capsys.readouterr().out
    assert "BLAS:" in out and "numba threads" in out
    assert "one streaming read of X" in out
    for method in ("batch (one gradient)", "sgd (one epoch)", "minibatch (one"):
        assert method in out
    assert "fits to convergence" in out
    report = json.loads(path.read_text())
    size = report["sizes"][0]
    assert (size["m"], size["n"]) == (1500, 4)
    impls = {(row["method"], row["impl"]) for row in size["methods"]}
    assert {("sgd", "sklearn"), ("batch", "loop"), ("batch", "sklearn")} <= impls
    assert all(row["median_s"] > 0 for row in size["methods"])
    batch_compiled = next(
        r for r in size["methods"] if r["method"] == "batch" and r["impl"] == "compiled"
    )
    assert "speedup_vs_numpy" in batch_compiled
    assert "speedup_vs_sklearn" not in batch_compiled, "a gradient is not a whole fit"
    fits = {fit["method"]: fit for fit in size["fits"]}
    assert set(fits) >= {
        "batch (pass)",
        "batch (auto)",
        "normal eq.",
        "sgd",
        "minibatch",
    }
    assert fits["batch (pass)"]["strategy"] == "pass"
    assert fits["batch (auto)"]["x_normal_equation"] > 0
    if _kernels.JIT_DISABLED:
        return
    tables = {case["name"]: case for case in report["tables"]}
    assert "realistic table" in out and len(tables) == 2
    for case in tables.values():
        fitted = {row["name"]: row for row in case["fits"]}
        assert fitted["GDRegressor(auto)"]["solver"] == "cg"
        assert fitted["GDRegressor(auto)"]["reached"]
        assert "LinearRegression" in fitted and "SGDRegressor+scaler" in fitted
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plain_text_output_and_extrapolation_note(capsys):
    args = build_parser().parse_args(
        ["bench", "--sizes", "2500x3", "--repeats", "1", "--methods", "sgd",
         "--impls", "compiled,loop", "--no-fit", "--no-compile-times", "--no-tables",
         "--threads",
         "1", "--dtype", "float32"]
    )  # fmt: skip
    run_bench(args, reporter=Reporter(rich=False))
    out = capsys.readouterr().out
    assert "timed on 2,000 rows, scaled up" in out
    assert "... sgd at 2,500 x 3" in out, "plain mode prints its progress"
    assert "float32" in out


# Timing both dtypes' fits is a minute of Python without the JIT.
@slow_without_jit
def test_dtype_ratio_times_both_dtypes_side_by_side(tmp_path, capsys):
    path = tmp_path / "bench.json"
    main(["bench", "--sizes", "3000x5", "--repeats", "1", "--no-tables",
          "--methods", "batch,sgd",
          "--impls", "compiled", "--no-fit", "--no-compile-times", "--dtype-ratio",
          "--json", str(path)])  # fmt: skip
    assert "float64 against float32" in capsys.readouterr().out
    rows = json.loads(path.read_text())["sizes"][0]["dtype_ratios"]
    assert [row["method"] for row in rows] == ["batch", "sgd"]
    for row in rows:
        assert row["float64_s"] > 0 and row["float32_s"] > 0
        assert row["float64_over_float32"] == row["float64_s"] / row["float32_s"]


def test_quiet_prints_only_record_and_tables(capsys):
    main(["bench", "--sizes", "500x2", "--repeats", "1", "--no-tables",
          "--methods", "batch",
          "--impls", "compiled", "--no-fit", "--no-compile-times",
          "--quiet"])  # fmt: skip
    out = capsys.readouterr().out
    assert "BLAS:" in out and "batch (one gradient)" in out
    assert "First call" not in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["bench", "--sizes", "10by3"], "sizes must look like"),
        (["bench", "--methods", "newton"], "unknown name"),
        (["bench", "--impls", "cuda"], "unknown name"),
        (["fit", "x.csv", "--solver", "newton"], "invalid choice"),
    ],
)
def test_bad_arguments_are_explained(argv, words, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, words",
    [(["--threads", "999"], "--threads"), (["--repeats", "0"], "--repeats")],
)
def test_out_of_range_options_are_explained(argv, words):
    with pytest.raises(SystemExit, match=words):
        main(["bench", "--sizes", "100x2", "--no-compile-times", "--no-tables", *argv])


# ------------------------------------------------------------------ fastgd fit


def _frame_file(tmp_path, suffix):
    pd = pytest.importorskip("pandas")
    X, y, coef = make_problem(m=400, n=3, noise=0.0, bias=1.0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(price=y)
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pytest.importorskip("pyarrow")
        frame.to_parquet(path)
    return path, coef


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_fit_a_table_and_save_the_model(tmp_path, capsys, suffix):
    path, coef = _frame_file(tmp_path, suffix)
    saved = tmp_path / "model.json"
    code = main(["fit", str(path), "--target", "price", "--solver", "batch",
                 "--save", str(saved)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert float(re.search(r"R\^2 = ([0-9.]+)", out).group(1)) >= 0.9999
    assert "intercept" in out
    model = json.loads(saved.read_text())
    assert model["features"] == ["a", "b", "c"] and model["r2"] > 0.9999
    np.testing.assert_allclose(model["coef"], coef, rtol=1e-2)
    assert model["intercept"][0] == pytest.approx(1.0, rel=1e-2)


def test_fit_csv_without_pandas(tmp_path, monkeypatch, capsys):
    path, _ = _frame_file(tmp_path, ".csv")
    import builtins

    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("pretend pandas is missing")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    X, _, features = _fit_job.load_table(path, "price")
    assert features == ["a", "b", "c"] and X.shape == (400, 3)


def test_fit_arrays(tmp_path, capsys):
    X, y, _ = make_problem(m=200, n=2, noise=0.0)
    np.save(tmp_path / "d.npy", np.column_stack([X, y]))
    np.savez(tmp_path / "d.npz", X=X, y=y)
    assert main(["fit", str(tmp_path / "d.npy"), "--target", "-1"]) == 0
    assert main(["fit", str(tmp_path / "d.npz")]) == 0
    out = capsys.readouterr().out.splitlines()
    r2 = [float(line.rsplit("=", 1)[1]) for line in out if "R^2" in line]
    assert len(r2) == 2 and min(r2) > 0.9999


@pytest.mark.parametrize(
    "make, target, words",
    [
        (lambda d: d / "missing.csv", "y", "no such file"),
        (lambda d: _write(d / "x.txt", "a,b\n1,2\n"), "b", "unsupported file type"),
        (
            lambda d: _write(d / "x.csv", "a,b\n1,2\n3,4\n"),
            "price",
            "no column 'price'",
        ),
        (lambda d: _write(d / "x.csv", "a,name,y\n1,ann,2\n3,bob,4\n"), "y", "'name'"),
        (lambda d: _write(d / "x.csv", "a,b\n1,2\n"), None, "--target"),
        (lambda d: _npy(d), "7", "out of range"),
        (lambda d: _npy(d), "price", "column index"),
        (lambda d: _npy(d), None, "--target INDEX"),
        (lambda d: _write(d / "x.csv", ""), "y", "is empty"),
        (lambda d: _write(d / "x.csv", "a,y\n"), "y", "no data rows"),
        (
            lambda d: _write(d / "x.csv", "a,y\n1,2\nnan,3\n"),
            "y",
            "column 'a' holds nan at data row 1",
        ),
        (
            lambda d: _write(d / "x.csv", "a,y\n1,2\n3,inf\n"),
            "y",
            "target 'y' holds inf at data row 1",
        ),
        (lambda d: _npz(d, np.ones((5, 2)), np.ones(4)), None, "one value a row of X"),
        (
            lambda d: _npz(d, np.ones((5, 2)), np.array([1, 2, np.nan, 4, 5])),
            None,
            "target 'y' holds nan at data row 2",
        ),
    ],
)
def test_fit_errors_say_what_and_how(tmp_path, capsys, make, target, words):
    pytest.importorskip("pandas")
    argv = ["fit", str(make(tmp_path))] + (
        [] if target is None else ["--target", target]
    )
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def _write(path, text):
    path.write_text(text)
    return path


def _npz(directory, X, y):
    path = directory / "x.npz"
    np.savez(path, X=X, y=y)
    return path


def test_fit_checks_where_it_saves_before_it_fits(tmp_path, capsys):
    path, _ = _frame_file(tmp_path, ".csv")
    for target, words in [(tmp_path / "no" / "m.json", "create it first"),
                          (tmp_path, "name a file")]:  # fmt: skip
        assert main(["fit", str(path), "--target", "price", "--save", str(target)]) == 2
        captured = capsys.readouterr()
        assert words in captured.err and "R^2" not in captured.out


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_a_saved_model_loads_back_and_predicts(tmp_path, suffix):
    import fastgd

    pd = pytest.importorskip("pandas")
    X, y, _ = make_problem(m=300, n=3, noise=0.0, bias=1.0)
    if suffix == ".csv":
        path, _ = _frame_file(tmp_path, ".csv")
        frame = pd.read_csv(path)
        X, y = frame[["a", "b", "c"]], frame["price"]
    else:
        path = _npz(tmp_path, X, y)
    saved = tmp_path / "m.json"
    assert main(["fit", str(path), "--target", "price", "--save", str(saved)]) == 0
    model = fastgd.load_model(saved)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-6)
    if suffix == ".csv":  # fitted on named columns: a reordered frame is refused
        with pytest.raises(ValueError, match="feature names"):
            model.predict(X[["c", "a", "b"]])
    else:
        assert not hasattr(model, "feature_names_in_")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(fastgd._errors.DataFileError, match="not a model saved"):
        fastgd.load_model(tmp_path / "other.json")


def _npy(directory):
    path = directory / "x.npy"
    np.save(path, np.ones((5, 3)))
    return path


def test_plot_without_matplotlib_fails_before_the_run(monkeypatch):
    from fastgd import plotting

    def missing():
        raise ImportError("plotting needs matplotlib: pip install 'fastgd[plot]'")

    monkeypatch.setattr(plotting, "_pyplot", missing)
    with pytest.raises(SystemExit, match="--plot: plotting needs matplotlib"):
        main(["bench", "--sizes", "100x2", "--no-tables", "--plot", "chart.png"])


def test_warmup_command_compiles_and_reports(capsys):
    from fastgd.cli import main

    assert main(["warmup", "--solvers", "batch", "--dtypes", "float32",
                 "--no-parallel", "--no-classifier"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert ("batch" in out and "float32" in out) or "nothing to compile" in out
    assert "classifier" not in out
    assert main(["warmup", "--solvers", "batch", "--dtypes", "float64",
                 "--no-parallel", "--no-sparse"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "classifier" in out or "nothing to compile" in out


def test_sparse_bench_runs_end_to_end(tmp_path, capsys):
    pytest.importorskip("scipy.sparse")
    path = tmp_path / "sparse.json"
    main(["bench", "--sparse", "--sizes", "3000x400", "--nnz-per-row", "5",
          "--repeats", "1", "--json", str(path)])  # fmt: skip
    out = capsys.readouterr().out
    assert "sparse 3,000 x 400" in out
    for title in ("SGD (one epoch)", "mini-batch (one epoch)", "batch gradient",
                  "SVRG (one unit)", "default fits to convergence"):  # fmt: skip
        assert title in out
    size = json.loads(path.read_text())["sizes"][0]
    assert (size["m"], size["n"]) == (3000, 400)
    assert size["nnz"] <= 3000 * 5 and size["matrix_bytes"] > 0
    impls = {(row["method"], row["impl"]) for row in size["units"]}
    assert {("sgd", "sklearn"), ("batch", "scipy"), ("batch", "loop"),
            ("minibatch", "numpy"), ("svrg", "compiled")} <= impls  # fmt: skip
    assert all(row["median_s"] > 0 for row in size["units"])
    compiled = [row for row in size["units"] if row["impl"] == "compiled"]
    assert all(row["compiled_speedup"] == 1.0 for row in compiled)
    fits = {row["name"]: row for row in size["fits"]}
    assert fits["fastgd GDRegressor()"]["r2"] > fits["scipy lsqr"]["r2"] - 1e-3
    growth = size["memory_growth_bytes"]
    assert growth is None or growth >= 0


def test_sparse_bench_refuses_options_that_do_not_apply():
    with pytest.raises(SystemExit, match="--plot"):
        main(["bench", "--sparse", "--sizes", "100x20", "--plot", "chart.png"])
    with pytest.raises(SystemExit, match="--nnz-per-row"):
        main(["bench", "--sparse", "--sizes", "100x20", "--nnz-per-row", "0"])


def test_models_bench_runs_every_loss_against_its_reference(tmp_path, capsys):
    """``fastgd bench --models``: each loss's default fit beside SGDRegressor,
    measured against the reference solve (L-BFGS, or the exact LP), and the
    penalties beside coordinate descent."""
    path = tmp_path / "models.json"
    main(["bench", "--models", "--sizes", "2000x4", "--json", str(path)])
    rows = json.loads(path.read_text())["models"]
    ours = {row["loss"]: row for row in rows
            if row["fit"] == "GDRegressor()" and "+" not in row["loss"]}  # fmt: skip
    assert set(ours) == {"huber", "squared_epsilon_insensitive",
                         "epsilon_insensitive", "quantile"}  # fmt: skip
    for name in ("huber", "squared_epsilon_insensitive"):
        assert ours[name]["solver"] == "batch"
        assert ours[name]["relative_excess"] <= 2e-4
        assert ours[name]["said"] is not None
    for name in ("epsilon_insensitive", "quantile"):
        assert ours[name]["said"] is None
        assert ours[name]["relative_excess"] <= 1e-2
    assert all(row["relative_excess"] >= -1e-9 for row in rows)  # F* is the least
    assert "SGDRegressor(penalty=None)" in capsys.readouterr().out
    penalized = {(row["loss"], row["fit"]): row for row in rows}
    for penalty in ("l1", "elasticnet"):
        name = f"squared_error + {penalty}"
        default = penalized[(name, "GDRegressor()")]
        assert default["solver"] == "batch"
        # The gap bounds the excess, and the fit stops at tol=1e-4 of it.
        assert default["relative_excess"] <= default["said"] + 1e-9 <= 1e-4 + 1e-9
        assert penalized[(name, "GDRegressor(tol=1e-10)")]["relative_excess"] < 1e-9
        for solver in ("minibatch", "svrg"):  # proximal steps per sample
            row = penalized[(name, f"GDRegressor(solver={solver!r})")]
            assert row["solver"] == solver
            assert row["relative_excess"] <= 2.0 * row["said"] <= 2e-3


@slow_without_jit
def test_classify_bench_runs_every_case(tmp_path, capsys):
    """``fastgd bench --classify``, its cases at 1,000 rows: the default fits
    beside scikit-learn's, each binary row measured against the reference."""
    path = tmp_path / "classify.json"
    main(["bench", "--classify", "--classify-scale", "0.001", "--json", str(path)])
    rows = json.loads(path.read_text())["classify"]
    cases = {(row["case"], row["fit"]): row for row in rows}
    dense = cases[("binary log-loss, dense", "GDClassifier()")]
    assert dense["solver"] == "batch" and dense["relative_excess"] <= 2e-4
    assert dense["said"] is not None and dense["said"] <= 1e-4
    assert ("binary log-loss, CSR", "LogisticRegression(solver='saga')") in cases
    ten = cases[("10 classes", "GDClassifier() (one-vs-rest)")]
    assert 0.0 < ten["accuracy"] <= 1.0
    hinge = cases[("hinge, L2", 'GDClassifier(loss="hinge")')]
    assert hinge["said"] is None and abs(hinge["relative_excess"]) <= 0.05
    assert "LinearSVC" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--classify-scale"):
        main(["bench", "--classify", "--classify-scale", "0"])
