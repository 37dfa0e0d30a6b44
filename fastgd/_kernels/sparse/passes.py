"""Streaming passes over a CSR matrix: the fused gradient, the column moments,
the loss on a set of rows, and the Gram sums. Sums over rows are float64, per
fixed block of rows (``bounds``, from the data alone), reduced in block order:
no result depends on the number of threads."""

import numpy as np
from numba import prange

from ..config import jit as _jit
from ..parallel import blocks_in_last_argument, parallel_kernel
from ..steps import half_slope, weighted_loss


@_jit()
def _gradient_block(csr, Y, sample_weight, coef, intercept, loss, acc, start, stop):
    """Rows start..stop-1 of the fused gradient: acc[j, c] += w r_c x_ij,
    acc[n, c] += w r_c; returns sum w r^2 (all outputs). For a ``loss`` other
    than the squared (None), r_c is half its slope and r^2 its value."""
    data, indices, indptr = csr
    n, k = coef.shape
    uniform = sample_weight.shape[0] == 1
    acc[:] = 0.0
    squares = 0.0
    if k == 1:  # the common case: 1-D views, no loops over outputs
        theta = coef.reshape(n)
        sums = acc.reshape(n + 1)
        y = Y.reshape(Y.shape[0])
        b = np.float64(intercept[0])
        residual_sum = 0.0
        for i in range(start, stop):
            r = b - np.float64(y[i])
            for p in range(indptr[i], indptr[i + 1]):
                r += np.float64(data[p]) * theta[indices[p]]
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            weighted = half_slope(loss, r, y[i]) * weight
            squares += weighted_loss(loss, weight, r, y[i])
            residual_sum += weighted
            for p in range(indptr[i], indptr[i + 1]):
                sums[indices[p]] += weighted * np.float64(data[p])
        sums[n] = residual_sum
        return squares
    residual = np.empty(k)
    for i in range(start, stop):
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        for c in range(k):
            residual[c] = np.float64(intercept[c]) - np.float64(Y[i, c])
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p])
            for c in range(k):
                residual[c] += x * coef[indices[p], c]
        for c in range(k):
            r = residual[c]
            squares += weighted_loss(loss, weight, r, Y[i, c])
            residual[c] = weight * half_slope(loss, r, Y[i, c])
            acc[n, c] += residual[c]
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p])
            for c in range(k):
                acc[indices[p], c] += residual[c] * x
    return squares


@parallel_kernel(blocks_in_last_argument)
def sparse_gradient(csr, Y, sample_weight, weight_total, coef, intercept, loss,
                    grad, grad_b, bounds, squares, partial):  # fmt: skip
    """Fused weighted batch gradient and loss in the original units; returns the
    loss. One pass over data and indices: each row's residuals
    r_c = x_i . coef[:, c] + b_c - y_ic, then w_i r_c x_i added into the block's
    sums while the row is in cache. grad (n, k) = (2/W) sum w r x,
    grad_b (k,) = (2/W) sum w r, loss = sum w r^2 / (W k); for another ``loss``
    than the squared (None), r is half its slope and r^2 its value.

    ``partial`` (n_blocks, n + 1, k) and ``squares`` (n_blocks,) hold the
    float64 sums of the rows bounds[b]..bounds[b + 1]-1, reduced in block order.
    """
    n, k = coef.shape
    n_blocks = partial.shape[0]
    for block in prange(n_blocks):
        squares[block] = _gradient_block(csr, Y, sample_weight, coef, intercept,
                                         loss, partial[block], bounds[block],
                                         bounds[block + 1])  # fmt: skip
    scale = 2.0 / weight_total
    for j in range(n + 1):
        for c in range(k):
            total = 0.0
            for block in range(n_blocks):
                total += partial[block, j, c]
            if j < n:
                grad[j, c] = scale * total
            else:
                grad_b[c] = scale * total
    total = 0.0
    for block in range(n_blocks):
        total += squares[block]
    return total / (weight_total * k)


@parallel_kernel(blocks_in_last_argument)
def sparse_column_moments(csr, sample_weight, weight_total, mean, variance, bounds,
                          partial):  # fmt: skip
    """Weighted mean and variance of every column, zeros included (float64);
    ``partial`` (n_blocks, 2, n) holds the block sums of w x and w x^2."""
    data, indices, indptr = csr
    n = mean.shape[0]
    n_blocks = partial.shape[0]
    uniform = sample_weight.shape[0] == 1
    for block in prange(n_blocks):
        acc = partial[block]
        acc[:] = 0.0
        for i in range(bounds[block], bounds[block + 1]):
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            for p in range(indptr[i], indptr[i + 1]):
                x = np.float64(data[p])
                acc[0, indices[p]] += weight * x
                acc[1, indices[p]] += weight * x * x
    for j in range(n):
        first = 0.0
        second = 0.0
        for block in range(n_blocks):
            first += partial[block, 0, j]
            second += partial[block, 1, j]
        mean[j] = first / weight_total
        variance[j] = max(second / weight_total - mean[j] * mean[j], 0.0)


@_jit()
def sparse_rows_loss(csr, Y, sample_weight, rows, coef, intercept, squares):
    """squares[c] = sum over ``rows`` of w_i r_ic^2 (original units, float64
    ``coef`` (n, k)); returns the rows' total weight."""
    data, indices, indptr = csr
    k = coef.shape[1]
    uniform = sample_weight.shape[0] == 1
    residual = np.empty(k)
    squares[:] = 0.0
    total = 0.0
    for i in rows:
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        for c in range(k):
            residual[c] = intercept[c] - np.float64(Y[i, c])
        for p in range(indptr[i], indptr[i + 1]):
            x = np.float64(data[p])
            for c in range(k):
                residual[c] += x * coef[indices[p], c]
        for c in range(k):
            squares[c] += weight * residual[c] * residual[c]
        total += weight
    return total


@_jit()
def sparse_gram(csr, Y, sample_weight, gram, cross, x_sum, y_moments):
    """Weighted X^T X (only its upper triangle written, j <= l by column index),
    X^T Y, column sums, and in ``y_moments`` (2, k) the sums of w y and w y^2;
    returns the total weight. O(sum of nnz_i^2): for rows with few entries."""
    data, indices, indptr = csr
    k = Y.shape[1]
    uniform = sample_weight.shape[0] == 1
    total = 0.0
    for i in range(indptr.shape[0] - 1):
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        total += weight
        for c in range(k):
            target = np.float64(Y[i, c])
            y_moments[0, c] += weight * target
            y_moments[1, c] += weight * target * target
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            wx = weight * np.float64(data[p])
            x_sum[j] += wx
            for c in range(k):
                cross[j, c] += wx * Y[i, c]
            for q in range(indptr[i], indptr[i + 1]):
                col = indices[q]
                if col >= j:
                    gram[j, col] += wx * np.float64(data[q])
    return total
