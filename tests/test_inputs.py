"""Caller data is never modified; odd layouts work; bad input gets a clear error."""

import hashlib

import numpy as np
import pytest

from fastgd import GDRegressor, fit_batch, fit_minibatch, fit_sgd

from .conftest import make_problem, relative_error

FITS = {
    "sgd": lambda X, y, **kw: fit_sgd(X, y, max_iter=3, tol=None, random_state=0, **kw),
    "minibatch": lambda X, y, **kw: fit_minibatch(
        X, y, batch_size=7, max_iter=3, tol=None, random_state=0, **kw
    ),
    "batch": lambda X, y, **kw: fit_batch(X, y, max_iter=5, tol=None, **kw),
    "batch-gram": lambda X, y, **kw: fit_batch(
        X, y, max_iter=5, tol=None, strategy="gram", **kw
    ),
}
IMPLS = ["compiled", "numpy", "loop"]


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("method", FITS)
def test_inputs_are_bit_identical_after_a_fit(method, impl, n_targets, tmp_path):
    if impl == "loop" and method == "batch-gram":
        pytest.skip("strategy='gram' does not run with impl='loop' (tested below)")
    fit = FITS[method]
    X, y, _ = make_problem(m=60, n=3, k=n_targets)
    coef_init = np.ones((3, *y.shape[1:]))
    before = _digest(X, y, coef_init)
    fit(X, y, impl=impl, coef_init=coef_init)
    assert _digest(X, y, coef_init) == before

    read_only_X, read_only_y = X.copy(), y.copy()
    read_only_X.flags.writeable = False
    read_only_y.flags.writeable = False
    fit(read_only_X, read_only_y, impl=impl)
    assert _digest(read_only_X, read_only_y) == _digest(X, y)

    path = tmp_path / "X.dat"
    mapped = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    mapped[:] = X
    mapped.flush()
    read_mapped = np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
    fit(read_mapped, y, impl=impl)
    assert _digest(np.asarray(read_mapped)) == _digest(X)
    assert path.read_bytes() == X.tobytes()


@pytest.mark.parametrize("method", FITS)
def test_fortran_and_strided_inputs_give_the_c_result(method):
    fit = FITS[method]
    X, y, _ = make_problem(m=80, n=4)
    expected = fit(X, y)
    fortran = fit(np.asfortranarray(X), y)
    wide = np.zeros((80, 8))
    wide[:, ::2] = X
    strided = fit(wide[:, ::2], np.repeat(y, 2)[::2])
    big_endian = fit(X.astype(">f8"), y)
    for other in (fortran, strided, big_endian):
        assert np.array_equal(other.coef, expected.coef)


@pytest.mark.parametrize("kind", ["ndarray", "DataFrame"])
def test_boolean_features_are_zeros_and_ones_for_every_input(kind):
    """One rule: numpy bools and pandas bool columns (get_dummies) alike."""
    X = X_OK > 0
    if kind == "DataFrame":
        pd = pytest.importorskip("pandas")
        X = pd.DataFrame(X)
    as_bool = GDRegressor(random_state=0, max_iter=5, tol=None).fit(X, Y_OK)
    as_float = GDRegressor(random_state=0, max_iter=5, tol=None).fit(
        (X_OK > 0).astype(float), Y_OK
    )
    np.testing.assert_array_equal(as_bool.coef_, as_float.coef_)


def test_lists_are_accepted():
    X, y, _ = make_problem(m=30, n=2)
    result = fit_batch(X.tolist(), y.tolist(), max_iter=20, tol=None)
    assert relative_error(result.coef, fit_batch(X, y, max_iter=20, tol=None).coef) == 0


X_OK, Y_OK, _ = make_problem(m=20, n=3)


def _with_nan(a):
    a = a.copy()
    a.flat[3] = np.nan
    return a


def _with_inf(a):
    a = a.copy()
    a.flat[0] = np.inf
    return a


