"""Prepared data: sample weights, the validation split and the standardization
the kernels apply on the fly, derived once per fit from a data source; and what
is derived from the data (the curvature behind eta0="auto")."""

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_random_state, check_sample_weight
from ..sources import DataSource

# --------------------------------------------------------------------------- #
# Prepared data
# --------------------------------------------------------------------------- #

# Rows of y read at a time for its moments and mean square: y is as long as the
# data, and on a cluster (fastgd.sources.DaskSource) the client should hold it
# once, not thrice.
TARGET_BLOCK_ROWS = 65536


@dataclass
class Data:
    """A data source and everything derived from it once per fit.

    ``sample_weight`` is an array of X's dtype: one value (uniform weights) or one
    per row, with validation rows set to 0 when there is a validation split (so the
    batch kernels can skip them without a copy of X). ``train_rows`` lists the rows
    the stochastic epochs visit. ``shift`` and ``scale`` (X's dtype) define
    z = (x - shift) * scale; zeros and ones when not standardizing. ``cache``
    keeps what several steps of a fit derive from the data (the row sample).
    """

    source: DataSource
    sample_weight: np.ndarray
    original_weight: np.ndarray
    weighted: bool
    train_rows: np.ndarray
    validation_rows: np.ndarray | None
    validation_sst: np.ndarray | None
    train_weight: float
    shift: np.ndarray
    scale: np.ndarray
    standardized: bool
    mean: np.ndarray | None
    variance: np.ndarray | None
    cache: dict = field(default_factory=dict)

    @property
    def y(self):
        return self.source.targets

    @property
    def dtype(self):
        return self.source.dtype

    @property
    def n_features(self):
        return self.source.n_features

    @property
    def n_targets(self):
        return 1 if self.y.ndim == 1 else self.y.shape[1]

    @property
    def standardization(self):
        """(shift, scale) for the kernels, or None when z = x."""
        return (self.shift, self.scale) if self.standardized else None

    def coef_shape(self):
        return (self.n_features, *self.y.shape[1:])

    def _training_targets(self):
        """(Y (rows, k) float64, weights (rows, 1) float64) of the training rows,
        in blocks of :data:`TARGET_BLOCK_ROWS` rows."""
        Y = self.y.reshape(self.y.shape[0], -1)
        w = np.broadcast_to(self.original_weight, (self.y.shape[0],))
        rows = self.train_rows if self.validation_rows is not None else None
        for start in range(0, Y.shape[0] if rows is None else len(rows),
                           TARGET_BLOCK_ROWS):  # fmt: skip
            stop = start + TARGET_BLOCK_ROWS
            pick = slice(start, stop) if rows is None else rows[start:stop]
            yield Y[pick].astype(np.float64), w[pick].astype(np.float64)[:, None]

    def target_moments(self):
        """Weighted mean (per output) and variance (averaged over outputs) of y
        on the training rows, two passes (no cancellation), computed once."""
        if "target_moments" not in self.cache:
            sums = [(float(w.sum()), (w * Y).sum(axis=0))
                    for Y, w in self._training_targets()]  # fmt: skip
            total = sum(weight for weight, _ in sums)
            mean = sum(part for _, part in sums) / total
            squares = sum((w * (Y - mean) ** 2).sum(axis=0)
                          for Y, w in self._training_targets())  # fmt: skip
            variance = float(np.mean(squares / total))
            self.cache["target_moments"] = (mean, variance)
        return self.cache["target_moments"]

    def column_moments(self):
        """Weighted (mean, variance) of X's columns over the training rows in
        the original units, float64: the standardization's, or one pass."""
        if self.mean is not None:
            return self.mean, self.variance
        if "column_moments" not in self.cache:
            self.cache["column_moments"] = self.source.column_moments(
                self.sample_weight
            )
        return self.cache["column_moments"]

    def gram_statistics(self):
        """The source's centred :class:`~fastgd.sources.reductions.GramStatistics`
        over the training rows, about the column means and y's mean, computed
        once (the Gram route and the excess estimate share them)."""
        if "gram_statistics" not in self.cache:
            x_mean = np.asarray(self.column_moments()[0], dtype=np.float64)
            y_mean = np.atleast_1d(self.target_moments()[0]).astype(np.float64)
            self.cache["gram_statistics"] = self.source.gram_statistics(
                self.sample_weight, (x_mean, y_mean)
            )
        return self.cache["gram_statistics"]

    def has_gram_statistics(self):
        """Whether :meth:`gram_statistics` has been formed (it is then free)."""
        return "gram_statistics" in self.cache

    def z_moments(self):
        """(mean, variance) of z = (x - shift) * scale over the training rows."""
        mean, variance = self.column_moments()
        scale = self.scale.astype(np.float64)
        return ((mean - self.shift.astype(np.float64)) * scale,
                variance * scale * scale)  # fmt: skip

    def zero_model_loss(self):
        """mean(y^2), in blocks of rows (no copy of y)."""
        Y = self.y.reshape(self.y.shape[0], -1)
        rows = TARGET_BLOCK_ROWS
        total = sum(float(np.square(Y[start : start + rows], dtype=np.float64).sum())
                    for start in range(0, Y.shape[0], rows))  # fmt: skip
        return total / Y.size


