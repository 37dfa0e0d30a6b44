"""Streaming passes: kernels that read X once, in row order, on every thread.

The fused batch gradient, the column moments of the standardization, the cross
products of the Gram strategy, the loss on a set of rows, and the bandwidth probe.
Rows are split into fixed blocks (:func:`fastgd._kernels.memory.n_gradient_blocks`,
from m alone) whose float64 sums are reduced in block order, so no result depends
on the number of threads.
"""

import numpy as np
from numba import prange

from .config import jit as _jit
from .memory import prefetch_l1, stream_prefetch_rows
from .parallel import blocks_in_last_argument, parallel_kernel
from .steps import half_slope, weighted_loss


@_jit()
def _row_dot(X, i, coef):
    """X[i] . coef for rows of at least one element, summed in the promoted dtype
    of X and coef (float32 . float32 in float32, anything with float64 in float64).

    Kernels index ``X[i, j]`` rather than take a view ``X[i]``: numba counts the
    references of every view, and the increment and decrement per row are two
    atomic (locked) instructions that fence the loads of the next rows (removing
    them: SGD epoch at 1,000,000 x 100 float32 68.5 -> 60.8 ms, docs/performance.md).
    """
    total = X[i, 0] * coef[0]
    for j in range(1, X.shape[1]):
        total += X[i, j] * coef[j]
    return total


@parallel_kernel(blocks_in_last_argument)
def batch_gradient(
    X, y, sample_weight, weight_total, coef, intercept, loss, grad_coef, partial
):
    """Fused weighted batch gradient and loss for one output; returns (loss, dJ/db).

    With r_i = x_i.coef + b - y_i and weights w_i summing to W: grad =
    (2/W) sum_i w_i r_i x_i, dJ/db = (2/W) sum_i w_i r_i, loss = sum_i w_i r_i^2 / W
    for the squared loss (``loss`` None); for another ([kind, parameter]), r_i^2
    becomes loss(r_i) and r_i half its slope.
    Each row's residual is added into the gradient while the row is in cache: X is
    read once. Rows are split into ``partial.shape[0]`` fixed blocks (parallel); the
    float64 block sums in ``partial`` (n_blocks, n + 2) are reduced in block order, so
    the result does not depend on the number of threads. ``sample_weight`` has one
    value per row, or a single value for uniform weights. The row dot product runs
    in the dtype of X and ``coef`` together (float32 only when both are: 1.13x
    faster at 1,000,000 x 100); everything after it in float64.
    """
    m, n = X.shape
    n_blocks = partial.shape[0]
    uniform = sample_weight.shape[0] == 1
    ahead = stream_prefetch_rows(X)
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        acc = partial[block]
        acc[:] = 0.0
        for i in range(start, stop):
            if ahead > 0 and i + ahead < stop:
                prefetch_l1(X, i + ahead)
            r = np.float64(_row_dot(X, i, coef)) + (intercept[0] - np.float64(y[i]))
            weight = sample_weight[0] if uniform else sample_weight[i]
            weighted = half_slope(loss, r, y[i]) * weight
            for j in range(n):
                acc[j] += weighted * X[i, j]
            acc[n] += weighted
            acc[n + 1] += weighted_loss(loss, weight, r, y[i])
    scale = 2.0 / weight_total
    for j in range(n):
        total = 0.0
        for block in range(n_blocks):
            total += partial[block, j]
        grad_coef[j] = scale * total
    residual_sum = 0.0
    squares = 0.0
    for block in range(n_blocks):
        residual_sum += partial[block, n]
        squares += partial[block, n + 1]
    return squares / weight_total, scale * residual_sum


@parallel_kernel(blocks_in_last_argument)
def batch_gradient_multi(
    X, Y, sample_weight, weight_total, coef, intercept, loss, grad_coef,
    grad_intercept, partial,
):  # fmt: skip
    """Fused weighted batch gradient and loss for k outputs; returns the loss.

    As :func:`batch_gradient` with ``Y`` (m, k), ``coef`` (n, k), ``intercept`` (k,),
    gradients written into ``grad_coef`` (n, k) and ``grad_intercept`` (k,), and
    ``partial`` (n_blocks, n + 3, k) float64: rows 0..n-1 gradient sums, n residual
    sums, n + 1 squared residuals, n + 2 the current row's residuals. The loss is the
    mean over outputs.
    """
    m, n = X.shape
    k = Y.shape[1]
    n_blocks = partial.shape[0]
    uniform = sample_weight.shape[0] == 1
    ahead = stream_prefetch_rows(X)
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        acc = partial[block]
        acc[:] = 0.0
        r = acc[n + 2]
        for i in range(start, stop):
            if ahead > 0 and i + ahead < stop:
                prefetch_l1(X, i + ahead)
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            for c in range(k):
                r[c] = intercept[c] - np.float64(Y[i, c])
            for j in range(n):
                for c in range(k):
                    r[c] += X[i, j] * coef[j, c]
            for c in range(k):
                acc[n + 1, c] += weighted_loss(loss, weight, r[c], Y[i, c])
                r[c] = half_slope(loss, r[c], Y[i, c]) * weight
                acc[n, c] += r[c]
            for j in range(n):
                for c in range(k):
                    acc[j, c] += r[c] * X[i, j]
    scale = 2.0 / weight_total
    squares = 0.0
    for c in range(k):
        for j in range(n + 1):
            total = 0.0
            for block in range(n_blocks):
                total += partial[block, j, c]
            if j < n:
                grad_coef[j, c] = scale * total
            else:
                grad_intercept[c] = scale * total
        for block in range(n_blocks):
            squares += partial[block, n + 1, c]
    return squares / (weight_total * k)


