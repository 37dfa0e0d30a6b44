"""Data sources: where the rows come from (see :mod:`fastgd.sources.base`).

Today: :class:`DenseSource`, an in-memory array; :class:`SparseSource`, a SciPy
sparse matrix; :class:`BlockSource`, dense rows read in blocks from storage larger
than memory, built by :func:`from_npy` (``.npy``, raw binary, ``np.memmap``) and
:func:`from_parquet`; :class:`DaskSource`, a dask array or DataFrame on a
cluster. Anything accepted as X by ``fit_*`` and ``GDRegressor.fit`` goes
through :func:`as_source`.
"""

from .base import DataSource, EpochWork
from .blocks import BlockSource, default_memory_budget
from .dask_source import DaskSource, is_dask_collection
from .dense import DenseSource
from .files import from_npy, from_parquet, is_memmap
from .sparse import SparseSource, is_sparse

__all__ = [
    "BlockSource",
    "DaskSource",
    "DataSource",
    "DenseSource",
    "EpochWork",
    "SparseSource",
    "as_source",
    "default_memory_budget",
    "from_npy",
    "from_parquet",
]


def as_source(X, y):
    """The :class:`DataSource` for (X, y): X itself when it is one (with y only
    if it has no targets of its own), a :class:`SparseSource` for a SciPy sparse
    X, a :class:`BlockSource` for an array mapped from a file (``np.memmap``),
    a :class:`DaskSource` for a dask array or DataFrame, else a
    :class:`DenseSource` over the arrays.

    >>> import numpy as np
    >>> as_source(np.zeros((3, 2)), np.zeros(3)).shape
    (3, 2)
    """
    if isinstance(X, DataSource):
        if y is None:
            return X
        if isinstance(X, BlockSource):
            return X.with_targets(y)
        raise ValueError(
            "X is a data source, which holds its own targets; pass y=None."
        )
    if is_sparse(X):
        return SparseSource(X, y)
    if is_memmap(X):
        return from_npy(X, y)
    if is_dask_collection(X):
        return DaskSource(X, y)
    return DenseSource(X, y)
