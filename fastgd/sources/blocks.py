"""Dense rows read in blocks: data larger than memory, streamed from storage.

A :class:`BlockSource` trains on X that a reader (:mod:`.readers`) hands over
one block of consecutive rows at a time: a memory-mapped ``.npy``, a raw binary
file, Parquet row groups. X is never held whole. Every pass streams *units* of
blocks through two reused buffers: a reader thread fills the next unit while the
kernels work on this one (double buffering; the kernels release the GIL), so a
pass costs about the larger of the read and the compute, and the resident memory
stays within ``memory_budget``: two buffers of a quarter of it each, plus the
O(m) targets, weights and row order.

* Batch gradient descent and the Gram strategy read the units in file order:
  one sequential pass per iteration, or one to form X^T X and X^T y. Per-unit
  partial sums are added in file order, so results do not depend on threads.
* A shuffled epoch (SGD, mini-batch, SVRG) is *block-shuffled*: the blocks are
  permuted, each unit gathers several of them, and its rows are shuffled
  together in memory, then visited by the in-memory epoch kernel. Every
  training row is still visited once an epoch; a mini-batch whose rows straddle
  two units carries its first rows over to the next, so an epoch makes exactly
  ceil(rows / batch_size) steps, as in memory. Deterministic for a seed.
* Moments, the curvature sample of ``eta0="auto"``, the validation loss and
  predictions are streamed passes too (only the blocks holding the rows asked
  for are read).

Every block is checked for NaN and infinity the first time it is read; the
error names the file and the rows.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _kernels, reference
from .._validation import check_targets
from .base import DataSource, no_targets
from .readers import row_range
from .reductions import (
    merge_moments,
    row_chunks,
    squared_row_norms,
    unit_gradient,
    weighted_gram,
)

# The share of memory_budget one buffer may take: two buffers (double
# buffering) leave half of the budget for the targets, the row order and what
# the fit derives from them.
_BUFFER_SHARE = 4
# Blocks a buffer holds when the source chooses the block size: a block-shuffled
# epoch fills each buffer with this many blocks drawn at random and shuffles
# their rows together. Measured on 200,000 x 20 rows sorted by the target (the
# worst order), buffers of 1/32 of X: with 1 block a buffer (a contiguous range
# of rows) SGD ended at R^2 0.61 and SVRG diverged; with 16, SGD and SVRG
# reached the full shuffle's R^2 but took 1000 and 96 epochs instead of 3 and
# 2, and mini-batch diverged; with 64, every solver matched the full shuffle
# (R^2 and epochs); 256 did too, a little slower (more, smaller reads).
MIXED_BLOCKS = 64


def default_memory_budget():
    """A quarter of this machine's memory, or of the container's limit when that
    is lower (cgroup v2 ``memory.max``), in bytes.

    >>> default_memory_budget() > 0
    True
    """
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as file:
            limit = file.read().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total // 4


def check_memory_budget(value):
    """``memory_budget`` in bytes: a positive integer, or None for the default."""
    if value is None:
        return default_memory_budget()
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (
            value <= 0):  # fmt: skip
        raise ValueError(
            f"memory_budget={value!r} is not usable: give a number of bytes "
            "(an int > 0, e.g. 4 * 2**30 for 4 GiB), or None for a quarter of the "
            "machine's memory."
        )
    return int(value)


class BlockSource(DataSource):
    """X read in blocks by ``reader`` (see :mod:`.readers`), y in memory.

    ``y`` may be None when the reader supplies the targets (``reader.targets``)
    or when the source only serves :meth:`predict`. ``memory_budget`` bounds
    the bytes held in buffers (None: :func:`default_memory_budget`); a source
    whose X fits in it is read into memory once when a fit asks for a full
    shuffle (see :meth:`for_fit`).

    >>> import numpy as np
    >>> from fastgd.sources import BlockSource
    >>> from fastgd.sources.readers import ArrayReader
    >>> X = np.arange(12.0).reshape(6, 2)
    >>> source = BlockSource(ArrayReader(X, block_rows=4), X.sum(axis=1))
    >>> source.shape, source.n_blocks
    ((6, 2), 2)
    """

    impls = ("compiled", "numpy", "loop")

    def __init__(self, reader, y=None, memory_budget=None):
        self.reader = reader
        self.memory_budget = check_memory_budget(memory_budget)
        m, n = reader.shape
        if m == 0 or n == 0:
            raise ValueError(f"{reader.where(0, m)} has shape {reader.shape}; it "
                             "needs at least one sample and one feature.")  # fmt: skip
        if y is None:
            y = getattr(reader, "targets", None)
        self._y = None if y is None else check_targets(y, m, reader.dtype)
        row_bytes = n * reader.dtype.itemsize
        if reader.block_starts is None:
            buffer_rows = self.memory_budget // _BUFFER_SHARE // row_bytes
            reader.use_block_rows(max(1, buffer_rows // MIXED_BLOCKS))
        self._checked = np.zeros(self.n_blocks, dtype=bool)
        self._lock = threading.Lock()
        self._spare_buffers = None
        sizes = np.diff(reader.block_starts)
        by_budget = self.memory_budget // _BUFFER_SHARE // (row_bytes * sizes.max())
        self.blocks_per_unit = int(max(1, min(self.n_blocks, by_budget)))
        self._unit_rows = int(np.sort(sizes)[-self.blocks_per_unit :].sum())

    # ---------------------------------------------------------------- interface

    @property
    def shape(self):
        return tuple(self.reader.shape)

    @property
    def dtype(self):
        return self.reader.dtype

    @property
    def n_blocks(self):
        return len(self.reader.block_starts) - 1

    @property
    def nbytes(self):
        """Bytes of X as it is read (float32 or float64)."""
        return self.shape[0] * self.shape[1] * self.dtype.itemsize

    @property
    def targets(self):
        if self._y is None:
            raise no_targets()
        return self._y

    @property
    def feature_names(self):
        names = getattr(self.reader, "columns", None)
        return None if names is None else [str(name) for name in names]

    def with_targets(self, y, replace=False):
        """This source with targets ``y`` (an array in memory, one per row), in
        place of its own only if ``replace`` (a classifier's encoded labels)."""
        if self._y is not None and not replace:
            raise ValueError(
                "X is a data source that holds its own targets; pass y=None."
            )
        return type(self)(self.reader, y, self.memory_budget)

    def in_memory(self):
        """A :class:`~fastgd.sources.DenseSource`'s arrays: (X read into memory,
        the targets), or None when X is larger than ``memory_budget``. A NaN or
        infinity found on the way is reported with the file's name (by
        :func:`fastgd.sources.for_fit`, which makes the conversion)."""
        if self.nbytes > self.memory_budget:
            return None
        return self.load(), self.targets

    def located(self, error):
        """``error`` (about X's values) naming the file it came from."""
        name = getattr(self.reader, "name", None)
        return error if name is None else ValueError(f"{name}: {error}")

    def check_shuffle(self, shuffle):
        """Refuse ``shuffle=True`` on X streamed from storage."""
        if shuffle is True and self.nbytes > self.memory_budget:
            raise ValueError(
                f"shuffle=True shuffles all rows, which reads X ({self.nbytes:,} "
                f"bytes, more than memory_budget={self.memory_budget:,}) in random "
                "order; use shuffle='auto' or 'block' (a random order of blocks, "
                "rows shuffled within them), or a larger memory_budget."
            )

    def load(self):
        """X in memory: the array itself when the reader maps one of the right
        dtype (the kernels read the mapping), else read block by block."""
        X = getattr(self.reader, "X", None)
        if X is not None and X.dtype == self.dtype and X.flags.c_contiguous:
            return X  # DenseSource checks it for NaN/inf
        out = np.empty(self.shape, self.dtype)
        for block in range(self.n_blocks):
            start, stop = self.reader.block_starts[block : block + 2]
            self._read(block, out[start:stop])
        return out

    # ------------------------------------------------------------ the streaming

    def _read(self, block, out):
        self.reader.read(block, out)
        if not self._checked[block]:
            _check_block_finite(out, self.reader, int(self.reader.block_starts[block]))
            self._checked[block] = True

    def _fill(self, blocks, buffer, offset):
        """Read ``blocks`` one after another into ``buffer`` from row ``offset``;
        returns their (block, first file row, last file row + 1, buffer row)."""
        segments = []
        position = offset
        for block in blocks:
            start, stop = (int(s) for s in self.reader.block_starts[block : block + 2])
            self._read(block, buffer[position : position + stop - start])
            segments.append((block, start, stop, position))
            position += stop - start
        return segments

    def _units(self, units, spare_rows=0):
        """Yield (buffer, segments) for each unit (a list of blocks) in turn, a
        thread reading the next unit while the caller works on this one. The
        first ``spare_rows`` rows of a buffer are left to the caller.

        When every unit is consecutive blocks that the reader can show where
        they are (an array in memory, or a mapped file the page cache holds:
        :meth:`ArrayReader.view`), nothing is copied; mapped pages are
        released as each unit is done."""
        views = [self._view(unit) for unit in units] if not spare_rows else [None]
        if all(view is not None for view in views):
            yield from self._views(units, views)
            return
        buffers = self._take_buffers(spare_rows + self._unit_rows)
        # The reader thread takes a core: the kernels get the others. With all
        # of them, a parallel kernel waits for its slowest thread and the epoch's
        # helper thread fights the reader (on 2 cores, 1.2-1.7x slower passes).
        # Results do not depend on the thread count.
        threads = _kernels.get_num_threads()
        _kernels.set_num_threads(max(1, threads - 1))
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="fastgd-reader") as reader:
                pending = reader.submit(self._fill, units[0], buffers[0], spare_rows)
                for index in range(len(units)):
                    segments = pending.result()
                    if index + 1 < len(units):
                        following = buffers[(index + 1) % 2]
                        pending = reader.submit(self._fill, units[index + 1],
                                                following, spare_rows)  # fmt: skip
                    yield buffers[index % 2], segments
        finally:
            _kernels.set_num_threads(threads)
            self._spare_buffers = buffers

    def _view(self, unit):
        first, last = int(unit[0]), int(unit[-1])
        if last - first != len(unit) - 1 or not hasattr(self.reader, "view"):
            return None  # not consecutive blocks
        starts = self.reader.block_starts
        return self.reader.view(int(starts[first]), int(starts[last + 1]))

    def _views(self, units, views):
        for unit, view in zip(units, views, strict=True):
            segments = []
            position = 0
            for block in unit:
                start, stop = (
                    int(s) for s in self.reader.block_starts[block : block + 2]
                )
                segments.append((block, start, stop, position))
                if not self._checked[block]:
                    rows = view[position : position + stop - start]
                    _check_block_finite(rows, self.reader, start)
                    self._checked[block] = True
                position += stop - start
            yield view, segments
            if hasattr(self.reader, "release"):
                self.reader.release(view)

    def _take_buffers(self, rows):
        """Two buffers of ``rows`` rows: the last pass's when they are free and
        large enough (reused: fresh pages would cost a page fault each), else
        new ones (another pass, in another thread, holds them)."""
        with self._lock:
            buffers, self._spare_buffers = self._spare_buffers, None
        if buffers is None or buffers[0].shape[0] < rows:
            buffers = [np.empty((rows, self.shape[1]), self.dtype) for _ in range(2)]
        return buffers

    def _sequential_units(self, blocks=None):
        """``blocks`` (default all) in file order, grouped into units."""
        blocks = np.arange(self.n_blocks) if blocks is None else blocks
        size = self.blocks_per_unit
        return [blocks[i : i + size] for i in range(0, len(blocks), size)]

    def _blocks_of(self, rows):
        """The blocks holding ``rows`` (sorted), in file order."""
        owners = np.searchsorted(self.reader.block_starts, rows, side="right") - 1
        return np.unique(owners)

    @staticmethod
    def _gather(array, segments, out, offset=0):
        """Rows of an in-memory per-row ``array`` laid out as the buffer's."""
        for _, start, stop, position in segments:
            out[position - offset : position - offset + stop - start] = array[
                start:stop]  # fmt: skip
        return out

    def _row_buffers(self, sample_weight, spare_rows=0):
        """(y, weights) arrays for a unit's rows, allocated once a pass; the
        weights are ``sample_weight`` itself when uniform."""
        rows = spare_rows + self._unit_rows
        y = np.empty((rows, *self.targets.shape[1:]), self.dtype)
        if sample_weight.shape[0] == 1:
            return y, sample_weight
        return y, np.empty(rows, sample_weight.dtype)

    def _unit_arrays(self, segments, sample_weight, buffers):
        """(y, weights) of the unit's rows, positioned as in its buffer, in
        ``buffers`` (:meth:`_row_buffers`)."""
        y, weights = buffers
        self._gather(self.targets, segments, y)
        return y, self._unit_weights(sample_weight, segments, weights)

    @staticmethod
    def _positions(rows, segments):
        """Buffer positions of the (sorted) file ``rows`` that the unit holds."""
        parts = []
        for _, start, stop, position in segments:
            first, last = np.searchsorted(rows, (start, stop))
            parts.append(rows[first:last] - start + position)
        return np.concatenate(parts).astype(np.int64, copy=False)

    # ------------------------------------------------------------- statistics

    def column_moments(self, sample_weight):
        """Per-unit weighted moments, merged in file order (:func:`merge_moments`)."""
        n = self.shape[1]
        buffer = np.empty(self._unit_rows, sample_weight.dtype)

        def parts():
            for X, segments in self._units(self._sequential_units()):
                rows = segments[-1][3] + segments[-1][2] - segments[-1][1]
                weights = self._unit_weights(sample_weight, segments, buffer[:rows])
                weight = float(np.sum(np.broadcast_to(weights, (rows,)),
                                      dtype=np.float64))  # fmt: skip
                if weight <= 0:
                    continue
                mean, variance = np.empty(n), np.empty(n)
                partial = np.empty((_kernels.n_gradient_blocks(rows), 2 * n + 1))
                _kernels.column_moments(X[:rows], weights, mean, variance, partial)
                yield weight, mean, variance

        return merge_moments(parts(), n)

    def _unit_weights(self, sample_weight, segments, out):
        """The unit's weights gathered into ``out``, or the uniform weight."""
        if sample_weight.shape[0] == 1:
            return sample_weight
        return self._gather(sample_weight, segments, out)

    def gram_statistics(self, sample_weight, shift):
        Y = self.targets.reshape(self.shape[0], -1)

        weights = np.broadcast_to(sample_weight, (self.shape[0],))

        def chunks():
            for X, segments in self._units(self._sequential_units()):
                start, stop = segments[0][1], segments[-1][2]
                yield from row_chunks(X[: stop - start], Y[start:stop],
                                      weights[start:stop])  # fmt: skip

        return weighted_gram(chunks(), shift)

    def squared_row_norms(self, shift, scale):
        """Unit by unit, in file order."""
        norms = np.empty(self.shape[0])
        for X, segments in self._units(self._sequential_units()):
            for _, start, stop, position in segments:
                norms[start:stop] = squared_row_norms(
                    X[position : position + stop - start], shift, scale)  # fmt: skip
        return norms

    def take_rows(self, rows):
        out = np.empty((len(rows), self.shape[1]))
        done = 0
        for X, segments in self._units(self._sequential_units(self._blocks_of(rows))):
            positions = self._positions(rows, segments)
            out[done : done + len(positions)] = X[positions]
            done += len(positions)
        return out

    def rows_loss(self, rows, sample_weight, coef, intercept):
        k = coef.shape[1]
        squares, unit_squares, total = np.zeros(k), np.empty(k), 0.0
        buffers = self._row_buffers(sample_weight)
        for X, segments in self._units(self._sequential_units(self._blocks_of(rows))):
            y, weights = self._unit_arrays(segments, sample_weight, buffers)
            total += _kernels.rows_loss(
                X, y.reshape(len(y), -1), weights, self._positions(rows, segments),
                coef, intercept, unit_squares,
            )  # fmt: skip
            squares += unit_squares
        return squares, total

    def predict(self, coef, intercept):
        """X @ coef + intercept, streamed, of X's dtype."""
        coef = np.asarray(coef, dtype=self.dtype)
        out = np.empty((self.shape[0], *coef.shape[1:]), self.dtype)
        for X, segments in self._units(self._sequential_units()):
            start, stop = segments[0][1], segments[-1][2]
            np.matmul(X[: stop - start], coef, out=out[start:stop])
        out += np.asarray(intercept, dtype=self.dtype).reshape(
            (-1,) if coef.ndim == 1 else (1, -1))  # fmt: skip
        return out

    # ------------------------------------------------------------ the two passes

    def gradient_pass(self, sample_weight, weight_total, impl, loss=None):
        """One sequential pass: each unit's gradient and loss, weighted by the
        whole fit's ``weight_total``, added in file order."""
        n = self.shape[1]
        k = 1 if self.targets.ndim == 1 else self.targets.shape[1]
        grad = np.empty(n) if self.targets.ndim == 1 else np.empty((n, k))
        grad_b = np.empty(k)

        def gradient(coef, intercept):
            grad[...] = 0.0
            grad_b[...] = 0.0
            total = 0.0
            for X, segments in self._units(self._sequential_units()):
                start, stop = segments[0][1], segments[-1][2]
                y = self.targets[start:stop]
                weights = sample_weight
                if sample_weight.shape[0] > 1:
                    weights = sample_weight[start:stop]
                part = unit_gradient(X[: stop - start], y, weights, weight_total,
                                     coef, intercept, impl, loss)  # fmt: skip
                grad[...] += part[0]
                grad_b[...] += part[1]
                total += part[2]
            return grad, grad_b, total

        return gradient

    def epoch_pass(self, work, impl):
        epoch = _kernels.run_epoch
        if impl != "compiled":
            epoch = getattr(reference, f"run_epoch_{impl}")
        model = work.kernel_model()
        optimizer = work.kernel_optimizer()
        batch = work.batch_size or 1
        spare = batch - 1  # room for a mini-batch's rows carried over

        def run(etas, decays, t_start):
            buffers = self._row_buffers(work.sample_weight, spare)
            blocks = np.arange(self.n_blocks, dtype=np.int64)
            if work.shuffle:
                _kernels.shuffle(blocks, work.rng_state)
            units = self._sequential_units(blocks)
            train = work.order  # the sorted training rows (never shuffled here)
            squares, step = 0.0, 0
            carried = None
            for index, (X, segments) in enumerate(self._units(units, spare)):
                y, weights = self._unit_arrays(segments, work.sample_weight, buffers)
                order = self._positions(train, segments)
                if carried is not None:
                    order = _place_carried(carried, X, y, weights, spare, order)
                if work.shuffle:
                    _kernels.shuffle(order, work.rng_state)
                last = index == len(units) - 1
                used = len(order) if last else len(order) // batch * batch
                carried = None
                if used < len(order):
                    rest = order[used:]
                    uniform = weights.shape[0] == 1
                    carried = (X[rest], y[rest], None if uniform else weights[rest])
                if used == 0:
                    continue
                steps = -(-used // batch)
                rates = slice(step, step + steps) if len(etas) > 1 else slice(None)
                order = np.ascontiguousarray(order[:used])
                visit = (work.rng_state, False, _kernels.helper_chunk_rows(X, used))
                squares += epoch(
                    X, y, weights, work.standardization, model, work.averaging,
                    optimizer, work.drift,
                    (etas[rates], decays[rates], t_start + step), order,
                    visit, work.batch_size,
                )  # fmt: skip
                step += steps
            return squares

        return run


def _place_carried(carried, X, y, weights, spare, order):
    """Put the rows carried from the last unit in the spare rows before this
    unit's, and add their positions to ``order``."""
    rows, targets, row_weights = carried
    first = spare - len(rows)
    X[first:spare] = rows
    y[first:spare] = targets
    if row_weights is not None:
        weights[first:spare] = row_weights
    return np.concatenate([np.arange(first, spare, dtype=np.int64), order])


def _check_block_finite(block, reader, start):
    """NaN/inf in a block just read: an error naming the file and the row."""
    if np.isfinite(np.min(block)) and np.isfinite(np.max(block)):
        return
    bad = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
    raise ValueError(
        f"X holds NaN or infinity at {reader.where(bad, bad + 1)} (in the block of "
        f"{row_range(start, start + len(block))} of X); remove or impute those "
        "values before fitting."
    )
