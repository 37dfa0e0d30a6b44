"""Charts render headless (Agg) into real, non-empty PNG files."""

import runpy
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from fastgd import _kernels, fit_batch, fit_minibatch, fit_sgd, schedules
from fastgd.plotting import (
    plot_descent_paths,
    plot_learning_curves,
    plot_schedules,
)

from .conftest import make_problem

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path, minimum=5_000):
    data = Path(path).read_bytes()
    return data[:8] == PNG and len(data) > minimum


def test_learning_curves(tmp_path):
    X, y, _ = make_problem(m=300, n=3)
    histories = {
        "batch": fit_batch(X, y, eta0=0.1, max_iter=30, tol=None),
        "sgd": fit_sgd(X, y, max_iter=10, tol=None, random_state=0),
        "minibatch": fit_minibatch(
            X, y, max_iter=10, tol=None, random_state=0
        ).loss_history,
    }
    ax = plot_learning_curves(histories, path=tmp_path / "curves.png")
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    assert _is_png(tmp_path / "curves.png")


def test_descent_paths(tmp_path):
    path = np.array([[3.0, -2.0], [1.5, -0.5], [0.4, 0.1], [0.0, 0.0]])
    ax = plot_descent_paths(lambda p: p[0] ** 2 + 4 * p[1] ** 2, {"gd": path},
                            path=tmp_path / "paths.png")  # fmt: skip
    assert len(ax.lines) == 1 and ax.collections, "the path and its contours"
    assert _is_png(tmp_path / "paths.png")


def test_schedules_chart(tmp_path):
    ax = plot_schedules(
        {"constant": schedules.constant(0.1), "cosine": schedules.cosine(0.1, 100)},
        steps=150, log=False, path=tmp_path / "schedules.png",
    )  # fmt: skip
    assert [line.get_label() for line in ax.lines] == ["constant", "cosine"]
    assert _is_png(tmp_path / "schedules.png")


EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.skipif(
    _kernels.JIT_DISABLED,
    reason="the examples are timed demonstrations on real sizes: they run compiled",
)
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_run(script, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip(), "every example reports what it did"
    for png in tmp_path.glob("*.png"):
        assert _is_png(png)
