import numpy as np
import pytest

from fastgd.datasets import make_regression


def test_shapes_dtypes_and_truth(dtype, n_targets):
    X, y, coef = make_regression(
        50, 4, n_targets, noise=0.0, bias=2.0, dtype=dtype, random_state=1
    )
    assert X.dtype == y.dtype == coef.dtype == dtype
    assert X.shape == (50, 4)
    assert y.shape == ((50,) if n_targets == 1 else (50, n_targets))
    np.testing.assert_allclose(X @ coef + 2.0, y, rtol=1e-5, atol=1e-5)


def test_same_seed_same_data_and_noise_level():
    a = make_regression(20000, 3, noise=0.5, random_state=3)
    b = make_regression(20000, 3, noise=0.5, random_state=3)
    for left, right in zip(a, b, strict=False):
        np.testing.assert_array_equal(left, right)
    X, y, coef = a
    assert np.std(y - X @ coef) == pytest.approx(0.5, rel=0.05)


def test_feature_scales_keep_y_and_scale_the_columns():
    scales = np.array([1e-3, 1.0, 1e3])
    X, y, coef = make_regression(
        1000, 3, noise=0.0, feature_scales=scales, random_state=0
    )
    np.testing.assert_allclose(X.std(axis=0) / scales, 1.0, rtol=0.1)
    np.testing.assert_allclose(X @ coef, y, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"dtype": np.int64}, "float32 or float64"),
        ({"feature_scales": [1.0, -1.0, 1.0]}, "feature_scales"),
        ({"feature_scales": [1.0]}, "feature_scales"),
    ],
)
def test_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        make_regression(10, 3, **kwargs)
