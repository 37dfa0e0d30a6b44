"""The in-memory sparse source: a SciPy CSR matrix, never densified.

Every pass reads the stored entries only (:mod:`fastgd._kernels.sparse`), and
standardization is applied implicitly (scale per column; centring as a dense
vector shared by all rows), so a fit needs O(m + n) memory beside the matrix.
"""

import numpy as np

from .. import _kernels, reference
from .._validation import check_targets, reject_unusable_dtype
from .base import DataSource, no_targets
from .reductions import (
    cancelling_columns,
    centred_row_norms,
    centred_statistics,
    recentre_columns,
    unsigned,
)
from .rows import CentredSparseRows

# A block of rows holds a float64 gradient of (n + 1) k values: blocks are capped
# so that all of them hold at most one value per this many stored entries (the
# buffers then take at most about 2% of the matrix's bytes, and their
# reduction a few percent of the pass). At 1,000,000 x 100,000 with 20 entries
# a row, 2 to 12 blocks timed alike (23-24 ms, best of 7, AMD EPYC).
ENTRIES_PER_BLOCK_VALUE = 32


def _scipy_sparse():
    try:
        import scipy.sparse
    except ImportError as exc:  # pragma: no cover - scipy comes with scikit-learn
        raise ImportError(
            "Sparse X needs SciPy: pip install 'fastgd[sparse]'."
        ) from exc
    return scipy.sparse


def is_sparse(X):
    """True for a SciPy sparse matrix or array (any format), and for a pandas
    DataFrame whose columns are all sparse."""
    if _is_pandas_sparse(X):
        return True
    if not hasattr(X, "tocsr"):
        return False
    return _scipy_sparse().issparse(X)


def _is_pandas_sparse(X):
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(X, "sparse") or not len(dtypes):
        return False
    return all(type(dtype).__name__ == "SparseDtype" for dtype in dtypes)


def _pandas_sparse_as_coo(X):
    """A sparse DataFrame's entries as a SciPy COO matrix (a copy)."""
    check_sparse_fill(X)
    return X.sparse.to_coo()


def check_sparse_fill(X):
    """A pandas sparse DataFrame's fill value must be 0: a NaN fill value
    means missing entries (ValueError naming the fix). Anything else passes."""
    if not _is_pandas_sparse(X):
        return
    fills = {getattr(dtype, "fill_value", 0) for dtype in X.dtypes}
    if any(not (fill == 0) for fill in fills):  # NaN != 0 too
        raise ValueError(
            f"X is a sparse DataFrame whose fill value is {sorted(map(str, fills))}, "
            "not 0: its unstored entries would be missing values. Build it with "
            "fill_value=0 (pd.arrays.SparseArray(values, fill_value=0)), or fill "
            "them: X.sparse.to_dense().fillna(0)."
        )


def as_csr(X, allow_empty=False):
    """(csr, copied): X as a canonical CSR matrix of float32 or float64 with
    int32/int64 indices, its buffers read-only views of the caller's where they
    can be, checked (see :class:`SparseSource`); without a stored entry only
    where ``allow_empty`` (rows to predict on)."""
    sparse = _scipy_sparse()
    reject_unusable_dtype(X, "X", sparse_ok=True, bool_ok=True)  # before conversion
    copied = False
    if _is_pandas_sparse(X):
        X = _pandas_sparse_as_coo(X)
    if X.format != "csr":
        X = X.tocsr()  # CSC, COO, LIL, DOK, BSR, DIA: one conversion, a copy
        copied = True
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
        copied = True
    m, n = X.shape
    data, indices, indptr = X.data, X.indices, X.indptr
    _check_structure(data, indices, indptr, m, n)
    nnz = int(indptr[-1])
    if nnz == 0 and not allow_empty:
        raise ValueError(
            f"X is a sparse matrix of shape {X.shape} with no stored entries: there "
            "is nothing to fit. Check how the matrix was built."
        )
    data, indices = data[:nnz], indices[:nnz]
    if indices.dtype not in (np.int32, np.int64):
        indices = indices.astype(np.int64)
        indptr = indptr.astype(np.int64)
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    _check_finite(data, indptr)
    if _kernels.has_duplicates(indices, indptr, n):
        # scipy's meaning of duplicates is their sum; the moments need it formed.
        X = sparse.csr_matrix((data, indices, indptr), shape=(m, n), copy=True)
        X.sum_duplicates()
        data, indices, indptr = X.data, X.indices, X.indptr
        copied = True
    views = []
    for array in (data, indices, indptr):
        view = np.ascontiguousarray(array).view()
        view.flags.writeable = False
        views.append(view)
    csr = sparse.csr_matrix(tuple(views), shape=(m, n), copy=False)
    return csr, copied


