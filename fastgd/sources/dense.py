"""The in-memory dense source: a NumPy array, used as it is."""

import numpy as np

from .. import _kernels, reference
from .._validation import check_data
from .base import DataSource

# Rows per chunk when forming X^T X in float64 (float32 data, or weights).
_GRAM_CHUNK_ROWS = 8192


class DenseSource(DataSource):
    """X and y held in memory: the kernels read X where it is.

    X becomes a read-only, C-contiguous float32 or float64 array (copied only when
    its layout, byte order or dtype demand it) and is checked for NaN/inf once.

    >>> import numpy as np
    >>> from fastgd.sources import DenseSource
    >>> source = DenseSource(np.ones((4, 2)), np.arange(4.0))
    >>> source.shape, source.dtype
    ((4, 2), dtype('float64'))
    """

    impls = ("compiled", "numpy", "loop")

    def __init__(self, X, y):
        self.X, self.y = check_data(X, y)

    @property
    def shape(self):
        return self.X.shape

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def targets(self):
        return self.y

    def _blocks(self):
        return _kernels.n_gradient_blocks(self.X.shape[0])

    def column_moments(self, sample_weight):
        n = self.X.shape[1]
        mean, variance = np.empty(n), np.empty(n)
        partial = np.empty((self._blocks(), 2 * n + 1))
        _kernels.column_moments(self.X, sample_weight, mean, variance, partial)
        return mean, variance

    def take_rows(self, rows):
        return self.X[rows].astype(np.float64)

    def rows_loss(self, rows, sample_weight, coef, intercept):
        Y = self.y.reshape(self.y.shape[0], -1)
        squares = np.empty(Y.shape[1])
        total = _kernels.rows_loss(self.X, Y, sample_weight, rows, coef, intercept,
                                   squares)  # fmt: skip
        return squares, total

    def gram_statistics(self, sample_weight):
        """float64 data with uniform weights goes straight to BLAS for X^T X, and
        the cross products X^T y and column sums come from one more compiled pass:
        no slower than NumPy's own normal equation. Otherwise chunks of rows are
        cast to float64 and weighted, one pass over X."""
        X = self.X
        m, n = X.shape
        Y = self.y.reshape(m, -1)
        if X.dtype == np.float64 and sample_weight.shape[0] == 1:
            k = Y.shape[1]
            partial = np.empty((self._blocks(), k + 1, n))
            _kernels.cross_products(X, Y, partial)
            products = partial.sum(axis=0).T / m
            # BLAS last: OpenBLAS threads spin for ~0.1 s after a call and would
            # take the cores from the compiled pass.
            gram = X.T @ X / m
            return (gram, products[:, :k], products[:, k], Y.mean(axis=0),
                    np.mean(Y**2, axis=0))  # fmt: skip
        weights = np.broadcast_to(sample_weight, (m,))
        return weighted_gram(row_chunks(X, Y, weights), n, Y.shape[1])

    def for_fit(self, shuffle):
        """Itself; wrapped in a :class:`~fastgd.sources.BlockSource` for
        ``shuffle="block"``."""
        if shuffle == "block":
            from .blocks import BlockSource
            from .readers import ArrayReader

            return BlockSource(ArrayReader(self.X), self.y)
        return self

    def predict(self, coef, intercept):
        return self.X @ coef.astype(self.X.dtype, copy=False) + intercept.astype(
            self.X.dtype, copy=False)  # fmt: skip

    # ------------------------------------------------------------ the two passes

    def gradient_pass(self, sample_weight, weight_total, impl):
        X, y = self.X, self.y
        if impl != "compiled":
            twin = getattr(reference, f"batch_gradient_{impl}")
            return lambda coef, b: twin(X, y, coef, b, sample_weight)
        n = X.shape[1]
        if y.ndim == 1:
            grad, grad_b = np.empty(n), np.empty(1)
            partial = np.empty((self._blocks(), n + 2))
            # float32 data: the row dot products in float32 too (the kernel sums
            # everything else in float64), at coefficients rounded to float32.
            coef_dtype = X.dtype

            def gradient(coef, intercept):
                loss, grad_b[0] = _kernels.batch_gradient(
                    X, y, sample_weight, weight_total,
                    coef.astype(coef_dtype, copy=False), intercept, grad, partial,
                )  # fmt: skip
                return grad, grad_b, loss

            return gradient
        k = y.shape[1]
        grad, grad_b = np.empty((n, k)), np.empty(k)
        partial = np.empty((self._blocks(), n + 3, k))

        def gradient_multi(coef, intercept):
            loss = _kernels.batch_gradient_multi(
                X, y, sample_weight, weight_total, coef, intercept, grad, grad_b,
                partial,
            )  # fmt: skip
            return grad, grad_b, loss

        return gradient_multi

    def epoch_pass(self, work, impl):
        X, y = self.X, self.y
        epoch = _kernels.run_epoch
        if impl != "compiled":
            epoch = getattr(reference, f"run_epoch_{impl}")
        model = (work.coef, work.intercept, work.fit_intercept)
        optimizer = work.kernel_optimizer()

        def run(etas, decays, t_start):
            # Decided per epoch: it follows the current thread count.
            options = (work.shuffle, _kernels.helper_chunk_rows(X, len(work.order)))
            return epoch(
                X, y, work.sample_weight, work.standardization, model,
                work.averaging, optimizer, work.drift, (etas, decays, t_start),
                work.order, work.rng_state, options, work.batch_size,
            )  # fmt: skip

        return run


def row_chunks(X, Y, weights):
    """(X, Y, weights) in chunks of rows small enough to cast to float64."""
    for start in range(0, X.shape[0], _GRAM_CHUNK_ROWS):
        rows = slice(start, start + _GRAM_CHUNK_ROWS)
        yield X[rows], Y[rows], weights[rows]


def gram_sums(chunks, n, k):
    """The unnormalized Gram sums over ``chunks`` of (rows of X, rows of Y
    (rows, k), weights), each chunk cast to float64 and weighted, accumulated in
    float64: (sum w x x^T, sum w x y^T, sum w x, sum w y, sum w y^2, sum w)."""
    gram = np.zeros((n, n))
    cross = np.zeros((n, k))
    x_sum, y_sum, y_square, total = np.zeros(n), np.zeros(k), np.zeros(k), 0.0
    for chunk, y_chunk, w in chunks:
        chunk = chunk.astype(np.float64, copy=False)
        y_chunk = y_chunk.astype(np.float64, copy=False)
        w = w.astype(np.float64)[:, None]
        weighted_chunk = chunk * w
        gram += weighted_chunk.T @ chunk
        cross += weighted_chunk.T @ y_chunk
        x_sum += weighted_chunk.sum(axis=0)
        y_sum += (w * y_chunk).sum(axis=0)
        y_square += (w * y_chunk**2).sum(axis=0)
        total += float(w.sum())
    return gram, cross, x_sum, y_sum, y_square, total


def normalized_gram(sums):
    """:func:`gram_sums` divided by the weights' sum: the statistics of
    :meth:`DataSource.gram_statistics`."""
    *sums, total = sums
    return tuple(value / total for value in sums)


def weighted_gram(chunks, n, k):
    """The Gram statistics (as :meth:`DataSource.gram_statistics`) over
    ``chunks`` (see :func:`gram_sums`)."""
    return normalized_gram(gram_sums(chunks, n, k))