BAD_INPUTS = [
    # (id, X, y, kwargs, exception, words the message must contain)
    ("nan-in-X", _with_nan(X_OK), Y_OK, {}, ValueError, "NaN"),
    ("inf-in-X", _with_inf(X_OK), Y_OK, {}, ValueError, "infinity"),
    ("nan-in-y", X_OK, _with_nan(Y_OK), {}, ValueError, "NaN"),
    ("inf-in-y", X_OK, _with_inf(Y_OK), {}, ValueError, "infinity"),
    ("y-too-short", X_OK, Y_OK[:-1], {}, ValueError, "same number of rows"),
    ("X-1d", X_OK[:, 0], Y_OK, {}, ValueError, "2D array"),
    ("X-3d", X_OK[:, :, None], Y_OK, {}, ValueError, "dim"),
    ("y-3d", X_OK, Y_OK[:, None, None], {}, ValueError, "y"),
    ("no-samples", X_OK[:0], Y_OK[:0], {}, ValueError, "0 sample"),
    ("no-features", X_OK[:, :0], Y_OK, {}, ValueError, "0 feature"),
    ("bool-y", X_OK, Y_OK > 0, {}, TypeError, "astype(float)"),
    ("complex-X", X_OK + 1j, Y_OK, {}, ValueError, "complex"),
    ("string-X", X_OK.astype(str), Y_OK, {}, TypeError, "strings"),
    ("object-X", np.array([["a", 1.0, 2.0]] * 20, dtype=object), Y_OK, {}, TypeError,
     "numeric"),
    ("string-y", X_OK, Y_OK.astype(str), {}, TypeError, "strings"),
    ("eta0-zero", X_OK, Y_OK, {"eta0": 0.0}, ValueError, "eta0"),
    ("eta0-negative", X_OK, Y_OK, {"eta0": -1.0}, ValueError, "eta0"),
    ("eta0-nan", X_OK, Y_OK, {"eta0": float("nan")}, ValueError, "eta0"),
    ("max_iter-zero", X_OK, Y_OK, {"max_iter": 0}, ValueError, "max_iter"),
    ("max_iter-float", X_OK, Y_OK, {"max_iter": 2.5}, TypeError, "max_iter"),
    ("tol-negative", X_OK, Y_OK, {"tol": -1.0}, ValueError, "tol"),
    ("impl-unknown", X_OK, Y_OK, {"impl": "cuda"}, ValueError, "'compiled'"),
    ("learning_rate-unknown", X_OK, Y_OK, {"learning_rate": "optimal"}, ValueError,
     "'annealing'"),
    ("coef_init-shape", X_OK, Y_OK, {"coef_init": np.zeros(4)}, ValueError,
     "coef_init"),
]  # fmt: skip


@pytest.mark.parametrize(
    "fit", [fit_sgd, fit_minibatch, fit_batch], ids=["sgd", "minibatch", "batch"]
)
@pytest.mark.parametrize(
    "X, y, kwargs, error, words",
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_a_clear_error_and_is_left_alone(
    fit, X, y, kwargs, error, words
):
    before = _digest(*(np.asarray(a) for a in (X, y)))
    with pytest.raises(error, match=None) as info:
        fit(X, y, **kwargs)
    assert words.lower() in str(info.value).lower()
    assert _digest(*(np.asarray(a) for a in (X, y))) == before


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.0}, "batch_size"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
    ],
)
def test_bad_minibatch_options(kwargs, words):
    with pytest.raises((ValueError, TypeError), match=words):
        fit_minibatch(X_OK, Y_OK, **kwargs)


def test_batch_size_above_n_samples_is_clamped():
    options = dict(max_iter=5, tol=None, random_state=0)
    clamped = fit_minibatch(X_OK, Y_OK, batch_size=1000, **options)
    exact = fit_minibatch(X_OK, Y_OK, batch_size=20, **options)
    assert np.array_equal(clamped.coef, exact.coef)
    assert clamped.n_steps == 5


def test_gram_strategy_refuses_the_loop_impl():
    with pytest.raises(ValueError, match="strategy='gram'"):
        fit_batch(X_OK, Y_OK, strategy="gram", impl="loop")
    with pytest.raises(ValueError, match="'pass'"):
        fit_batch(X_OK, Y_OK, strategy="normal")


def test_single_sample_fits():
    result = fit_sgd(X_OK[:1], Y_OK[:1], max_iter=5, tol=None)
    assert np.all(np.isfinite(result.coef))


# One unusable value per GDRegressor parameter.
BAD_PARAMETERS = {
    "solver": "newton", "batch_size": 0, "learning_rate": "fast", "eta0": -1.0,
    "power_t": "high", "penalty": "l3", "alpha": -1.0, "l1_ratio": 1.5,
    "positive": "yes", "fit_intercept": "yes",
    "standardize": 1.5, "max_iter": 0, "tol": -1.0, "n_iter_no_change": 0,
    "shuffle": "no", "random_state": "garbage", "early_stopping": "no",
    "validation_fraction": 1.5, "average": -1, "warm_start": "no", "verbose": -1,
    "impl": "cuda", "optimizer": "lbfgs", "loss": "absolute", "epsilon": -1.0,
    "quantile": 1.5,
}  # fmt: skip


def test_every_parameter_has_a_constraint():
    from fastgd import GDRegressor

    assert set(BAD_PARAMETERS) == set(GDRegressor().get_params())
    assert set(GDRegressor._parameter_constraints) == set(GDRegressor().get_params())


@pytest.mark.parametrize("solver", ["auto", "sgd", "minibatch", "batch", "svrg"])
@pytest.mark.parametrize("name", sorted(BAD_PARAMETERS))
def test_every_parameter_is_checked_by_every_solver(solver, name):
    """As in scikit-learn: a bad value is an error whether this solver uses the
    parameter or not (batch draws nothing, svrg has no batch_size), in fit and in
    partial_fit, with a message naming the parameter and what it accepts."""
    from fastgd import GDRegressor

    parameters = {"solver": solver, name: BAD_PARAMETERS[name]}
    for method in ("fit", "partial_fit"):
        model = GDRegressor(**parameters)
        with pytest.raises(ValueError, match=f"'{name}' parameter of GDRegressor"):
            getattr(model, method)(X_OK, Y_OK)
        assert not hasattr(model, "coef_")


def test_the_functional_api_checks_random_state_too():
    with pytest.raises(ValueError, match="random_state"):
        fit_batch(X_OK, Y_OK, random_state="garbage")
