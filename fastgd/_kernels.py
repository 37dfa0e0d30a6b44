"""Compiled kernels: the only module of fastgd that imports numba.

Every kernel is small and dumb: it takes arrays and scalars, updates in place and
returns a scalar. Validation, dtype handling, allocation and the epoch loop live in
:mod:`fastgd._training`. One kernel call is one epoch (SGD, mini-batch) or one full
gradient (batch), so Python overhead is noise next to the O(m*n) work.

The kernels stay in this one file on purpose: numba's disk cache of a function is
invalidated only when *its own* source file changes, so a kernel calling a helper
that lives in another file would keep running stale machine code after that helper
is edited.

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
* Loops index ``X[i, j]``; no kernel takes a row view ``X[i]`` per row (numba
  reference-counts views with locked instructions, see :func:`_row_dot`).
"""

import warnings

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

# Deliberate fastmath subset: "reassoc" lets LLVM vectorize dot products and
# "contract" allows FMA. The flags that assume no NaN/inf ("nnan", "ninf") are left
# out on purpose: they would delete the divergence checks below.
FASTMATH_FLAGS = frozenset({"reassoc", "contract"})

_CACHE_WARNING_SHOWN = False


def _jit(parallel=False, inline=False):
    """``numba.njit`` with fastgd's options, caching to disk when it can.

    When no cache directory is writable numba refuses ``cache=True`` at decoration
    time; the kernel is then compiled without a cache and a single warning says so.
    ``inline=True`` inlines the function into its callers in numba's IR, for hot
    helpers that LLVM would otherwise leave as a call per row.
    """

    def decorate(func):
        global _CACHE_WARNING_SHOWN
        options = dict(nogil=True, fastmath=set(FASTMATH_FLAGS), parallel=parallel,
                       inline="always" if inline else "never")  # fmt: skip
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
# Samples ahead whose rows the epoch kernels prefetch: a shuffled epoch is bound by
# the latency of fetching rows in random order, not by arithmetic, so the fetch of
# the row needed a few samples later is started now. Alone, 4 to 16 ahead measured
# alike; with the second thread below (rows already in a cache) 16 to 32 beat 8
# (108-110 vs 119 ms at 1,000,000 x 100 float64).
PREFETCH_AHEAD = 16
# Bytes ahead that the streaming kernels (batch gradient, column moments, read)
# prefetch, in whole rows: the hardware prefetcher alone left the fused gradient at
# 1.4x one read at 1,000,000 x 100 float64 and float32 at 5,000,000 x 20 slower than
# float64. Rows longer than this are not prefetched: the hardware streams long rows
# by itself, and prefetching 8 KB rows made the gradient slower (docs/performance.md).
STREAM_PREFETCH_BYTES = 2048
STREAM_PREFETCH_MAX_ROWS = 8
# A shuffled epoch on two threads cuts its samples into chunks of about
# HELPER_CHUNK_BYTES of rows. While one thread trains chunk c, the other prefetches
# the rows of chunk c+1 into its own cache, and then trains chunk c+1 itself: the
# threads take turns, so every chunk is trained from the cache of the core that
# fetched it. One core alone keeps too few cache misses in flight for random rows
# (1,000,000 x 100 float64: 167 ms alone); a helper that only prefetched, with one
# thread training everything from the other core's cache, took 110-122 ms; taking
# turns 100-114 ms (float32: 61-65 -> 52-53 ms). 400 KB chunks beat 200 KB and
# 800 KB-1.6 MB at n = 100; below HELPER_MIN_BYTES of X the rows stay in cache
# and the second thread would only cost its synchronization.
HELPER_CHUNK_BYTES = 512 * 800
HELPER_MAX_CHUNK_ROWS = 1024
HELPER_MIN_BYTES = 1 << 22


