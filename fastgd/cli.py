"""The ``fastgd`` command.

``fastgd bench`` (the main job) generates its own data, times one unit of work of
every method with every implementation side by side (interleaved rounds, medians,
compilation excluded), shows each as a multiple of one streaming read of X, then
fits the same data to convergence with each method and reports time and error.
"""

import argparse
import json
import sys
import time
import warnings

import numpy as np

from . import _kernels, benchmark, solvers
from .datasets import make_regression

QUICK_SIZES = "1000000x100"
FULL_SIZES = "1000000x100,5000000x20,200000x1000"
DEFAULT_IMPLS = "compiled,numpy,loop,sklearn,normal_equation"
DEFAULT_METHODS = "batch,sgd,minibatch"


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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastgd", description="Linear least squares by gradient descent, fast."
    )
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
        "--impls", type=_names(all_impls), default=DEFAULT_IMPLS.split(",")
    )
    bench.add_argument("--dtype", choices=["float64", "float32"], default="float64")
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
    bench.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    bench.add_argument("--quiet", action="store_true", help="print only the tables")
    return parser  # fmt: skip


def _say(args, text=""):
    if not args.quiet:
        print(text, flush=True)


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


def _method_rows(method, impls, X, y, args, read_single):
    """Time the method's implementations side by side; rows for the table."""
    entries = [
        benchmark.REGISTRY[method, impl]
        for impl in impls
        if (method, impl) in benchmark.REGISTRY
    ]
    m = X.shape[0]
    runs = {
        entry.impl: entry.setup(X, y, batch_size=args.batch_size) for entry in entries
    }
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
            )
        )
    by_impl = {row["impl"]: row["median_s"] for row in rows}
    for row in rows:
        row["x_read_1thread"] = row["median_s"] / read_single
        for baseline in ("loop", "numpy", "sklearn"):
            if baseline in by_impl and row["impl"] != baseline:
                row[f"speedup_vs_{baseline}"] = by_impl[baseline] / row["median_s"]
    return rows


def _format_table(rows):
    header = (
        f"  {'impl':<16}{'median':>11}{'min':>11}{'x read':>8}"
        f"{'vs loop':>9}{'vs numpy':>10}{'vs sklearn':>11}  note"
    )
    lines = [header]
    for row in rows:

        def ratio(key, row=row):
            return f"{row[key]:.1f}x" if key in row else "-"

        note = row["description"]
        if row["extrapolated"]:
            note += f" (timed on {row['rows_timed']:,} rows, scaled up)"
        lines.append(
            f"  {row['impl']:<16}{row['median_s'] * 1e3:>9.1f}ms"
            f"{row['min_s'] * 1e3:>9.1f}ms{row['x_read_1thread']:>7.1f}x"
            f"{ratio('speedup_vs_loop'):>9}{ratio('speedup_vs_numpy'):>10}"
            f"{ratio('speedup_vs_sklearn'):>11}  {note}"
        )
    return lines


def _fits(X, y, true_coef, methods, args):
    """Fit to convergence with each method (compiled) and report time and error."""
    plans = {
        "batch": lambda: solvers.fit_batch(X, y, eta0=0.3, tol=1e-8, max_iter=2000),
        "batch (gram)": lambda: solvers.fit_batch(
            X, y, eta0=0.3, tol=1e-8, max_iter=2000, strategy="gram"
        ),
        "sgd": lambda: solvers.fit_sgd(
            X, y, eta0=benchmark.benchmark_step_size(X) / 10, max_iter=10, tol=1e-4,
            random_state=0,
        ),
        "minibatch": lambda: solvers.fit_minibatch(
            X, y, batch_size=args.batch_size, eta0=0.01, max_iter=10, tol=1e-4,
            random_state=0,
        ),
    }  # fmt: skip
    results = []
    for name, fit in plans.items():
        if name.split()[0] not in methods:
            continue
        start = time.perf_counter()
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            result = fit()
        seconds = time.perf_counter() - start
        results.append(
            dict(
                method=name,
                seconds=seconds,
                n_iter=result.n_iter,
                converged=result.converged,
                final_loss=float(result.loss_history[-1]),
                max_coef_error=float(np.max(np.abs(result.coef - true_coef))),
            )
        )
    return results


def run_bench(args):
    if args.threads is not None:
        if not 1 <= args.threads <= _kernels.max_threads():
            raise SystemExit(
                f"--threads must be between 1 and {_kernels.max_threads()} here."
            )
        _kernels.set_num_threads(args.threads)
    sizes = args.sizes or _sizes(FULL_SIZES if args.full else QUICK_SIZES)
    record = benchmark.machine_record()
    report = dict(machine=record.__dict__, sizes=[], options=vars(args).copy())
    report["options"]["sizes"] = sizes
    for line in record.lines():
        print(line)
    X_small, y_small, _ = make_regression(64, 4, random_state=0)
    report["compile_or_cache_load_s"] = benchmark.compile_times(X_small, y_small)
    _say(
        args,
        "First call of each kernel (compile, or load from numba's cache): "
        + ", ".join(
            f"{k} {v:.2f}s" for k, v in report["compile_or_cache_load_s"].items()
        ),
    )
    for m, n in sizes:
        dtype = np.dtype(args.dtype)
        start = time.perf_counter()
        X, y, true_coef = make_regression(m, n, dtype=dtype, random_state=0)
        generate_s = time.perf_counter() - start
        print(f"\n== {m:,} x {n} {dtype} ({X.nbytes / 1e6:,.0f} MB; generated in "
              f"{generate_s:.1f}s) ==")  # fmt: skip
        read_single, read_all = _time_read_limit(X, y, args.repeats)
        threads = _kernels.get_num_threads()
        print(f"  one streaming read of X: {read_single * 1e3:.1f} ms (1 thread), "
              f"{read_all * 1e3:.1f} ms ({threads} threads)")  # fmt: skip
        size_report = dict(
            m=m, n=n, dtype=str(dtype), generate_s=generate_s,
            read_1thread_s=read_single, read_all_threads_s=read_all, methods=[],
        )  # fmt: skip
        for method in args.methods:
            unit = "one gradient" if method == "batch" else "one epoch"
            if method == "minibatch":
                unit += f", batch_size={args.batch_size}"
            print(f"\n  {method} ({unit}):")
            rows = _method_rows(method, args.impls, X, y, args, read_single)
            size_report["methods"].extend(rows)
            for line in _format_table(rows):
                print(line)
        if not args.no_fit:
            print("\n  fits to convergence (compiled):")
            fits = _fits(X, y, true_coef, args.methods, args)
            size_report["fits"] = fits
            for fit in fits:
                print(
                    f"  {fit['method']:<14}{fit['seconds']:>8.2f}s {fit['n_iter']:>5} "
                    f"iterations/epochs  converged={fit['converged']!s:<5}  "
                    f"max |coef - true| = {fit['max_coef_error']:.2e}"
                )
        report["sizes"].append(size_report)
        del X, y
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2, default=str)
        _say(args, f"\nwrote {args.json}")
    return report


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        run_bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
