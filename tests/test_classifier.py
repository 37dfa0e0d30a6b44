"""GDClassifier: the margin losses' rules, the kernels and twins that run them,
fits that reach scikit-learn's optima on real data sets, labels, class weights,
probabilities, partial_fit and the data sources.

The references: the losses written out from ``SGDClassifier``'s documentation
(independently of :mod:`fastgd.losses`), and ``LogisticRegression`` solved to a
gradient of 1e-12 for the objective mean log-loss + |w|^2 / (2 C m), which is
``GDClassifier(alpha=1 / (C m))``'s.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.linear_model import LogisticRegression

from fastgd import GDClassifier, fit_sgd, losses
from fastgd._kernels import steps
from fastgd.sources import from_npy

from .conftest import relative_error, slow_without_jit
from .test_losses import FITS

MARGIN_LOSSES = list(losses.CLASSIFICATION_LOSSES)
SMOOTH = ["log_loss", "squared_hinge", "modified_huber"]
KINKED = ["hinge", "perceptron"]


def sklearn_margin_loss(name, z):
    """SGDClassifier's loss of the margin z = y s, from its documentation."""
    if name == "log_loss":
        return np.log1p(np.exp(-z))
    if name == "hinge":
        return np.maximum(1.0 - z, 0.0)
    if name == "squared_hinge":
        return np.maximum(1.0 - z, 0.0) ** 2
    if name == "modified_huber":
        return np.where(z >= -1.0, np.maximum(1.0 - z, 0.0) ** 2, -4.0 * z)
    return np.maximum(-z, 0.0)  # perceptron


# ------------------------------------------------------------------ the rules


@pytest.mark.parametrize("name", MARGIN_LOSSES)
@pytest.mark.parametrize("label", [-1.0, 1.0])
def test_each_margin_rule_is_twice_scikit_learns(name, label):
    """value(r, y) at r = s - y is twice SGDClassifier's loss of y s; the slope
    is the derivative in s away from the kinks; scalar and array rules, and the
    compiled ones, agree."""
    kind = losses.CLASSIFICATION_LOSSES[name]
    s = np.concatenate([np.linspace(-6, 6, 1201), [-1.0, 0.0, 1.0, 40.0, -40.0]])
    r, y = s - label, np.full_like(s, label)
    expected = 2.0 * sklearn_margin_loss(name, label * s)
    scalar = np.array([losses.value(kind, a, label, 0.0) for a in r])
    np.testing.assert_allclose(scalar, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(losses.values(kind, r, y, 0.0), expected, rtol=1e-12,
                               atol=1e-12)  # fmt: skip
    slopes = np.array([losses.derivative(kind, a, label, 0.0) for a in r])
    np.testing.assert_allclose(losses.derivatives(kind, r, y, 0.0), slopes,
                               rtol=1e-12, atol=1e-15)  # fmt: skip
    compiled = [steps.slope(np.array([kind, 0.0]), a, label) for a in r[:50]]
    np.testing.assert_allclose(compiled, slopes[:50], rtol=1e-12, atol=1e-15)
    away = np.all(np.abs(s[:, None] - [-1.0, 0.0, 1.0]) > 1e-3, axis=1)
    step = 1e-6
    numeric = (losses.values(kind, r + step, y, 0.0)
               - losses.values(kind, r - step, y, 0.0)) / (2 * step)  # fmt: skip
    np.testing.assert_allclose(slopes[away], numeric[away], atol=1e-5)


@pytest.mark.parametrize("name", SMOOTH)
def test_the_curvature_bound_bounds_the_margin_losses(name):
    kind = losses.CLASSIFICATION_LOSSES[name]
    s = np.linspace(-5, 5, 2001)
    for label in (-1.0, 1.0):
        r, y = s - label, np.full_like(s, label)
        curvature = losses.curvatures(kind, r, y, 0.0)
        assert curvature.max() <= losses.CURVATURE_BOUND[kind] + 1e-12
        away = np.all(np.abs(label * s[:, None] - [-1.0, 1.0]) > 1e-3, axis=1)
        step = 1e-5
        above = losses.derivatives(kind, r + step, y, 0.0)
        numeric = (above - losses.derivatives(kind, r - step, y, 0.0)) / (2 * step)
        np.testing.assert_allclose(curvature[away], numeric[away], atol=1e-5)


def test_a_regression_fit_refuses_a_margin_loss_on_other_targets():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match=r"labels -1 and \+1.*GDClassifier"):
        fit_sgd(X, X[:, 0], loss="hinge")


