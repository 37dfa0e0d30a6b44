"""The in-memory dense source: a NumPy array, used as it is."""

import numpy as np

from .. import _kernels, reference
from .._validation import check_data
from .base import DataSource, no_targets
from .reductions import (
    cancelling_columns,
    centred_statistics,
    row_chunks,
    squared_row_norms,
    weighted_gram,
)


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
        if self.y is None:
            raise no_targets()
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

    def gram_statistics(self, sample_weight, shift):
        """float64 data with uniform weights goes straight to BLAS for X^T X, and
        the cross products X^T (y - t) and column sums come from one more
        compiled pass: no slower than NumPy's own normal equation. Otherwise,
        or when a column's mean dwarfs its spread (the subtraction of the mean
        would cancel), chunks of rows are cast to float64, shifted and weighted,
        one pass over X."""
        X = self.X
        m, n = X.shape
        Y = self.y.reshape(m, -1)
        weights = np.broadcast_to(sample_weight, (m,))
        if X.dtype == np.float64 and sample_weight.shape[0] == 1:
            y_shift = shift[1]
            k = Y.shape[1]
            partial = np.empty((self._blocks(), k + 1, n))
            _kernels.cross_products(X, Y - y_shift, partial)
            products = partial.sum(axis=0).T
            # BLAS last: OpenBLAS threads spin for ~0.1 s after a call and would
            # take the cores from the compiled pass.
            gram = X.T @ X
            shifted = Y - y_shift
            sums = (gram, products[:, :k], products[:, k], shifted.sum(axis=0),
                    np.square(shifted).sum(axis=0), float(m))  # fmt: skip
            statistics = centred_statistics(sums, (np.zeros(n), y_shift))
            columns = cancelling_columns(np.diag(gram) / m,
                                         np.diag(statistics.covariance))  # fmt: skip
            if not len(columns):
                return statistics
            # About the means just measured: nothing large left to cancel.
            shift = (statistics.x_mean, y_shift)
        return weighted_gram(row_chunks(X, Y, weights), shift)

    def squared_row_norms(self, shift, scale):
        return squared_row_norms(self.X, shift, scale)

    def predict(self, coef, intercept):
        return self.X @ coef.astype(self.X.dtype, copy=False) + intercept.astype(
            self.X.dtype, copy=False)  # fmt: skip

    # ------------------------------------------------------------ the two passes

    def gradient_pass(self, sample_weight, weight_total, impl, loss=None):
        X, y = self.X, self.y
        if impl != "compiled":
            twin = getattr(reference, f"batch_gradient_{impl}")
            return lambda coef, b: twin(X, y, coef, b, sample_weight, loss)
        n = X.shape[1]
        if y.ndim == 1:
            grad, grad_b = np.empty(n), np.empty(1)
            partial = np.empty((self._blocks(), n + 2))
            # float32 data: the row dot products in float32 too (the kernel sums
            # everything else in float64), at coefficients rounded to float32.
            coef_dtype = X.dtype

            def gradient(coef, intercept):
                value, grad_b[0] = _kernels.batch_gradient(
                    X, y, sample_weight, weight_total,
                    coef.astype(coef_dtype, copy=False), intercept, loss, grad,
                    partial,
                )  # fmt: skip
                return grad, grad_b, value

            return gradient
        k = y.shape[1]
        grad, grad_b = np.empty((n, k)), np.empty(k)
        partial = np.empty((self._blocks(), n + 3, k))

        def gradient_multi(coef, intercept):
            value = _kernels.batch_gradient_multi(
                X, y, sample_weight, weight_total, coef, intercept, loss, grad,
                grad_b, partial,
            )  # fmt: skip
            return grad, grad_b, value

        return gradient_multi

    def epoch_pass(self, work, impl):
        X, y = self.X, self.y
        epoch = _kernels.run_epoch
        if impl != "compiled":
            epoch = getattr(reference, f"run_epoch_{impl}")
        model = work.kernel_model()
        optimizer = work.kernel_optimizer()

        def run(etas, decays, t_start):
            # Decided per epoch: it follows the current thread count.
            visit = (
                work.rng_state,
                work.shuffle,
                _kernels.helper_chunk_rows(X, len(work.order)),
            )
            return epoch(
                X, y, work.sample_weight, work.standardization, model,
                work.averaging, optimizer, work.drift, (etas, decays, t_start),
                work.order, visit, work.batch_size,
            )  # fmt: skip

        return run
