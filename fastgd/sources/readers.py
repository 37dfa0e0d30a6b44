"""Readers: the storage under a :class:`~fastgd.sources.blocks.BlockSource`.

A reader knows one storage format and nothing about training. It cuts X into
blocks of consecutive rows and copies a block, as float32 or float64 rows, into a
buffer it is given: :class:`ArrayReader` for an array in memory or mapped from a
file (``.npy``, raw binary, ``np.memmap``), :class:`ParquetReader` for Parquet
files read one row group at a time. Readers open files read-only and never write
to them.

Every reader has ``shape``, ``dtype`` (what rows become), ``block_starts`` (int64,
one more than there are blocks: block b is rows ``block_starts[b]`` to
``block_starts[b + 1]``), ``read(block, out)`` and ``where(start, stop)`` (the
file and rows, for error messages).
"""

import ctypes
import functools
import mmap
import os

import numpy as np


def compute_dtype(dtype, where):
    """The dtype rows are read as: float32 and float64 stay (in native byte
    order), integers become float64; anything else raises, naming ``where``."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize in (4, 8):
        return dtype.newbyteorder("=")
    if dtype.kind in "iu":
        return np.dtype(np.float64)
    raise TypeError(
        f"{where} holds {dtype} values; fastgd fits float32 or float64 features "
        "(integers are read as float64). Store X as float32 or float64."
    )


def row_range(start, stop):
    """ "row 7" or "rows 4 to 9" (``stop`` excluded)."""
    return f"row {start}" if stop - start == 1 else f"rows {start} to {stop - 1}"


def even_block_starts(n_rows, block_rows):
    """Starts of blocks of ``block_rows`` rows (the last may be shorter)."""
    starts = np.arange(0, n_rows, max(1, int(block_rows)), dtype=np.int64)
    return np.append(starts, np.int64(n_rows))


# Bytes a read asks the operating system for: large requests keep a disk at
# its sequential speed; readahead alone, page by page, reached a fifth of it.
READ_BYTES = 8 * 2**20


class ArrayReader:
    """Blocks of a 2-D array: in memory, or mapped from a file.

    An array mapped from a file (``np.memmap``, ``np.load(mmap_mode="r")``,
    C-ordered float32/float64 in native byte order) is read with explicit
    ``preadv`` calls of 8 MiB into the caller's buffer: a cold file streams at
    the disk's sequential speed. When the page cache already holds the rows
    (``mincore``), the kernels read them where they are instead (:meth:`view`),
    which saves a copy. Other mapped arrays are copied from the mapping. Mapped
    pages are released once used (:meth:`release`, ``madvise(MADV_DONTNEED)``:
    the page cache keeps them, but they no longer count against the process's
    resident memory). An array in memory that needs no conversion is read
    where it is.
    ``name`` names the file in errors. ``block_rows`` None: the data source
    sets it from its memory budget (:meth:`use_block_rows`).
    """

    def __init__(self, X, name="X", block_rows=None):
        if X.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}."
            )
        self.X = X
        self.name = name
        self.dtype = compute_dtype(X.dtype, name)
        self.block_starts = None
        if block_rows is not None:
            self.use_block_rows(block_rows)
        self._mapping = _find_mapping(X)
        self._file = None
        if self._mapping is not None:
            self._mapping_address = np.frombuffer(self._mapping, np.uint8).ctypes.data
            self._file = _file_of(X, self.dtype)

    @property
    def shape(self):
        return self.X.shape

    def use_block_rows(self, block_rows):
        self.block_starts = even_block_starts(self.X.shape[0], block_rows)

    def read(self, block, out):
        start, stop = (int(s) for s in self.block_starts[block : block + 2])
        if self._file is not None and out.flags.c_contiguous:
            path, offset = self._file
            row_bytes = self.X.shape[1] * self.X.itemsize
            _read_file(path, offset + start * row_bytes, out)
            return
        rows = self.X[start:stop]
        out[...] = rows  # converts byte order and integers
        if self._mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._advise(mmap.MADV_DONTNEED, rows)

    def view(self, start, stop):
        """Rows start to stop where they are (in memory, or mapped and held by
        the page cache, and needing no conversion), or None when they are read
        into a buffer."""
        if self.X.dtype != self.dtype or not self.X.flags.c_contiguous:
            return None
        rows = self.X[start:stop]
        if self._mapping is not None and not _resident(rows):
            return None
        return rows

    def release(self, rows):
        """Drop a view's mapped pages from this process (not from the cache)."""
        if self._mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._advise(mmap.MADV_DONTNEED, rows)

    def where(self, start, stop):
        return f"{self.name}, {row_range(start, stop)}"

    def _advise(self, advice, rows):
        """madvise the whole pages under ``rows`` (a contiguous slice)."""
        if not rows.flags.c_contiguous or rows.size == 0:
            return
        begin = rows.ctypes.data - self._mapping_address
        end = begin + rows.nbytes
        page = mmap.PAGESIZE
        first = -(-begin // page) * page  # pages shared with other rows stay
        last = end // page * page
        if last > first:
            self._mapping.madvise(advice, first, last - first)


# Pages of a view whose residency is checked: evenly spaced. Checking every
# page costs 0.1 us each (27 ms a GB, a fifth of reading it from the cache);
# files are cached whole or not at all far more often than in part, and a page
# missed by the sample is read in on first touch, correctly, only slower.
_RESIDENCY_SAMPLE = 16


def _resident(rows):
    """Whether the page cache holds the pages under ``rows`` (mincore, on
    evenly spaced pages)."""
    libc = _libc()
    if libc is None or rows.size == 0:
        return False
    page = mmap.PAGESIZE
    begin = rows.ctypes.data // page * page
    end = rows.ctypes.data + rows.nbytes
    vector = np.zeros(1, dtype=np.uint8)
    for address in np.linspace(begin, end - 1, _RESIDENCY_SAMPLE).astype(np.int64):
        address = int(address) // page * page
        if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(page),
                        vector.ctypes.data_as(ctypes.c_void_p)) != 0 or not (
                vector[0] & 1):  # fmt: skip
            return False
    return True


