"""``fastgd fit``: load a data file, fit GDRegressor, report and save the model.

Parquet files and directories of them are streamed by row group
(:func:`fastgd.sources.from_parquet`), never loaded whole; .csv, .npy and .npz
files are loaded into memory."""

import csv
import json
import time
from pathlib import Path

import numpy as np

from ._errors import DataFileError
from .linear_model import GDRegressor

FORMATS = (".csv", ".npy", ".npz", ".parquet")


def _table(columns, target, path):
    """(X, y, feature names) from {column name: 1-D array}, with clear errors."""
    if target not in columns:
        raise DataFileError(
            f"{path} has no column {target!r}; its columns are {list(columns)}."
        )
    non_numeric = [
        str(name)
        for name, values in columns.items()
        if not np.issubdtype(values.dtype, np.number)
    ]
    if non_numeric:
        raise DataFileError(
            f"{path}: column(s) {non_numeric} are not numeric; encode or drop them "
            "before fitting."
        )
    features = [str(name) for name in columns if name != target]
    if not features:
        raise DataFileError(f"{path} has no feature columns besides {target!r}.")
    X = np.column_stack([columns[name].astype(np.float64) for name in features])
    return X, columns[target].astype(np.float64), features


def _numeric_or_text(values):
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=object)


def _read_csv(path, target):
    try:
        import pandas as pd
    except ImportError:  # plain csv: header row, comma-separated
        with open(path, newline="") as handle:
            header, *rows = list(csv.reader(handle))
        columns = {
            name: _numeric_or_text([row[j] for row in rows])
            for j, name in enumerate(header)
        }
        return _table(columns, target, path)
    frame = pd.read_csv(path)
    return _table({c: frame[c].to_numpy() for c in frame.columns}, target, path)


def _read_parquet(path, target, memory_budget=None):
    """A streamed source (X) holding y (None), and the feature names."""
    from .sources import from_parquet

    try:
        source = from_parquet(path, target=target, memory_budget=memory_budget)
    except ImportError as exc:
        raise DataFileError(f"reading {path} needs pyarrow: {exc}") from exc
    except (ValueError, TypeError, OSError) as exc:
        raise DataFileError(str(exc)) from exc
    return source, None, list(source.reader.columns)


def _read_arrays(path, target):
    """.npy: a 2-D array, target = a column index. .npz: arrays X and y (or a 2-D
    array with the target as a column index, like .npy)."""
    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.lib.npyio.NpzFile):
        if "X" in loaded and "y" in loaded:
            X = loaded["X"]
            return X, loaded["y"], [f"x{j}" for j in range(X.shape[1])]
        if len(loaded.files) != 1:
            raise DataFileError(
                f"{path} must hold arrays named 'X' and 'y', or a single 2-D array; "
                f"it holds {loaded.files}."
            )
        loaded = loaded[loaded.files[0]]
    if loaded.ndim != 2:
        raise DataFileError(f"{path} holds a {loaded.ndim}-D array; expected 2-D.")
    if not np.issubdtype(loaded.dtype, np.number):
        raise DataFileError(f"{path} holds non-numeric data (dtype {loaded.dtype}).")
    try:
        column = int(target)
    except ValueError:
        raise DataFileError(
            f"for {path.suffix} files --target is a column index (0 to "
            f"{loaded.shape[1] - 1}), got {target!r}."
        ) from None
    if not -loaded.shape[1] <= column < loaded.shape[1]:
        raise DataFileError(
            f"--target {column} is out of range: {path} has {loaded.shape[1]} columns."
        )
    column %= loaded.shape[1]
    features = [j for j in range(loaded.shape[1]) if j != column]
    return loaded[:, features], loaded[:, column], [f"x{j}" for j in features]


def load_table(path, target, memory_budget=None):
    """(X, y, feature_names) from a .csv, .parquet, .npy or .npz file, or a
    directory of .parquet files; for Parquet X is a streamed data source holding
    y, and y is None."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"no such file: {path}")
    if path.is_dir() or path.suffix.lower() == ".parquet":
        if target is None:
            raise DataFileError("--target COLUMN is required for Parquet files.")
        return _read_parquet(path, target, memory_budget)
    readers = {
        ".csv": _read_csv,
        ".parquet": _read_parquet,
        ".npy": _read_arrays,
        ".npz": _read_arrays,
    }
    if path.suffix.lower() not in readers:
        raise DataFileError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {FORMATS}."
        )
    if target is None and path.suffix.lower() in (".csv", ".parquet"):
        raise DataFileError("--target COLUMN is required for .csv and .parquet files.")
    return readers[path.suffix.lower()](path, target)


def run_fit(path, target, solver="auto", save=None, random_state=0, out=print,
            memory_budget=None):  # fmt: skip
    """Fit GDRegressor on a file and report coefficients, R^2 and time."""
    X, y, features = load_table(path, target, memory_budget)
    model = GDRegressor(solver=solver, random_state=random_state)
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    r2 = model.score(X, y)
    out(f"{path}: {X.shape[0]:,} samples x {X.shape[1]} features, target {target!r}")
    ran = solver if solver == model.solver_ else f"{solver} -> {model.solver_}"
    out(f"solver={ran}: {seconds:.3f}s, {model.n_iter_} epochs, R^2 = {r2:.6f}")
    out(f"  intercept  {model.intercept_[0]: .6g}")
    for name, value in zip(features, model.coef_, strict=True):
        out(f"  {name:<10} {value: .6g}")
    if save is not None:
        record = {
            "model": "fastgd.GDRegressor",
            "params": {k: v for k, v in model.get_params().items() if not callable(v)},
            "features": features,
            "target": str(target),
            "coef": model.coef_.tolist(),
            "intercept": model.intercept_.tolist(),
            "r2": r2,
            "n_iter": model.n_iter_,
            "eta0": model.eta0_,
            "seconds": seconds,
        }
        Path(save).write_text(json.dumps(record, indent=2, default=str))
        out(f"saved {save}")
    return model
