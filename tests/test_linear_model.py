"""GDRegressor: defaults that converge, the scikit-learn workflow, state, errors."""

import hashlib
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastgd import DivergenceError, GDRegressor

from .conftest import lstsq, make_problem, relative_error, slow_without_jit

SOLVERS = ["sgd", "minibatch", "batch"]


def _r2(X, y, coef, intercept):
    residual = X @ coef + intercept - y
    return 1.0 - np.mean(residual**2) / np.var(y)


def _scaled_data():
    from fastgd.datasets import make_regression

    X, y, _ = make_regression(
        3000, 7, noise=1.0, bias=3.0, feature_scales=np.logspace(-3, 3, 7),
        random_state=4,
    )  # fmt: skip
    return X, y


@pytest.mark.parametrize("solver", SOLVERS)
def test_defaults_match_linear_regression_on_diabetes(solver):
    X, y = load_diabetes(return_X_y=True, scaled=False)
    expected = LinearRegression().fit(X, y).score(X, y)
    model = GDRegressor(solver=solver, random_state=0).fit(X, y)
    assert model.score(X, y) >= expected - 1e-3
    assert np.isfinite(model.eta0_) and model.eta0_ > 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_defaults_handle_feature_scales_from_1e_3_to_1e3(solver):
    X, y = _scaled_data()
    coef, intercept = lstsq(X, y)
    best = _r2(X, y, coef, intercept)
    model = GDRegressor(solver=solver, random_state=0).fit(X, y)
    assert model.score(X, y) >= best - 1e-3
    # scikit-learn's LinearRegression is the yardstick; it is no better.
    assert model.score(X, y) >= LinearRegression().fit(X, y).score(X, y) - 1e-3


def test_coefficients_are_in_the_original_units():
    X, y = _scaled_data()
    coef, intercept = lstsq(X, y)
    model = GDRegressor(solver="batch", tol=1e-12, max_iter=10_000).fit(X, y)
    assert relative_error(model.coef_, coef) < 1e-6
    assert model.intercept_.shape == (1,)
    assert model.intercept_[0] == pytest.approx(intercept, rel=1e-6)


def test_pipeline_and_grid_search():
    X, y = load_diabetes(return_X_y=True)
    pipeline = make_pipeline(
        StandardScaler(), GDRegressor(solver="minibatch", random_state=0, max_iter=60)
    )
    grid = {"gdregressor__eta0": [0.01, "auto"], "gdregressor__batch_size": [8, 64]}
    search = GridSearchCV(pipeline, grid, cv=2).fit(X, y)
    assert search.best_score_ > 0.4
    assert set(search.cv_results_["param_gdregressor__batch_size"]) == {8, 64}
    assert search.predict(X).shape == y.shape


def test_pickle_round_trip_is_small_and_predicts_the_same():
    X, y, _ = make_problem(m=5000, n=5)
    model = GDRegressor(random_state=0).fit(X, y)
    blob = pickle.dumps(model)
    assert len(blob) < 20_000, "the fitted model must not carry the training data"
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))


def test_early_stopping_keeps_the_best_coefficients():
    X, y, _ = make_problem(m=2000, n=5, noise=2.0, seed=1)
    model = GDRegressor(
        solver="sgd", early_stopping=True, learning_rate="constant", eta0=0.02,
        random_state=0,
        n_iter_no_change=3, max_iter=200,
    ).fit(X, y)  # fmt: skip
    scores = model.validation_scores_
    assert len(scores) == model.n_iter_
    best = int(np.argmax(scores))
    assert best < len(scores) - 1, "stopping must come after the best epoch"
    # Refit exactly as many epochs as it took to reach the best score.
    replay = GDRegressor(
        solver="sgd", learning_rate="constant", eta0=0.02, random_state=0,
        max_iter=best + 1,
        tol=None, early_stopping=True, n_iter_no_change=1000,
    ).fit(X, y)  # fmt: skip
    np.testing.assert_allclose(model.coef_, replay.coef_, rtol=1e-12)
    assert model.best_loss_ > 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_warm_start_k_plus_k_equals_2k(solver):
    X, y, _ = make_problem(m=300, n=4)
    options = dict(solver=solver, random_state=3, tol=None, learning_rate="invscaling")
    once = GDRegressor(max_iter=8, **options).fit(X, y)
    twice = GDRegressor(max_iter=4, warm_start=True, **options).fit(X, y)
    twice.fit(X, y)
    np.testing.assert_allclose(twice.coef_, once.coef_, rtol=1e-10)
    assert twice.t_ == once.t_
    assert len(twice.loss_curve_) == 8


