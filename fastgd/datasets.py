"""Synthetic regression data with known coefficients, fast enough for big benchmarks."""

import numpy as np

from ._validation import check_int


def make_regression(
    n_samples,
    n_features,
    n_targets=1,
    *,
    noise=0.1,
    bias=0.0,
    feature_scales=None,
    dtype=np.float64,
    random_state=None,
):
    """Random linear-regression data: y = X coef + bias + noise * N(0, 1).

    X is standard normal (then multiplied column-wise by ``feature_scales``), drawn
    directly in ``dtype`` by NumPy's ziggurat generator and written once, so
    5,000,000 x 20 takes a couple of seconds and no float64 temporary is made for
    float32 data. The true coefficients are uniform in [-2, 2] and are returned.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of X.
    n_targets : int, default=1
        With 1, y has shape (n_samples,) and coef (n_features,); otherwise
        (n_samples, n_targets) and (n_features, n_targets).
    noise : float, default=0.1
        Standard deviation of the Gaussian noise added to y.
    bias : float, default=0.0
        The true intercept.
    feature_scales : array-like of shape (n_features,), optional
        Multiply column j of X by ``feature_scales[j]`` (coef is divided by it, so
        y keeps its scale). Handy for ill-scaled problems.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        dtype of X, y and coef.
    random_state : int, numpy.random.Generator or None
        Seed; the same value gives the same data.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
    coef : ndarray of shape (n_features,) or (n_features, n_targets)

    Examples
    --------
    >>> from fastgd.datasets import make_regression
    >>> X, y, coef = make_regression(100, 3, noise=0.0, random_state=0)
    >>> X.shape, y.shape, coef.shape
    ((100, 3), (100,), (3,))
    >>> bool(abs(X @ coef - y).max() < 1e-12)
    True
    """
    m = check_int("n_samples", n_samples)
    n = check_int("n_features", n_features)
    k = check_int("n_targets", n_targets)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((m, n), dtype=dtype)
    coef = rng.uniform(-2.0, 2.0, size=(n, k)).astype(dtype)
    if feature_scales is not None:
        scales = np.asarray(feature_scales, dtype=dtype)
        if scales.shape != (n,) or not np.all(np.isfinite(scales) & (scales > 0)):
            raise ValueError(
                f"feature_scales must be {n} finite positive numbers, got shape "
                f"{scales.shape}."
            )
        X *= scales
        coef /= scales[:, None]
    y = X @ coef
    y += dtype.type(bias)
    if noise:
        y += dtype.type(noise) * rng.standard_normal(y.shape, dtype=dtype)
    if k == 1:
        return X, y[:, 0], coef[:, 0]
    return X, y, coef


def make_sparse_regression(
    n_samples,
    n_features,
    nnz_per_row=20,
    *,
    noise=0.1,
    bias=0.0,
    dtype=np.float64,
    random_state=None,
):
    """Random sparse linear-regression data: a CSR X with ``nnz_per_row`` entries a
    row (distinct columns, drawn uniformly; values standard normal), y = X coef +
    bias + noise * N(0, 1), coef uniform in [-2, 2]. Needs SciPy.

    Rows are built by drawing columns with repetition and dropping the repeats,
    so a row may hold slightly fewer entries when ``nnz_per_row`` is close to
    ``n_features``; X is canonical (sorted indices, no duplicates), int32
    indices, float64 or float32 data.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    coef : ndarray of shape (n_features,)

    Examples
    --------
    >>> from fastgd.datasets import make_sparse_regression
    >>> X, y, coef = make_sparse_regression(1000, 500, 5, noise=0.0, random_state=0)
    >>> X.shape, X.nnz <= 5000
    ((1000, 500), True)
    >>> bool(abs(X @ coef - y).max() < 1e-12)
    True
    """
    import scipy.sparse

    m = check_int("n_samples", n_samples)
    n = check_int("n_features", n_features)
    per_row = check_int("nnz_per_row", nnz_per_row)
    if per_row > n:
        raise ValueError(f"nnz_per_row={per_row} is more than n_features={n}.")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
    rng = np.random.default_rng(random_state)
    columns = np.sort(rng.integers(0, n, size=(m, per_row), dtype=np.int32), axis=1)
    keep = np.ones((m, per_row), dtype=bool)
    keep[:, 1:] = columns[:, 1:] != columns[:, :-1]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    indices = columns[keep]
    del columns, keep
    data = rng.standard_normal(indices.shape[0], dtype=dtype)
    X = scipy.sparse.csr_matrix((data, indices, indptr), shape=(m, n))
    coef = rng.uniform(-2.0, 2.0, size=n).astype(dtype)
    y = X @ coef
    y += dtype.type(bias)
    if noise:
        y += dtype.type(noise) * rng.standard_normal(m, dtype=dtype)
    return X, y, coef