def _check_structure(data, indices, indptr, m, n):
    """ValueError for a CSR whose index arrays scipy itself would reject."""
    fix = "rebuild it with scipy.sparse.csr_matrix((data, indices, indptr), shape=...)"
    if indptr.shape != (m + 1,) or indptr[0] != 0:
        raise ValueError(
            f"X's indptr has shape {indptr.shape} and starts at {indptr[:1]}; a CSR "
            f"matrix of {m} rows needs {m + 1} row pointers from 0: {fix}."
        )
    nnz = int(indptr[-1])
    if nnz > min(len(indices), len(data)) or np.any(indptr[1:] < indptr[:-1]):
        raise ValueError(f"X's row pointers (indptr) are not a valid CSR: {fix}.")
    if nnz and (indices[:nnz].min() < 0 or indices[:nnz].max() >= n):
        raise ValueError(
            f"X has column indices out of range: they span "
            f"[{indices[:nnz].min()}, {indices[:nnz].max()}] for {n} columns; {fix} "
            "and the right shape."
        )


def _check_finite(data, indptr):
    """scikit-learn's NaN/inf error, naming the first bad row."""
    if np.isfinite(np.sum(data, dtype=np.float64)):
        return
    bad = np.flatnonzero(~np.isfinite(data))
    if len(bad) == 0:  # finite values whose sum overflows
        return
    row = int(np.searchsorted(indptr, bad[0], side="right") - 1)
    kind = "NaN" if np.isnan(data[bad[0]]) else "infinity"
    raise ValueError(
        f"Input X contains {kind} (stored entry {int(bad[0])}, row {row}; "
        f"{len(bad)} non-finite entries). Remove or impute them first."
    )