@pytest.mark.parametrize("solver", SOLVERS)
def test_partial_fit_k_plus_k_equals_2k(solver):
    X, y, _ = make_problem(m=300, n=4)
    options = dict(solver=solver, random_state=3, learning_rate="invscaling")
    a, b = GDRegressor(**options), GDRegressor(**options)
    for _ in range(6):
        a.partial_fit(X, y)
    for _ in range(3):
        b.partial_fit(X, y)
    b = pickle.loads(pickle.dumps(b))
    for _ in range(3):
        b.partial_fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.t_ == b.t_ and len(a.loss_curve_) == 6
    if solver != "sgd":  # sgd's steps count its row visits (a few heavy rows twice)
        assert a.t_ == 6 * {"minibatch": 10, "batch": 1}[solver]


def test_partial_fit_equals_fit_epoch_by_epoch():
    X, y, _ = make_problem(m=200, n=3)
    options = dict(solver="sgd", random_state=0, learning_rate="constant", eta0=0.01)
    fitted = GDRegressor(max_iter=5, tol=None, **options).fit(X, y)
    stepped = GDRegressor(**options)
    for _ in range(5):
        stepped.partial_fit(X, y)
    np.testing.assert_array_equal(stepped.coef_, fitted.coef_)


@pytest.mark.parametrize("solver", SOLVERS)
def test_float32_stays_float32_and_agrees(solver):
    X, y, _ = make_problem(m=1000, n=4, noise=0.01)
    model64 = GDRegressor(solver=solver, random_state=0).fit(X, y)
    model32 = GDRegressor(solver=solver, random_state=0).fit(
        X.astype(np.float32), y.astype(np.float32)
    )
    assert model32.coef_.dtype == np.float32 and model32.intercept_.dtype == np.float32
    assert model32.predict(X.astype(np.float32)).dtype == np.float32
    assert relative_error(model32.coef_, model64.coef_) < 1e-3


@pytest.mark.parametrize("solver", SOLVERS)
def test_multi_output(solver):
    X, Y, true_coef = make_problem(m=800, n=4, k=3, noise=0.01)
    model = GDRegressor(solver=solver, random_state=0).fit(X, Y)
    assert model.coef_.shape == (3, 4) and model.intercept_.shape == (3,)
    assert relative_error(model.coef_, true_coef.T) < 1e-2
    assert model.predict(X).shape == (800, 3)


def test_sample_weight_equals_repetition_for_batch():
    X, y, _ = make_problem(m=100, n=3, noise=1.0)
    weights = np.arange(100) % 3
    repeated = np.repeat(np.arange(100), weights)
    options = dict(solver="batch", tol=1e-12, max_iter=20_000)
    weighted = GDRegressor(**options).fit(X, y, sample_weight=weights)
    plain = GDRegressor(**options).fit(X[repeated], y[repeated])
    np.testing.assert_allclose(weighted.coef_, plain.coef_, rtol=1e-7)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", SOLVERS)