# ------------------------------------------------------- kernels and twins


def labelled(m=120, n=5, k=1, seed=0):
    """Rows of two (k = 1) or k > 1 one-vs-rest -1/+1 targets, with noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n)) * [1.0, 10.0, 0.1, 1.0, 3.0][:n] + 2.0
    scores = X @ rng.normal(size=(n, max(k, 1))) + rng.normal(size=(m, max(k, 1)))
    Y = np.where(scores > np.median(scores, axis=0), 1.0, -1.0)
    return X, (Y[:, 0] if k == 1 else Y)


@pytest.mark.parametrize("method", FITS)
@pytest.mark.parametrize("name", MARGIN_LOSSES)
@pytest.mark.parametrize("k", [1, 3])
def test_compiled_epochs_equal_the_twins_on_margin_losses(method, name, k):
    """Same order, same steps: the compiled fit, the NumPy twin and the loop
    twin agree to rounding (standardized, weighted, with an L2 decay), dense
    and CSR."""
    X, Y = labelled(k=k)
    X[np.abs(X - 2.0) < 0.3] = 0.0
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    options = dict(eta0=0.02, max_iter=3, tol=None, alpha=0.01, standardize=True,
                   sample_weight=weights, loss=name)  # fmt: skip
    compiled = FITS[method](X, Y, **options)
    for impl in ("numpy", "loop"):
        twin = FITS[method](X, Y, impl=impl, **options)
        assert relative_error(compiled.coef, twin.coef) <= 1e-10, impl
        np.testing.assert_allclose(compiled.loss_history, twin.loss_history,
                                   rtol=1e-10)  # fmt: skip
    sparse = FITS[method](sp.csr_matrix(X), Y, **{**options, "alpha": 0.0})
    dense = FITS[method](X, Y, **{**options, "alpha": 0.0})
    assert relative_error(sparse.coef, dense.coef) <= 1e-10


# ----------------------------------------------------- fits reach the optimum


def logistic_objective(X, y, coef, intercept, C):
    """LogisticRegression's objective over m: mean log-loss + |w|^2 / (2 C m)."""
    m = len(y)
    signs = np.where(y == np.unique(y)[1], 1.0, -1.0)
    z = signs * (X @ np.ravel(coef) + intercept[0])
    return float(np.mean(np.logaddexp(0.0, -z)) + coef @ coef / (2 * C * m))


def logistic_optimum(X, y, C):
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(X, y)
    return logistic_objective(X, y, reference.coef_[0], reference.intercept_, C)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("solver", ["auto", "batch"])
def test_logistic_regression_reaches_scikit_learns_optimum(solver, sparse):
    """The breast cancer table, raw (columns 1e-3 to 1e3 in scale): the
    default fit (damped Newton steps) reaches LogisticRegression's objective
    (C = 1) to tol, and its relative_excess_ says so within a factor 3."""
    X, y = load_breast_cancer(return_X_y=True)
    C = 1.0
    best = logistic_optimum(X, y, C)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divergence, no ConvergenceWarning
        model = GDClassifier(solver=solver, alpha=1.0 / (C * len(y)),
                             random_state=0).fit(sp.csr_matrix(X) if sparse else X,
                                                 y)  # fmt: skip
    assert model.solver_ == "batch"
    true = (logistic_objective(X, y, model.coef_[0], model.intercept_, C) - best) / best
    assert true <= 3 * model.tol
    said = model.relative_excess_
    assert said is not None and said <= model.tol
    assert true / 3 <= said <= 3 * max(true, 1e-7)


