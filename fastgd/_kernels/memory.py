"""Memory helpers of the kernels: prefetch intrinsics, how far ahead to prefetch,
how the two-thread epochs cut their work into chunks, and the fixed row blocks of
the parallel streaming passes."""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .caches import cache_sizes
from .config import JIT_DISABLED
from .config import jit as _jit

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
# (1,000,000 x 100 float64 on the Xeon: 167 ms alone); a helper that only
# prefetched, with one thread training everything from the other core's cache,
# took 110-122 ms; taking turns 100-114 ms (float32: 61-65 -> 52-53 ms).
# Both sizes follow from this machine's per-core L2 (:mod:`.caches`). A chunk of
# L2 / 5 leaves room in L2 for the next chunk's rows arriving and the
# coefficients: on the Xeon (2 MB of L2) 400 KB beat 200 KB and 800 KB-1.6 MB at
# n = 100; on the AMD EPYC (1 MB of L2) 200 KB-1.6 MB measured alike, within the
# noise (1,000,000 x 100, best of 9: 94-96 ms float64, 53-63 ms float32). Below
# the two cores' L2 together (the Xeon's measured 4 MB) the rows stay in cache and
# a second thread would only cost its synchronization.
CACHES, CACHE_SOURCE = cache_sizes()
HELPER_CHUNK_BYTES = CACHES["l2"] // 5
HELPER_MAX_CHUNK_ROWS = 1024
HELPER_MIN_BYTES = 2 * CACHES["l2"]


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


def helper_chunk_rows(X, n_rows):
    """``helper_chunk`` for the epoch kernels: rows per chunk when two threads take
    turns training a chunk and prefetching the next (about HELPER_CHUNK_BYTES of
    rows); 0, for a plain epoch, when X is small enough to stay in cache.

    It depends on X alone, not on the threads at hand: a chunk boundary changes
    the rounding of SGD's fused residual (the first residual of a chunk is a
    separate dot product), so a fit on one thread, in a forked child or next to
    another fit runs the same chunks serially and gets the same coefficients."""
    return chunk_rows(X.nbytes, X.shape[1] * X.itemsize, n_rows)


def chunk_rows(nbytes, row_bytes, n_rows):
    """:func:`helper_chunk_rows` for data of ``nbytes`` in all and ``row_bytes``
    a row (on average, for sparse rows)."""
    if nbytes < HELPER_MIN_BYTES:
        return 0
    rows = min(max(int(HELPER_CHUNK_BYTES // max(1, row_bytes)), 1),
               HELPER_MAX_CHUNK_ROWS)  # fmt: skip
    return rows if rows < n_rows else 0


@_jit()
def stream_prefetch_rows(X):
    """Rows ahead that a sequential pass over X prefetches (0: none)."""
    row_bytes = X.shape[1] * X.itemsize
    if row_bytes == 0 or row_bytes > STREAM_PREFETCH_BYTES:
        return 0
    return min(-(-STREAM_PREFETCH_BYTES // row_bytes), STREAM_PREFETCH_MAX_ROWS)


@_jit()
def prefetch_positions(X, y, order, start, stop):
    """The share of an epoch of the thread not training: prefetch the rows of X
    and y that positions start..stop-1 of ``order`` point to."""
    for s in range(start, stop):
        prefetch(X, order[s])
        prefetch(y, order[s])


def tuning():
    """The memory constants in force on this machine and where they come from
    (``fastgd bench`` prints them beside the CPU)."""
    return dict(
        caches={name: size for name, size in CACHES.items()},
        cache_source=CACHE_SOURCE,
        epoch_chunk_bytes=HELPER_CHUNK_BYTES,
        second_thread_from_bytes=HELPER_MIN_BYTES,
        epoch_prefetch_rows=PREFETCH_AHEAD,
        stream_prefetch_bytes=STREAM_PREFETCH_BYTES,
    )