def test_default_fit_does_not_depend_on_the_scale_of_sample_weight(solver):
    # An SGD step is eta * w_i times the unweighted one, so eta0="auto" has to
    # divide by the mean weight: before it did, uniform weights of 3 diverged on
    # scikit-learn's check_sample_weights_list for about 2% of shuffle seeds.
    X, y, _ = make_problem(m=60, n=3, noise=1.0)
    weights = 1.0 + np.arange(60) % 4
    plain = GDRegressor(solver=solver, random_state=0).fit(X, y, sample_weight=weights)
    for factor in (1e-3, 3.0, 1e3):
        scaled = GDRegressor(solver=solver, random_state=0)
        scaled.fit(X, y, sample_weight=factor * weights)
        np.testing.assert_allclose(scaled.eta0_ * (factor if solver == "sgd" else 1),
                                   plain.eta0_, rtol=1e-12)  # fmt: skip
        np.testing.assert_allclose(scaled.coef_, plain.coef_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("solver", [
    pytest.param(solver, marks=slow_without_jit) if solver in ("sgd", "minibatch")
    else solver for solver in SOLVERS
])  # fmt: skip
def test_l2_penalty_matches_ridge(solver):
    from sklearn.linear_model import Ridge

    X, y, _ = make_problem(m=500, n=4, noise=0.5)
    alpha = 0.1
    eta0 = 0.02 if solver != "batch" else 0.2
    model = GDRegressor(solver=solver, penalty="l2", alpha=alpha, standardize=False,
                        random_state=0, tol=1e-6, eta0=eta0, max_iter=3000)  # fmt: skip
    model.fit(X, y)
    # Ridge minimizes |y - Xw|^2 + a |w|^2; ours is the mean: a = alpha * m.
    ridge = Ridge(alpha=alpha * len(y)).fit(X, y)
    np.testing.assert_allclose(model.coef_, ridge.coef_, rtol=1e-2, atol=1e-3)


def test_averaging_reports_the_average():
    X, y, _ = make_problem(m=400, n=3, noise=1.0)
    options = dict(solver="sgd", random_state=0, max_iter=3, tol=None,
                   learning_rate="constant")  # fmt: skip
    plain = GDRegressor(average=False, **options)
    averaged = GDRegressor(average=True, **options)
    assert not np.array_equal(plain.fit(X, y).coef_, averaged.fit(X, y).coef_)
    later = GDRegressor(average=10_000, **options)
    np.testing.assert_array_equal(later.fit(X, y).coef_, plain.coef_)


def test_divergence_is_recovered_by_halving_the_step():
    X, y, _ = make_problem(m=300, n=3)
    with pytest.warns(RuntimeWarning, match="halved the step size"):
        model = GDRegressor(solver="batch", eta0=0.02, standardize=False,
                            learning_rate="constant",
                            random_state=0).fit(X * 10, y)  # fmt: skip
    assert np.all(np.isfinite(model.coef_))
    assert model.score(X * 10, y) > 0.9


def test_hopeless_divergence_raises_after_the_retries():
    X, y, _ = make_problem(m=300, n=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DivergenceError, match="smaller eta0"):
            GDRegressor(solver="batch", eta0=1e6, standardize=False,
                        random_state=0).fit(X * 1e3, y)  # fmt: skip


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y, _ = make_problem(m=100, n=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = GDRegressor(random_state=0).fit(frame, pd.Series(y))
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    assert model.n_features_in_ == 3
    np.testing.assert_allclose(model.predict(frame), model.predict(X))


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y, _ = make_problem(m=100, n=2)
    GDRegressor(solver="sgd", verbose=1, max_iter=3, tol=None, random_state=0).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line]
    assert len(lines) == 3 and "loss" in lines[0] and "eta" in lines[0]


# ---------------------------------------------------------------- bad input

X_OK, Y_OK, _ = make_problem(m=30, n=3)


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=object if
                 np.asarray(a).dtype == object else None)).tobytes())  # fmt: skip
    return h.hexdigest()


def _nan(a):
    a = a.copy()
    a.flat[1] = np.nan
    return a


def _inf(a):
    a = a.copy()
    a.flat[1] = -np.inf
    return a


BAD = [
    ("nan-X", _nan(X_OK), Y_OK, {}, ValueError, "NaN"),
    ("inf-X", _inf(X_OK), Y_OK, {}, ValueError, "infinity"),
    ("nan-y", X_OK, _nan(Y_OK), {}, ValueError, "NaN"),
    ("inf-y", X_OK, _inf(Y_OK), {}, ValueError, "infinity"),
    ("y-length", X_OK, Y_OK[:-2], {}, ValueError, "inconsistent numbers of samples"),
    ("X-1d", X_OK[:, 0], Y_OK, {}, ValueError, "Reshape your data"),
    ("X-3d", X_OK[:, :, None], Y_OK, {}, ValueError, "dim"),
    ("no-samples", X_OK[:0], Y_OK[:0], {}, ValueError, "0 sample"),
    ("no-features", X_OK[:, :0], Y_OK, {}, ValueError, "0 feature"),
    ("object-strings", np.array([["a", "1", "2"]] * 30, dtype=object), Y_OK, {},
     (TypeError, ValueError), "convert"),
    ("strings", X_OK.astype(str), Y_OK, {}, TypeError, "strings"),
    ("complex", X_OK + 1j, Y_OK, {}, ValueError, "Complex data not supported"),
    ("bool-y", X_OK, Y_OK > 0, {}, TypeError, "astype(float)"),
    ("eta0-zero", X_OK, Y_OK, {"eta0": 0.0}, ValueError, "eta0"),
    ("eta0-nan", X_OK, Y_OK, {"eta0": float("nan")}, ValueError, "eta0"),
    ("eta0-word", X_OK, Y_OK, {"eta0": "fast"}, ValueError, "'auto'"),
    ("batch_size-zero", X_OK, Y_OK, {"batch_size": 0}, ValueError, "batch_size"),
    ("max_iter-zero", X_OK, Y_OK, {"max_iter": 0}, ValueError, "max_iter"),
    ("solver", X_OK, Y_OK, {"solver": "lbfgs"}, ValueError, "'minibatch'"),
    ("learning_rate", X_OK, Y_OK, {"learning_rate": "optimal"}, ValueError,
     "'adaptive'"),
    ("penalty", X_OK, Y_OK, {"penalty": "lasso"}, ValueError, "'elasticnet'"),
    ("l1_ratio", X_OK, Y_OK, {"penalty": "elasticnet", "l1_ratio": 2.0}, ValueError,
     "l1_ratio"),
    ("l1-cg", X_OK, Y_OK, {"penalty": "l1", "solver": "cg"}, ValueError,
     "solver='batch'"),
    ("alpha", X_OK, Y_OK, {"alpha": -1.0}, ValueError, "alpha"),
    ("validation_fraction", X_OK, Y_OK,
     {"early_stopping": True, "validation_fraction": 1.5}, ValueError,
     "validation_fraction"),
    ("average-batch", X_OK, Y_OK, {"solver": "batch", "average": True}, ValueError,
     "average"),
]  # fmt: skip