@pytest.mark.parametrize("solver", ["sgd", "minibatch"])
def test_stochastic_logistic_fits_say_how_far_they_got(solver):
    """Averaged SGD nears a logistic optimum at its O(1/t) rate: on the breast
    cancer table (nearly separable, so ill-conditioned) 100 epochs end short of
    tol, with a ConvergenceWarning, a relative_excess_ within a factor 3 of the
    truth, and the reference's accuracy."""
    X, y = load_breast_cancer(return_X_y=True)
    C = 1.0
    best = logistic_optimum(X, y, C)
    model = GDClassifier(solver=solver, alpha=1.0 / (C * len(y)), max_iter=100,
                         random_state=0)  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    true = (logistic_objective(X, y, model.coef_[0], model.intercept_, C) - best) / best
    said = model.relative_excess_
    assert true / 3 <= said <= 3 * true
    if said > model.tol:
        assert any("max_iter" in str(w.message) for w in caught)
    reference = LogisticRegression(C=C, max_iter=10_000).fit(X, y).score(X, y)
    assert model.score(X, y) >= reference - 0.01


@pytest.mark.parametrize(
    "loader", [load_iris, load_wine, pytest.param(load_digits, marks=slow_without_jit)]
)
def test_one_vs_rest_is_k_binary_fits_sharing_each_pass(loader):
    """k > 2 classes: output c is the binary fit of class c against the rest."""
    X, y = loader(return_X_y=True)
    model = GDClassifier(tol=1e-8, random_state=0).fit(X, y)
    assert model.coef_.shape == (len(model.classes_), X.shape[1])
    for c, label in enumerate(model.classes_):
        binary = GDClassifier(tol=1e-8, random_state=0).fit(X, y == label)
        assert relative_error(model.coef_[c], binary.coef_[0]) <= 1e-3
    assert model.score(X, y) >= 0.95


@pytest.mark.parametrize("name", MARGIN_LOSSES)
def test_every_loss_classifies_a_real_table(name):
    """Wine (3 classes, raw columns), every loss with its defaults: at least
    the accuracy of LogisticRegression less 3%; no warning."""
    X, y = load_wine(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GDClassifier(loss=name, random_state=0).fit(X, y)
    reference = LogisticRegression(max_iter=10_000).fit(X, y).score(X, y)
    assert model.score(X, y) >= reference - 0.03
    assert (model.relative_excess_ is None) == (name in KINKED)


def test_separable_data_without_a_penalty_says_what_it_returns():
    """No optimum exists, only an infimum of 0. Newton steps drive the loss
    to it within rounding, in a few tens of iterations, and stop there
    (finite, large coefficients); SGD's steps grow the coefficients slowly
    and stop at max_iter with a ConvergenceWarning."""
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        newton = GDClassifier(penalty=None).fit(X, y)
    assert newton.loss_curve_[-1] <= 1e-8 and newton.n_iter_ <= 100
    assert np.all(np.isfinite(newton.coef_)) and newton.score(X, y) == 1.0
    with pytest.warns(Warning, match="max_iter=50"):
        sgd = GDClassifier(penalty=None, solver="sgd", max_iter=50).fit(X, y)
    assert np.all(np.isfinite(sgd.coef_)) and sgd.score(X, y) == 1.0


# ------------------------------------------------ labels, weights, probabilities


def test_labels_of_any_kind_come_back_as_given():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = GDClassifier(random_state=0).fit(X, names)
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    assert model.predict(X).dtype == names.dtype
    assert np.mean(model.predict(X) == names) >= 0.95
    flags = GDClassifier(random_state=0).fit(X, y == 0)
    assert flags.classes_.dtype == bool and flags.coef_.shape == (1, 4)
    assert flags.decision_function(X).shape == (150,)


@pytest.mark.parametrize("loss", ["log_loss", "modified_huber"])
def test_probabilities_sum_to_one_and_follow_the_scores(loss):
    X, y = load_iris(return_X_y=True)
    model = GDClassifier(loss=loss, random_state=0).fit(X, y)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)],
                                  model.predict(X))  # fmt: skip
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(model.predict_log_proba(X), np.log(proba))
    binary = GDClassifier(loss=loss, random_state=0).fit(X, y == 2)
    p = binary.predict_proba(X)[:, 1]
    assert np.all((p > 0.5) == binary.predict(X))


def test_no_probabilities_for_the_hinge():
    X, y = load_iris(return_X_y=True)
    model = GDClassifier(loss="hinge").fit(X, y)
    assert not hasattr(model, "predict_proba")
    with pytest.raises(AttributeError, match="predict_proba"):
        model.predict_proba(X)


