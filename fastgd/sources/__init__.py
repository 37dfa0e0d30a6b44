"""Data sources: where the rows come from (see :mod:`fastgd.sources.base`).

Today: :class:`DenseSource`, an in-memory array, and :class:`SparseSource`, a
SciPy sparse matrix. Anything accepted as X by ``fit_*`` and ``GDRegressor.fit``
goes through :func:`as_source`.
"""

from .base import DataSource, EpochWork
from .dense import DenseSource
from .sparse import SparseSource, is_sparse

__all__ = ["DataSource", "DenseSource", "EpochWork", "SparseSource", "as_source"]


def as_source(X, y):
    """The :class:`DataSource` for (X, y): X itself when it is one (then y must be
    None), a :class:`SparseSource` for a SciPy sparse X, else a
    :class:`DenseSource` over the arrays.

    >>> import numpy as np
    >>> as_source(np.zeros((3, 2)), np.zeros(3)).shape
    (3, 2)
    """
    if isinstance(X, DataSource):
        if y is not None:
            raise ValueError(
                "X is a data source, which holds its own targets; pass y=None."
            )
        return X
    if is_sparse(X):
        return SparseSource(X, y)
    return DenseSource(X, y)