@_jit()
def rows_loss(X, Y, sample_weight, rows, coef, intercept, squares):
    """Weighted sums of squared residuals over ``rows`` (for a validation split:
    R^2, whatever the loss of the fit).

    ``Y`` (m, k), ``coef`` (n, k) and ``intercept`` (k,) in the original units
    (float64). Writes sum_i w_i r_ic^2 into ``squares`` (k,) and returns sum_i w_i.
    """
    n = X.shape[1]
    k = Y.shape[1]
    uniform = sample_weight.shape[0] == 1
    squares[:] = 0.0
    weights = 0.0
    for i in rows:
        weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
        for c in range(k):
            r = intercept[c] - np.float64(Y[i, c])
            for j in range(n):
                r += X[i, j] * coef[j, c]
            squares[c] += weight * r * r
        weights += weight
    return weights


@parallel_kernel(blocks_in_last_argument)
def column_moments(X, sample_weight, mean, variance, partial):
    """Weighted mean and variance of every column of X in one parallel pass.

    Sums are taken of x - x_0 (x_0 the first row) in float64, which keeps the
    variance accurate when a column's mean is large next to its spread. ``partial``
    (n_blocks, 2n + 1) float64 holds block sums, reduced in block order. Results go
    into ``mean`` and ``variance`` (n,) float64.
    """
    m, n = X.shape
    n_blocks = partial.shape[0]
    uniform = sample_weight.shape[0] == 1
    first = X[0]
    ahead = stream_prefetch_rows(X)
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        acc = partial[block]
        acc[:] = 0.0
        for i in range(start, stop):
            if ahead > 0 and i + ahead < stop:
                prefetch_l1(X, i + ahead)
            weight = np.float64(sample_weight[0] if uniform else sample_weight[i])
            for j in range(n):
                d = np.float64(X[i, j]) - first[j]
                acc[j] += weight * d
                acc[n + j] += weight * d * d
            acc[2 * n] += weight
    total_weight = 0.0
    for block in range(n_blocks):
        total_weight += partial[block, 2 * n]
    for j in range(n):
        first_moment = 0.0
        second_moment = 0.0
        for block in range(n_blocks):
            first_moment += partial[block, j]
            second_moment += partial[block, n + j]
        first_moment /= total_weight
        mean[j] = first[j] + first_moment
        variance[j] = max(second_moment / total_weight - first_moment**2, 0.0)
    return total_weight


@parallel_kernel(blocks_in_last_argument)
def cross_products(X, Y, partial):
    """X^T Y and the column sums of X in one parallel pass (for the Gram strategy).

    ``Y`` (m, k); ``partial`` (n_blocks, k + 1, n) float64 receives, per fixed
    block of rows, sum_i Y_ic x_i in row c < k and sum_i x_i in row k; summing it
    over blocks (in block order) gives X^T Y and X^T 1. Reading X once here instead
    of BLAS's X^T [Y, 1] saved about half of that call at 1,000,000 x 100.
    """
    m, n = X.shape
    k = Y.shape[1]
    n_blocks = partial.shape[0]
    ahead = stream_prefetch_rows(X)
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        acc = partial[block]
        acc[:] = 0.0
        for i in range(start, stop):
            if ahead > 0 and i + ahead < stop:
                prefetch_l1(X, i + ahead)
            for c in range(k):
                target = np.float64(Y[i, c])
                for j in range(n):
                    acc[c, j] += target * X[i, j]
            for j in range(n):
                acc[k, j] += X[i, j]


@parallel_kernel(lambda partial, steps: True)
def spin_threads(partial, steps):
    """Keeps every thread busy for ``steps`` dependent multiply-adds (about 0.1 ms
    for 50,000): the benchmark harness wakes idle cores with it before timing."""
    for thread in prange(partial.shape[0]):
        x = partial[thread]
        for _ in range(steps):
            x = x * 0.999 + 1.0
        partial[thread] = x


@parallel_kernel(blocks_in_last_argument)
def streaming_read(X, partial):
    """Sum of every element of X in one streaming pass: the memory-bandwidth limit.

    ``partial`` (n_blocks,) float64 holds per-block sums, reduced in block order.
    """
    m, n = X.shape
    n_blocks = partial.shape[0]
    ahead = stream_prefetch_rows(X)
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        total = 0.0
        for i in range(start, stop):
            if ahead > 0 and i + ahead < stop:
                prefetch_l1(X, i + ahead)
            for j in range(n):
                total += X[i, j]
        partial[block] = total
    total = 0.0
    for block in range(n_blocks):
        total += partial[block]
    return total