@functools.cache
def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - not a POSIX system
        return None


def _read_file(path, offset, out):
    """Fill ``out`` with the bytes of ``path`` from ``offset``, READ_BYTES a call."""
    target = memoryview(out).cast("B")
    descriptor = os.open(path, os.O_RDONLY)
    try:
        done = 0
        while done < len(target):
            count = os.preadv(descriptor, [target[done : done + READ_BYTES]],
                              offset + done)  # fmt: skip
            if count == 0:
                raise ValueError(f"{path} ended early: it was truncated while read.")
            done += count
    finally:
        os.close(descriptor)


def _file_of(X, dtype):
    """(path, byte offset of row 0) when X is a whole np.memmap of a file in C
    order and ``dtype``, read with preadv; else None."""
    path = getattr(X, "filename", None)
    whole = isinstance(getattr(X, "base", None), mmap.mmap)  # not a view of one
    if path is None or not whole or X.dtype != dtype or not X.flags.c_contiguous:
        return None
    return path, int(X.offset)


def _find_mapping(X):
    """The mmap.mmap under an array (np.memmap, np.load(mmap_mode=...)), or None."""
    base = X
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


def _numeric_field(field, path):
    import pyarrow as pa

    kind = field.type
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        return np.dtype(kind.to_pandas_dtype())
    raise TypeError(
        f"Parquet column {field.name!r} of {path} is {kind}, not numeric; select "
        "numeric feature columns with columns=[...], or convert it before fitting."
    )


