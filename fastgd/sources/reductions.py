"""Reductions over rows that several sources share: the Gram statistics, taken
in chunks of float64 rows about a shift so that large offsets do not cancel.

A leaf module: it imports no source, so every source (and the Dask chunk tasks)
can use it.

Why a shift: the centred products sum w (x - xbar)(x - xbar)^T are what the Gram
route needs. Forming sum w x x^T and subtracting W xbar xbar^T loses every digit
when a column's mean is 1e8 times its spread (a timestamp, a price in cents);
summing (x - s)(x - s)^T about any s near the mean, then correcting by the small
(xbar - s), loses none.
"""

from typing import NamedTuple

import numpy as np

from .. import _kernels, reference

# Rows per chunk when forming X^T X in float64 (float32 data, weights, a shift),
# and at most this many elements a chunk (32 MiB of float64: 8,192 rows up to
# 512 columns; 8,192 rows of 4,096 columns would be 256 MiB of temporaries).
GRAM_CHUNK_ROWS = 8192
GRAM_CHUNK_ELEMENTS = GRAM_CHUNK_ROWS * 512
# Elements a block of dense rows takes at a time for the row norms: about a
# MiB of float64 temporaries.
CHUNK_ELEMENTS = 1 << 17
# A column whose centred second moment is below this fraction of its raw one
# (a mean above about 1,000 standard deviations) has its centred products
# formed about a shift: subtracting the mean afterwards would cancel digits.
CANCELLATION_RATIO = 1e-6


class GramStatistics(NamedTuple):
    """Weighted, centred statistics of the Gram route (float64):
    ``covariance`` (n, n) = E[(x - xbar)(x - xbar)^T], ``cross_covariance``
    (n, k) = E[(x - xbar)(y - ybar)^T], ``x_mean`` (n,), ``y_mean`` (k,) and
    ``y_variance`` (k,), E over rows weighted by the sample weights."""

    covariance: np.ndarray
    cross_covariance: np.ndarray
    x_mean: np.ndarray
    y_mean: np.ndarray
    y_variance: np.ndarray


