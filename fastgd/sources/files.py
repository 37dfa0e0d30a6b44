"""Sources over files: ``.npy``, raw binary, ``np.memmap`` and Parquet.

Each returns a :class:`~fastgd.sources.BlockSource`, accepted wherever X is
(``fit_*``, ``GDRegressor.fit``/``predict``/``score``). A file that fits in the
source's ``memory_budget`` is read into memory once when a fit starts; a larger
one is streamed in blocks (see :mod:`fastgd.sources.blocks`). Files are opened
read-only; nothing is ever written to them.
"""

import os

import numpy as np

from .blocks import BlockSource
from .readers import ArrayReader, ParquetReader, compute_dtype, parquet_paths


def _open_npy(path):
    """A read-only mapping of a .npy file, its size checked against its header."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as file:
        try:
            version = np.lib.format.read_magic(file)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)  # fmt: skip
            header = read_header(file)
        except ValueError as exc:
            raise ValueError(
                f"{path} is not a .npy file ({exc}); for raw binary data give its "
                "dtype and shape: from_npy(path, dtype=..., shape=(-1, n_features))."
            ) from exc
        offset = file.tell()
    shape, fortran_order, dtype = header
    compute_dtype(dtype, path)
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    actual = os.path.getsize(path)
    if actual < expected:
        raise ValueError(
            f"{path} is truncated: its header declares {dtype} data of shape "
            f"{shape}, {expected:,} bytes with the header, but the file has "
            f"{actual:,}. Write it again."
        )
    if fortran_order and len(shape) == 2 and shape[1] > 1:
        raise ValueError(
            f"{path} is stored in Fortran (column) order, so a row is scattered "
            "over the file; save it in C order: np.save(path, np.ascontiguousarray(X))."
        )
    return np.load(path, mmap_mode="r")


def _open_raw(path, dtype, shape, offset):
    """A read-only mapping of raw binary rows (C order)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    dtype = np.dtype(dtype)
    compute_dtype(dtype, path)
    if shape is None or len(shape) != 2:
        raise ValueError(
            f"a raw binary file needs shape=(n_samples, n_features) (n_samples may "
            f"be -1), got shape={shape!r}."
        )
    size = os.path.getsize(path) - offset
    row_bytes = int(shape[1]) * dtype.itemsize
    rows = size // row_bytes if shape[0] == -1 else int(shape[0])
    if size != rows * row_bytes:
        raise ValueError(
            f"{path} holds {size:,} bytes after offset {offset}, which is not "
            f"{'a whole number of' if shape[0] == -1 else rows} rows of "
            f"{shape[1]} {dtype} values ({row_bytes} bytes a row): a truncated file, "
            "or the wrong dtype or shape."
        )
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(rows, shape[1]))


def _targets(y, name):
    """y given as an array, or as a path of a .npy file (read into memory)."""
    if isinstance(y, (str, os.PathLike)):
        path = os.fspath(y)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such file: {path} ({name})")
        y = np.load(path)
        bad = ~np.isfinite(y) if np.issubdtype(y.dtype, np.number) else None
        if bad is not None and bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"{path} ({name}) holds {y.reshape(len(y), -1)[row][0]} at row {row} "
                f"({int(bad.sum())} such value(s)); remove or impute those rows "
                "before fitting."
            )
        return y
    return y


def from_npy(X, y=None, *, dtype=None, shape=None, offset=0, memory_budget=None,
             block_rows=None):  # fmt: skip
    """A data source over a ``.npy`` file, a raw binary file or an ``np.memmap``.

    Parameters
    ----------
    X : path or np.memmap
        A ``.npy`` file of any size (mapped read-only, never loaded whole), a raw
        binary file of C-ordered rows when ``dtype`` and ``shape`` are given, or
        an array mapped from a file (``np.memmap``, ``np.load(..., mmap_mode="r")``).
        float32 and float64 data are read as they are (either byte order);
        integers are read as float64.
    y : path or array-like, optional
        The targets: a ``.npy`` file or an array, (n_samples,) or
        (n_samples, n_targets); held in memory. Without them the source serves
        ``predict``, or ``fit(source, y)``.
    dtype, shape, offset : raw binary files only
        The values' dtype, ``(n_samples, n_features)`` (``n_samples`` may be -1:
        as many rows as the file holds) and the bytes to skip first.
    memory_budget : int, optional
        Bytes the source may hold in memory. X is read into memory when a fit
        starts if it fits; otherwise it is streamed in blocks through two
        buffers of a quarter of this each. Default: a quarter of the machine's
        memory (:func:`fastgd.sources.blocks.default_memory_budget`).
    block_rows : int, optional
        Rows a block: the unit of the block shuffle, which fills each buffer
        with blocks drawn at random and shuffles their rows together. Default:
        a 64th of a buffer (:data:`fastgd.sources.blocks.MIXED_BLOCKS`).
        Blocks as large as a buffer are read without a copy but mix less.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fastgd import GDRegressor
    >>> from fastgd.sources import from_npy
    >>> folder = tempfile.mkdtemp()
    >>> X = np.random.default_rng(0).normal(size=(1000, 3))
    >>> np.save(os.path.join(folder, "X.npy"), X)
    >>> np.save(os.path.join(folder, "y.npy"), X @ [1.0, 2.0, 3.0])
    >>> source = from_npy(os.path.join(folder, "X.npy"), os.path.join(folder, "y.npy"))
    >>> model = GDRegressor(random_state=0).fit(source)
    >>> bool(model.score(source) > 0.999)
    True
    """
    if isinstance(X, np.ndarray):
        array, name = X, getattr(X, "filename", None) or "X"
    elif dtype is not None or shape is not None:
        name = os.fspath(X)
        array = _open_raw(name, dtype, shape, offset)
    else:
        name = os.fspath(X)
        array = _open_npy(name)
    reader = ArrayReader(array, name=name, block_rows=block_rows)
    return BlockSource(reader, _targets(y, "y"), memory_budget)


def from_parquet(path, target="y", columns=None, *, memory_budget=None):
    """A data source over Parquet files, read one row group at a time.

    Parameters
    ----------
    path : path, directory or list of paths
        One file, a directory (its ``*.parquet`` files in name order) or a list of
        files; they must have the same columns and types.
    target : str or None, default="y"
        The target column (read once into memory), or None for a source that
        serves ``predict``.
    columns : list of str, optional
        The feature columns; default every column but the target. They must be
        numeric and free of nulls (float32 columns only: read as float32).
    memory_budget : int, optional
        As for :func:`from_npy`. Each row group is a block: keep row groups well
        below a quarter of the budget.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> from fastgd import GDRegressor
    >>> from fastgd.sources import from_parquet
    >>> X = np.random.default_rng(0).normal(size=(1000, 2))
    >>> table = pa.table({"a": X[:, 0], "b": X[:, 1], "y": X @ [1.0, -1.0]})
    >>> path = os.path.join(tempfile.mkdtemp(), "data.parquet")
    >>> pq.write_table(table, path, row_group_size=250)
    >>> model = GDRegressor(random_state=0).fit(from_parquet(path, target="y"))
    >>> model.coef_.round(2)
    array([ 1., -1.])
    """
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise ImportError(
            'from_parquet needs pyarrow: pip install "fastgd[parquet]"'
        ) from exc
    reader = ParquetReader(parquet_paths(path), target, columns)
    return BlockSource(reader, None, memory_budget)


def is_memmap(X):
    """Whether X is an array mapped from a file (np.memmap, np.load(mmap_mode=))."""
    return isinstance(X, np.memmap)
