"""How ``fastgd bench`` prints: rich tables and a progress bar when rich is
installed (the ``bench`` extra), plain aligned text otherwise."""

import contextlib
import sys

try:  # rich is optional: the bench extra
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
except ImportError:  # pragma: no cover - exercised where rich is absent
    Console = None

# "x read 1T / all": the median as a multiple of one streaming read of X on one
# thread (the bound for the sequential SGD and mini-batch epochs) and on all
# threads (the bound for the parallel batch gradient).
COLUMNS = ("impl", "median", "min", "x read 1T / all", "vs loop", "vs numpy",
           "vs sklearn", "note")  # fmt: skip


def _cells(row):
    def ratio(key):
        return f"{row[key]:.1f}x" if key in row else "-"

    note = row["description"]
    if row["extrapolated"]:
        note += f" (timed on {row['rows_timed']:,} rows, scaled up)"
    return (
        row["impl"],
        f"{row['median_s'] * 1e3:.1f} ms",
        f"{row['min_s'] * 1e3:.1f} ms",
        f"{row['x_read_1thread']:.1f} / {row['x_read_all_threads']:.2f}",
        ratio("speedup_vs_loop"),
        ratio("speedup_vs_numpy"),
        ratio("speedup_vs_sklearn"),
        note,
    )


# A timed fit whose first attempt compiled a kernel (fastgd.benchmark.timed).
RETIMED = "timed again: its first attempt compiled"