def _prefetch_intrinsic(locality):
    """An intrinsic ``prefetch(array, index)`` that prefetches ``array[index]``:
    the cache lines of a row of a C-contiguous 2-D array, or one element of a 1-D
    array (LLVM's llvm.prefetch, read, with this locality: 3 = into L1, 2 = into
    L2). A hint only: it never faults and changes no result."""

    def prefetch_intrinsic(typingctx, array, index):
        if not isinstance(array, types.Array) or array.ndim not in (1, 2):
            return None

        def codegen(context, builder, signature, args):
            array_type = signature.args[0]
            data = context.make_array(array_type)(context, builder, args[0])
            zero = context.get_constant(types.intp, 0)
            indices = [args[1]] + [zero] * (array_type.ndim - 1)
            pointer = cgutils.get_item_pointer(context, builder, array_type, data,
                                               indices)  # fmt: skip
            byte_pointer = builder.bitcast(pointer, ir.IntType(8).as_pointer())
            int32 = ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(
                    ir.VoidType(), [byte_pointer.type, int32, int32, int32]
                ),
                "llvm.prefetch.p0",
            )
            itemsize = context.get_abi_sizeof(context.get_data_type(array_type.dtype))
            length = builder.extract_value(data.shape, 1) if array_type.ndim == 2 else (
                context.get_constant(types.intp, 1))  # fmt: skip
            size = builder.mul(length, context.get_constant(types.intp, itemsize))
            line = context.get_constant(types.intp, 64)
            with cgutils.for_range_slice(builder, zero, size, line) as (offset, _):
                builder.call(
                    function,
                    [builder.gep(byte_pointer, [offset]), ir.Constant(int32, 0),
                     ir.Constant(int32, locality), ir.Constant(int32, 1)],
                )  # fmt: skip
            return context.get_dummy_value()

        return types.void(array, index), codegen

    return prefetch_intrinsic


if JIT_DISABLED:

    def prefetch(array, index):
        """No-op stand-in: with the JIT off there is no cache to warm."""

    prefetch_l1 = prefetch
else:
    # Random rows (the epochs) go to L2: measured faster there than into L1 or
    # non-temporal. Sequential passes (the streaming kernels) go to L1: 28.4 vs
    # 29.8 ms for the fused gradient at 1,000,000 x 100 (read 25.3 ms).
    prefetch = intrinsic(_prefetch_intrinsic(2))
    prefetch_l1 = intrinsic(_prefetch_intrinsic(3))


# Rows of X are split into this many fixed blocks (at most) by the parallel kernels,
# of at least this many rows each: the split depends on m only, so the block sums,
# reduced in block order, do not depend on the number of threads.
MAX_BLOCKS = 64
ROWS_PER_BLOCK = 4096


