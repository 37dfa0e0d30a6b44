"""Charts (matplotlib, the ``plot`` extra): learning curves, descent paths on loss
contours, schedule curves, and the benchmark summary.

Every function uses a headless-safe backend when none is set up, draws on the
given Axes (or a new figure), returns it, and writes a PNG when given a path.
"""

import numpy as np


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


def _axes(ax):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    return ax


def _save(ax, path):
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=110)
    return ax


def plot_learning_curves(histories, *, log=True, ax=None, path=None):
    """Loss per epoch (or iteration) for several fits on one figure.

    Parameters
    ----------
    histories : dict
        label -> a FitResult (its ``loss_history``), a fitted GDRegressor (its
        ``loss_curve_``) or any sequence of losses.
    log : bool, default=True
        Logarithmic loss axis.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from fastgd import fit_batch, fit_sgd
    >>> from fastgd.datasets import make_regression
    >>> from fastgd.plotting import plot_learning_curves
    >>> X, y, _ = make_regression(500, 3, random_state=0)
    >>> ax = plot_learning_curves({"batch": fit_batch(X, y, eta0=0.1),
    ...                            "sgd": fit_sgd(X, y, random_state=0)})
    """
    ax = _axes(ax)
    for label, history in histories.items():
        losses = getattr(history, "loss_history", None)
        losses = getattr(history, "loss_curve_", losses)
        losses = np.asarray(history if losses is None else losses, dtype=float)
        ax.plot(np.arange(1, len(losses) + 1), losses, marker=".", label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch (iteration for batch)")
    ax.set_ylabel("mean squared error")
    ax.set_title("Learning curves")
    ax.legend()
    return _save(ax, path)


def plot_descent_paths(loss, paths, *, levels=30, margin=0.25, ax=None, path=None,
                       labels=("parameter 1", "parameter 2")):  # fmt: skip
    """Paths of gradient descent on the contours of a two-parameter loss.

    Parameters
    ----------
    loss : callable
        J(p) of a length-2 array.
    paths : dict
        label -> array of shape (steps, 2), the visited parameters in order.
    levels : int, default=30
        Contour levels (spaced logarithmically above the minimum seen).
    margin : float, default=0.25
        Extra room around the paths, as a fraction of their extent.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd.plotting import plot_descent_paths
    >>> path = np.array([[2.0, 2.0], [1.0, 0.5], [0.2, 0.1]])
    >>> ax = plot_descent_paths(lambda p: p[0] ** 2 + 3 * p[1] ** 2, {"demo": path})
    """
    ax = _axes(ax)
    points = np.vstack([np.asarray(p, dtype=float) for p in paths.values()])
    low, high = points.min(axis=0), points.max(axis=0)
    room = np.maximum((high - low) * margin, 1e-3)
    grid_a = np.linspace(low[0] - room[0], high[0] + room[0], 120)
    grid_b = np.linspace(low[1] - room[1], high[1] + room[1], 120)
    A, B = np.meshgrid(grid_a, grid_b)
    J = np.array([[loss(np.array([a, b])) for a, b in zip(ra, rb, strict=True)]
                  for ra, rb in zip(A, B, strict=True)])  # fmt: skip
    floor = J.min()
    contour_levels = floor + np.geomspace(1e-3, 1.0, levels) * (J.max() - floor)
    ax.contour(A, B, J, levels=contour_levels, cmap="viridis", linewidths=0.7)
    for label, trace in paths.items():
        trace = np.asarray(trace, dtype=float)
        ax.plot(trace[:, 0], trace[:, 1], marker="o", markersize=2.5, linewidth=1,
                label=label)  # fmt: skip
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title("Descent paths on the loss contours")
    ax.legend()
    return _save(ax, path)


def plot_schedules(schedules, *, steps=1000, log=False, ax=None, path=None):
    """Step size against t for any schedules (callables t -> eta).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from fastgd import schedules
    >>> from fastgd.plotting import plot_schedules
    >>> ax = plot_schedules({"constant": schedules.constant(0.1),
    ...                      "annealing": schedules.annealing(5, 50)}, steps=200)
    """
    ax = _axes(ax)
    t = np.arange(steps)
    for label, schedule in schedules.items():
        values = np.broadcast_to(np.asarray(schedule(t), dtype=float), t.shape)
        ax.plot(t, values, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step t")
    ax.set_ylabel("step size eta_t")
    ax.set_title("Learning-rate schedules")
    ax.legend()
    return _save(ax, path)
