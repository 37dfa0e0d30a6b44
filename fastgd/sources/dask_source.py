"""Data on a Dask cluster: X stays on the workers, the kernels go to it.

:class:`DaskSource` answers the data-source interface with one task per chunk of
rows (:mod:`.chunk_tasks`), run by the current ``distributed`` client or, when
there is none, by Dask's default scheduler; fastgd never starts a cluster.

* The source persists X and y once (a fit builds one source), has every
  worker compile the kernels while the chunks load, then checks them for
  NaN/inf (one pass).
* Batch gradient descent: each iteration is one task per chunk running the
  compiled fused pass on its rows; the partial gradients and losses come back
  (O(n k) each) and are summed on the client in a fixed pairwise tree over the
  chunks, so the result depends on the chunking alone, never on the workers.
  The Gram strategy sums the chunks' X^T X in one pass, then iterates on the
  client.
* SGD, mini-batch and SVRG epochs are parameter-mixing rounds (Zinkevich et al.
  2010; McDonald et al. 2010): every chunk runs a local epoch over its own
  rows from the same model, in parallel, and the models (and the optimizer's
  state, and averaged iterates) are averaged, weighted by each chunk's training
  weight. Each chunk shuffles with a seed drawn from the fit's generator and
  its index, so a fit is deterministic for a seed and a chunking.
* A worker lost during a fit costs only time: its chunks are recomputed from
  their graph, and every per-chunk array fastgd hands the workers (weights,
  row lists) is a task the scheduler can rerun.

y, the weights and the row lists are O(m) and live on the client too (the
training path reads y for its moments and stopping rule); X never leaves the
workers.
"""

import functools
import itertools

import numpy as np

from .._validation import reject_unusable_dtype
from . import chunk_tasks
from .base import DataSource
from .reductions import centred_statistics, merge_moments


def is_dask_collection(X):
    """Whether X is a Dask collection (array, DataFrame or Series), checked
    without importing dask."""
    return hasattr(X, "__dask_graph__") and callable(X.__dask_graph__)


def _current_client():
    """The current ``distributed`` client, or None (then Dask's default
    scheduler runs the tasks)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _require_dask():
    try:
        import dask.array  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the tests install dask
        raise ImportError(
            'Fitting Dask collections needs dask: pip install "fastgd[dask]".'
        ) from exc


def tree_sum(parts):
    """The sum of ``parts`` (arrays or numbers) added in a fixed pairwise tree:
    (((p0 + p1) + (p2 + p3)) + ...), the same whatever ran them."""
    parts = list(parts)
    while len(parts) > 1:
        pairs = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
        parts = pairs + parts[len(parts) - len(parts) % 2 :]
    return parts[0]


# --------------------------------------------------------------- conversions


def _check_frame_columns(frame, name):
    dtypes = frame.dtypes
    dtypes = dtypes.items() if hasattr(dtypes, "items") else [(frame.name, dtypes)]
    bad = [str(c) for c, t in dtypes if getattr(t, "kind", "O") not in "iuf"]
    if bad:
        raise TypeError(
            f"{name} has columns that are not numbers: {bad}. Encode them as numbers "
            "(or drop them) before fitting."
        )


def _as_matrix(X, name="X"):
    """X as a lazy 2-D dask array of float32/float64 with all columns in one
    chunk (row chunk sizes may still be unknown for a DataFrame)."""
    import dask.array as da

    if hasattr(X, "to_dask_array"):  # a DataFrame (or Series)
        _check_frame_columns(X, name)
        X = X.to_dask_array()
    elif not isinstance(X, da.Array):
        raise TypeError(
            f"{name} is a {type(X).__name__}; fastgd fits dask arrays and dask "
            "DataFrames (or call .to_dask_array())."
        )
    reject_unusable_dtype(X, name, bool_ok=True)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (samples x features); got {X.ndim} dimensions. "
            "Reshape it, for example X.reshape(-1, 1) for one feature."
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def _as_targets(y, dtype):
    """y as a lazy dask array (m,) or (m, k) of ``dtype``."""
    import dask.array as da

    if y is None:
        raise ValueError(
            "y is required with a Dask X: pass the targets as a dask array, a dask "
            "Series or DataFrame, or a NumPy array."
        )
    if hasattr(y, "to_dask_array"):
        _check_frame_columns(y, "y")
        y = y.to_dask_array()
    elif not isinstance(y, da.Array):
        y = np.asarray(y)
    reject_unusable_dtype(y, "y")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D; got {y.ndim} dimensions.")
    if isinstance(y, np.ndarray):
        return y.astype(dtype, copy=False)
    return y.astype(dtype) if y.dtype != dtype else y


def lazy_predict(X, coef, intercept):
    """X @ coef + intercept as a lazy dask array of X's dtype, one task per
    chunk of rows (X a dask array or DataFrame; nothing is computed)."""
    _require_dask()
    X = _as_matrix(X)
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    if coef.ndim == 1:
        return X.map_blocks(chunk_tasks.predict, coef, intercept, drop_axis=1,
                            dtype=X.dtype)  # fmt: skip
    return X.map_blocks(chunk_tasks.predict, coef, intercept,
                        chunks=(X.chunks[0], (coef.shape[1],)),
                        dtype=X.dtype)  # fmt: skip


def r2(X, y, coef, intercept, sample_weight=None):
    """R^2 of the predictions on dask (X, y) as scikit-learn's ``r2_score``
    (the mean over outputs), from sums computed on the cluster."""
    import dask
    import dask.array as da

    prediction = lazy_predict(X, coef, intercept)
    Y = _as_targets(y, prediction.dtype)
    Y = da.asarray(Y).astype(np.float64)
    if Y.ndim == 1:
        Y, prediction = Y[:, None], prediction[:, None]
    prediction = prediction.astype(np.float64)
    w, mean = 1.0, Y.mean(axis=0)
    if sample_weight is not None:
        w = da.asarray(sample_weight).astype(np.float64)[:, None]
        mean = da.sum(w * Y, axis=0) / da.sum(w)
    residual = da.sum(w * (Y - prediction) ** 2, axis=0)
    spread = da.sum(w * (Y - mean) ** 2, axis=0)
    residual, spread = dask.compute(residual, spread)
    spread = np.maximum(spread, np.finfo(np.float64).tiny)
    return float(np.mean(1.0 - residual / spread))


# --------------------------------------------------------------- execution


def _identity(value):
    return value


def _call(args, task, common):
    """``task(*args, *common)``: a chunk's task as :meth:`Client.map` calls it."""
    return task(*args, *common)