def test_balanced_class_weight_is_weighing_each_row_by_its_class():
    X, y = load_breast_cancer(return_X_y=True)
    counts = np.bincount(y)
    weights = (len(y) / (2 * counts))[y]
    balanced = GDClassifier(class_weight="balanced", tol=1e-8).fit(X, y)
    weighed = GDClassifier(tol=1e-8).fit(X, y, sample_weight=weights)
    assert relative_error(balanced.coef_, weighed.coef_) <= 1e-6
    as_dict = GDClassifier(class_weight={0: 3.0, 1: 1.0}, tol=1e-8).fit(X, y)
    by_rows = GDClassifier(tol=1e-8).fit(X, y, sample_weight=np.where(y == 0, 3.0,
                                                                      1.0))  # fmt: skip
    assert relative_error(as_dict.coef_, by_rows.coef_) <= 1e-6


def test_partial_fit_takes_the_classes_first_and_balances_from_counts_so_far():
    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    model = GDClassifier(class_weight="balanced", random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X[:10], y[:10])
    model.partial_fit(X[:2], y[:2], classes=[0, 1, 2])  # a first batch of two rows
    for start in range(2, 150, 16):
        model.partial_fit(X[start : start + 16], y[start : start + 16])
    for _ in range(30):
        model.partial_fit(X, y)
    np.testing.assert_array_equal(model._class_counts, np.bincount(y) * 31)
    assert model.score(X, y) >= 0.9
    with pytest.raises(ValueError, match="not in classes_"):
        model.partial_fit(X[:3], [0, 1, 7])
    with pytest.raises(ValueError, match="first partial_fit"):
        model.partial_fit(X[:3], y[:3], classes=[0, 1])


def test_one_class_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="greater than one"):
        GDClassifier().fit(np.ones((5, 2)), np.zeros(5))


# ------------------------------------------------------------ the data sources


def test_a_file_source_holding_the_labels_fits_as_the_arrays(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    np.save(tmp_path / "X.npy", X)
    source = from_npy(tmp_path / "X.npy", y.astype(np.float64), memory_budget=20_000)
    options = dict(solver="batch", random_state=0, tol=1e-8)
    in_memory = GDClassifier(**options).fit(X, y)
    streamed = GDClassifier(**options).fit(source)
    assert relative_error(streamed.coef_, in_memory.coef_) <= 1e-6
    assert streamed.score(source) == in_memory.score(X, y)


def test_a_dask_collection_fits_as_the_arrays(dask_client):
    import dask.array as da

    X, y = load_iris(return_X_y=True)
    options = dict(solver="batch", random_state=0, tol=1e-8)
    in_memory = GDClassifier(**options).fit(X, y)
    distributed = GDClassifier(**options).fit(da.from_array(X, chunks=40),
                                              da.from_array(y, chunks=40))  # fmt: skip
    assert relative_error(distributed.coef_, in_memory.coef_) <= 1e-6
    predicted = distributed.predict(da.from_array(X, chunks=40))
    assert isinstance(predicted, da.Array)
    np.testing.assert_array_equal(predicted.compute(), in_memory.predict(X))


# ------------------------------------------------------- beyond a formed Hessian


@pytest.mark.parametrize("standardize", [True, False])
def test_newton_by_conjugate_gradients_at_5000_columns(standardize):
    """Beyond 4,095 parameters no Hessian is formed: conjugate gradients on
    gradient differences solve each Newton step and give the decrement. A CSR
    table of 5,000 columns reaches LogisticRegression's objective to tol, and
    relative_excess_ says so within a factor 3."""
    from fastgd.classify_benchmark import make_binary

    X, y = make_binary(20_000, 5_000, sparse=True)
    C = 10.0
    best = logistic_optimum(X, y, C)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GDClassifier(alpha=1.0 / (C * len(y)),
                             standardize=standardize).fit(X, y)  # fmt: skip
    true = (logistic_objective(X, y, model.coef_[0], model.intercept_, C) - best) / best
    assert model.solver_ == "batch" and true <= 3 * model.tol
    said = model.relative_excess_
    assert said <= model.tol and true / 3 <= said <= 3 * max(true, 1e-7)


def test_hessian_free_solves_the_newton_system(monkeypatch):
    """The CG solve on gradient differences against the formed Hessian of the
    doubled logistic loss, 2 sigma(z) (1 - sigma(z)) [x, 1][x, 1]^T averaged
    over rows: the step agrees to the forcing, the decrement closer."""
    from fastgd._training import hessian_free, prepare
    from fastgd._training.full_gradient import shared_pass
    from fastgd._training.objective import make_loss
    from fastgd.sources import DenseSource

    monkeypatch.setattr(hessian_free, "LOOSEST", hessian_free.FORCING)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 6)) * [1.0, 2.0, 0.5, 1.0, 3.0, 1.0]
    y = np.where(X @ rng.normal(size=6) + rng.normal(size=3000) > 0.3, 1.0, -1.0)
    data = prepare(DenseSource(X, y), standardize=False)
    loss = make_loss("log_loss", 0.0, 0.5)
    coef, intercept = rng.normal(size=6) * 0.3, np.array([0.2])

    class Engine:
        data_gradient = None

        def reported_iterate(self):
            return coef, intercept

    grad, grad_b, _ = shared_pass(data, "numpy", loss.kernel)(coef, intercept)
    solver = hessian_free.HessianFree(data, Engine(), loss, True, 0.0, "numpy")
    step, step_b = solver.newton_step(coef, intercept, grad, grad_b)
    Z = np.column_stack([X, np.ones(len(X))])
    p = 1.0 / (1.0 + np.exp(-(Z @ np.append(coef, intercept))))
    H = (Z * (2.0 * p * (1.0 - p))[:, None]).T @ Z / len(X)
    g = np.append(grad, grad_b)
    exact = np.linalg.solve(H, g)
    assert relative_error(np.append(step, step_b), exact) <= 0.05
    assert solver(grad, grad_b) == pytest.approx(0.5 * g @ exact, rel=5e-3)


