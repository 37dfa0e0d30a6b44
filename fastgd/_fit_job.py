"""``fastgd fit``: load a data file, fit GDRegressor, report and save the model.

Parquet files and directories of them are streamed by row group
(:func:`fastgd.sources.from_parquet`), never loaded whole; .csv, .npy and .npz
files are loaded into memory."""

import csv
import json
import os
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
    y = columns[target].astype(np.float64)
    _check_finite(path, X, y, features, repr(target))
    return X, y, features


def _check_finite(path, X, y, features, target):
    """A missing or infinite value, named by file, column and row (a data row
    counted from 0, after any header)."""
    names_of_x = [f"column {name!r}" for name in features]
    for values, names in ((y[:, None], [f"target {target}"]), (X, names_of_x)):
        bad = ~np.isfinite(values)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise DataFileError(
                f"{path}: {names[column]} holds {values[row, column]} at data row "
                f"{row} ({int(bad.sum())} such value(s)); remove or impute those "
                "rows before fitting."
            )


def _numeric_or_text(values):
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=object)


def _read_csv(path, target):
    try:
        import pandas as pd
    except ImportError:  # plain csv: header row, comma-separated
        return _read_plain_csv(path, target)
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataFileError(_EMPTY.format(path=path)) from None
    if len(frame) == 0:
        raise DataFileError(_HEADER_ONLY.format(path=path))
    return _table({c: frame[c].to_numpy() for c in frame.columns}, target, path)


_EMPTY = "{path} is empty: expected a header row and data rows."
_HEADER_ONLY = "{path} has a header but no data rows."


def _read_plain_csv(path, target):
    with open(path, newline="") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise DataFileError(_EMPTY.format(path=path))
    header, *rows = lines
    if not rows:
        raise DataFileError(_HEADER_ONLY.format(path=path))
    columns = {
        name: _numeric_or_text([row[j] for row in rows])
        for j, name in enumerate(header)
    }
    return _table(columns, target, path)


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
            X, y = loaded["X"], loaded["y"]
            if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
                raise DataFileError(
                    f"{path}: X must be 2-D and y 1-D with one value a row of X; "
                    f"X has shape {X.shape} and y {y.shape}."
                )
            features = [f"x{j}" for j in range(X.shape[1])]
            _check_finite(path, X.astype(np.float64), y.astype(np.float64), features,
                          "'y'")  # fmt: skip
            return X, y, features
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
    if target is None:
        raise DataFileError(
            f"{path} holds one array: say which column is the target with "
            f"--target INDEX (0 to {loaded.shape[1] - 1}), or save arrays named "
            "'X' and 'y' in an .npz file."
        )
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
    X, y, names = loaded[:, features], loaded[:, column], [f"x{j}" for j in features]
    _check_finite(path, X.astype(np.float64), y.astype(np.float64), names,
                  f"(column {column})")  # fmt: skip
    return X, y, names


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


def _check_writable(path):
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise DataFileError(f"--save {path}: that is a directory; name a file.")
    if not folder.is_dir():
        raise DataFileError(f"--save {path}: no directory {folder}; create it first.")
    if not os.access(folder, os.W_OK):
        raise DataFileError(f"--save {path}: {folder} is not writable.")


def load_model(path):
    """The :class:`~fastgd.GDRegressor` that ``fastgd fit ... --save PATH``
    saved, ready to predict: its parameters, ``coef_`` and ``intercept_``, and
    ``feature_names_in_`` when it was fitted on a table with column names
    (CSV, Parquet), so that a DataFrame's columns are checked by name.

    >>> import json, tempfile, numpy as np, fastgd
    >>> record = {"model": "fastgd.GDRegressor", "params": {"solver": "auto"},
    ...           "features": ["a", "b"], "named": True, "coef": [1.0, 2.0],
    ...           "intercept": [0.5]}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    ...     json.dump(record, f)
    >>> model = fastgd.load_model(f.name)
    >>> model.predict(np.array([[1.0, 1.0]])).tolist()
    [3.5]
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataFileError(f"cannot read a saved model from {path}: {exc}") from exc
    if not isinstance(record, dict) or record.get("model") != "fastgd.GDRegressor":
        raise DataFileError(
            f"{path} is not a model saved by 'fastgd fit --save' (no "
            '"model": "fastgd.GDRegressor" entry).'
        )
    model = GDRegressor(**record.get("params", {}))
    model.coef_ = np.asarray(record["coef"], dtype=np.float64)
    model.intercept_ = np.atleast_1d(np.asarray(record["intercept"], dtype=np.float64))
    model.n_features_in_ = len(model.coef_)
    if record.get("named"):
        model.feature_names_in_ = np.asarray(record["features"], dtype=object)
    return model


def run_fit(path, target, solver="auto", save=None, random_state=0, out=print,
            memory_budget=None):  # fmt: skip
    """Fit GDRegressor on a file and report coefficients, R^2 and time."""
    if save is not None:
        _check_writable(Path(save))  # before the fit, not after it
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
            # Column names of a table (CSV, Parquet), not positions.
            "named": Path(path).is_dir()
            or Path(path).suffix.lower() in (".csv", ".parquet"),
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
