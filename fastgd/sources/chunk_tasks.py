"""What runs on a Dask worker: one task per chunk of rows, calling the kernels.

Each function takes one chunk of X (an ndarray of rows) and its targets, and
returns a small partial result that :class:`~fastgd.sources.DaskSource`
combines on the client in chunk order. Dask gives each task one thread (a
worker's ``nthreads`` are its parallelism), so the kernels run with one numba
thread inside a task and never oversubscribe the worker's cores.

Nothing here imports dask: the functions run wherever a task runs (a worker
process, or a thread of Dask's local scheduler).
"""

import functools
from dataclasses import dataclass

import numpy as np

from .. import _kernels, optimizers, reference
from . import reductions
from .reductions import unit_gradient


def one_thread(task):
    """Run ``task`` with one numba thread (numba's count is per calling
    thread), restoring the count afterwards."""

    @functools.wraps(task)
    def run(*args, **kwargs):
        threads = _kernels.get_num_threads()
        _kernels.set_num_threads(1)
        try:
            return task(*args, **kwargs)
        finally:
            _kernels.set_num_threads(threads)

    return run


def _rows_array(X):
    """A chunk of X or y as the in-memory source hands it to the kernels:
    C-contiguous, native byte order and read-only (a view), so that a task
    compiles no signature the in-memory fits do not."""
    X = np.ascontiguousarray(X, dtype=X.dtype.newbyteorder("="))
    view = X.view()
    view.flags.writeable = False
    return view


def _weights_array(weights):
    """Weights as the training path makes them: writable (a chunk's weights
    may arrive read-only from a message buffer)."""
    return weights if weights.flags.writeable else weights.copy()


def _matrix(y):
    return y.reshape(y.shape[0], -1)


def first_non_finite(X, y):
    """None, or ("X" or "y", the first row (in the chunk) holding NaN or inf).

    A sum is finite only if every term is (as in
    :func:`fastgd._validation._check_finite`), so one sum reads a clean chunk
    without a temporary the size of X; only a non-finite sum looks for the row."""
    for name, values in (("X", X), ("y", y)):
        if np.isfinite(np.sum(values, dtype=np.float64)):
            continue
        bad = ~np.isfinite(_matrix(values)).all(axis=1)
        if bad.any():
            return name, int(np.argmax(bad))
    return None


@one_thread
def moments(X, weights):
    """(weight, weighted mean, weighted variance) of the chunk's columns, or
    None when its weights sum to 0."""
    X, weights = _rows_array(X), _weights_array(weights)
    rows, n = X.shape
    weight = float(np.sum(np.broadcast_to(weights, (rows,)), dtype=np.float64))
    if weight <= 0:
        return None
    mean, variance = np.empty(n), np.empty(n)
    partial = np.empty((_kernels.n_gradient_blocks(rows), 2 * n + 1))
    _kernels.column_moments(X, weights, mean, variance, partial)
    return weight, mean, variance


def gram_sums(X, y, weights, shift):
    """The chunk's unnormalized Gram sums about ``shift``
    (:func:`fastgd.sources.reductions.gram_sums`)."""
    X = np.asarray(X)
    Y = _matrix(np.asarray(y))
    weights = np.broadcast_to(weights, (X.shape[0],))
    return reductions.gram_sums(reductions.row_chunks(X, Y, weights), shift)


@one_thread
def gradient(X, y, weights, weight_total, coef, intercept, impl, loss=None):
    """The chunk's share of the weighted mean gradient and loss over all rows:
    (grad, grad_intercept, loss), float64."""
    X, y, weights = _rows_array(X), _rows_array(y), _weights_array(weights)
    return unit_gradient(X, y, weights, weight_total, coef, intercept, impl,
                         loss)  # fmt: skip


@one_thread
def rows_loss(X, y, weights, rows, coef, intercept):
    """(sum_i w_i r_ic^2 per output, sum_i w_i) over ``rows`` of the chunk."""
    squares = np.empty(coef.shape[1])
    X, y, weights = _rows_array(X), _rows_array(y), _weights_array(weights)
    total = _kernels.rows_loss(X, _matrix(y), weights, rows, coef,
                               intercept, squares)  # fmt: skip
    return squares, total