def _open_parquet(path):
    """A ``pyarrow.parquet.ParquetFile``, or a ValueError naming the file that is
    empty, truncated or not Parquet at all (pyarrow's own error names none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(
            f"{path} is not a readable Parquet file ({exc}); remove it from the "
            "directory or rewrite it."
        ) from None


class ParquetReader:
    """Blocks of Parquet files: one block per row group, the feature columns
    read with pyarrow (never the whole table) and written column by column into
    the buffer. The target column is read once, alone (columnar storage makes
    that cheap), as ``targets``.

    Every file must have the same feature columns with the same types.
    """

    def __init__(self, paths, target, columns, block_rows=None):

        self.paths = paths
        self.files = [_open_parquet(path) for path in paths]
        schema = self.files[0].schema_arrow
        names = schema.names
        if target is not None and target not in names:
            raise ValueError(
                f"the target column {target!r} is not in {paths[0]} (its columns: "
                f"{names}); pass target= one of them, or target=None."
            )
        if columns is None:
            columns = [name for name in names if name != target]
        if target is not None and target in columns:
            raise ValueError(
                f"the target column {target!r} is among columns={list(columns)}: "
                "a model would fit y from itself. Leave it out of columns (or "
                "pass columns=None: every column but the target)."
            )
        missing = [name for name in columns if name not in names]
        if missing:
            raise ValueError(
                f"columns {missing} are not in {paths[0]} (its columns: {names})."
            )
        if not columns:
            raise ValueError(f"{paths[0]} has no feature column besides the target.")
        self.columns = list(columns)
        types = [_numeric_field(schema.field(name), paths[0]) for name in columns]
        for path, file in zip(paths[1:], self.files[1:], strict=True):
            other = file.schema_arrow
            for name in [*columns, *([target] if target else [])]:
                if name not in other.names or other.field(name).type != schema.field(
                        name).type:  # fmt: skip
                    found = other.field(name).type if name in other.names else "none"
                    raise ValueError(
                        f"the schemas of the Parquet files disagree: column {name!r} "
                        f"is {schema.field(name).type} in {paths[0]} but {found} in "
                        f"{path}. Give files with the same columns and types."
                    )
        all_float32 = all(t == np.float32 for t in types)
        self.dtype = np.dtype(np.float32 if all_float32 else np.float64)
        # Blocks: the row groups, in file order.
        self._groups = [(f, g) for f, file in enumerate(self.files)
                        for g in range(file.metadata.num_row_groups)]  # fmt: skip
        sizes = [self.files[f].metadata.row_group(g).num_rows for f, g in self._groups]
        self._groups = [group for group, size in zip(self._groups, sizes, strict=True)
                        if size > 0]  # fmt: skip
        sizes = [size for size in sizes if size > 0]
        self.block_starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._file_starts = {}
        for (f, _), start in zip(self._groups, self.block_starts, strict=False):
            self._file_starts.setdefault(f, int(start))
        self.shape = (int(self.block_starts[-1]), len(self.columns))
        if self.shape[0] == 0:
            raise ValueError(f"the Parquet files {paths} hold no rows.")
        self.targets = None if target is None else self._read_target(target)

    def _read_target(self, target):
        parts = []
        for path, file in zip(self.paths, self.files, strict=True):
            column = file.read(columns=[target]).column(0)
            if column.null_count:
                raise ValueError(
                    f"the target column {target!r} of {path} has {column.null_count} "
                    "null values; drop or fill those rows before fitting."
                )
            _numeric_field(file.schema_arrow.field(target), path)
            parts.append(column.to_numpy().astype(self.dtype, copy=False))
        return np.concatenate(parts) if parts else np.empty(0, self.dtype)

    def read(self, block, out):
        f, g = self._groups[block]
        table = self.files[f].read_row_group(g, columns=self.columns)
        for j, column in enumerate(table.columns):
            if column.null_count:
                start, stop = self.block_starts[block], self.block_starts[block + 1]
                raise ValueError(
                    f"column {self.columns[j]!r} has {column.null_count} null values "
                    f"in {self.where(start, stop)}; drop or fill them before fitting."
                )
            out[:, j] = column.to_numpy()

    def where(self, start, stop):
        """The file and its own row numbers (blocks never span files)."""
        f = self._groups[int(np.searchsorted(self.block_starts, start, "right")) - 1][0]
        first = self._file_starts[f]
        return f"{self.paths[f]}, {row_range(start - first, stop - first)}"


def _refuse_partitions(path):
    """A directory whose subdirectories hold Parquet files is a partitioned
    dataset (Hive-style ``key=value`` directories keep a column in their
    names): reading only its top level would drop rows, and reading the files
    would drop the partition columns. Refused, with the ways round."""
    for root, _, names in os.walk(path):
        if root != path and any(name.endswith(".parquet") for name in names):
            raise ValueError(
                f"{path} is a partitioned Parquet dataset ({root} holds Parquet "
                "files): fastgd reads the *.parquet files of one directory. Pass "
                "the files as a list (their partition columns are then not read), "
                "or write the dataset into one directory with the partition "
                "columns inside (pyarrow.dataset.write_dataset without "
                "partitioning)."
            )


def parquet_paths(path_or_dir_or_list):
    """The Parquet files named: one path, a directory (its *.parquet files,
    sorted) or a list of paths."""
    if isinstance(path_or_dir_or_list, (str, os.PathLike)):
        path = os.fspath(path_or_dir_or_list)
        if os.path.isdir(path):
            _refuse_partitions(path)
            paths = sorted(os.path.join(path, name) for name in os.listdir(path)
                           if name.endswith(".parquet"))  # fmt: skip
            if not paths:
                raise FileNotFoundError(f"the directory {path} has no *.parquet file.")
            return paths
        paths = [path]
    else:
        paths = [os.fspath(path) for path in path_or_dir_or_list]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such Parquet file: {path}")
    if not paths:
        raise ValueError("no Parquet file given.")
    return paths
