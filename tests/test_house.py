"""The layout rules CONTRIBUTING.md states, checked on the source itself.

Read from the files (``ast``), not by importing: a rule holds for every module,
whichever of them a test run happens to import.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "fastgd"
# Sources of rows; the helpers they share (base, reductions, readers, the Dask
# chunk tasks) may be imported by any of them, but no source by another.
SOURCES = {"dense", "sparse", "blocks", "dask_source", "files"}
MAX_KERNEL_PARAMETERS = 12


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name):
    """{imported fastgd module or external top-level name: module level?}."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    found = {}
    for node in ast.walk(ast.parse(path.read_text())):
        top_level = getattr(node, "col_offset", 1) == 0
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module
            else:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([node.module] if node.module else []))
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target != name:
                found[target] = found.get(target, False) or top_level
    return found


def test_only_the_kernels_import_numba():
    offenders = [
        name
        for name in MODULES
        if not name.startswith("fastgd._kernels")
        and any(t.split(".")[0] in ("numba", "llvmlite") for t in _imports(name))
    ]
    assert offenders == []


def test_the_functional_api_does_not_import_scikit_learn():
    """Only the estimators (and what only they use) import sklearn."""
    allowed = {"fastgd.linear_model", "fastgd.classifier", "fastgd._estimator",
               "fastgd.reference", "fastgd.benchmark"}  # fmt: skip
    offenders = [
        name
        for name in MODULES
        if name not in allowed
        and any(
            t.split(".")[0] == "sklearn" for t, top in _imports(name).items() if top
        )
    ]
    assert offenders == []


def _circles(graph):
    """The import circles of ``graph`` ({module: modules it imports})."""
    state, circles = {}, []

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return circles


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    """Not even through an import inside a function (one that defers a heavy
    dependency is fine; one that hides a circle is not)."""
    graph = {
        # A package's own __init__ importing its submodules is not a circle.
        name: {
            t for t in _imports(name) if t in MODULES and not name.startswith(t + ".")
        }
        for name in MODULES
    }
    assert _circles(graph) == []


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_no_source_imports_another_or_the_training_loop(source):
    name = f"fastgd.sources.{source}"
    imported = _imports(name)
    others = {f"fastgd.sources.{s}" for s in SOURCES - {source}}
    if source == "files":  # from_npy / from_parquet build block sources
        others.discard("fastgd.sources.blocks")
    assert not others & set(imported)
    assert not [t for t in imported if t.startswith("fastgd._training")]


def test_kernels_take_at_most_twelve_parameters():
    too_many = []
    for name, path in MODULES.items():
        if not name.startswith("fastgd._kernels"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                count = len(node.args.args) + len(node.args.kwonlyargs)
                if count > MAX_KERNEL_PARAMETERS:
                    too_many.append((name, node.name, count))
    assert too_many == []


def test_no_kernel_module_is_past_six_hundred_lines():
    long = {
        name: n
        for name, path in MODULES.items()
        if name.startswith("fastgd._kernels")
        and (n := len(path.read_text().splitlines())) > 600
    }
    assert long == {}


def test_the_algebra_between_passes_runs_on_one_blas_thread(monkeypatch):
    """OpenBLAS's spinning threads would hold the cores from numba's next pass
    (fastgd/_training/blas.py): inside, one BLAS thread; after, as before. With
    another Python thread alive, which could be inside BLAS, the process-wide
    limit is not touched (the test sets the thread count it reads: other tests
    may leave threads behind in this process)."""
    from threadpoolctl import threadpool_info

    from fastgd._training import blas
    from fastgd._training.blas import one_blas_thread

    def blas_threads():
        return [info["num_threads"] for info in threadpool_info()
                if info["user_api"] == "blas"]  # fmt: skip

    before = blas_threads()
    assert before, "NumPy's BLAS is loaded"
    monkeypatch.setattr(blas.threading, "active_count", lambda: 1)
    assert set(one_blas_thread(blas_threads)()) == {1}
    assert blas_threads() == before
    monkeypatch.setattr(blas.threading, "active_count", lambda: 2)
    assert one_blas_thread(blas_threads)() == before