class Reporter:
    """Prints a benchmark as it runs. ``rich=None`` uses rich when installed."""

    def __init__(self, quiet=False, rich=None, file=None):
        self.quiet = quiet
        self.file = file or sys.stdout
        use_rich = Console is not None if rich is None else rich
        self.console = Console(file=self.file, width=160) if use_rich else None

    def _print(self, text=""):
        if self.console is not None:
            self.console.print(text, highlight=False)
        else:
            print(text, file=self.file, flush=True)

    def machine(self, lines):
        for line in lines:
            self._print(line)

    def note(self, text):
        if not self.quiet:
            self._print(text)

    def table_line(self, text):
        """A line of a table: printed even with ``quiet``."""
        self._print(text)

    def compile_times(self, times):
        if self.quiet:
            return
        for label, meaning in (("cold", "compiling"), ("warm", "from numba's cache")):
            figures = ", ".join(f"{k} {v:.2f}s" for k, v in times[label].items())
            self._print(f"First call in a fresh process, {meaning}: {figures}")

    def size(self, m, n, dtype, nbytes, generate_s, read_single, read_all, threads):
        self._print(
            f"\n== {m:,} x {n} {dtype} ({nbytes / 1e6:,.0f} MB; generated in "
            f"{generate_s:.1f}s) ==\n  one streaming read of X: "
            f"{read_single * 1e3:.1f} ms (1 thread), {read_all * 1e3:.1f} ms "
            f"({threads} threads)"
        )

    def method_table(self, method, batch_size, rows):
        unit = {"batch": "one gradient", "svrg": "one epoch and one gradient"}.get(
            method, "one epoch"
        )
        if method == "minibatch":
            unit += f", batch_size={batch_size}"
        title = f"{method} ({unit})"
        if self.console is not None:
            table = Table(title=title, title_justify="left")
            for index, column in enumerate(COLUMNS):
                table.add_column(column, justify="left" if index in (0, 7) else "right")
            for row in rows:
                table.add_row(*_cells(row))
            self.console.print(table)
            return
        self._print(f"\n  {title}:")
        widths = (16, 11, 11, 8, 9, 10, 11)
        header = "".join(
            f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
            for i, (c, w) in enumerate(zip(COLUMNS, widths, strict=False))
        )
        self._print(f"  {header}  note")
        for row in rows:
            cells = _cells(row)
            text = "".join(
                f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                for i, (c, w) in enumerate(zip(cells, widths, strict=False))
            )
            self._print(f"  {text}  {cells[-1]}")

    def dtype_ratios(self, batch_size, rows):
        self._print("\n  float64 against float32 (compiled, interleaved):")
        self._print(f"  {'method':<18}{'float64':>11}{'float32':>11}  float64/float32")
        for row in rows:
            method = row["method"]
            if method == "minibatch":
                method += f" (B={batch_size})"
            wide, narrow = row["float64_s"] * 1e3, row["float32_s"] * 1e3
            self._print(
                f"  {method:<18}{wide:>8.1f} ms{narrow:>8.1f} ms  "
                f"{row['float64_over_float32']:.2f}x"
            )

    def fits(self, fits):
        self._print("\n  fits to convergence (compiled):")
        for fit in fits:
            notes = []
            if "x_normal_equation" in fit:
                notes.append(f"{fit['x_normal_equation']:.2f}x the normal equation")
            if fit.get("strategy") and fit["method"] != "batch (pass)":
                notes.append(f"ran: {fit['strategy']}")
            if fit.get("retimed"):
                notes.append(RETIMED)
            self._print(
                f"  {fit['method']:<14}{fit['seconds']:>8.2f}s {fit['n_iter']:>5} "
                f"iterations/epochs  converged={fit['converged']!s:<5}  "
                f"max |coef - true| = {fit['max_coef_error']:.2e}"
                + (f"  ({'; '.join(notes)})" if notes else "")
            )

    def time_to_solution(self, kind, rows):
        features = {
            "normal": "N(0,1) features",
            "correlated": "correlated features, scales 1e-2..1e2",
        }[kind]
        self._print(
            f"\n  time to solution, whole default fits ({features}); relative "
            "excess loss against the normal equation's:"
        )
        for row in rows:
            name = row["name"]
            if row.get("solver") and row["solver"] != name:
                name += f" -> {row['solver']}"
            reached = "reached 1e-4" if row["reached"] else "not reached"
            self._print(
                f"  {name:<24}{row['seconds']:>9.3f}s "
                f"{row['x_normal_equation']:>7.2f}x normal eq.  "
                f"excess {row['relative_excess']:.1e}  {reached}"
                + (f"  ({RETIMED})" if row.get("retimed") else "")
            )

    def table_case(self, name, shape, entries, reference_seconds, rows):
        self._print(
            f"\n  realistic table: {name}, {shape[0]:,} x {shape[1]:,} "
            f"({entries / shape[0]:.1f} entries a row); relative excess loss "
            f"against exact least squares ({reference_seconds:.2f}s):"
        )
        for row in rows:
            name = row["name"]
            if row.get("solver") and f"({row['solver']})" not in name:
                name += f" -> {row['solver']}"
            outcome = row["error"] or (
                "reached 1e-4" if row["reached"] else "not reached")  # fmt: skip
            said = ""
            if row.get("estimated_excess") is not None:
                said = f"  (said {row['estimated_excess']:.1e})"
            warned = (
                f"  warned: {', '.join(row['warnings'])}" if row["warnings"] else ""
            )
            self._print(
                f"  {name:<28}{row['seconds']:>9.3f}s  "
                f"excess {row['relative_excess']:.1e}{said}  {outcome}{warned}"
            )

    def sparse_size(self, m, n, nnz, dtype, nbytes, generate_s):
        self._print(
            f"\n== sparse {m:,} x {n:,} {dtype}, {nnz:,} stored entries "
            f"({nnz / m:.1f} a row; {nbytes / 1e6:,.0f} MB; generated in "
            f"{generate_s:.1f}s) =="
        )

    def sparse_units(self, rows):
        titles = {"sgd": "SGD (one epoch)", "minibatch": "mini-batch (one epoch)",
                  "batch": "batch gradient (one gradient and loss)",
                  "svrg": "SVRG (one unit)"}  # fmt: skip
        method = None
        for row in rows:
            if row["method"] != method:
                method = row["method"]
                self._print(f"\n  {titles[method]}:")
                self._print(f"  {'impl':<10}{'median':>11}{'best':>11}"
                            f"{'compiled is':>14}  what")  # fmt: skip
            scaled = "" if row["rows_timed"] >= row.get("m", 0) else (
                f" (timed on {row['rows_timed']:,} rows, scaled)")  # fmt: skip
            self._print(
                f"  {row['impl']:<10}{row['median_s'] * 1e3:>8.1f} ms"
                f"{row['min_s'] * 1e3:>8.1f} ms{row['compiled_speedup']:>11.2f}x "
                f"  {row['note']}{scaled}"
            )

    def sparse_fits(self, rows, growth, nbytes):
        self._print("\n  default fits to convergence:")
        for row in rows:
            self._print(f"  {row['name']:<24}{row['seconds']:>8.2f}s  R^2 "
                        f"{row['r2']:.6f}  {row['note']}")  # fmt: skip
        if growth is not None:
            self._print(
                f"\n  peak resident memory growth during a GDRegressor fit (solver "
                f"auto, 3 units; a fresh process, after a first fit): "
                f"{growth / 1e6:.1f} MB = {100 * growth / nbytes:.1f}% of the matrix"
            )

    @contextlib.contextmanager
    def progress(self, total):
        """A context giving ``advance(description)``: a rich progress bar, a line
        per step in plain mode, nothing when quiet."""
        if self.quiet:
            yield lambda description: None
            return
        if self.console is None:
            yield lambda description: self._print(f"... {description}")
            return
        bar = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
            console=self.console, transient=True,
        )  # fmt: skip
        with bar:
            task = bar.add_task("starting", total=total)
            started = [False]

            def advance(description):
                if started[0]:
                    bar.advance(task)
                started[0] = True
                bar.update(task, description=description)

            yield advance