def n_gradient_blocks(n_samples):
    """Fixed number of row blocks of the parallel kernels (depends on m only)."""
    return max(1, min(MAX_BLOCKS, n_samples // ROWS_PER_BLOCK))


def get_num_threads():
    """Number of threads the parallel kernels use."""
    return numba.get_num_threads()


def set_num_threads(n):
    """Set the number of threads the parallel kernels use (at most the maximum)."""
    numba.set_num_threads(int(n))


def max_threads():
    """The most threads numba can use in this process."""
    return numba.config.NUMBA_NUM_THREADS


def helper_chunk_rows(X, n_rows):
    """``helper_chunk`` for the epoch kernels: rows per chunk when two threads take
    turns training a chunk and prefetching the next (about HELPER_CHUNK_BYTES of
    rows); 0, for a plain one-thread epoch, with one numba thread or when X is
    small enough to stay in cache."""
    if numba.get_num_threads() < 2 or X.nbytes < HELPER_MIN_BYTES:
        return 0
    row_bytes = max(1, X.shape[1] * X.itemsize)
    rows = min(max(HELPER_CHUNK_BYTES // row_bytes, 1), HELPER_MAX_CHUNK_ROWS)
    return rows if rows < n_rows else 0


def compiled_signatures(kernel):
    """Type signatures a kernel was compiled for ([] when the JIT is disabled)."""
    return list(getattr(kernel, "signatures", []))


@_jit()
def _stream_prefetch_rows(X):
    """Rows ahead that a sequential pass over X prefetches (0: none)."""
    row_bytes = X.shape[1] * X.itemsize
    if row_bytes == 0 or row_bytes > STREAM_PREFETCH_BYTES:
        return 0
    return min(-(-STREAM_PREFETCH_BYTES // row_bytes), STREAM_PREFETCH_MAX_ROWS)


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

    Step i swaps position i with a uniform pick among positions i..m-1. The draw
    maps the high 32 random bits by multiply-shift (Lemire), which avoids a
    division per element (uniform while m <= 2**32). Epochs shuffle all of
    ``order`` before their first update, on one thread: 3 ms at m = 1,000,000.
    Shuffling on the prefetching thread, a chunk ahead, hid those 3 ms but cost
    10-15 ms once chunks alternate between threads (the swaps move lines of
    ``order`` from core to core; docs/performance.md).
    """
    m = order.shape[0]
    for i in range(m - 1):
        high = _next_random(rng_state) >> np.uint64(32)
        j = i + np.int64((high * np.uint64(m - i)) >> np.uint64(32))
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp


# --------------------------------------------------------------------------- #
# Batch gradient: one fused pass over X
# --------------------------------------------------------------------------- #


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


@_jit(parallel=True)
def batch_gradient(
    X, y, sample_weight, weight_total, coef, intercept, grad_coef, partial
):
    """Fused weighted batch gradient and loss for one output; returns (loss, dJ/db).

    With r_i = x_i.coef + b - y_i and weights w_i summing to W: grad =
    (2/W) sum_i w_i r_i x_i, dJ/db = (2/W) sum_i w_i r_i, loss = sum_i w_i r_i^2 / W.
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
    ahead = _stream_prefetch_rows(X)
    for block in prange(n_blocks):
        start = block * m // n_blocks
        stop = (block + 1) * m // n_blocks
        acc = partial[block]
        acc[:] = 0.0
        for i in range(start, stop):
            if ahead > 0 and i + ahead < stop:
                prefetch_l1(X, i + ahead)
            r = np.float64(_row_dot(X, i, coef)) + (intercept[0] - np.float64(y[i]))
            weighted = r * (sample_weight[0] if uniform else sample_weight[i])
            for j in range(n):
                acc[j] += weighted * X[i, j]
            acc[n] += weighted
            acc[n + 1] += weighted * r
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


@_jit(parallel=True)
def batch_gradient_multi(
    X, Y, sample_weight, weight_total, coef, intercept, grad_coef, grad_intercept,
    partial,
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
    ahead = _stream_prefetch_rows(X)
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
                acc[n + 1, c] += weight * r[c] * r[c]
                r[c] *= weight
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


# --------------------------------------------------------------------------- #
# Stochastic gradient descent: one epoch per call
#
# The epoch kernels work in standardized coordinates z = (x - shift) * scale, so a
# fit can behave as if the features were centred and scaled without a standardized
# copy of X. ``shift = scale = None`` means z = x, and ``avg_coef = avg_intercept =
# None`` turns averaging off: numba compiles those branches away (one signature per
# dtype and configuration), so the plain loops stay as fast as hand-written ones.
# The L2 penalty enters as a per-step decay 1 - 2 eta_t alpha of the coefficients
# (``decays`` has the length of ``etas``: one per step, or one for all); averaged
# SGD keeps the running mean of the iterates from global step ``average_start`` on.
# --------------------------------------------------------------------------- #


@_jit()
def _residual(X, i, coef, start, shift, scale):
    """start + z.coef for row i, z = (X[i] - shift) * scale, or z = X[i] when
    ``shift`` is None (a compile-time branch: the plain dot product vectorizes)."""
    r = start
    if shift is None:
        for j in range(X.shape[1]):
            r += X[i, j] * coef[j]
    else:
        for j in range(X.shape[1]):
            r += (X[i, j] - shift[j]) * scale[j] * coef[j]
    return r


@_jit()
def _decay_and_step(coef, X, i, decay, step, shift, scale):
    """coef = decay * coef - step * z for row i (z as in :func:`_residual`)."""
    if shift is None:
        for j in range(X.shape[1]):
            coef[j] = decay * coef[j] - step * X[i, j]
    else:
        for j in range(X.shape[1]):
            coef[j] = decay * coef[j] - step * ((X[i, j] - shift[j]) * scale[j])


@_jit(inline=True)
def _step_then_residual(coef, X, i, decay, step, k, start, shift, scale):
    """:func:`_decay_and_step` for row i, then returns the next sample's residual
    ``start + z_k . coef`` with the new coef, both in one pass over coef.

    An SGD epoch spends its arithmetic on a chain that cannot overlap: residual,
    then update, then the next residual. Fusing the update with the next dot
    product drops a pass over coef and a store-to-load round trip per element from
    that chain (in cache: 49.8 -> 43.9 ns per sample at n = 100 float64; with
    standardization, 1,000,000 x 100 float32: 117-121 -> 85-89 ms per epoch). It
    is inlined on purpose: as a call per row it gained nothing
    (docs/performance.md).
    """
    r = start
    if shift is None:
        for j in range(X.shape[1]):
            updated = decay * coef[j] - step * X[i, j]
            coef[j] = updated
            r += X[k, j] * updated
    else:
        for j in range(X.shape[1]):
            updated = decay * coef[j] - step * ((X[i, j] - shift[j]) * scale[j])
            coef[j] = updated
            r += (X[k, j] - shift[j]) * scale[j] * updated
    return r


@_jit()
def _update_average(avg_coef, avg_intercept, coef, intercept, t, average_start):
    """Running mean of the iterates from global step ``average_start`` on."""
    if t >= average_start:
        inverse_count = 1.0 / (t - average_start + 1)
        avg_coef += (coef - avg_coef) * inverse_count
        avg_intercept += (intercept - avg_intercept) * inverse_count


@_jit()
def _prefetch_positions(X, y, order, start, stop):
    """The share of an epoch of the thread not training: prefetch the rows of X
    and y that positions start..stop-1 of ``order`` point to."""
    for s in range(start, stop):
        prefetch(X, order[s])
        prefetch(y, order[s])


@_jit()
def _optimizer_delta(kind, g, state, i, eta, params, count):
    """The step for parameter i with gradient g under optimizer ``kind`` (the codes
    of fastgd.optimizers.OPTIMIZERS), updating its state ``state[0, i]`` (first
    moment or velocity) and ``state[1, i]`` (second moment).
    ``params`` = [momentum or rho or beta1, beta2, eps]; ``count`` numbers the
    update from 1 (Adam's bias correction). Rules: see fastgd.optimizers."""
    if kind == 0:
        return eta * g
    if kind == 1 or kind == 2:
        state[0, i] = params[0] * state[0, i] + g
        if kind == 1:
            return eta * state[0, i]
        return eta * (g + params[0] * state[0, i])
    if kind == 3:
        state[1, i] += g * g
        return eta * g / (np.sqrt(state[1, i]) + params[2])
    if kind == 4:
        state[1, i] = params[0] * state[1, i] + (1.0 - params[0]) * g * g
        return eta * g / (np.sqrt(state[1, i]) + params[2])
    state[0, i] = params[0] * state[0, i] + (1.0 - params[0]) * g
    state[1, i] = params[1] * state[1, i] + (1.0 - params[1]) * g * g
    corrected_first = state[0, i] / (1.0 - params[0] ** count)
    corrected_second = state[1, i] / (1.0 - params[1] ** count)
    return eta * corrected_first / (np.sqrt(corrected_second) + params[2])


@_jit()
def _optimizer_row_step(coef, intercept, X, i, shift, scale, decay, factor, eta,
                        state, kind, params, count, fit_intercept):  # fmt: skip
    """One sample's update through an optimizer: the gradient is factor * z_i for
    the coefficients and factor for the intercept (one output)."""
    n = X.shape[1]
    for j in range(n):
        z = X[i, j] if shift is None else (X[i, j] - shift[j]) * scale[j]
        g = np.float64(factor) * np.float64(z)
        coef[j] = decay * coef[j] - _optimizer_delta(kind, g, state, j, eta,
                                                     params, count)  # fmt: skip
    if fit_intercept:
        intercept[0] -= _optimizer_delta(kind, np.float64(factor), state, n,
                                         eta, params, count)  # fmt: skip


@_jit()
def _sgd_rows(
    X, y, sample_weight, shift, scale, coef, intercept, avg_coef, avg_intercept,
    order, etas, decays, t_start, average_start, fit_intercept, opt_state, opt_kind,
    opt_params, start, stop,
):  # fmt: skip
    """The SGD updates for positions start..stop-1 of ``order`` (one output);
    returns their weighted sum of squared residuals, non-finite on divergence."""
    constant_step = etas.shape[0] == 1
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    for s in range(start, stop):
        if s + PREFETCH_AHEAD < stop:
            prefetch(X, order[s + PREFETCH_AHEAD])
            prefetch(y, order[s + PREFETCH_AHEAD])
        eta = etas[0] if constant_step else etas[s]
        decay = decays[0] if constant_step else decays[s]
        i = order[s]
        weight = sample_weight[0] if uniform else sample_weight[i]
        if s == start or opt_state is not None:
            # Without an optimizer, the previous update already computed r.
            r = _residual(X, i, coef, intercept[0] - y[i], shift, scale)
        loss += np.float64(weight) * np.float64(r) * np.float64(r)
        if not np.isfinite(r):
            return loss
        if opt_state is None:
            step = eta * (r + r) * weight
            if fit_intercept:
                intercept[0] -= step
            if s + 1 < stop:
                k = order[s + 1]
                r = _step_then_residual(coef, X, i, decay, step, k,
                                        intercept[0] - y[k], shift, scale)  # fmt: skip
            else:
                _decay_and_step(coef, X, i, decay, step, shift, scale)
        else:
            _optimizer_row_step(coef, intercept, X, i, shift, scale, decay,
                                (r + r) * weight, eta, opt_state, opt_kind,
                                opt_params, t_start + s + 1, fit_intercept)  # fmt: skip
        if avg_coef is not None:
            _update_average(avg_coef, avg_intercept, coef, intercept, t_start + s,
                            average_start)  # fmt: skip
    return loss


@_jit(parallel=True)
def sgd_epoch(
    X, y, sample_weight, shift, scale, coef, intercept, avg_coef, avg_intercept,
    order, rng_state, etas, decays, t_start, average_start, do_shuffle, fit_intercept,
    opt_state, opt_kind, opt_params, helper_chunk,
):  # fmt: skip
    """One SGD epoch for one output; returns the weighted sum of squared residuals.

    Shuffles ``order`` (if asked), then for each i in that order, with step eta_t,
    decay_t and weight w_i: r = z_i.coef + b - y_i;
    coef = decay_t coef - eta_t 2 w_i r z_i; b -= eta_t 2 w_i r.
    Each residual is taken before its update, so the sum comes at no extra cost.
    Returns early (with a non-finite sum) as soon as a residual is not finite.
    With ``helper_chunk`` > 0 (see :func:`helper_chunk_rows`) two threads take
    turns: one trains a chunk of ``helper_chunk`` samples while the other
    prefetches the rows of the next chunk, which it then trains. The updates
    run in the same order either way, so the results are the same with or
    without it.
    """
    n_rows = order.shape[0]
    if do_shuffle:
        shuffle(order, rng_state)
    chunk = helper_chunk
    if chunk <= 0 or chunk >= n_rows:
        return _sgd_rows(X, y, sample_weight, shift, scale, coef, intercept,
                         avg_coef, avg_intercept, order, etas, decays, t_start,
                         average_start, fit_intercept, opt_state, opt_kind,
                         opt_params, 0, n_rows)  # fmt: skip
    loss = 0.0
    chunk_loss = np.zeros(2)
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        next_stop = min(stop + chunk, n_rows)
        # The thread that prefetched this chunk trains it: its rows are in that
        # core's own cache.
        trainer = (start // chunk) % 2
        for worker in prange(2):
            if worker == trainer:
                chunk_loss[worker] = _sgd_rows(
                    X, y, sample_weight, shift, scale, coef, intercept, avg_coef,
                    avg_intercept, order, etas, decays, t_start, average_start,
                    fit_intercept, opt_state, opt_kind, opt_params, start, stop,
                )  # fmt: skip
            else:
                _prefetch_positions(X, y, order, stop, next_stop)
        loss += chunk_loss[trainer]
        if not np.isfinite(loss):
            return loss
    return loss


@_jit()
def _sgd_rows_multi(
    X, Y, sample_weight, shift, scale, coef, intercept, avg_coef, avg_intercept,
    order, etas, decays, t_start, average_start, fit_intercept, opt_state, opt_kind,
    opt_params, residual, start, stop,
):  # fmt: skip
    """The SGD updates for positions start..stop-1 of ``order`` (k outputs)."""
    n = X.shape[1]
    k = Y.shape[1]
    constant_step = etas.shape[0] == 1
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    for s in range(start, stop):
        if s + PREFETCH_AHEAD < stop:
            prefetch(X, order[s + PREFETCH_AHEAD])
            prefetch(Y, order[s + PREFETCH_AHEAD])
        eta = etas[0] if constant_step else etas[s]
        decay = decays[0] if constant_step else decays[s]
        i = order[s]
        weight = sample_weight[0] if uniform else sample_weight[i]
        for c in range(k):
            residual[c] = intercept[c] - Y[i, c]
        for j in range(n):
            z = X[i, j] if shift is None else (X[i, j] - shift[j]) * scale[j]
            for c in range(k):
                residual[c] += z * coef[j, c]
        for c in range(k):
            r = residual[c]
            loss += np.float64(weight) * np.float64(r) * np.float64(r)
            if not np.isfinite(r):
                return loss
            residual[c] = (r + r) * weight
        if opt_state is None:
            for c in range(k):
                residual[c] *= eta
            for j in range(n):
                z = X[i, j] if shift is None else (X[i, j] - shift[j]) * scale[j]
                for c in range(k):
                    coef[j, c] = decay * coef[j, c] - residual[c] * z
            if fit_intercept:
                for c in range(k):
                    intercept[c] -= residual[c]
        else:
            count = t_start + s + 1
            for j in range(n):
                z = X[i, j] if shift is None else (X[i, j] - shift[j]) * scale[j]
                for c in range(k):
                    g = np.float64(residual[c]) * np.float64(z)
                    coef[j, c] = decay * coef[j, c] - _optimizer_delta(
                        opt_kind, g, opt_state, j * k + c, eta, opt_params, count
                    )
            if fit_intercept:
                for c in range(k):
                    intercept[c] -= _optimizer_delta(
                        opt_kind, np.float64(residual[c]), opt_state, n * k + c,
                        eta, opt_params, count)  # fmt: skip
        if avg_coef is not None:
            _update_average(avg_coef, avg_intercept, coef, intercept, t_start + s,
                            average_start)  # fmt: skip
    return loss


@_jit(parallel=True)
def sgd_epoch_multi(
    X, Y, sample_weight, shift, scale, coef, intercept, avg_coef, avg_intercept,
    order, rng_state, etas, decays, t_start, average_start, do_shuffle, fit_intercept,
    opt_state, opt_kind, opt_params, helper_chunk, residual,
):  # fmt: skip
    """One SGD epoch for k outputs; returns the weighted sum of squared residuals.

    As :func:`sgd_epoch` with ``Y`` (m, k), ``coef`` and ``avg_coef`` (n, k),
    ``intercept`` and ``avg_intercept`` (k,) and a scratch ``residual`` (k,) of X's
    dtype.
    """
    n_rows = order.shape[0]
    if do_shuffle:
        shuffle(order, rng_state)
    chunk = helper_chunk
    if chunk <= 0 or chunk >= n_rows:
        return _sgd_rows_multi(X, Y, sample_weight, shift, scale, coef, intercept,
                               avg_coef, avg_intercept, order, etas, decays, t_start,
                               average_start, fit_intercept, opt_state, opt_kind,
                               opt_params, residual, 0, n_rows)  # fmt: skip
    loss = 0.0
    chunk_loss = np.zeros(2)
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        next_stop = min(stop + chunk, n_rows)
        # The thread that prefetched this chunk trains it: its rows are in that
        # core's own cache.
        trainer = (start // chunk) % 2
        for worker in prange(2):
            if worker == trainer:
                chunk_loss[worker] = _sgd_rows_multi(
                    X, Y, sample_weight, shift, scale, coef, intercept, avg_coef,
                    avg_intercept, order, etas, decays, t_start, average_start,
                    fit_intercept, opt_state, opt_kind, opt_params, residual, start,
                    stop,
                )  # fmt: skip
            else:
                _prefetch_positions(X, Y, order, stop, next_stop)
        loss += chunk_loss[trainer]
        if not np.isfinite(loss):
            return loss
    return loss


# --------------------------------------------------------------------------- #
# Mini-batch gradient descent: one epoch per call
# --------------------------------------------------------------------------- #


@_jit()
def _minibatch_rows(
    X, y, sample_weight, shift, scale, coef, intercept, avg_coef, avg_intercept,
    order, etas, decays, batch_size, t_start, average_start, fit_intercept,
    opt_state, opt_kind, opt_params, grad, first_batch, last_batch,
):  # fmt: skip
    """The updates of batches first_batch..last_batch-1 of the epoch (one output)."""
    n = X.shape[1]
    n_rows = order.shape[0]
    limit = min(last_batch * batch_size, n_rows)
    constant_step = etas.shape[0] == 1
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    for t in range(first_batch, last_batch):
        eta = etas[0] if constant_step else etas[t]
        decay = decays[0] if constant_step else decays[t]
        start = t * batch_size
        size = min(batch_size, n_rows - start)
        residual_sum = 0.0
        weight_sum = 0.0
        grad[:] = 0.0
        for s in range(size):
            if start + s + PREFETCH_AHEAD < limit:
                prefetch(X, order[start + s + PREFETCH_AHEAD])
                prefetch(y, order[start + s + PREFETCH_AHEAD])
            i = order[start + s]
            weight = sample_weight[0] if uniform else sample_weight[i]
            r = _residual(X, i, coef, intercept[0] - y[i], shift, scale)
            loss += np.float64(weight) * np.float64(r) * np.float64(r)
            if not np.isfinite(r):
                return loss
            # coef is fixed within a batch: the row's gradient term is added while
            # the row is in L1 (one pass over the batch's rows, not two).
            weighted = weight * r
            residual_sum += weighted
            weight_sum += weight
            for j in range(n):
                grad[j] += weighted * X[i, j]
        if weight_sum <= 0.0:
            continue
        step = 2.0 * eta / weight_sum
        if shift is not None:
            for j in range(n):
                grad[j] = scale[j] * (grad[j] - shift[j] * residual_sum)
        if opt_state is None:
            for j in range(n):
                coef[j] = decay * coef[j] - step * grad[j]
            if fit_intercept:
                intercept[0] -= step * residual_sum
        else:
            count = t_start + t + 1
            mean = 2.0 / weight_sum
            for j in range(n):
                coef[j] = decay * coef[j] - _optimizer_delta(
                    opt_kind, mean * grad[j], opt_state, j, eta, opt_params, count
                )
            if fit_intercept:
                intercept[0] -= _optimizer_delta(
                    opt_kind, mean * residual_sum, opt_state, n, eta, opt_params,
                    count)  # fmt: skip
        if avg_coef is not None:
            _update_average(avg_coef, avg_intercept, coef, intercept, t_start + t,
                            average_start)  # fmt: skip
    return loss


@_jit(parallel=True)
def minibatch_epoch(
    X, y, sample_weight, shift, scale, coef, intercept, avg_coef, avg_intercept,
    order, rng_state, etas, decays, batch_size, t_start, average_start, do_shuffle,
    fit_intercept, opt_state, opt_kind, opt_params, helper_chunk, grad,
):  # fmt: skip
    """One mini-batch epoch for one output; returns the weighted sum of squared
    residuals.

    Shuffles ``order``, then takes consecutive groups B of ``batch_size`` indices
    (the last group may be shorter and is used, not dropped) and per group, with
    W_B the group's total weight: coef = decay_t coef - eta_t (2/W_B) Z_B^T (w r)_B;
    b -= eta_t (2/W_B) sum (w r)_B. The sums run over raw rows in float64 and are
    mapped to z afterwards: Z_B^T v = scale * (X_B^T v - shift * sum v).
    ``grad`` (n,), of X's dtype, is scratch: the B rows of a batch are summed in
    X's dtype (as the NumPy twin's X_B^T r), the epoch loss in float64.
    ``helper_chunk`` as for :func:`sgd_epoch`, rounded to whole batches.
    """
    n_rows = order.shape[0]
    if do_shuffle:
        shuffle(order, rng_state)
    n_batches = (n_rows + batch_size - 1) // batch_size
    per_chunk = max(1, helper_chunk // batch_size)
    if helper_chunk <= 0 or per_chunk >= n_batches:
        return _minibatch_rows(X, y, sample_weight, shift, scale, coef, intercept,
                               avg_coef, avg_intercept, order, etas, decays,
                               batch_size, t_start, average_start, fit_intercept,
                               opt_state, opt_kind, opt_params, grad, 0,
                               n_batches)  # fmt: skip
    loss = 0.0
    chunk_loss = np.zeros(2)
    for first in range(0, n_batches, per_chunk):
        last = min(first + per_chunk, n_batches)
        stop = min(last * batch_size, n_rows)
        next_stop = min(stop + per_chunk * batch_size, n_rows)
        # The thread that prefetched this chunk trains it: its rows are in that
        # core's own cache.
        trainer = (first // per_chunk) % 2
        for worker in prange(2):
            if worker == trainer:
                chunk_loss[worker] = _minibatch_rows(
                    X, y, sample_weight, shift, scale, coef, intercept, avg_coef,
                    avg_intercept, order, etas, decays, batch_size, t_start,
                    average_start, fit_intercept, opt_state, opt_kind, opt_params,
                    grad, first, last,
                )  # fmt: skip
            else:
                _prefetch_positions(X, y, order, stop, next_stop)
        loss += chunk_loss[trainer]
        if not np.isfinite(loss):
            return loss
    return loss


@_jit()
def _minibatch_rows_multi(
    X, Y, sample_weight, shift, scale, coef, intercept, avg_coef, avg_intercept,
    order, etas, decays, batch_size, t_start, average_start, fit_intercept,
    opt_state, opt_kind, opt_params, residual, grad, first_batch, last_batch,
):  # fmt: skip
    """The updates of batches first_batch..last_batch-1 of the epoch (k outputs)."""
    n = X.shape[1]
    k = Y.shape[1]
    n_rows = order.shape[0]
    limit = min(last_batch * batch_size, n_rows)
    constant_step = etas.shape[0] == 1
    uniform = sample_weight.shape[0] == 1
    loss = 0.0
    for t in range(first_batch, last_batch):
        eta = etas[0] if constant_step else etas[t]
        decay = decays[0] if constant_step else decays[t]
        start = t * batch_size
        size = min(batch_size, n_rows - start)
        grad[:] = 0.0
        weight_sum = 0.0
        for s in range(size):
            if start + s + PREFETCH_AHEAD < limit:
                prefetch(X, order[start + s + PREFETCH_AHEAD])
                prefetch(Y, order[start + s + PREFETCH_AHEAD])
            i = order[start + s]
            weight = sample_weight[0] if uniform else sample_weight[i]
            for c in range(k):
                residual[s, c] = intercept[c] - Y[i, c]
            for j in range(n):
                z = X[i, j] if shift is None else (X[i, j] - shift[j]) * scale[j]
                for c in range(k):
                    residual[s, c] += z * coef[j, c]
            for c in range(k):
                r = residual[s, c]
                loss += np.float64(weight) * np.float64(r) * np.float64(r)
                if not np.isfinite(r):
                    return loss
                residual[s, c] = r * weight
                grad[n, c] += residual[s, c]
            weight_sum += weight
        if weight_sum <= 0.0:
            continue
        for s in range(size):
            i = order[start + s]
            for j in range(n):
                for c in range(k):
                    grad[j, c] += np.float64(residual[s, c]) * X[i, j]
        step = 2.0 * eta / weight_sum
        count = t_start + t + 1
        for j in range(n):
            for c in range(k):
                z_grad = grad[j, c]
                if shift is not None:
                    z_grad = scale[j] * (z_grad - shift[j] * grad[n, c])
                if opt_state is None:
                    coef[j, c] = decay * coef[j, c] - step * z_grad
                else:
                    coef[j, c] = decay * coef[j, c] - _optimizer_delta(
                        opt_kind, 2.0 / weight_sum * z_grad, opt_state, j * k + c,
                        eta, opt_params, count)  # fmt: skip
        if fit_intercept:
            for c in range(k):
                if opt_state is None:
                    intercept[c] -= step * grad[n, c]
                else:
                    intercept[c] -= _optimizer_delta(
                        opt_kind, 2.0 / weight_sum * grad[n, c], opt_state,
                        n * k + c, eta, opt_params, count)  # fmt: skip
        if avg_coef is not None:
            _update_average(avg_coef, avg_intercept, coef, intercept, t_start + t,
                            average_start)  # fmt: skip
    return loss


@_jit(parallel=True)
def minibatch_epoch_multi(
    X, Y, sample_weight, shift, scale, coef, intercept, avg_coef, avg_intercept,
    order, rng_state, etas, decays, batch_size, t_start, average_start, do_shuffle,
    fit_intercept, opt_state, opt_kind, opt_params, helper_chunk, residual, grad,
):  # fmt: skip
    """One mini-batch epoch for k outputs; returns the weighted sum of squared
    residuals.

    As :func:`minibatch_epoch` with ``Y`` (m, k), ``coef`` (n, k), ``intercept``
    (k,), scratch ``residual`` (batch_size, k) of X's dtype and ``grad`` (n + 1, k)
    float64 (the last row sums the weighted residuals for the intercept).
    """
    n_rows = order.shape[0]
    if do_shuffle:
        shuffle(order, rng_state)
    n_batches = (n_rows + batch_size - 1) // batch_size
    per_chunk = max(1, helper_chunk // batch_size)
    if helper_chunk <= 0 or per_chunk >= n_batches:
        return _minibatch_rows_multi(X, Y, sample_weight, shift, scale, coef,
                                     intercept, avg_coef, avg_intercept, order, etas,
                                     decays, batch_size, t_start, average_start,
                                     fit_intercept, opt_state, opt_kind, opt_params,
                                     residual, grad, 0, n_batches)  # fmt: skip
    loss = 0.0
    chunk_loss = np.zeros(2)
    for first in range(0, n_batches, per_chunk):
        last = min(first + per_chunk, n_batches)
        stop = min(last * batch_size, n_rows)
        next_stop = min(stop + per_chunk * batch_size, n_rows)
        # The thread that prefetched this chunk trains it: its rows are in that
        # core's own cache.
        trainer = (first // per_chunk) % 2
        for worker in prange(2):
            if worker == trainer:
                chunk_loss[worker] = _minibatch_rows_multi(
                    X, Y, sample_weight, shift, scale, coef, intercept, avg_coef,
                    avg_intercept, order, etas, decays, batch_size, t_start,
                    average_start, fit_intercept, opt_state, opt_kind, opt_params,
                    residual, grad, first, last,
                )  # fmt: skip
            else:
                _prefetch_positions(X, Y, order, stop, next_stop)
        loss += chunk_loss[trainer]
        if not np.isfinite(loss):
            return loss
    return loss


# --------------------------------------------------------------------------- #
# Helpers: losses on a subset of rows, column statistics, the bandwidth probe
# --------------------------------------------------------------------------- #


@_jit()
def rows_loss(X, Y, sample_weight, rows, coef, intercept, squares):
    """Weighted sums of squared residuals over ``rows`` (for a validation split).

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


@_jit(parallel=True)
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
    ahead = _stream_prefetch_rows(X)
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


@_jit(parallel=True)
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
    ahead = _stream_prefetch_rows(X)
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


@_jit(parallel=True)
def spin_threads(partial, steps):
    """Keeps every thread busy for ``steps`` dependent multiply-adds (about 0.1 ms
    for 50,000): the benchmark harness wakes idle cores with it before timing."""
    for thread in prange(partial.shape[0]):
        x = partial[thread]
        for _ in range(steps):
            x = x * 0.999 + 1.0
        partial[thread] = x


@_jit(parallel=True)
def streaming_read(X, partial):
    """Sum of every element of X in one streaming pass: the memory-bandwidth limit.

    ``partial`` (n_blocks,) float64 holds per-block sums, reduced in block order.
    """
    m, n = X.shape
    n_blocks = partial.shape[0]
    ahead = _stream_prefetch_rows(X)
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