def standardization(mean, variance, fit_intercept, dtype):
    """(shift, scale) of z = (x - shift) * scale from column moments: centred
    when fitting an intercept (else b = 0 in the original units would move),
    scaled to unit variance. Constant columns keep scale 1: their z is 0
    (centred) and their coefficient never moves."""
    std = np.sqrt(variance)
    scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 1.0).astype(dtype)
    shift = (mean if fit_intercept else np.zeros_like(mean)).astype(dtype)
    return shift, scale


def prepare(source, *, sample_weight=None, standardize=False, fit_intercept=True,
            validation_fraction=None, random_state=None, statistics=None):  # fmt: skip
    """Check sample_weight and derive a :class:`Data` from ``source``.

    ``statistics`` (mean, variance) reuses a standardization computed earlier
    (partial_fit, warm_start); otherwise it is computed when ``standardize`` asks
    for it. Without an intercept the features are scaled but not centred, so that
    the model keeps b = 0 in the original units.
    """
    y = source.targets
    m, n = source.shape
    dtype = source.dtype
    weights = original_weight = check_sample_weight(sample_weight, m, dtype)
    weighted = sample_weight is not None
    train_rows = np.arange(m, dtype=np.int64)
    validation_rows = validation_sst = None
    if validation_fraction is not None:
        n_validation = int(np.ceil(validation_fraction * m))
        if n_validation < 1 or m - n_validation < 1:
            raise ValueError(
                f"validation_fraction={validation_fraction} leaves no training or no "
                f"validation samples out of {m}; use more samples or turn "
                "early_stopping off."
            )
        permutation = check_random_state(random_state).permutation(m)
        validation_rows = np.sort(permutation[:n_validation]).astype(np.int64)
        train_rows = np.sort(permutation[n_validation:]).astype(np.int64)
        weights = np.broadcast_to(weights, (m,)).copy()
        weights[validation_rows] = 0
        validation_sst = _total_sum_of_squares(y, original_weight, validation_rows)
    if weights.shape[0] == 1:
        train_weight = float(weights[0]) * len(train_rows)
    else:
        train_weight = float(np.sum(weights[train_rows], dtype=np.float64))
    if train_weight <= 0:
        raise ValueError("sample_weight sums to 0 over the training samples.")
    mean = variance = None
    if statistics is not None:
        mean, variance = statistics
    elif standardize:
        mean, variance = source.column_moments(weights)
    shift = np.zeros(n, dtype=dtype)
    scale = np.ones(n, dtype=dtype)
    if standardize:
        shift, scale = standardization(mean, variance, fit_intercept, dtype)
    for array in (shift, scale):
        array.flags.writeable = False
    return Data(
        source=source, sample_weight=weights, original_weight=original_weight,
        weighted=weighted, train_rows=train_rows, validation_rows=validation_rows,
        validation_sst=validation_sst, train_weight=train_weight, shift=shift,
        scale=scale, standardized=bool(standardize), mean=mean, variance=variance,
    )  # fmt: skip


def _total_sum_of_squares(y, weights, rows):
    """Weighted sum of squares about the mean of y[rows], per output (for R^2)."""
    Y = y.reshape(y.shape[0], -1)[rows].astype(np.float64)
    w = np.broadcast_to(weights, (y.shape[0],))[rows].astype(np.float64)
    mean = np.average(Y, axis=0, weights=w)
    return np.sum(w[:, None] * (Y - mean) ** 2, axis=0)


def to_original_units(data, coef, intercept):
    """Coefficients in z units -> (coef, intercept) in the original units (float64).

    theta = scale * w and b = c - shift . theta.
    """
    scale = data.scale.astype(np.float64)
    scale = scale if coef.ndim == 1 else scale[:, None]
    theta = scale * coef.astype(np.float64)
    b = intercept.astype(np.float64) - data.shift.astype(np.float64) @ theta
    return theta, np.atleast_1d(b)


def to_z_units(data, coef, intercept):
    """Original-unit coefficients -> z units (inverse of :func:`to_original_units`)."""
    scale = data.scale.astype(np.float64)
    scale = scale if coef.ndim == 1 else scale[:, None]
    w = coef / scale
    c = intercept + data.shift.astype(np.float64) @ coef
    return w, c


