"""One registry of implementations, a timing harness and the machine record.

The registry is shared by ``fastgd bench``, the pytest-benchmark suites in
``bench/`` and the cross-implementation tests: each entry's ``setup(X, y)`` returns
a zero-argument callable doing one unit of work (one epoch for SGD and mini-batch,
one full gradient for batch, one streaming read of X for the limit), so every
implementation of a method is timed on the same work.

>>> import numpy as np
>>> from fastgd.benchmark import REGISTRY, compare
>>> from fastgd.datasets import make_regression
>>> X, y, _ = make_regression(2000, 10, random_state=0)
>>> runs = {impl: REGISTRY["batch", impl].setup(X, y) for impl in ("compiled", "numpy")}
>>> timings = compare(runs, repeats=3)
>>> sorted(timings)
['compiled', 'numpy']
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import _kernels, _training
from .sources import DenseSource

METHODS = ("batch", "sgd", "minibatch", "svrg", "read")
DEFAULT_BATCH_SIZE = 32
# The pure-Python loop runs about a million times slower than the kernels: it is
# timed on this many rows (at most) and the time scaled up to all rows.
LOOP_ROWS = 2000
# The NumPy twins of the per-sample methods (SGD, SVRG) loop over samples in
# Python, about 10 us a sample: timed on this many rows and scaled up, as the loops
# (at 300,000 rows they took 12-13 s of the default benchmark's minute each).
PER_SAMPLE_NUMPY_ROWS = 20_000


def benchmark_step_size(X):
    """A step size that keeps SGD stable on the benchmark data: eta * |x|^2 <= 0.1."""
    return 0.1 / max(float(np.mean(np.square(X[:1000], dtype=np.float64).sum(1))), 1.0)


@dataclass(frozen=True)
class Implementation:
    """One way of doing one unit of a method's work.

    ``setup(X, y, **options)`` returns the zero-argument callable to time. When
    ``max_rows`` is set, only the first ``max_rows`` rows are used and the time is
    meant to be scaled by ``n_samples / max_rows`` (see :func:`scaled_rows`).
    """

    method: str
    impl: str
    setup: Callable
    description: str
    max_rows: int | None = None
    unit: str = "step"

    # unit: "step" is the method's unit of work (one epoch, one gradient, one
    # read); "fit" a whole closed-form fit. Speedups compare equal units only.

    @property
    def warmup(self):
        """Untimed calls before timing: compiled code compiles (or loads from the
        cache) on its first call; pure Python and NumPy have nothing to warm."""
        return 0 if self.impl in ("numpy", "loop") else 1


def scaled_rows(entry, n_samples):
    """Rows an entry actually runs on (the rest is extrapolated)."""
    return n_samples if entry.max_rows is None else min(n_samples, entry.max_rows)


def _source(X, y, max_rows=None):
    """The data source a fit would use (the first ``max_rows`` rows when given)."""
    if max_rows is not None:
        X, y = X[:max_rows], y[:max_rows]
    return DenseSource(X, y)


def _batch_setup(impl, max_rows=None):
    def setup(X, y, **options):
        data = _training.prepare(_source(X, y, max_rows))
        engine = _training.BatchEngine(data, _training.make_spec("batch", impl=impl))
        return lambda: engine.run(None)

    return setup


def _epoch_setup(method, impl, max_rows=None):
    def setup(X, y, batch_size=DEFAULT_BATCH_SIZE, random_state=0, **options):
        source = _source(X, y, max_rows)
        spec = _training.make_spec(
            method, impl=impl, random_state=random_state,
            batch_size=batch_size if method == "minibatch" else None,
        )  # fmt: skip
        engine = _training.StochasticEngine(_training.prepare(source), spec)
        etas = np.array([benchmark_step_size(source.X)])
        return lambda: engine.run(etas)

    return setup


def _svrg_setup(impl, max_rows=None):
    """One SVRG unit: the inner epoch from the last snapshot, then the full
    gradient at the new one (the warm-start epoch runs once, untimed)."""

    def setup(X, y, random_state=0, **options):
        source = _source(X, y, max_rows)
        spec = _training.make_spec("svrg", impl=impl, random_state=random_state)
        engine = _training.SVRGEngine(_training.prepare(source), spec)
        etas = np.array([benchmark_step_size(source.X) / 8])
        engine.run(etas)

        def unit():
            engine.advance(etas)
            return engine.run(etas)

        return unit

    return setup


def _read_setup(impl):
    def setup(X, y, **options):
        X = _source(X, y).X
        if impl == "numpy":
            return X.sum
        blocks = np.empty(_kernels.n_gradient_blocks(X.shape[0]))
        return lambda: _kernels.streaming_read(X, blocks)

    return setup


def _sklearn_sgd_setup(X, y, random_state=0, **options):
    """scikit-learn's SGDRegressor, one epoch (it minimizes half our loss, so its
    eta0 is twice ours for the same steps)."""
    from sklearn.linear_model import SGDRegressor

    source = _source(X, y)
    X, y = source.X, source.y
    model = SGDRegressor(
        max_iter=1,
        tol=None,
        learning_rate="constant",
        eta0=2 * benchmark_step_size(X),
        penalty=None,
        shuffle=True,
        random_state=random_state,
    )

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after one epoch
            return model.fit(X, y)

    return run


def _sklearn_linear_regression_setup(X, y, **options):
    """scikit-learn's LinearRegression: the closed form by a least-squares solver."""
    from sklearn.linear_model import LinearRegression

    source = _source(X, y)
    return lambda: LinearRegression().fit(source.X, source.y)