def block_bounds(indptr, n_values, n_samples):
    """Fixed row blocks with about equal stored entries (from the data alone):
    as many as :func:`fastgd._kernels.n_gradient_blocks` gives for dense rows,
    capped so the blocks' buffers of ``n_values`` float64 stay small."""
    nnz = int(indptr[-1])
    cap = max(1, nnz // (ENTRIES_PER_BLOCK_VALUE * max(1, n_values)))
    n_blocks = max(1, min(_kernels.n_gradient_blocks(n_samples), cap))
    targets = np.linspace(0, nnz, n_blocks + 1)
    bounds = np.searchsorted(indptr, targets, side="left").astype(np.int64)
    bounds[0], bounds[-1] = 0, n_samples
    return np.maximum.accumulate(bounds)


class SparseSource(DataSource):
    """A SciPy sparse X (matrix or array, any format) and y held in memory.

    CSR with float32/float64 data and int32/int64 indices is used as it is (its
    buffers read-only views; unsorted indices and explicit zeros are fine).
    Other formats (CSC, COO, LIL, DOK, ...) are converted to CSR once, and other
    dtypes to float64: a copy of the matrix. Duplicate entries mean their sum,
    as in scipy: a matrix holding some is summed into a copy. The caller's
    matrix is never changed.

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> X = sp.random(100, 20, density=0.1, format="csr", random_state=0)
    >>> source = SparseSource(X, np.ones(100))
    >>> source.shape, source.dtype, source.nnz
    ((100, 20), dtype('float64'), 200)
    """

    decays_per_coefficient = False  # the lazy epochs decay one scalar

    impls = ("compiled", "numpy", "loop")

    def __init__(self, X, y):
        # Without targets (rows to predict on), a row without entries is a
        # row like any other.
        X, self.copied = as_csr(X, allow_empty=y is None)
        self.X = X
        self.y = None if y is None else check_targets(y, X.shape[0], X.dtype)
        # Unsigned views for the kernels (the indices were checked >= 0).
        self.csr = (X.data, unsigned(X.indices), unsigned(X.indptr))
        self._bounds = {}

    @property
    def shape(self):
        return self.X.shape

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def targets(self):
        if self.y is None:
            raise no_targets()
        return self.y

    @property
    def nnz(self):
        return int(self.X.indptr[-1])

    @property
    def row_elements(self):
        return max(1.0, self.nnz / self.shape[0])

    def _targets_2d(self):
        return self.y.reshape(self.y.shape[0], -1)

    def _blocks(self, *shape):
        """(bounds, partial) of the block kernels, ``shape`` float64 sums a block."""
        n_values = int(np.prod(shape))
        if n_values not in self._bounds:
            self._bounds[n_values] = block_bounds(self.X.indptr, n_values,
                                                  self.shape[0])  # fmt: skip
        bounds = self._bounds[n_values]
        return bounds, np.empty((len(bounds) - 1, *shape))

    def column_moments(self, sample_weight):
        m, n = self.shape
        mean, variance = np.empty(n), np.empty(n)
        bounds, partial = self._blocks(2, n)
        total = float(np.sum(np.broadcast_to(sample_weight, (m,)), dtype=np.float64))
        _kernels.sparse_column_moments(self.csr, sample_weight, total, mean,
                                       variance, bounds, partial)  # fmt: skip
        # The kernel takes E[x^2] - mean^2; where that cancels (a mean far
        # above the spread: a nearly dense column), again by subtraction.
        columns = cancelling_columns(variance + mean * mean, variance)
        if len(columns):
            weights = np.broadcast_to(sample_weight, (m,)).astype(np.float64)[:, None]
            centred = self.X[:, columns].toarray().astype(np.float64) - mean[columns]
            variance[columns] = (weights * centred * centred).sum(axis=0) / total
        return mean, variance

    @property
    def max_sample_rows(self):
        """Rows a curvature sample may copy: a fiftieth of the matrix (its
        float64 copy then costs about 2% of the matrix's bytes beside it), and
        at least a thousand."""
        return max(1000, self.shape[0] // 50)

    def predict(self, coef, intercept):
        return self.X @ coef.astype(self.dtype, copy=False) + intercept.astype(
            self.dtype, copy=False)  # fmt: skip

    def squared_row_norms(self, shift, scale):
        return centred_row_norms(self.X, shift, scale)

    def take_rows(self, rows):
        """The rows as a float64 CSR matrix (one copy of their entries only)."""
        return self.X[rows].astype(np.float64, copy=False)

    def standardized_rows(self, rows, shift, scale):
        return CentredSparseRows(self.take_rows(rows), shift, scale)

    def rows_loss(self, rows, sample_weight, coef, intercept):
        coef = np.ascontiguousarray(coef, dtype=np.float64).reshape(self.shape[1], -1)
        squares = np.empty(coef.shape[1])
        total = _kernels.sparse_rows_loss(
            self.csr, self._targets_2d(), sample_weight, rows, coef,
            np.asarray(intercept, dtype=np.float64), squares,
        )  # fmt: skip
        return squares, total

    def gram_statistics(self, sample_weight, shift):
        """X^T X by one pass over the rows' pairs of entries (O(sum nnz_i^2),
        into an n x n float64 matrix): for few features and short rows. Sparse
        columns keep no shift (it would fill them in); y is shifted, and the
        few columns whose mean dwarfs their spread (they are nearly dense) get
        their centred products again from a dense copy of those columns."""
        n = self.shape[1]
        y_shift = shift[1]
        Y = self._targets_2d()
        Y = (Y - y_shift).astype(Y.dtype)
        k = Y.shape[1]
        gram, cross = np.zeros((n, n)), np.zeros((n, k))
        x_sum, y_moments = np.zeros(n), np.zeros((2, k))
        total = _kernels.sparse_gram(self.csr, Y, sample_weight, gram, cross,
                                     x_sum, y_moments)  # fmt: skip
        gram = gram + np.triu(gram, 1).T
        about = (np.zeros(n), y_shift)
        sums = (gram, cross, x_sum, y_moments[0], y_moments[1], total)
        statistics = centred_statistics(sums, about)
        columns = cancelling_columns(np.diag(gram) / total,
                                     np.diag(statistics.covariance))  # fmt: skip
        if len(columns):
            self._recentre(statistics, columns, sample_weight, Y, y_shift, total)
        return statistics

    def _recentre(self, statistics, columns, sample_weight, Y, y_shift, total):
        """The centred products of ``columns``, in place in ``statistics``
        (:func:`~fastgd.sources.reductions.recentre_columns`). ``Y`` is
        y - ``y_shift``."""
        weights = np.broadcast_to(sample_weight, (self.shape[0],)) / total
        weighted, offset = recentre_columns(
            self.X, weights.astype(np.float64), statistics.x_mean,
            statistics.covariance, columns,
        )  # fmt: skip
        # Y is y - t: its weighted mean is y_mean - t.
        y_offset = statistics.y_mean - y_shift
        cross = weighted.T @ Y.astype(np.float64) - np.outer(offset, y_offset)
        statistics.cross_covariance[columns] = cross

    def gram_passes(self, weighted):
        """X^T X's cost in gradient passes: sum nnz_i^2 pair updates against
        about 2 nnz for a pass."""
        lengths = np.diff(self.X.indptr).astype(np.float64)
        return max(1.0, float(lengths @ lengths) / (2.0 * max(1, self.nnz)))

    # ------------------------------------------------------------ the two passes

    def gradient_pass(self, sample_weight, weight_total, impl, loss=None):
        X, y = self.X, self.y
        if impl == "numpy":  # scipy's sparse products
            return lambda coef, b: reference.batch_gradient_numpy(
                X, y, coef, b, sample_weight, loss)  # fmt: skip
        if impl == "loop":
            return lambda coef, b: reference.batch_gradient_loop(
                X, y, coef, b, sample_weight, loss)  # fmt: skip
        n = self.shape[1]
        Y = self._targets_2d()
        k = Y.shape[1]
        grad, grad_b = np.empty((n, k)), np.empty(k)
        bounds, partial = self._blocks(n + 1, k)
        squares = np.empty(partial.shape[0])

        def gradient(coef, intercept):
            coef = np.ascontiguousarray(coef, dtype=np.float64).reshape(n, k)
            value = _kernels.sparse_gradient(
                self.csr, Y, sample_weight, weight_total, coef,
                np.asarray(intercept, dtype=np.float64), loss, grad, grad_b, bounds,
                squares, partial,
            )  # fmt: skip
            return (grad[:, 0] if y.ndim == 1 else grad), grad_b, value

        return gradient

    def epoch_pass(self, work, impl):
        if impl != "compiled":
            return _twin_epoch(self, work, impl)
        n = self.shape[1]
        Y = self._targets_2d()
        k = Y.shape[1]
        scaling = _scaling(work.standardization)
        model = (work.coef.reshape(n, k), work.intercept, work.fit_intercept, work.loss)
        averaging = (np.zeros((0, k), work.coef.dtype), np.zeros(k, work.coef.dtype), 0)
        if work.averaging is not None:
            avg_coef, avg_intercept, average_start = work.averaging
            averaging = (avg_coef.reshape(n, k), avg_intercept, average_start)
        no_drift = (np.zeros((0, k)), np.zeros(k), np.zeros(k))

        def current_drift():
            # The engine updates the drift in place before each inner epoch.
            if work.drift is None:
                return no_drift
            g = work.drift[0].astype(np.float64).reshape(n, k)
            along = scaling[1] @ g if len(scaling[1]) else np.zeros(k)
            return g, work.drift[1].astype(np.float64), along

        per_sample = work.batch_size is None
        unit = 1 if per_sample else work.batch_size
        # SVRG's inner epoch takes plain steps, as on dense data.
        optimizer = work.kernel_optimizer() if work.drift is None else None

        # Two threads take turns on chunks of rows when the matrix outgrows the
        # caches (as on dense data), chunks rounded to whole batches.
        data, indices = self.X.data, self.X.indices
        row_bytes = self.row_elements * (data.itemsize + indices.itemsize)
        chunk = _kernels.chunk_rows(data.nbytes + indices.nbytes, row_bytes,
                                    len(work.order))  # fmt: skip
        plan = (per_sample, unit, chunk)

        def run(etas, decays, t_start):
            if work.shuffle:
                _kernels.shuffle(work.order, work.rng_state)
            schedule = (etas, decays, t_start)
            if optimizer is not None:
                return _kernels.sparse_optimizer_epoch(
                    self.csr, Y, work.sample_weight, scaling, model, averaging,
                    optimizer, schedule, work.order, per_sample, unit,
                )  # fmt: skip
            # 1-D y for one output: the kernel then compiles its one-output loop
            # only.
            return _kernels.sparse_lazy_epoch(
                self.csr, self.y, work.sample_weight, scaling, model, averaging,
                current_drift(), schedule, work.order, plan,
            )  # fmt: skip

        return run


def _scaling(standardization):
    """(scale, u = shift * scale) in float64 for the kernels; u empty when
    nothing is centred, both empty without standardization."""
    if standardization is None:
        return np.zeros(0), np.zeros(0)
    shift, scale = standardization
    scale = scale.astype(np.float64)
    u = shift.astype(np.float64) * scale
    return scale, (u if np.any(u) else np.zeros(0))


class DenseRows:
    """Rows of a CSR matrix densified when read (``X[i]``, ``X[rows]``,
    ``X[i, j]``): what the dense twins of :mod:`fastgd.reference` need to run
    on sparse data, one row at a time (O(n) a row: for tests and baselines)."""

    def __init__(self, X):
        self.X = X
        self.shape = X.shape
        self.dtype = X.dtype
        self._row = (-1, None)

    def _dense_row(self, i):
        if self._row[0] != i:
            self._row = (i, self.X[i].toarray().ravel())
        return self._row[1]

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self._dense_row(int(key[0]))[key[1]]
        if np.ndim(key) == 0:
            return self._dense_row(int(key))
        return self.X[key].toarray()


def _twin_epoch(source, work, impl):
    """The NumPy or loop twin of the epoch (:mod:`fastgd.reference`) on rows
    densified one at a time."""
    epoch = getattr(reference, f"run_epoch_{impl}")
    model = work.kernel_model()
    optimizer = work.kernel_optimizer()
    rows = DenseRows(source.X)

    def run(etas, decays, t_start):
        return epoch(
            rows, source.y, work.sample_weight, work.standardization, model,
            work.averaging, optimizer, work.drift, (etas, decays, t_start),
            work.order, (work.rng_state, work.shuffle, 0), work.batch_size,
        )  # fmt: skip

    return run
