"""Compiled kernels: the only module of fastgd that imports numba.

Every kernel is small and dumb: it takes arrays and scalars, updates in place and
returns a scalar. Validation, dtype handling, allocation and the epoch loop live in
:mod:`fastgd.solvers`. One kernel call is one epoch (SGD, mini-batch) or one full
gradient (batch), so Python overhead is noise next to the O(m*n) work.

Conventions shared by all kernels
---------------------------------
* ``X`` is a C-contiguous (m, n) array, float32 or float64, passed read-only, so the
  compiler itself guarantees that no kernel writes into the caller's data.
* The intercept is a separate array of shape (1,) (or (k,) for k outputs): X never
  gets a column of ones.
* ``order`` is an int64 index array that the epoch kernels shuffle in place; after
  the call it holds the order the epoch used, so it can be replayed.
* ``etas`` holds one step size per update, or a single value for a constant step.
* Sums over samples are accumulated in float64 whatever the dtype of X.
"""

import warnings

import numba
import numpy as np
from numba import prange

# Deliberate fastmath subset: "reassoc" lets LLVM vectorize dot products and
# "contract" allows FMA. The flags that assume no NaN/inf ("nnan", "ninf") are left
# out on purpose: they would delete the divergence checks below.
FASTMATH_FLAGS = frozenset({"reassoc", "contract"})

_CACHE_WARNING_SHOWN = False