def scaled_logistic_optimum(X, y, C):
    """mean log-loss + |w|^2 / (2 C m) minimized by L-BFGS in standardized
    variables (LogisticRegression's solvers stall on raw columns 1e-6 to 1e9
    apart: lbfgs and newton-cholesky end at 0.65 where this reaches 0.39)."""
    from scipy.optimize import minimize

    m, n = X.shape
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    Z, signs = (X - mean) / scale, np.where(y, 1.0, -1.0)

    def value_and_gradient(v):
        w = v[:n] / scale
        z = signs * (Z @ v[:n] + v[n])
        slopes = -signs * np.exp(-np.logaddexp(0.0, z)) / m
        value = np.mean(np.logaddexp(0.0, -z)) + w @ w / (2 * C * m)
        return value, np.append(Z.T @ slopes + w / scale / (C * m), slopes.sum())

    v = minimize(value_and_gradient, np.zeros(n + 1), jac=True, method="L-BFGS-B",
                 options=dict(maxiter=100_000, gtol=1e-13, ftol=1e-16,
                              maxcor=50)).x  # fmt: skip
    coef = v[:n] / scale
    return logistic_objective(X, y, coef, [v[n] - mean @ coef], C)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_the_default_fit_reaches_the_optimum_on_a_realistic_table(sparse):
    """make_tabular_regression's table (heavy tails, a timestamp, columns 1e-6
    and 1e6, exact and near duplicates, one-hot Zipf levels collinear with the
    intercept), labels y > median: the default fit reaches the optimum to tol
    and says so within a factor 3, no warning."""
    from fastgd.datasets import make_tabular_regression

    X, y = make_tabular_regression(5_000, categorical_levels=(12, 120),
                                   random_state=0)[:2]  # fmt: skip
    labels = y > np.median(y)
    C = 1.0 / (1e-4 * len(y))  # the default alpha
    best = scaled_logistic_optimum(X, labels, C)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GDClassifier(random_state=0).fit(sp.csr_matrix(X) if sparse else X,
                                                 labels)  # fmt: skip
    true = (logistic_objective(X, labels, model.coef_[0], model.intercept_, C)
            - best) / best  # fmt: skip
    assert true <= 3 * model.tol
    said = model.relative_excess_
    assert said <= model.tol and true / 3 <= said <= 3 * max(true, 1e-7)