@one_thread
def squared_row_norms(X, shift, scale):
    """The chunk's rows' squared norms in z units (float64)."""
    return reductions.squared_row_norms(_rows_array(X), shift, scale)


def take(X, rows):
    """Rows ``rows`` of the chunk as float64."""
    return np.asarray(X)[rows].astype(np.float64)


def predict(X, coef, intercept):
    """X @ coef + intercept of X's dtype, for :meth:`dask.array.Array.map_blocks`."""
    X = np.asarray(X)
    dtype = X.dtype
    return X @ coef.astype(dtype, copy=False) + intercept.astype(dtype, copy=False)


# --------------------------------------------------------------- local epochs


@dataclass
class Round:
    """What every chunk's local epoch of one parameter-mixing round starts from
    (sent once a round): the model and optimizer state in z units, the first
    step's count and the epoch options of :class:`~fastgd.sources.EpochWork`."""

    coef: np.ndarray
    intercept: np.ndarray
    fit_intercept: bool
    standardization: tuple | None
    optimizer: str
    optimizer_state: np.ndarray
    drift: tuple | None
    t_start: int
    shuffle: bool
    batch_size: int | None
    impl: str
    loss: tuple | None = None


@one_thread
def local_epoch(X, y, weights, rows, seed, average_start, steps, work):
    """One epoch over the chunk's training rows (``rows``, or all of them when
    None) from the round's model (``work``, a :class:`Round`), shuffled by the
    xorshift ``seed``, with step sizes and decays ``steps`` (one each, or one
    per update).

    With ``average_start`` (a global step), the chunk also returns the mean of
    its iterates from that step on. Returns (coef, intercept, averaged coef,
    averaged intercept, optimizer state, weighted sum of squared residuals)."""
    X, y, weights = _rows_array(X), _rows_array(y), _weights_array(weights)
    order = (np.arange(X.shape[0], dtype=np.int64) if rows is None
             else np.array(rows, dtype=np.int64))  # fmt: skip
    coef, intercept = work.coef.copy(), work.intercept.copy()
    averaging = None
    if average_start is not None:
        averaging = (np.zeros_like(coef), np.zeros_like(intercept), average_start)
    optimizer = None
    state = work.optimizer_state
    if work.optimizer != "sgd":
        state = state.copy()
        optimizer = (state, optimizers.OPTIMIZERS[work.optimizer],
                     optimizers.parameters(work.optimizer))  # fmt: skip
    etas, decays = steps
    epoch = _kernels.run_epoch
    if work.impl != "compiled":
        epoch = getattr(reference, f"run_epoch_{work.impl}")
    squares = epoch(
        X, y, weights, work.standardization,
        (coef, intercept, work.fit_intercept, work.loss),
        averaging, optimizer, work.drift, (etas, decays, work.t_start), order,
        (np.array([seed], dtype=np.uint64), work.shuffle, 0), work.batch_size,
    )  # fmt: skip
    averaged = (None, None) if averaging is None else averaging[:2]
    return coef, intercept, *averaged, state, squares


# --------------------------------------------------------------- warming up

_warm_dtypes = set()


def warm(dtype):
    """Compile (or load from numba's cache) the kernels a fit's tasks call, for
    ``dtype``, once per process: run at the start of a fit on every worker, so
    no worker compiles inside a timed pass."""
    dtype = np.dtype(dtype)
    if dtype in _warm_dtypes:
        return
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 2)).astype(dtype)
    y = X.sum(axis=1)
    weights = np.ones(1, dtype)
    coef, intercept = np.zeros(2), np.zeros(1)
    moments(X, weights)
    gradient(X, y, weights, 8.0, coef, intercept, "compiled")
    rows_loss(X, y, weights, np.arange(8, dtype=np.int64), coef[:, None], intercept)
    plain = Round(
        coef=coef.astype(dtype), intercept=intercept.astype(dtype),
        fit_intercept=True, standardization=None, optimizer="sgd",
        optimizer_state=optimizers.initial_state((3,)), drift=None,
        t_start=0, shuffle=True, batch_size=None, impl="compiled",
    )  # fmt: skip
    for batch_size in (None, 4):
        plain.batch_size = batch_size
        steps = (np.full(1, 0.01, dtype), np.ones(1, dtype))
        local_epoch(X, y, weights, None, 1, None, steps, plain)
    _warm_dtypes.add(dtype)