def _jit(parallel=False):
    """``numba.njit`` with fastgd's options, caching to disk when it can.

    When no cache directory is writable numba refuses ``cache=True`` at decoration
    time; the kernel is then compiled without a cache and a single warning says so.
    """

    def decorate(func):
        global _CACHE_WARNING_SHOWN
        options = dict(nogil=True, fastmath=set(FASTMATH_FLAGS), parallel=parallel)
        try:
            return numba.njit(cache=True, **options)(func)
        except RuntimeError as exc:  # numba: "cannot cache function ...: no locator"
            if not _CACHE_WARNING_SHOWN:
                warnings.warn(
                    f"fastgd cannot cache its compiled kernels ({exc}); they will be "
                    "recompiled in every process. Set NUMBA_CACHE_DIR to a writable "
                    "directory to keep them.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                _CACHE_WARNING_SHOWN = True
            return numba.njit(cache=False, **options)(func)

    return decorate


JIT_DISABLED = bool(numba.config.DISABLE_JIT)
NUMBA_VERSION = numba.__version__


def get_num_threads():
    """Number of threads the parallel kernels use."""
    return numba.get_num_threads()


def set_num_threads(n):
    """Set the number of threads the parallel kernels use (at most the maximum)."""
    numba.set_num_threads(int(n))


def max_threads():
    """The most threads numba can use in this process."""
    return numba.config.NUMBA_NUM_THREADS


def compiled_signatures(kernel):
    """Type signatures a kernel was compiled for ([] when the JIT is disabled)."""
    return list(getattr(kernel, "signatures", []))


# --------------------------------------------------------------------------- #
# Random numbers and shuffling
# --------------------------------------------------------------------------- #


@_jit()
def _next_random(rng_state):
    """xorshift64 step: returns 64 random bits and advances ``rng_state[0]``.

    Shifts and xors only: no multiplication overflow, so the same code runs (and
    gives the same numbers) with the JIT disabled.
    """
    s = rng_state[0]
    s ^= s << np.uint64(13)
    s ^= s >> np.uint64(7)
    s ^= s << np.uint64(17)
    rng_state[0] = s
    return s


@_jit()
def shuffle(order, rng_state):
    """Fisher-Yates shuffle of ``order`` in place, drawing from ``rng_state``.

    The draw in [0, i] maps the high 32 random bits by multiply-shift (Lemire), which
    avoids a division per element.
    """
    for i in range(order.shape[0] - 1, 0, -1):
        high = _next_random(rng_state) >> np.uint64(32)
        j = np.int64((high * np.uint64(i + 1)) >> np.uint64(32))
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp


# --------------------------------------------------------------------------- #
# Batch gradient: one fused pass over X
# --------------------------------------------------------------------------- #


@_jit(parallel=True)
def batch_gradient(X, y, coef, intercept, grad_coef, partial):
    """Fused batch gradient and loss for one output; returns (loss, d loss / d b).

    For every row r_i = x_i.coef + b - y_i is computed and, while x_i is still in
    cache, added into the gradient sum (2/m) sum_i r_i x_i: X is read once. Rows are
    split into ``partial.shape[0]`` fixed blocks (parallel); block sums, kept in
    ``partial`` (n_blocks, n + 2) float64, are reduced in block order, so the result
    does not depend on the number of threads.
    """
    m, n = X.shape
    n_blocks = partial.shape[0]
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        acc = partial[block]
        acc[:] = 0.0
        for i in range(start, stop):
            row = X[i]
            r = intercept[0] - np.float64(y[i])
            for j in range(n):
                r += row[j] * coef[j]
            for j in range(n):
                acc[j] += r * row[j]
            acc[n] += r
            acc[n + 1] += r * r
    scale = 2.0 / m
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
    return squares / m, scale * residual_sum


@_jit(parallel=True)
def batch_gradient_multi(X, Y, coef, intercept, grad_coef, grad_intercept, partial):
    """Fused batch gradient and loss for k outputs; returns the mean loss.

    ``Y`` (m, k), ``coef`` (n, k), ``intercept`` (k,), gradients written into
    ``grad_coef`` (n, k) and ``grad_intercept`` (k,). ``partial`` is
    (n_blocks, n + 3, k) float64: rows 0..n-1 gradient sums, n residual sums,
    n + 1 squared residuals, n + 2 the current row's residuals. The loss is the mean
    over samples and outputs.
    """
    m, n = X.shape
    k = Y.shape[1]
    n_blocks = partial.shape[0]
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        acc = partial[block]
        acc[:] = 0.0
        r = acc[n + 2]
        for i in range(start, stop):
            row = X[i]
            for c in range(k):
                r[c] = intercept[c] - np.float64(Y[i, c])
            for j in range(n):
                for c in range(k):
                    r[c] += row[j] * coef[j, c]
            for j in range(n):
                for c in range(k):
                    acc[j, c] += r[c] * row[j]
            for c in range(k):
                acc[n, c] += r[c]
                acc[n + 1, c] += r[c] * r[c]
    scale = 2.0 / m
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
    return squares / (m * k)


# --------------------------------------------------------------------------- #
# Stochastic gradient descent: one epoch per call
# --------------------------------------------------------------------------- #


@_jit()
def sgd_epoch(X, y, coef, intercept, order, rng_state, etas, do_shuffle, fit_intercept):
    """One SGD epoch for one output; returns the sum of squared residuals.

    Shuffles ``order`` (if asked), then for each i in that order, with step eta_t:
    r = x_i.coef + b - y_i; coef -= eta_t * 2 r x_i; b -= eta_t * 2 r.
    The residual is taken before the update, so the returned sum / m is the epoch's
    mean training loss at no extra cost. Stops early (returning a non-finite sum)
    as soon as a residual is not finite.
    """
    if do_shuffle:
        shuffle(order, rng_state)
    n = X.shape[1]
    constant_step = etas.shape[0] == 1
    loss = 0.0
    for t in range(order.shape[0]):
        eta = etas[0] if constant_step else etas[t]
        row = X[order[t]]
        r = intercept[0] - y[order[t]]
        for j in range(n):
            r += row[j] * coef[j]
        loss += np.float64(r) * np.float64(r)
        if not np.isfinite(r):
            return loss
        step = eta * (r + r)
        for j in range(n):
            coef[j] -= step * row[j]
        if fit_intercept:
            intercept[0] -= step
    return loss


@_jit()
def sgd_epoch_multi(
    X, Y, coef, intercept, order, rng_state, etas, do_shuffle, fit_intercept, residual
):
    """One SGD epoch for k outputs; returns the sum of squared residuals.

    As :func:`sgd_epoch` with ``Y`` (m, k), ``coef`` (n, k), ``intercept`` (k,) and
    a scratch ``residual`` (k,) of X's dtype.
    """
    if do_shuffle:
        shuffle(order, rng_state)
    n = X.shape[1]
    k = Y.shape[1]
    constant_step = etas.shape[0] == 1
    loss = 0.0
    for t in range(order.shape[0]):
        eta = etas[0] if constant_step else etas[t]
        i = order[t]
        row = X[i]
        for c in range(k):
            residual[c] = intercept[c] - Y[i, c]
        for j in range(n):
            for c in range(k):
                residual[c] += row[j] * coef[j, c]
        for c in range(k):
            r = residual[c]
            loss += np.float64(r) * np.float64(r)
            if not np.isfinite(r):
                return loss
            residual[c] = eta * (r + r)
        for j in range(n):
            for c in range(k):
                coef[j, c] -= residual[c] * row[j]
        if fit_intercept:
            for c in range(k):
                intercept[c] -= residual[c]
    return loss


# --------------------------------------------------------------------------- #
# Mini-batch gradient descent: one epoch per call
# --------------------------------------------------------------------------- #


@_jit()
def minibatch_epoch(
    X, y, coef, intercept, order, rng_state, etas, batch_size, do_shuffle,
    fit_intercept, residual, grad,
):  # fmt: skip
    """One mini-batch epoch for one output; returns the sum of squared residuals.

    Shuffles ``order``, then takes consecutive groups of B = ``batch_size`` indices
    (the last group may be shorter and is used, not dropped) and per group, with
    step eta_t: coef -= eta_t * (2/B) X_B^T r_B; b -= eta_t * (2/B) sum r_B.
    ``residual`` (batch_size,) of X's dtype and ``grad`` (n,) float64 are scratch.
    """
    if do_shuffle:
        shuffle(order, rng_state)
    m, n = X.shape
    constant_step = etas.shape[0] == 1
    loss = 0.0
    n_batches = (m + batch_size - 1) // batch_size
    for t in range(n_batches):
        eta = etas[0] if constant_step else etas[t]
        start = t * batch_size
        size = min(batch_size, m - start)
        residual_sum = 0.0
        for s in range(size):
            i = order[start + s]
            row = X[i]
            r = intercept[0] - y[i]
            for j in range(n):
                r += row[j] * coef[j]
            loss += np.float64(r) * np.float64(r)
            if not np.isfinite(r):
                return loss
            residual[s] = r
            residual_sum += r
        grad[:] = 0.0
        for s in range(size):
            row = X[order[start + s]]
            r = np.float64(residual[s])
            for j in range(n):
                grad[j] += r * row[j]
        scale = 2.0 * eta / size
        for j in range(n):
            coef[j] -= scale * grad[j]
        if fit_intercept:
            intercept[0] -= scale * residual_sum
    return loss


@_jit()
def minibatch_epoch_multi(
    X, Y, coef, intercept, order, rng_state, etas, batch_size, do_shuffle,
    fit_intercept, residual, grad,
):  # fmt: skip
    """One mini-batch epoch for k outputs; returns the sum of squared residuals.

    As :func:`minibatch_epoch` with ``Y`` (m, k), ``coef`` (n, k), ``intercept``
    (k,), scratch ``residual`` (batch_size, k) of X's dtype and ``grad`` (n + 1, k)
    float64 (the last row sums the residuals for the intercept).
    """
    if do_shuffle:
        shuffle(order, rng_state)
    m, n = X.shape
    k = Y.shape[1]
    constant_step = etas.shape[0] == 1
    loss = 0.0
    n_batches = (m + batch_size - 1) // batch_size
    for t in range(n_batches):
        eta = etas[0] if constant_step else etas[t]
        start = t * batch_size
        size = min(batch_size, m - start)
        grad[:] = 0.0
        for s in range(size):
            i = order[start + s]
            row = X[i]
            r = residual[s]
            for c in range(k):
                r[c] = intercept[c] - Y[i, c]
            for j in range(n):
                for c in range(k):
                    r[c] += row[j] * coef[j, c]
            for c in range(k):
                loss += np.float64(r[c]) * np.float64(r[c])
                if not np.isfinite(r[c]):
                    return loss
                grad[n, c] += r[c]
        for s in range(size):
            row = X[order[start + s]]
            r = residual[s]
            for j in range(n):
                for c in range(k):
                    grad[j, c] += np.float64(r[c]) * row[j]
        scale = 2.0 * eta / size
        for j in range(n):
            for c in range(k):
                coef[j, c] -= scale * grad[j, c]
        if fit_intercept:
            for c in range(k):
                intercept[c] -= scale * grad[n, c]
    return loss


# --------------------------------------------------------------------------- #
# Helpers for the benchmark harness
# --------------------------------------------------------------------------- #


@_jit(parallel=True)
def streaming_read(X, partial):
    """Sum of every element of X in one streaming pass: the memory-bandwidth limit.

    ``partial`` (n_blocks,) float64 holds per-block sums, reduced in block order.
    """
    m, n = X.shape
    n_blocks = partial.shape[0]
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        total = 0.0
        for i in range(start, stop):
            row = X[i]
            for j in range(n):
                total += row[j]
        partial[block] = total
    total = 0.0
    for block in range(n_blocks):
        total += partial[block]
    return total
