"""First contact (issue 25): what a new user's first calls load and see."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastgd


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
