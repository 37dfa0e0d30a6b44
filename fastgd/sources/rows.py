"""Sampled rows in z units, Z = (X - shift) * scale, as training reads them.

A source hands back a sample of its rows (:meth:`~fastgd.sources.base.
DataSource.standardized_rows`) as one of the two classes here. Both answer the
same questions, the products ``eta0="auto"``'s power iteration and the excess
estimates need, so training never asks which kind of rows it holds: dense rows
are standardized in their float64 copy; sparse rows are not, since centring
makes them dense, and their products are taken implicitly.
"""

import numpy as np

from .reductions import centred_row_norms, sparse_covariance


class StandardizedRows:
    """Dense rows in z units: ``Z`` (rows, n) float64, standardized in place."""

    def __init__(self, rows, shift, scale):
        rows -= shift
        rows *= scale
        self.Z = rows
        self.shape = rows.shape

    def dot(self, vector):
        """Z @ vector."""
        return self.Z @ vector

    def transpose_dot(self, vector):
        """Z^T @ vector."""
        return self.Z.T @ vector

    def squared_row_norms(self):
        """|z_i|^2 per row."""
        return np.einsum("ij,ij->i", self.Z, self.Z)

    def centred_products(self, w):
        """(E[(z - zbar)(z - zbar)^T], zbar) under weights ``w`` summing to 1,
        centred by subtraction."""
        return dense_centred_products(self.Z, w)

    def every(self, step):
        """Every ``step``-th row, dense (rows, n) float64."""
        return self.Z[::step]


class CentredSparseRows:
    """Sparse rows in z units, for a CSR sample ``X``: the same products,
    without forming Z."""

    def __init__(self, X, shift, scale):
        self.X = X
        self.shift = shift.astype(np.float64)
        self.scale = scale.astype(np.float64)
        self.shape = X.shape

    def dot(self, vector):
        """Z @ vector."""
        scaled = self.scale * vector
        return self.X @ scaled - self.shift @ scaled

    def transpose_dot(self, vector):
        """Z^T @ vector."""
        return self.scale * (self.X.T @ vector - self.shift * vector.sum())

    def squared_row_norms(self):
        """|z_i|^2 per row (one compiled pass over the sample, no copy)."""
        return centred_row_norms(self.X, self.shift, self.scale)

    def centred_products(self, w):
        """(covariance of z under w, mean of z under w), w summing to 1: the
        columns' covariance times the scales (the shift drops out), formed
        without cancellation (:func:`~fastgd.sources.reductions.sparse_covariance`)."""
        covariance, mean = sparse_covariance(self.X, w)
        covariance *= np.outer(self.scale, self.scale)
        return covariance, self.scale * (mean - self.shift)

    def every(self, step):
        """Every ``step``-th row, densified (rows, n) float64."""
        return (self.X[::step].toarray() - self.shift) * self.scale


def dense_centred_products(Z, w):
    """(E[(z - zbar)(z - zbar)^T], zbar) under weights ``w`` summing to 1 for
    dense rows ``Z``, centred by subtraction."""
    mean = Z.T @ w
    centred = Z - mean
    return (centred * w[:, None]).T @ centred, mean