class _ClusterTasks:
    """Tasks on a ``distributed`` client: chunks are futures of the persisted
    arrays, a pass is one ``Client.map`` (a task a chunk) and one ``gather``."""

    def __init__(self, client):
        self.client = client

    def persist(self, *arrays):
        return self.client.persist(list(arrays))

    def wait(self, arrays):
        from distributed import wait

        wait(arrays)

    def warm(self, dtype):
        self.client.run(chunk_tasks.warm, np.dtype(dtype).str)

    def chunks(self, array):
        from distributed import futures_of

        by_key = {future.key: future for future in futures_of(array)}
        return [by_key[key] for key in array.__dask_keys__() for key in _flat(key)]

    def hold(self, values):
        """Per-chunk arrays handed to the workers as tasks (not ``scatter``):
        the scheduler can rerun them if a worker is lost."""
        return [self.client.submit(_identity, v, pure=False) for v in values]

    def map(self, task, per_chunk, *common):
        # One map: one message to the scheduler for the whole pass, the common
        # arguments sent once (a submit per chunk cost ~1.5 ms more a chunk).
        futures = self.client.map(_call, per_chunk, task=task, common=common,
                                  pure=False)  # fmt: skip
        return self.client.gather(futures)

    def fetch(self, chunk):
        return chunk.result()


class _LocalTasks:
    """Tasks on Dask's default scheduler (threads, unless configured)."""

    def persist(self, *arrays):
        import dask

        return list(dask.persist(*arrays))

    def wait(self, arrays):
        pass

    def warm(self, dtype):
        chunk_tasks.warm(dtype)

    def chunks(self, array):
        return list(array.to_delayed().ravel())

    def hold(self, values):
        return list(values)

    def map(self, task, per_chunk, *common):
        import dask

        run = dask.delayed(task, pure=False)
        return list(dask.compute(*[run(*args, *common) for args in per_chunk]))

    def fetch(self, chunk):
        return chunk.compute()


def _flat(key):
    """A dask array's nested list of keys, flattened in row order."""
    if isinstance(key, list):
        return [k for item in key for k in _flat(item)]
    return [key]


# --------------------------------------------------------------- the source


