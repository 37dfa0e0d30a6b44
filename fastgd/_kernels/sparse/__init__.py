"""Kernels on a CSR matrix: every pass and epoch touches stored entries only.

``csr`` is the tuple (data, indices, indptr) of a canonical CSR matrix (no
duplicate entries; indices in any order), its index arrays viewed as unsigned
(uint32 or uint64 indices, uint64 indptr): numba then indexes without the
negative-index fix-up that a signed index costs at every access (the gradient
pass at 1,000,000 x 100,000 with 20 entries a row: 112 -> 51 ms on one thread).
Kernels never do arithmetic on a column index (uint64 mixed with int64 would
become float64); per-column buffers are indexed [j] or [j, c]. Multi-output is the
general case: ``Y`` is (m, k), ``coef`` (n, k) and ``intercept`` (k,); one output
is k = 1 (the caller passes 2-D views, no copies).

Standardization never densifies. ``scaling`` is (scale, u) with u = shift *
scale, float64, each of length 0 when unused (no standardization; nothing
centred, as without an intercept), so that z_i = x_i * scale - u: a row's stored
entries times the scale, minus a dense vector shared by every row. Its products
are taken implicitly: z_i . w = (x_i * scale) . w - u . w, with u . w kept up to
date as w changes.

The plain epoch (:func:`fastgd._kernels.epochs.lazy_epoch`, on the one epoch
driver) costs O(nnz of the row) a step, however
large n is, as scikit-learn's ``_sgd_fast`` and Bottou's sgd code do: the
coefficients are w = alpha v + gamma_c u + delta g, where the L2 decay multiplies
the scalar alpha, centring moves the scalar gamma_c along u, and SVRG's drift g
(the full gradient at the snapshot, the same every step) moves the scalar delta;
only the entries of v in the row change. Averaging keeps the sums of alpha,
gamma and delta over the averaged steps and, per entry of v, the sum of alpha
before each change (Xu 2011's trick), so the mean of the iterates is formed once
an epoch. An optimizer (momentum, Nesterov, AdaGrad, RMSProp, Adam) moves every
coordinate every step: :func:`optimizer_epoch` is the same epoch with dense
O(n k) updates.

Sums over rows are float64, per fixed block of rows (``bounds``, from the data
alone), reduced in block order: no result depends on the number of threads.

By job: :mod:`.csr` (structure and row helpers), :mod:`.passes` (streaming
passes), :mod:`.lazy` (the lazy weight vector), :mod:`.epochs` (the shuffled
epochs).
"""

from .csr import centred_row_norms, has_duplicates
from .epochs import optimizer_epoch
from .passes import (
    sparse_column_moments,
    sparse_gradient,
    sparse_gram,
    sparse_rows_loss,
)

__all__ = [
    "centred_row_norms",
    "has_duplicates",
    "optimizer_epoch",
    "sparse_column_moments",
    "sparse_gradient",
    "sparse_gram",
    "sparse_rows_loss",
]
