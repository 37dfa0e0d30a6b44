"""The data-source seam: what training needs from data, and nothing more.

The training path (:mod:`fastgd._training`) never touches X. It asks a
:class:`DataSource` for the few things an engine needs: shape and dtype, the
targets, the column moments behind standardization, a float64 copy of some rows
(the curvature sample of ``eta0="auto"``), the loss on a set of rows (a
validation split), the Gram statistics, and two passes it prepares once and runs
many times: the full gradient (batch gradient descent) and a shuffled epoch (SGD,
mini-batch). Each source computes these with kernels made for its storage (an
in-memory array, a sparse matrix, blocks read from disk, chunks on a cluster) and
combines per-block partial results in a fixed order, so results never depend on
threads or workers.

Targets are O(m) and stay in memory in every source; X is what a source hides.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .. import optimizers
from .reductions import CHUNK_ELEMENTS
from .rows import StandardizedRows


@dataclass
class EpochWork:
    """The arrays a shuffled epoch reads and updates, owned by the engine.

    ``coef`` (n,) or (n, k) and ``intercept`` (1,) or (k,) are in standardized
    units and of X's dtype; ``standardization`` is (shift, scale) or None;
    ``averaging`` (avg_coef, avg_intercept, average_start) or None; ``order`` the
    training rows, shuffled in place with ``rng_state`` when ``shuffle``;
    ``batch_size`` None for SGD. ``optimizer`` is a name of
    :data:`fastgd.optimizers.OPTIMIZERS` with ``optimizer_state`` (2, (n + 1) k).
    ``sample_weight`` is one value (uniform) or one per row. ``drift``: None, or
    SVRG's full gradient at the snapshot (mu_coef, mu_intercept) in X's dtype,
    which makes the epoch SVRG's inner loop on ``coef``/``intercept`` as the
    difference from the snapshot (:mod:`fastgd._kernels.variance_reduced`).
    ``loss``: the kernels' loss (None: squared).
    """

    coef: np.ndarray
    intercept: np.ndarray
    fit_intercept: bool
    sample_weight: np.ndarray
    standardization: tuple | None
    averaging: tuple | None
    optimizer: str
    optimizer_state: np.ndarray
    order: np.ndarray
    rng_state: np.ndarray
    shuffle: bool
    batch_size: int | None
    drift: tuple | None = None
    loss: tuple | None = None

    def kernel_model(self):
        """The epoch kernels' ``model`` argument: (coef, intercept,
        fit_intercept, loss), ``loss`` None for the squared loss or (kind,
        parameter) of :func:`fastgd.losses.kernel_loss`."""
        return (self.coef, self.intercept, self.fit_intercept, self.loss)

    def kernel_optimizer(self):
        """The epoch kernels' ``optimizer`` argument: (state, kind, params), or
        None for plain steps (compiled away)."""
        if self.optimizer == "sgd":
            return None
        return (self.optimizer_state, optimizers.OPTIMIZERS[self.optimizer],
                optimizers.parameters(self.optimizer))  # fmt: skip


class DataSource(ABC):
    """The interface every data source implements (see the module docstring).

    ``impl`` is "compiled" (the kernels) or a twin of :mod:`fastgd.reference`
    ("numpy", "loop") where the source offers them.
    """

    #: implementations this source can run (the first is the default); a fit
    #: asking for another is refused with these (``_training.fit``)
    impls = ("compiled",)
    #: whether an epoch averages models trained apart on parts of the data
    #: (parameter mixing): a constant step then stops short of the optimum
    mixed_epochs = False
    #: whether the epochs' L2 decay can weigh each coefficient by its column's
    #: scale (the penalty on the user's coefficients where z is standardized,
    #: fastgd._training.penalty); the CSR epochs decay one lazy scalar
    decays_per_coefficient = True

    @property
    @abstractmethod
    def shape(self):
        """(n_samples, n_features)."""

    @property
    @abstractmethod
    def dtype(self):
        """The dtype of X (float32 or float64); coefficients come back in it."""

    @property
    @abstractmethod
    def targets(self):
        """y as a read-only array of X's dtype, (m,) or (m, k), in memory
        (:func:`no_targets` where the source was given none)."""

    @abstractmethod
    def column_moments(self, sample_weight):
        """Weighted (mean, variance) of every column, float64 (n,) each."""

    @abstractmethod
    def gram_statistics(self, sample_weight, shift):
        """The weighted, centred :class:`~fastgd.sources.reductions.GramStatistics`
        for the Gram strategy. ``shift`` = (s (n,), t (k,)), float64, is a point
        near the means of X and y: sums taken about it do not cancel when a
        column or y carries a large offset (:mod:`fastgd.sources.reductions`)."""

    def squared_row_norms(self, shift, scale):
        """sum_j ((x_ij - shift_j) scale_j)^2 for every row i, float64 (m,): the
        rows' squared norms in z units (the stochastic solvers' row visits,
        :mod:`fastgd._training.visits`). An estimate good to a few digits
        suffices. This default reads the rows through :meth:`standardized_rows`, a
        block at a time; the sources override it with one pass of their own."""
        m = self.shape[0]
        norms = np.empty(m)
        block = max(1, int(CHUNK_ELEMENTS // max(1.0, self.row_elements)))
        for start in range(0, m, block):
            rows = np.arange(start, min(m, start + block), dtype=np.int64)
            part = self.standardized_rows(rows, shift, scale)
            norms[start : start + len(rows)] = part.squared_row_norms()
        return norms

    @abstractmethod
    def take_rows(self, rows):
        """A float64 copy of the rows ``rows`` (sorted int64) of X: an ndarray, or
        a SciPy CSR matrix for sparse sources."""

    def standardized_rows(self, rows, shift, scale):
        """The rows ``rows`` (sorted int64) in z units, (x - shift) * scale
        (float64 (n,) each), as training reads a sample of them
        (:mod:`fastgd.sources.rows`): standardized in a float64 copy from
        :meth:`take_rows`. A source whose rows are sparse hands back
        :class:`~fastgd.sources.rows.CentredSparseRows` instead."""
        return StandardizedRows(self.take_rows(rows), shift, scale)

    @abstractmethod
    def rows_loss(self, rows, sample_weight, coef, intercept):
        """(sum_i w_i r_ic^2 per output, sum_i w_i) over ``rows``, with ``coef``
        (n, k) and ``intercept`` (k,) float64 in the original units."""

    @abstractmethod
    def gradient_pass(self, sample_weight, weight_total, impl, loss=None):
        """A callable (coef, intercept) -> (grad, grad_intercept, loss): the
        weighted mean gradient and loss over all rows (original units; float64
        results, buffers reused between calls), for the kernels' ``loss`` (None:
        the squared loss; a source that refuses another names the sources that
        take it)."""

    @abstractmethod
    def epoch_pass(self, work, impl):
        """A callable (etas, decays, t_start) -> weighted sum of squared residuals
        that runs one shuffled epoch on ``work`` (an :class:`EpochWork`)."""

    def predict(self, coef, intercept):
        """X @ coef + intercept of X's dtype, with ``coef`` (n,) or (n, k) and
        ``intercept`` (1,) or (k,) in the original units."""
        raise NotImplementedError(f"{type(self).__name__} cannot predict.")

    def score(self, coef, intercept, sample_weight=None):
        """R^2 of :meth:`predict` against the targets, as scikit-learn's
        ``r2_score`` (the mean over outputs): what the estimator's ``score``
        returns."""
        from sklearn.metrics import r2_score  # the estimators' dependency

        return float(r2_score(self.targets, self.predict(coef, intercept),
                              sample_weight=sample_weight))  # fmt: skip

    @property
    def row_elements(self):
        """Stored elements a row (n for dense rows): what a row costs to read."""
        return float(self.shape[1])

    @property
    def max_sample_rows(self):
        """The most rows a curvature sample (eta0="auto") may copy."""
        return self.shape[0]

    def gram_passes(self, weighted):
        """The one-off cost of :meth:`gram_statistics` in gradient passes, or None
        for the dense model (:func:`fastgd._training.strategy.gram_cost_in_passes`)."""
        return None

    @property
    def feature_names(self):
        """The columns' names (a list of str) where the data has them (Parquet
        files, a dask DataFrame), else None: the estimator's
        ``feature_names_in_``."""
        return None

    @property
    def n_samples(self):
        return self.shape[0]

    @property
    def n_features(self):
        return self.shape[1]


def no_targets():
    """The error of a source built without targets (to predict on) that a fit
    asks for them."""
    return ValueError(
        "this data source has no targets: give y (fit(X, y)), or build the "
        "source with them (from_npy(X_path, y_path), from_parquet(path, "
        "target=...))."
    )