def row_chunks(X, Y, weights):
    """(X, Y, weights) in chunks of rows small enough to cast to float64."""
    block = max(1, min(GRAM_CHUNK_ROWS, GRAM_CHUNK_ELEMENTS // max(1, X.shape[1])))
    for start in range(0, X.shape[0], block):
        rows = slice(start, start + block)
        yield X[rows], Y[rows], weights[rows]


def squared_row_norms(X, shift, scale):
    """sum_j ((x_ij - shift_j) scale_j)^2 for each row of a dense ``X``, float64,
    in chunks of rows cast to float64 (the row norms in z units behind the
    stochastic solvers' row visits)."""
    norms = np.empty(X.shape[0])
    block = max(1, CHUNK_ELEMENTS // max(1, X.shape[1]))
    for start in range(0, X.shape[0], block):
        rows = slice(start, start + block)
        z = X[rows].astype(np.float64)
        z -= shift
        z *= scale
        norms[rows] = np.einsum("ij,ij->i", z, z)
    return norms


def centred_row_norms(Z, shift, scale):
    """|(z_i - shift) * scale|^2 for the rows of a SciPy CSR ``Z`` (shift and
    scale float64), in one compiled pass: no centred copy."""
    norms = np.empty(Z.shape[0])
    csr = (Z.data, unsigned(Z.indices), unsigned(Z.indptr))
    _kernels.centred_row_norms(csr, shift, scale, norms)
    return norms


def unsigned(array):
    """The same integers viewed as unsigned (they are >= 0): no copy."""
    return array.view(np.dtype(f"u{array.dtype.itemsize}"))


def merge_moments(parts, n):
    """Weighted (mean, variance) of n columns from parts (weight, mean, variance)
    (None for a part without weight), merged in order by Chan et al.'s pairwise
    update: no cancellation from E[x^2] - E[x]^2."""
    mean, m2, total = np.zeros(n), np.zeros(n), 0.0
    for part in parts:
        if part is None:
            continue
        weight, part_mean, part_variance = part
        delta = part_mean - mean
        combined = total + weight
        mean += delta * (weight / combined)
        m2 += part_variance * weight + delta**2 * (total * weight / combined)
        total = combined
    return mean, m2 / total


def gram_sums(chunks, shift):
    """The unnormalized Gram sums about ``shift`` = (s (n,), t (k,)) over
    ``chunks`` of (rows of X, rows of Y (rows, k), weights), each chunk cast to
    float64, shifted and weighted, accumulated in float64:
    (sum w (x-s)(x-s)^T, sum w (x-s)(y-t)^T, sum w (x-s), sum w (y-t),
    sum w (y-t)^2, sum w)."""
    x_shift, y_shift = shift
    n, k = len(x_shift), len(y_shift)
    gram = np.zeros((n, n))
    cross = np.zeros((n, k))
    x_sum, y_sum, y_square, total = np.zeros(n), np.zeros(k), np.zeros(k), 0.0
    for chunk, y_chunk, w in chunks:
        chunk = chunk.astype(np.float64) - x_shift
        y_chunk = y_chunk.astype(np.float64) - y_shift
        w = w.astype(np.float64)[:, None]
        weighted_chunk = chunk * w
        gram += weighted_chunk.T @ chunk
        cross += weighted_chunk.T @ y_chunk
        x_sum += weighted_chunk.sum(axis=0)
        y_sum += (w * y_chunk).sum(axis=0)
        y_square += (w * y_chunk**2).sum(axis=0)
        total += float(w.sum())
    return gram, cross, x_sum, y_sum, y_square, total


def centred_statistics(sums, shift):
    """:func:`gram_sums` about ``shift`` -> :class:`GramStatistics`: divided by
    the weights' sum and corrected from the shift to the mean (by the small
    mean of the shifted data, so nothing large cancels)."""
    gram, cross, x_sum, y_sum, y_square, total = sums
    x_offset, y_offset = x_sum / total, y_sum / total
    return GramStatistics(
        covariance=gram / total - np.outer(x_offset, x_offset),
        cross_covariance=cross / total - np.outer(x_offset, y_offset),
        x_mean=shift[0] + x_offset,
        y_mean=shift[1] + y_offset,
        y_variance=np.maximum(y_square / total - y_offset**2, 0.0),
    )


def weighted_gram(chunks, shift):
    """The :class:`GramStatistics` over ``chunks`` (see :func:`gram_sums`)."""
    return centred_statistics(gram_sums(chunks, shift), shift)


def cancelling_columns(raw_second_moment, covariance_diagonal):
    """The columns whose centred second moment ``covariance_diagonal`` is too
    small a part of the raw one to survive the subtraction of the mean
    (:data:`CANCELLATION_RATIO`): constant columns included, columns of zeros
    (exact either way) not."""
    return np.flatnonzero(
        (covariance_diagonal <= CANCELLATION_RATIO * raw_second_moment)
        & (raw_second_moment > 0)
    )


def recentre_columns(X, weights, x_mean, covariance, columns):
    """Overwrite the rows and columns ``columns`` of ``covariance`` (the
    weighted covariance of the sparse matrix X's columns, formed as
    E[x x^T] - xbar xbar^T) with products of those columns densified and centred
    by subtraction: exact where that subtraction cancelled. ``weights`` (m,)
    float64 sum to 1. Returns the weighted, centred dense columns
    w (x_J - xbar_J) (m, len(columns)) and their sums, for the cross products
    with y. O(nnz) per column; such columns are nearly dense anyway (a column
    mostly of zeros has a spread comparable to its mean)."""
    centred = X[:, columns].toarray().astype(np.float64) - x_mean[columns]
    weighted = centred * weights[:, None]
    offset = weighted.sum(axis=0)
    products = np.asarray(X.T @ weighted).T - np.outer(offset, x_mean)
    covariance[columns, :] = products
    covariance[:, columns] = products.T
    covariance[np.ix_(columns, columns)] = centred.T @ weighted - np.outer(
        offset, offset
    )
    return weighted, offset


def sparse_covariance(X, weights):
    """(covariance (n, n), mean (n,)) of the columns of the CSR matrix X under
    ``weights`` (m,) summing to 1, float64, dense: E[x x^T] - xbar xbar^T, then
    :func:`recentre_columns` where that cancels."""
    mean = np.asarray(X.T @ weights).ravel()
    raw = np.asarray((X.T @ X.multiply(weights[:, None]).tocsr()).todense())
    covariance = raw - np.outer(mean, mean)
    columns = cancelling_columns(np.diag(raw), np.diag(covariance))
    if len(columns):
        recentre_columns(X, weights, mean, covariance, columns)
    return covariance, mean


def unit_gradient(X, y, weights, weight_total, coef, intercept, impl, loss=None):
    """(gradient, intercept gradient, loss) of one unit's rows, each a share of
    the whole fit's weighted mean (divided by ``weight_total``); ``loss`` the
    kernels' (None: squared)."""
    n = X.shape[1]
    if impl != "compiled":
        twin = getattr(reference, f"batch_gradient_{impl}")
        unit_weight = float(np.sum(np.broadcast_to(weights, (X.shape[0],)),
                                   dtype=np.float64))  # fmt: skip
        if unit_weight <= 0:
            return 0.0, 0.0, 0.0
        grad, grad_b, value = twin(X, y, coef, intercept, weights, loss)
        share = unit_weight / weight_total
        return (np.asarray(grad) * share, np.atleast_1d(grad_b) * share,
                float(value) * share)  # fmt: skip
    blocks = _kernels.n_gradient_blocks(X.shape[0])
    if y.ndim == 1:
        grad = np.empty(n)
        partial = np.empty((blocks, n + 2))
        value, grad_b = _kernels.batch_gradient(
            X, y, weights, weight_total, coef.astype(X.dtype, copy=False), intercept,
            loss, grad, partial,
        )  # fmt: skip
        return grad, grad_b, value
    grad, grad_b = np.empty((n, y.shape[1])), np.empty(y.shape[1])
    partial = np.empty((blocks, n + 3, y.shape[1]))
    value = _kernels.batch_gradient_multi(X, y, weights, weight_total, coef,
                                          intercept, loss, grad, grad_b,
                                          partial)  # fmt: skip
    return grad, grad_b, value