# --------------------------------------------------------------------------- #
# eta0="auto"
# --------------------------------------------------------------------------- #

# Rows (at most) of the evenly spaced sample used to estimate curvature.
_AUTO_SAMPLE_ELEMENTS = 1_000_000
# Safety margin on the estimated largest eigenvalue (it comes from a sample).
_AUTO_MARGIN = 1.2


def sample_rows(data, min_rows=1000):
    """(Z, w): an evenly spaced sample of rows in z units and their weights
    normalized to sum to 1; at least ``min_rows`` rows (all when there are fewer)
    and otherwise a million stored elements. Z is what the source hands back
    (:meth:`~fastgd.sources.base.DataSource.standardized_rows`): a float64
    copy, or for a sparse source the rows' entries with the standardization
    implicit."""
    m = data.source.shape[0]
    by_elements = _AUTO_SAMPLE_ELEMENTS // data.source.row_elements
    n_rows = int(min(m, max(min_rows, by_elements)))
    n_rows = min(n_rows, max(data.source.max_sample_rows, min(min_rows, m)))
    cached = data.cache.get("sample")
    if cached is not None and cached[0] == n_rows:
        return cached[1]
    rows = np.unique(np.linspace(0, m - 1, n_rows).astype(np.int64))
    Z = data.source.standardized_rows(rows, data.shift, data.scale)
    w = np.broadcast_to(data.sample_weight, (m,))[rows].astype(np.float64)
    # eta0="auto" and the excess estimate read the same sample: drawn once.
    data.cache["sample"] = (n_rows, (Z, w / w.sum()))
    data.cache["sample_targets"] = data.y[rows]
    return data.cache["sample"][1]


def sample_targets(data):
    """The targets of the rows of the last :func:`sample_rows` (float64)."""
    return np.asarray(data.cache["sample_targets"], dtype=np.float64)


def curvature(data, fit_intercept, max_iter=100, rtol=1e-4):
    """(largest eigenvalue, mean squared row norm) of E[z z^T] in z units, with a
    column of ones when fitting an intercept (handled implicitly, not stacked);
    from at most a million elements of evenly spaced rows (one small float64 copy,
    :func:`sample_rows`) and power iteration."""
    key = ("curvature", fit_intercept, max_iter, rtol)
    if key not in data.cache:  # eta0="auto" and the row visits read it
        data.cache[key] = _power_iteration(data, fit_intercept, max_iter, rtol)
    return data.cache[key]


def _power_iteration(data, fit_intercept, max_iter, rtol):
    n = data.n_features
    Z, w = sample_rows(data)
    ones = 1.0 if fit_intercept else 0.0
    row_norm = float(w @ Z.squared_row_norms()) + ones
    vector = np.random.default_rng(0).normal(size=n + 1)
    vector[n] *= ones
    eigenvalue = 0.0
    for _ in range(max_iter):
        vector /= np.linalg.norm(vector)
        weighted = w * (Z.dot(vector[:n]) + ones * vector[n])
        product = np.append(Z.transpose_dot(weighted), ones * weighted.sum())
        previous, eigenvalue = eigenvalue, float(vector @ product)
        vector = product
        if abs(eigenvalue - previous) <= rtol * abs(eigenvalue):
            break
    return max(eigenvalue, np.finfo(np.float64).tiny), row_norm


def auto_step_size(data, batch_size, fit_intercept):
    """A stable step size from the data (eta0="auto").

    Our gradient is 2 E[z z^T] w + ..., so batch gradient descent is stable below
    1 / lambda_max and we take half of it: 1 / (2 lambda_max), with lambda_max
    estimated (times a 1.2 margin). A stochastic step of B rows adds the gradient
    noise, bounded by the mean squared row norm over B, so SGD (B = 1) and
    mini-batch take 1 / (2 (lambda_max + mean |z|^2 / B)). ``batch_size=None``
    means full batch.

    Batch and mini-batch steps divide by the weights' sum, so the scale of
    ``sample_weight`` does not matter to them. An SGD step is eta * w_i times the
    unweighted one (as in SGDRegressor): that is unweighted SGD on rows scaled by
    sqrt(w_i), whose curvature and mean squared row norm are mean(w) times the
    weighted ones, so SGD divides its step by the mean training weight.
    """
    eigenvalue, row_norm = curvature(data, fit_intercept)
    noise = 0.0 if batch_size is None else row_norm / batch_size
    step = 1.0 / (2.0 * (_AUTO_MARGIN * eigenvalue + noise))
    if batch_size == 1:
        step *= len(data.train_rows) / data.train_weight
    return step