class DaskSource(DataSource):
    """X and y on a Dask cluster (a dask array with rows in chunks, or a dask
    DataFrame), persisted once, when a fit first reads them; every pass is a
    task per chunk. Predicting and scoring compute lazily and persist nothing
    (y may then be None: predictions need no targets).

    >>> import dask.array as da
    >>> from fastgd.sources import DaskSource
    >>> X = da.ones((100, 3), chunks=(25, 3))
    >>> source = DaskSource(X, da.zeros(100, chunks=25))
    >>> source.shape, source.n_chunks
    ((100, 3), 4)
    """

    impls = ("compiled", "numpy", "loop")
    mixed_epochs = True

    def __init__(self, X, y):
        _require_dask()
        client = _current_client()
        self._tasks = _ClusterTasks(client) if client is not None else _LocalTasks()
        self._feature_names = (
            [str(name) for name in X.columns] if hasattr(X, "columns") else None
        )
        X = _as_matrix(X)
        self._given = (X, None if y is None else _as_targets(y, X.dtype))
        self._held = {}
        self._targets = None

    @functools.cached_property
    def _loaded(self):
        """(X, y, chunks, starts): X and y persisted, the non-empty chunks'
        (X, y) pairs and the rows where they start, X and y checked finite."""
        X, y = self._given
        if y is None:
            _as_targets(y, X.dtype)  # raises: a fit needs the targets
        X, y = self._persist(X, y)
        # Chunks without rows (a masked array's, a DataFrame's empty
        # partitions) take no part in any pass.
        sizes = X.chunks[0]
        pairs = zip(self._tasks.chunks(X), self._tasks.chunks(y), strict=True)
        chunks = [pair for pair, rows in zip(pairs, sizes, strict=True) if rows]
        starts = np.cumsum((0, *[rows for rows in sizes if rows]))
        self._check_finite(chunks, starts)
        return X, y, chunks, starts

    _X = property(lambda self: self._loaded[0])
    _y = property(lambda self: self._loaded[1])
    _chunks = property(lambda self: self._loaded[2])
    _starts = property(lambda self: self._loaded[3])

    @property
    def feature_names(self):
        return self._feature_names

    def _persist(self, X, y):
        """X and y persisted (the chunks load while the workers warm up), with
        y in X's row chunks."""
        import dask.array as da

        tasks = self._tasks
        unknown = any(np.isnan(size) for size in X.chunks[0])
        if isinstance(y, np.ndarray) and not unknown:
            y = da.from_array(y, chunks=(X.chunks[0], *y.shape[1:]))
        X, *rest = tasks.persist(X, *([y] if isinstance(y, da.Array) else []))
        tasks.warm(X.dtype)
        tasks.wait([X, *rest])
        if unknown:  # a DataFrame, a masked array: lengths from the persisted chunks
            X.compute_chunk_sizes()
        y = rest[0] if rest else y
        if isinstance(y, da.Array) and any(np.isnan(s) for s in y.chunks[0]):
            y.compute_chunk_sizes()
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples but y has {y.shape[0]}; pass one target "
                "per row of X."
            )
        if isinstance(y, np.ndarray) or y.chunks[0] != X.chunks[0]:
            y = da.asarray(y).rechunk((X.chunks[0], *y.shape[1:]))
            y = tasks.persist(y)[0]
            tasks.wait([y])
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X is empty (shape {X.shape}); fit needs data.")
        return X, y

    def _check_finite(self, chunks, starts):
        found = self._tasks.map(chunk_tasks.first_non_finite, chunks)
        for start, bad in zip(starts[:-1], found, strict=True):
            if bad is not None:
                name, row = bad
                raise ValueError(
                    f"Input {name} contains NaN or infinity (row {start + row}). "
                    "Drop or impute those rows first (for example with "
                    "dask_ml.impute.SimpleImputer, or X[da.isfinite(X).all(axis=1)])."
                )

    @property
    def shape(self):
        return self._X.shape

    @property
    def dtype(self):
        return self._given[0].dtype

    @property
    def n_features(self):
        return self._given[0].shape[1]

    @property
    def n_chunks(self):
        return len(self._chunks)

    @property
    def targets(self):
        if self._targets is None:
            # Chunk by chunk into one array: the client holds y once.
            targets = np.empty(self._y.shape, self.dtype)
            for (_, y), start, stop in zip(self._chunks, self._starts[:-1],
                                           self._starts[1:], strict=True):  # fmt: skip
                targets[start:stop] = self._tasks.fetch(y)
            targets.flags.writeable = False
            self._targets = targets
        return self._targets

    # ------------------------------------------------------------ chunk arrays

    def _by_chunk(self, values):
        """A per-row array split into the chunks' slices, held by the workers
        (once per array: the held slices are cached for the fit)."""
        key = id(values)
        if key not in self._held:
            starts = self._starts
            parts = [values[a:b] for a, b in itertools.pairwise(starts)]
            self._held[key] = (values, self._tasks.hold(parts))
        return self._held[key][1]

    def _weights(self, sample_weight):
        if sample_weight.shape[0] == 1:
            return [sample_weight] * self.n_chunks
        return self._by_chunk(sample_weight)

    def _local_rows(self, rows):
        """Sorted global ``rows`` -> [(chunk index, the chunk's local rows)]."""
        cuts = np.searchsorted(rows, self._starts)
        return [(c, rows[cuts[c] : cuts[c + 1]] - self._starts[c])
                for c in range(self.n_chunks) if cuts[c + 1] > cuts[c]]  # fmt: skip

    # ------------------------------------------------------------ statistics

    def column_moments(self, sample_weight):
        weights = self._weights(sample_weight)
        parts = self._tasks.map(
            chunk_tasks.moments,
            [(X, w) for (X, _), w in zip(self._chunks, weights, strict=True)],
        )  # fmt: skip
        return merge_moments(parts, self.shape[1])

    def gram_statistics(self, sample_weight, shift):
        weights = self._weights(sample_weight)
        parts = self._tasks.map(
            chunk_tasks.gram_sums,
            [(X, y, w, shift) for (X, y), w in zip(self._chunks, weights,
                                                   strict=True)],
        )  # fmt: skip
        return centred_statistics(
            [tree_sum(values) for values in zip(*parts, strict=True)], shift
        )

    def squared_row_norms(self, shift, scale):
        per_chunk = [(X,) for X, _ in self._chunks]
        parts = self._tasks.map(chunk_tasks.squared_row_norms, per_chunk, shift, scale)
        return np.concatenate(parts) if parts else np.empty(0)

    def take_rows(self, rows):
        local = self._local_rows(rows)
        chunks = [(self._chunks[c][0], r) for c, r in local]
        parts = self._tasks.map(chunk_tasks.take, chunks)
        if not parts:
            return np.empty((0, self.shape[1]))
        return np.concatenate(parts)

    def rows_loss(self, rows, sample_weight, coef, intercept):
        local = self._local_rows(rows)
        key = ("rows", id(rows))
        if key not in self._held:
            self._held[key] = (rows, self._tasks.hold([r for _, r in local]))
        held = self._held[key][1]
        weights = self._weights(sample_weight)
        parts = self._tasks.map(
            chunk_tasks.rows_loss,
            [
                (*self._chunks[c], weights[c], r)
                for (c, _), r in zip(local, held, strict=True)
            ],
            coef,
            intercept,
        )
        return (tree_sum([p[0] for p in parts]),
                float(tree_sum([p[1] for p in parts])))  # fmt: skip

    def predict(self, coef, intercept):
        """A lazy dask array of the predictions (nothing is computed)."""
        return lazy_predict(self._current()[0], coef, intercept)

    def score(self, coef, intercept, sample_weight=None):
        """R^2 from sums computed on the cluster (:func:`r2`)."""
        X, y = self._current()
        return r2(X, y, coef, intercept, sample_weight)

    def _current(self):
        """(X, y): persisted where a fit persisted them, else as given."""
        return self._loaded[:2] if "_loaded" in self.__dict__ else self._given

    # ------------------------------------------------------------ the two passes

    def gradient_pass(self, sample_weight, weight_total, impl, loss=None):
        """One task per chunk (the fused compiled pass, or a twin); the chunks'
        shares of the mean gradient and loss summed by :func:`tree_sum`."""
        weights = self._weights(sample_weight)
        per_chunk = [(X, y, w) for (X, y), w in zip(self._chunks, weights, strict=True)]
        n, k_shape = self.shape[1], self._y.shape[1:]

        def gradient(coef, intercept):
            parts = self._tasks.map(chunk_tasks.gradient, per_chunk, weight_total,
                                    coef, intercept, impl, loss)  # fmt: skip
            grad = np.zeros((n, *k_shape)) + tree_sum([p[0] for p in parts])
            grad_b = np.atleast_1d(np.asarray(tree_sum([p[1] for p in parts]),
                                              dtype=np.float64))  # fmt: skip
            return grad, grad_b, float(tree_sum([p[2] for p in parts]))

        return gradient

    def epoch_pass(self, work, impl):
        """A parameter-mixing round (see the module docstring) over the training
        rows ``work.order`` (sorted when the pass is made)."""
        return MixingRound(self, work, impl)


