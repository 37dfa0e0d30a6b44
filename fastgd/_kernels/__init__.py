"""Compiled kernels: the only package of fastgd that imports numba.

Every kernel is small and dumb: it takes arrays, scalars and small tuples of them,
updates in place and returns a scalar. Validation, dtype handling, allocation of
what outlives a call and the epoch loop live in :mod:`fastgd._training`. One kernel
call is one epoch (SGD, mini-batch) or one full pass (batch gradient), so Python
overhead is noise next to the O(m*n) work.

By job: :mod:`.config` (numba options, cache, threads, the tbb runtime),
:mod:`.parallel` (each parallel kernel's serial and parallel builds, and which
runs: safe under fork() and concurrent threads), :mod:`.caches` (this CPU's cache
sizes), :mod:`.memory` (prefetch, chunking, fixed row blocks, derived from the
caches), :mod:`.shuffling` (seeded shuffle), :mod:`.streaming` (passes that read X
once: batch gradient, moments, cross products), :mod:`.steps` (per-row updates and
the optimizer rules), :mod:`.epochs` (the shuffled epochs and their two-thread
driver), :mod:`.sparse` (the same passes and epochs on a CSR matrix).

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
  reference-counts views with locked instructions, see
  :func:`.streaming._row_dot`).
* Optional features are None (compiled away) or a small tuple (see
  :mod:`.epochs`); no kernel takes more than 13 parameters.
"""

from .compilations import count_compilations
from .config import (
    FASTMATH_FLAGS,
    JIT_DISABLED,
    NUMBA_VERSION,
    compiled_signatures,
    get_num_threads,
    llvm_cpu_name,
    max_threads,
    set_num_threads,
)
from .epochs import lazy_epoch as sparse_lazy_epoch
from .epochs import run_epoch
from .memory import (
    HELPER_MIN_BYTES,
    MAX_BLOCKS,
    ROWS_PER_BLOCK,
    chunk_rows,
    helper_chunk_rows,
    n_gradient_blocks,
    stream_prefetch_rows,
    tuning,
)
from .parallel import threading_layer
from .shuffling import shuffle
from .sparse import (
    centred_row_norms,
    has_duplicates,
    sparse_column_moments,
    sparse_gradient,
    sparse_gram,
    sparse_rows_loss,
)
from .sparse import optimizer_epoch as sparse_optimizer_epoch
from .steps import optimizer_delta, optimizer_step
from .streaming import (
    batch_gradient,
    batch_gradient_multi,
    column_moments,
    cross_products,
    rows_loss,
    spin_threads,
    streaming_read,
)

__all__ = [
    "FASTMATH_FLAGS",
    "HELPER_MIN_BYTES",
    "JIT_DISABLED",
    "MAX_BLOCKS",
    "NUMBA_VERSION",
    "ROWS_PER_BLOCK",
    "batch_gradient",
    "batch_gradient_multi",
    "centred_row_norms",
    "chunk_rows",
    "column_moments",
    "compiled_signatures",
    "count_compilations",
    "cross_products",
    "get_num_threads",
    "has_duplicates",
    "helper_chunk_rows",
    "llvm_cpu_name",
    "max_threads",
    "n_gradient_blocks",
    "optimizer_delta",
    "optimizer_step",
    "rows_loss",
    "run_epoch",
    "set_num_threads",
    "shuffle",
    "sparse_column_moments",
    "sparse_gradient",
    "sparse_gram",
    "sparse_lazy_epoch",
    "sparse_optimizer_epoch",
    "sparse_rows_loss",
    "spin_threads",
    "stream_prefetch_rows",
    "streaming_read",
    "threading_layer",
    "tuning",
]