def _normal_equation_setup(X, y, **options):
    """The closed form as NumPy users write it: solve(X^T X, X^T y)."""
    source = _source(X, y)
    X, y = source.X, source.y
    return lambda: np.linalg.solve(X.T @ X, X.T @ y)


def _build_registry():
    entries = [
        Implementation("read", "compiled", _read_setup("compiled"),
                       "one parallel streaming read of X (compiled)"),
        Implementation("read", "numpy", _read_setup("numpy"), "X.sum()"),
        Implementation("batch", "compiled", _batch_setup("compiled"),
                       "fused gradient + loss, one parallel pass"),
        Implementation("batch", "numpy", _batch_setup("numpy"),
                       "2/m X^T (X theta + b - y) on BLAS"),
        Implementation("batch", "loop", _batch_setup("loop", LOOP_ROWS),
                       "pure-Python loops", LOOP_ROWS),
        Implementation("batch", "normal_equation", _normal_equation_setup,
                       "a whole fit: solve(X^T X, X^T y)", unit="fit"),
        Implementation("batch", "sklearn", _sklearn_linear_regression_setup,
                       "a whole fit: sklearn LinearRegression", unit="fit"),
        Implementation("sgd", "compiled", _epoch_setup("sgd", "compiled"),
                       "one shuffled epoch, compiled"),
        Implementation("sgd", "numpy",
                       _epoch_setup("sgd", "numpy", PER_SAMPLE_NUMPY_ROWS),
                       "Python loop over samples, NumPy rows", PER_SAMPLE_NUMPY_ROWS),
        Implementation("sgd", "loop", _epoch_setup("sgd", "loop", LOOP_ROWS),
                       "pure-Python loops", LOOP_ROWS),
        Implementation("sgd", "sklearn", _sklearn_sgd_setup,
                       "sklearn SGDRegressor, max_iter=1"),
        Implementation("minibatch", "compiled", _epoch_setup("minibatch", "compiled"),
                       "one shuffled epoch, compiled"),
        Implementation("minibatch", "numpy", _epoch_setup("minibatch", "numpy"),
                       "Python loop over batches, BLAS per batch"),
        Implementation("minibatch", "loop",
                       _epoch_setup("minibatch", "loop", LOOP_ROWS),
                       "pure-Python loops", LOOP_ROWS),
        Implementation("svrg", "compiled", _svrg_setup("compiled"),
                       "inner epoch + fused full gradient, compiled"),
        Implementation("svrg", "numpy", _svrg_setup("numpy", PER_SAMPLE_NUMPY_ROWS),
                       "Python loop over samples, NumPy rows and gradient",
                       PER_SAMPLE_NUMPY_ROWS),
        Implementation("svrg", "loop", _svrg_setup("loop", LOOP_ROWS),
                       "pure-Python loops", LOOP_ROWS),
    ]  # fmt: skip
    return {(entry.method, entry.impl): entry for entry in entries}


REGISTRY = _build_registry()


def implementations(method):
    """The registry's implementation names for one method, in registry order."""
    return [impl for (m, impl) in REGISTRY if m == method]


class Timing(NamedTuple):
    """Seconds per call: median and minimum over ``times``."""

    median: float
    min: float
    times: tuple


# Seconds to pause before each timed call: OpenBLAS's worker threads keep spinning
# for about 0.1 s after a BLAS call and would take the cores from the next one.
SETTLE_SECONDS = 0.2
# After the pause, parallel regions of SPIN_STEPS (about 0.1 ms of work) run until
# WAKE_CALM_REGIONS in a row take under WAKE_CALM_SECONDS, for WAKE_MAX_SECONDS at
# most. On a virtual machine an idle core can come back slowly: here a 0.15 ms
# parallel gradient took 4-8 ms on each of its first calls for up to 50 ms after a
# 0.2 s sleep, which timed the host's scheduler rather than the kernel.
SPIN_STEPS = 50_000
WAKE_CALM_REGIONS = 3
WAKE_CALM_SECONDS = 1e-3
WAKE_MAX_SECONDS = 0.1