def _seed(sequence):
    """A nonzero 64-bit xorshift seed from a :class:`numpy.random.SeedSequence`."""
    return int(sequence.generate_state(1, np.uint64)[0]) | 1


class MixingRound:
    """One epoch as a parameter-mixing round: a callable (etas, decays,
    t_start) -> weighted sum of squared residuals, like every epoch pass.

    Chunk c runs ``steps_c`` updates (its rows, or its batches) with the first
    ``steps_c`` of the epoch's step sizes. The results are averaged with the
    chunks' training weights W_c into ``work``. An averaged iterate: each chunk
    averages its own iterates from the matching point of its local epoch
    (``average_start`` scaled to the chunk's steps), and the mix of those joins
    the running average with the weight of the epoch's averaged steps.
    """

    def __init__(self, source, work, impl):
        self.source, self.work, self.impl = source, work, impl
        # The training rows are sorted when the pass is made (the engines make
        # it before any epoch) and are never shuffled here.
        order, starts = work.order, source._starts
        cuts = np.searchsorted(order, starts)
        counts = np.diff(cuts)
        self.chunks = [c for c in range(source.n_chunks) if counts[c] > 0]
        # A chunk's row list travels only when some of its rows do not train.
        partial = [c for c in self.chunks if counts[c] < starts[c + 1] - starts[c]]
        held = dict(zip(partial, source._tasks.hold(
            [order[cuts[c] : cuts[c + 1]] - starts[c] for c in partial]),
            strict=True))  # fmt: skip
        weights = source._weights(work.sample_weight)
        self.per_chunk = [(*source._chunks[c], weights[c], held.get(c))
                          for c in self.chunks]  # fmt: skip
        sample_weight = work.sample_weight
        self.mix_weights = np.array([
            counts[c] * float(sample_weight[0]) if sample_weight.shape[0] == 1
            else float(np.sum(sample_weight[order[cuts[c] : cuts[c + 1]]],
                              dtype=np.float64))
            for c in self.chunks
        ])  # fmt: skip
        unit = work.batch_size or 1
        self.steps = np.array([-(-counts[c] // unit) for c in self.chunks])
        self.total_steps = -(-len(order) // unit)

    def _seeds(self):
        """A nonzero xorshift seed a chunk, drawn from the fit's generator and
        the chunk's index; the generator moves on once a round."""
        state = self.work.rng_state
        entropy = int(state[0])
        seeds = [_seed(np.random.SeedSequence(entropy, spawn_key=(c,)))
                 for c in self.chunks]  # fmt: skip
        if self.work.shuffle:
            state[0] = _seed(np.random.SeedSequence(entropy))
        return seeds

    def _average_starts(self, t_start):
        """Each chunk's first averaged step (global count), or None."""
        averaging = self.work.averaging
        if averaging is None or averaging[2] >= t_start + self.total_steps:
            return [None] * len(self.chunks)
        offset = max(0, averaging[2] - t_start)
        return [t_start + min(steps - 1, offset * steps // self.total_steps)
                for steps in self.steps]  # fmt: skip

    def __call__(self, etas, decays, t_start):
        work = self.work
        state = chunk_tasks.Round(
            coef=work.coef, intercept=work.intercept, fit_intercept=work.fit_intercept,
            standardization=work.standardization, optimizer=work.optimizer,
            optimizer_state=work.optimizer_state, drift=work.drift,
            t_start=int(t_start), shuffle=work.shuffle,
            batch_size=work.batch_size, impl=self.impl, loss=work.loss,
        )  # fmt: skip
        # Chunk c takes the first steps_c step sizes: only those travel.
        per_step = len(etas) > 1
        schedules = [(etas[:n], decays[:n]) if per_step else (etas, decays)
                     for n in self.steps]  # fmt: skip
        chunk_state = zip(self._seeds(), self._average_starts(t_start), schedules,
                          strict=True)  # fmt: skip
        per_chunk = [
            (*args, *more)
            for args, more in zip(self.per_chunk, chunk_state, strict=True)
        ]
        parts = self.source._tasks.map(chunk_tasks.local_epoch, per_chunk, state)
        share = self.mix_weights / self.mix_weights.sum()

        def mix(index):
            return tree_sum([s * p[index].astype(np.float64)
                             for s, p in zip(share, parts, strict=True)])  # fmt: skip

        work.coef[...] = mix(0)
        work.intercept[...] = mix(1)
        if work.optimizer != "sgd":
            work.optimizer_state[...] = mix(4)
        if work.averaging is not None and parts[0][2] is not None:
            avg_coef, avg_intercept, average_start = work.averaging
            history = max(0, t_start - average_start)
            new = t_start + self.total_steps - max(average_start, t_start)
            keep = history / (history + new)
            avg_coef[...] = keep * avg_coef + (1 - keep) * mix(2)
            avg_intercept[...] = keep * avg_intercept + (1 - keep) * mix(3)
        return float(tree_sum([float(p[5]) for p in parts]))
