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
from .readers import ArrayReader
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
    "for_fit",
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


def for_fit(source, shuffle):
    """The source a fit with this ``shuffle`` option trains on: ``source``
    itself, or another view of the same data. Every conversion between sources
    is made here, the one module that knows them all:

    * an array in memory with ``shuffle="block"`` is read in blocks (a
      :class:`BlockSource` over it);
    * X in a file that fits its ``memory_budget`` is read into memory once (a
      :class:`DenseSource`), unless the fit asks for blocks; a larger one is
      streamed, and ``shuffle=True`` is refused for it;
    * ``shuffle="block"`` is refused for every other source.

    >>> import numpy as np
    >>> type(for_fit(as_source(np.zeros((3, 2)), np.zeros(3)), "block")).__name__
    'BlockSource'
    """
    if isinstance(source, DenseSource):
        if shuffle == "block":
            return BlockSource(ArrayReader(source.X), source.y)
        return source
    if isinstance(source, BlockSource):
        if shuffle == "block":
            return source
        arrays = source.in_memory()
        if arrays is None:
            source.check_shuffle(shuffle)
            return source
        try:
            return DenseSource(*arrays)
        except ValueError as exc:  # NaN/inf: say which file holds it
            raise source.located(exc) from None
    if shuffle == "block":
        raise ValueError(
            f"shuffle='block' reads dense rows in blocks; a {type(source).__name__} "
            "is shuffled in full: use shuffle=True or 'auto'."
        )
    return source
