"""CSR structure and row helpers: duplicate check, scaled entries, prefetch,
the row products and row moves that the lazy epochs are built from, and the
centred row norms. See :mod:`fastgd._kernels.sparse` for the conventions."""

import numpy as np

from ..config import jit as _jit
from ..memory import prefetch

# Rows ahead whose entries a shuffled epoch prefetches.
SPARSE_PREFETCH_AHEAD = 8


@_jit()
def has_duplicates(indices, indptr, n):
    """True when some row stores a column twice (one O(nnz) scan, O(n) memory)."""
    last_row = np.full(n, -1, np.int64)
    for i in range(indptr.shape[0] - 1):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if last_row[j] == i:
                return True
            last_row[j] = i
    return False


@_jit(inline=True)
def _scaled(data, p, j, scaling):
    """x_ij * scale_j for stored entry p (x_ij when ``scale`` is empty)."""
    scale = scaling[0]
    if scale.shape[0] == 0:
        return np.float64(data[p])
    return np.float64(data[p]) * scale[j]


@_jit(inline=True)
def _centre_dot(scaling, coef, c):
    """u . coef[:, c] (0 when nothing is centred: u empty)."""
    u = scaling[1]
    total = 0.0
    for j in range(u.shape[0]):
        total += u[j] * coef[j, c]
    return total


@_jit()
def centred_row_norms(csr, shift, scale, norms):
    """norms[i] = |(x_i - shift) * scale|^2 for every row: the stored entries'
    terms, corrected for the centring of the columns they hold, plus
    |shift * scale|^2 for the columns a row does not hold."""
    data, indices, indptr = csr
    base = 0.0
    for j in range(shift.shape[0]):
        base += (shift[j] * scale[j]) ** 2
    for i in range(indptr.shape[0] - 1):
        total = base
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            stored = (np.float64(data[p]) - shift[j]) * scale[j]
            moved = shift[j] * scale[j]
            total += stored * stored - moved * moved
        norms[i] = total


@_jit(inline=True)
def _prefetch_row(csr, i):
    """Start fetching every cache line of row i's entries and indices."""
    data, indices, indptr = csr
    start = indptr[i]
    stop = indptr[i + 1]
    for p in range(start, stop, 8):
        prefetch(data, p)
    for p in range(start, stop, 16):
        prefetch(indices, p)


@_jit()
def prefetch_sparse_rows(csr, Y, order, start, stop):
    """The helper thread's share: fetch the rows at positions start..stop-1."""
    for s in range(start, stop):
        _prefetch_row(csr, order[s])
        prefetch(Y, order[s])


@_jit()
def _row_dot_column(csr, i, scaling, g, c):
    """(x_i * scale) . g[:, c]."""
    data, indices, indptr = csr
    total = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        total += _scaled(data, p, indices[p], scaling) * g[indices[p], c]
    return total


@_jit(inline=True)
def _row_products(csr, i, v, scaling, g):
    """(x_i . v, x_i . u, x_i . g) with x_i scaled (one output; v, u, g 1-D, u
    and g empty when unused): one pass over the row's entries."""
    data, indices, indptr = csr
    scale, u = scaling
    dot = 0.0
    along_u = 0.0
    along_g = 0.0
    if scale.shape[0] == 0 and u.shape[0] == 0 and g.shape[0] == 0:
        for p in range(indptr[i], indptr[i + 1]):
            dot += np.float64(data[p]) * v[indices[p]]
        return dot, along_u, along_g
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        x = (
            np.float64(data[p]) * scale[j]
            if scale.shape[0] > 0
            else np.float64(data[p])
        )
        dot += x * v[j]
        if u.shape[0] > 0:
            along_u += x * u[j]
        if g.shape[0] > 0:
            along_g += x * g[j]
    return dot, along_u, along_g


@_jit(inline=True)
def _move_row(csr, i, change, v, scaling, q, before):
    """v += change * x_i (scaled), q += before * that; returns u . that (one
    output, 1-D arrays; q empty when not averaging)."""
    data, indices, indptr = csr
    scale, u = scaling
    if scale.shape[0] == 0 and u.shape[0] == 0 and q.shape[0] == 0:
        for p in range(indptr[i], indptr[i + 1]):
            v[indices[p]] += change * np.float64(data[p])
        return 0.0
    along_u = 0.0
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        x = (
            np.float64(data[p]) * scale[j]
            if scale.shape[0] > 0
            else np.float64(data[p])
        )
        moved = change * x
        v[j] += moved
        if u.shape[0] > 0:
            along_u += u[j] * moved
        if q.shape[0] > 0:
            q[j] += before * moved
    return along_u
