"""Charts (matplotlib, the ``plot`` extra): the benchmark summary.

Every function draws on a headless-safe backend when it has to save, returns the
matplotlib Figure, and writes a PNG when given a path.
"""


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "plotting needs matplotlib: pip install 'fastgd[plot]' (or matplotlib)."
        ) from exc
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline"):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_benchmark(report, path=None):
    """Bar charts of a ``fastgd bench`` report (the dict it writes as JSON).

    One row of panels per size: the compiled kernel's speedup over the loop and
    NumPy twins (and scikit-learn where it has the method), per method, on a log
    scale; and every implementation's time as a multiple of one single-threaded
    streaming read of X.

    Parameters
    ----------
    report : dict
        ``fastgd.cli.run_bench(...)``'s result, or the JSON ``--json`` wrote.
    path : str or path-like, optional
        Where to save the PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    sizes = report["sizes"]
    figure, axes = plt.subplots(
        len(sizes), 2, figsize=(12, 3.6 * len(sizes)), squeeze=False
    )
    for row, size in zip(axes, sizes, strict=True):
        title = f"{size['m']:,} x {size['n']} {size['dtype']}"
        _speedups(row[0], size["methods"], title)
        _read_multiples(row[1], size["methods"], title)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=110)
    return figure


def _speedups(axis, rows, title):
    compiled = [r for r in rows if r["impl"] == "compiled"]
    baselines = ("loop", "numpy", "sklearn")
    width = 0.8 / len(baselines)
    for index, baseline in enumerate(baselines):
        values = [r.get(f"speedup_vs_{baseline}", 0.0) for r in compiled]
        positions = [i + index * width for i in range(len(compiled))]
        bars = axis.bar(positions, values, width, label=f"vs {baseline}")
        axis.bar_label(bars, fmt="%.1fx", fontsize=7)
    axis.set_xticks([i + width for i in range(len(compiled))])
    axis.set_xticklabels([r["method"] for r in compiled])
    axis.set_yscale("log")
    axis.set_ylabel("compiled speedup (x)")
    axis.set_title(f"{title}: what compilation buys")
    axis.legend(fontsize=8)


def _read_multiples(axis, rows, title):
    labels = [f"{r['method']} {r['impl']}".replace("normal_equation", "normal eq.")
              for r in rows]  # fmt: skip
    values = [r["x_read_1thread"] for r in rows]
    bars = axis.bar(range(len(rows)), values, color="tab:gray")
    for bar, r in zip(bars, rows, strict=True):
        if r["impl"] == "compiled":
            bar.set_color("tab:green")
    axis.bar_label(bars, fmt="%.1f", fontsize=7)
    axis.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    axis.set_xticks(range(len(rows)))
    axis.set_xticklabels(labels, fontsize=7, rotation=40, ha="right")
    axis.set_yscale("log")
    axis.set_ylabel("time / one read of X (1 thread)")
    axis.set_title(f"{title}: distance to the memory limit")