def settle_cores(seconds=SETTLE_SECONDS):
    """Untimed preparation before a timed call: pause ``seconds`` so that BLAS
    threads stop spinning, then wake every core (see :func:`wake_cores`)."""
    if seconds:
        time.sleep(seconds)
    wake_cores()


def wake_cores():
    """Keep all threads busy until short parallel regions run at full speed again
    (at most WAKE_MAX_SECONDS). Returns the number of regions run; 0 when the JIT
    is disabled (the spin would run as Python)."""
    if _kernels.JIT_DISABLED:
        return 0
    partial = np.zeros(_kernels.get_num_threads())
    deadline = time.perf_counter() + WAKE_MAX_SECONDS
    calm = regions = 0
    while calm < WAKE_CALM_REGIONS and time.perf_counter() < deadline:
        start = time.perf_counter()
        _kernels.spin_threads(partial, SPIN_STEPS)
        calm = calm + 1 if time.perf_counter() - start < WAKE_CALM_SECONDS else 0
        regions += 1
    return regions


class Timed(NamedTuple):
    """What :func:`timed` measured: ``seconds`` of a call that compiled
    nothing, its ``result``, and ``retimed``: whether a first attempt compiled
    (a build no warm-up had reached) and was thrown away."""

    seconds: float
    result: object
    retimed: bool


def timed(call):
    """Time ``call()`` with no compilation inside the timed region: numba's
    compile events are counted around it, and a call that compiled anything is
    timed again (it is compiled now). ``retimed`` says so; the benchmark's
    warm-ups (:func:`warm_rows`) are meant to make it rare, and a test holds
    them to never on the default run.

    >>> timed(lambda: 2 + 2).result
    4
    """
    retimed = False
    while True:
        with _kernels.count_compilations() as compiled:
            start = time.perf_counter()
            result = call()
            seconds = time.perf_counter() - start
        if not compiled.count or retimed:
            return Timed(seconds, result, retimed)
        retimed = True
        RETIMED.append(compiled.count)


# Compilations that timed() found inside a first attempt, in this process: the
# benchmark's report carries them, and a test holds the default run to none.
RETIMED = []