@pytest.mark.parametrize(
    "X, y, params, error, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_is_explained_and_left_alone(X, y, params, error, words):
    before = _digest(X, y)
    with pytest.raises(error) as info:
        GDRegressor(**params).fit(X, y)
    assert words.lower() in str(info.value).lower()
    assert _digest(X, y) == before


@pytest.mark.parametrize("solver", SOLVERS)
def test_fitting_leaves_the_callers_arrays_alone(solver, tmp_path):
    X, y = X_OK.copy(), Y_OK.copy()
    weights = np.linspace(0.5, 2.0, len(y))
    before = _digest(X, y, weights)
    GDRegressor(solver=solver, early_stopping=True, random_state=0).fit(
        X, y, sample_weight=weights
    )
    GDRegressor(solver=solver, random_state=0).partial_fit(X, y)
    assert _digest(X, y, weights) == before
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    GDRegressor(solver=solver, random_state=0).fit(mapped, y)
    np.testing.assert_array_equal(np.load(path), X)


def test_good_but_unusual_inputs_are_accepted():
    model = GDRegressor(random_state=0, max_iter=5, tol=None)
    model.fit(X_OK.tolist(), Y_OK.tolist())
    model.fit((X_OK * 10).astype(np.int64), Y_OK)
    assert model.coef_.dtype == np.float64
    model.fit(X_OK[:1], Y_OK[:1])  # one sample


def test_batch_size_larger_than_n_samples_is_clamped():
    model = GDRegressor(solver="minibatch", batch_size=1000, max_iter=3, tol=None,
                        random_state=0).fit(X_OK, Y_OK)  # fmt: skip
    assert model.t_ == 3


def test_feature_count_changes_are_explained():
    model = GDRegressor(random_state=0, max_iter=3).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="features"):
        model.predict(X_OK[:, :2])
    learner = GDRegressor(random_state=0).partial_fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="features"):
        learner.partial_fit(X_OK[:, :2], Y_OK)
    with pytest.raises(ValueError, match="targets"):
        learner.partial_fit(X_OK, np.c_[Y_OK, Y_OK])


def test_sample_weight_errors():
    with pytest.raises(ValueError, match="shape"):
        GDRegressor().fit(X_OK, Y_OK, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=">= 0"):
        GDRegressor().fit(X_OK, Y_OK, sample_weight=-np.ones(30))


def test_coef_init_and_intercept_init():
    X, Y, true_coef = make_problem(m=200, n=3, k=2, noise=0.0, bias=0.0)
    start = true_coef.T.copy()
    model = GDRegressor(max_iter=1, tol=None, learning_rate="constant", eta0=1e-6,
                        random_state=0)  # fmt: skip
    model.fit(X, Y, coef_init=start, intercept_init=[0.0, 0.0])
    assert relative_error(model.coef_, true_coef.T) < 1e-4
    np.testing.assert_array_equal(start, true_coef.T)
    with pytest.raises(ValueError, match="coef_init"):
        model.fit(X, Y, coef_init=np.zeros(3))
    with pytest.raises(ValueError, match="intercept_init"):
        model.fit(X, Y, intercept_init=np.zeros(3))