def warm_rows(X):
    """Rows of X on which an untimed fit compiles (or loads) the builds a fit on
    all of X runs: the parallel builds run from two row blocks and from the
    size of X at which epochs take a second thread (both from this machine's
    caches), so a few rows compile only the serial ones."""
    from .warmup import parallel_rows

    row_bytes = X.shape[1] * X.dtype.itemsize
    if hasattr(X, "nnz"):  # CSR: entries and their indices
        row_bytes = max(1, X.nnz // max(1, X.shape[0])) * (X.dtype.itemsize + 4)
    return min(X.shape[0], parallel_rows(row_bytes))


def compare(callables, repeats=5, warmup=1, settle=SETTLE_SECONDS):
    """Time several callables side by side, interleaved round by round.

    Each is called ``warmup`` times first (an int for all, or {name: int}) so that
    compilation is never timed, then the callables take turns, ``repeats`` rounds,
    so that a noisy neighbour slows all of them alike. Before each timed call the
    harness pauses ``settle`` seconds: OpenBLAS's worker threads keep spinning for
    about 0.1 s after a BLAS call and would take the cores a parallel kernel timed
    right after needs (measured here: 33 ms alone, 52-85 ms straight after a NumPy
    gradient, 33 ms after a 0.2 s pause); it then wakes the cores the pause let go
    idle (:func:`settle_cores`). Returns {name: Timing}.
    """
    for name, run in callables.items():
        for _ in range(warmup if isinstance(warmup, int) else warmup[name]):
            run()
    times = {name: [] for name in callables}
    for _ in range(repeats):
        for name, run in callables.items():
            if settle:
                settle_cores(settle)
            times[name].append(timed(run).seconds)
    return {
        name: Timing(statistics.median(t), min(t), tuple(t))
        for name, t in times.items()
    }


def dtype_ratios(methods, X, y, repeats=5, batch_size=DEFAULT_BATCH_SIZE):
    """Each method's compiled unit of work on float64 and float32 copies of the
    same data, interleaved in one process. Returns one dict per method with both
    medians (seconds) and ``float64_over_float32``: the speed float32 buys (about
    2 where a method is bound by the bytes it reads)."""
    copies = {
        dtype: (np.asarray(X, dtype=dtype), np.asarray(y, dtype=dtype))
        for dtype in ("float64", "float32")
    }
    runs = {
        (method, dtype): REGISTRY[method, "compiled"].setup(A, b, batch_size=batch_size)
        for method in methods
        for dtype, (A, b) in copies.items()
    }
    timings = compare(runs, repeats=repeats)
    rows = []
    for method in methods:
        wide, narrow = timings[method, "float64"], timings[method, "float32"]
        rows.append(
            dict(
                method=method,
                float64_s=wide.median,
                float32_s=narrow.median,
                float64_over_float32=wide.median / narrow.median,
            )
        )
    return rows


def compile_times(X, y):
    """Seconds for the first call of each compiled kernel in this process: the
    compile (or the cache load, when numba's disk cache is warm) plus the setup
    and one run. "read" goes first: validating X (in every setup) runs the read
    kernel, so its compile is counted where it belongs."""
    result = {}
    for method in ("read", "batch", "sgd", "minibatch"):
        start = time.perf_counter()
        REGISTRY[method, "compiled"].setup(X[:64], y[:64])()
        result[method] = time.perf_counter() - start
    return result


_COMPILE_SCRIPT = (
    "import json, fastgd.benchmark as b\n"
    "from fastgd.datasets import make_regression\n"
    "X, y, _ = make_regression(64, 4, random_state=0)\n"
    "print(json.dumps(b.compile_times(X, y)))\n"
)


def cold_and_warm_compile_times():
    """First-call seconds per method in fresh processes: with an empty numba cache
    (cold: compilation) and then with that cache filled (warm: loading it).
    float64, one output; other dtypes and layouts compile on their own first use."""
    times = {}
    with tempfile.TemporaryDirectory() as cache:
        environment = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            finished = subprocess.run(
                [sys.executable, "-c", _COMPILE_SCRIPT], env=environment,
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            times[label] = json.loads(finished.stdout.strip().splitlines()[-1])
    return times


@dataclass
class MachineRecord:
    """What the figures were measured on."""

    cpu: str
    cores: int
    python: str
    versions: dict
    blas: list
    numba_threads: int
    openblas_env: dict = field(default_factory=dict)
    llvm_cpu: str = ""
    threading_layer: str | None = None
    tuning: dict = field(default_factory=dict)

    def lines(self):
        blas = ", ".join(
            f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, "
            f"{b.get('num_threads')} threads)"
            for b in self.blas
        )
        env = ", ".join(f"{k}={v}" for k, v in self.openblas_env.items()) or "not set"
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        return [
            f"CPU: {self.cpu} ({self.cores} cores), Python {self.python}",
            f"Versions: {versions}",
            f"BLAS: {blas or 'not loaded'}; numba threads: {self.numba_threads}",
            f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: {env}",
            *self._tuning_lines(),
        ]

    def _tuning_lines(self):
        if not self.tuning:
            return []
        t = self.tuning
        caches = ", ".join(f"{name.upper()} {_kib(size)}"
                           for name, size in t["caches"].items())  # fmt: skip
        return [
            f"Tuned for: LLVM cpu {self.llvm_cpu or '?'}, numba threading layer "
            f"{self.threading_layer or '?'}; caches per core {caches} "
            f"({t['cache_source']})",
            f"  -> two-thread epochs from {_kib(t['second_thread_from_bytes'])} of X, "
            f"in chunks of {_kib(t['epoch_chunk_bytes'])}; prefetch "
            f"{t['epoch_prefetch_rows']} rows ahead (epochs), "
            f"{t['stream_prefetch_bytes']} bytes ahead (streaming passes)",
        ]


def _kib(size):
    """1048576 -> '1 MB', 409600 -> '400 KB' (binary units)."""
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MB"
    return f"{size / 1024:.0f} KB"


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _launched_threading_layer():
    """numba's threading layer, launched by one tiny parallel region if needed."""
    if _kernels.JIT_DISABLED:
        return None
    _kernels.spin_threads(np.zeros(max(2, _kernels.get_num_threads())), 1)
    return _kernels.threading_layer()


def machine_record():
    """CPU, versions, BLAS library and threads (threadpoolctl), numba threads."""
    import sklearn
    from threadpoolctl import threadpool_info

    import fastgd

    np.ones((2, 2)) @ np.ones((2, 2))  # make sure BLAS is loaded before asking
    return MachineRecord(
        cpu=_cpu_name(),
        cores=os.cpu_count() or 1,
        python=platform.python_version(),
        versions={
            "fastgd": fastgd.__version__,
            "numpy": np.__version__,
            "numba": _kernels.NUMBA_VERSION,
            "scikit-learn": sklearn.__version__,
        },
        blas=[
            {
                k: info.get(k)
                for k in (
                    "internal_api",
                    "version",
                    "architecture",
                    "num_threads",
                    "filepath",
                )
            }
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        ],
        numba_threads=_kernels.get_num_threads(),
        llvm_cpu=_kernels.llvm_cpu_name(),
        threading_layer=_launched_threading_layer(),
        tuning=_kernels.tuning(),
        openblas_env={
            name: os.environ[name]
            for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
            if name in os.environ
        },
    )
