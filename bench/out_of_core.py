"""Out-of-core benchmark: streamed passes over a .npy file against one
sequential read of the same file (issue 15's targets).

    python bench/out_of_core.py --dir /tmp/fastgd-ooc              # warm, 1M x 100
    python bench/out_of_core.py --dir /tmp/fastgd-ooc --cold       # + 1.3 x RAM file

Warm: the file is read once first, so the page cache holds it; each figure is
the median of ``--repeats`` runs with the best in brackets. The data source's
``memory_budget`` is a quarter of the file, so every pass streams.
* read: the file read in 8 MiB chunks into one reused buffer (``readinto``);
* batch GD iteration: one gradient pass of ``fit_batch(strategy="pass")``;
* block-shuffled SGD epoch: ``fit_sgd(shuffle="block")``, one epoch (the
  difference of a 3-epoch and a 1-epoch fit, halved: no set-up);
* R^2 of ``GDRegressor()`` streamed (block shuffle) and in memory (full
  shuffle); the peak resident memory growth of the streamed fit.

Cold (``--cold``): a file of 1.3 x this machine's RAM is written once (kept
for later runs), and before each measurement its pages are dropped from the
page cache (``posix_fadvise(POSIX_FADV_DONTNEED)``; the file is larger than
RAM anyway). The disk's sequential read speed is measured the same way, in
the same run, then a batch GD iteration and a block-shuffled SGD epoch, each
with its peak resident memory growth against ``memory_budget``.
"""

import argparse
import json
import os
import statistics
import threading
import time

import numpy as np

from fastgd import GDRegressor, _training, fit_batch, fit_sgd
from fastgd._kernels import llvm_cpu_name
from fastgd.sources import default_memory_budget, from_npy

CHUNK = 8 * 2**20


def cpu_model():
    with open("/proc/cpuinfo") as file:
        for line in file:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return llvm_cpu_name()


def write_data(folder, m, n, seed=0, rows_per_chunk=100_000):
    """X.npy (m, n) float64 and y.npy, written in chunks (never all in memory);
    kept when they exist with that shape."""
    os.makedirs(folder, exist_ok=True)
    x_path, y_path = os.path.join(folder, "X.npy"), os.path.join(folder, "y.npy")
    if os.path.exists(x_path) and os.path.exists(y_path):
        existing = np.load(x_path, mmap_mode="r")
        if existing.shape == (m, n):
            return x_path, y_path
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=n)
    X = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float64, shape=(m, n))
    y = np.empty(m)
    for start in range(0, m, rows_per_chunk):
        chunk = rng.normal(size=(min(rows_per_chunk, m - start), n))
        X[start : start + len(chunk)] = chunk
        y[start : start + len(chunk)] = chunk @ coef + 0.5 * rng.normal(size=len(chunk))
    X.flush()
    del X
    np.save(y_path, y)
    return x_path, y_path


def drop_cache(path):
    with open(path, "rb") as file:
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def sequential_read(path):
    """Seconds to read the file in 8 MiB chunks into one reused buffer."""
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as file:
        while file.readinto(view):
            pass
    return time.perf_counter() - start


class PeakRSS:
    """The peak resident memory growth (bytes) while the block runs, sampled,
    from ``base`` (default: the resident memory on entry)."""

    def __init__(self, base=None):
        self._base = base

    def __enter__(self):
        self.peak = _rss()
        self.base = self.peak if self._base is None else self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())
        self.growth = self.peak - self.base


def _rss():
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def unit_time(solver, X, y, repeats, **options):
    """(median, best) seconds of one unit of a fit's engine: an SGD epoch or a
    batch gradient descent iteration (its gradient pass), set-up excluded."""
    spec = _training.make_spec(solver, eta0=1e-4, max_iter=1, tol=None,
                               random_state=0, **options)  # fmt: skip
    engine = _training.fit(spec, X, y).engine
    etas = np.array([1e-4])
    return timed(lambda: engine.run(etas), repeats)


def warm(folder, m, n, repeats):
    x_path, y_path = write_data(folder, m, n)
    nbytes = os.path.getsize(x_path)
    budget = nbytes // 4
    source = from_npy(x_path, y_path, memory_budget=budget)
    sequential_read(x_path)  # warm the page cache
    read = timed(lambda: sequential_read(x_path), repeats)
    batch = unit_time("batch", source, None, repeats, strategy="pass")
    sgd = unit_time("sgd", source, None, repeats, shuffle="block")
    X, y = np.load(x_path), np.load(y_path)
    sgd_in_memory = unit_time("sgd", X, y, repeats)
    batch_in_memory = unit_time("batch", X, y, repeats, strategy="pass")
    del X, y
    with PeakRSS() as streamed_memory:
        streamed = GDRegressor(random_state=0).fit(source)
    r2_streamed = streamed.score(source)
    X, y = np.load(x_path), np.load(y_path)
    in_memory = GDRegressor(random_state=0).fit(X, y)
    r2_memory = in_memory.score(X, y)
    return {
        "file_bytes": nbytes, "memory_budget": budget,
        "read_s": read, "batch_iteration_s": batch, "sgd_epoch_s": sgd,
        "sgd_epoch_in_memory_s": sgd_in_memory,
        "batch_iteration_in_memory_s": batch_in_memory,
        "batch_over_read": batch[0] / read[0], "sgd_over_read": sgd[0] / read[0],
        "r2_streamed": r2_streamed, "solver_streamed": streamed.solver_,
        "n_iter_streamed": streamed.n_iter_, "r2_in_memory": r2_memory,
        "solver_in_memory": in_memory.solver_, "n_iter_in_memory": in_memory.n_iter_,
        "fit_memory_growth": streamed_memory.growth,
    }  # fmt: skip


def cold(folder, n, budget):
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    m = int(1.3 * ram) // (8 * n)
    x_path, y_path = write_data(folder, m, n)
    nbytes = os.path.getsize(x_path)
    before_source = _rss()
    source = from_npy(x_path, y_path, memory_budget=budget)
    results = {"file_bytes": nbytes, "ram_bytes": ram, "memory_budget": budget}
    drop_cache(x_path)
    results["disk_read_s"] = sequential_read(x_path)
    for name, run in (
        ("batch_iteration", lambda: fit_batch(source, eta0=1e-3, max_iter=1,
                                              tol=None, strategy="pass")),
        ("sgd_epoch", lambda: fit_sgd(source, eta0=1e-4, max_iter=1, tol=None,
                                      shuffle="block", random_state=0)),
    ):  # fmt: skip
        drop_cache(x_path)
        # From before the source: y (O(m)) and the buffers count.
        with PeakRSS(base=before_source) as memory:
            start = time.perf_counter()
            run()
            seconds = time.perf_counter() - start
        results[f"{name}_s"] = seconds
        results[f"{name}_GBps"] = nbytes / seconds / 1e9
        results[f"{name}_memory_growth"] = memory.growth
    # The disk again after the fits: its speed drifts (cloud disks); the faster
    # of the two reads is the reference.
    drop_cache(x_path)
    results["disk_read_again_s"] = sequential_read(x_path)
    disk = min(results["disk_read_s"], results["disk_read_again_s"])
    results["disk_GBps"] = nbytes / disk / 1e9
    for name in ("batch_iteration", "sgd_epoch"):
        results[f"{name}_share_of_disk"] = disk / results[f"{name}_s"]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="/tmp/fastgd-ooc")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold", action="store_true",
                        help="also the cold run on a file of 1.3 x RAM")  # fmt: skip
    parser.add_argument("--no-warm", action="store_true", help="skip the warm run")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = {"cpu": cpu_model(), "llvm_cpu": llvm_cpu_name(), "rows": args.rows,
               "features": args.features, "dtype": "float64"}  # fmt: skip
    if not args.no_warm:
        results["warm"] = warm(os.path.join(args.dir, "warm"), args.rows,
                               args.features, args.repeats)  # fmt: skip
        print(json.dumps(results, indent=1))
    if args.cold:
        results["cold"] = cold(os.path.join(args.dir, "cold"), args.features,
                               default_memory_budget())  # fmt: skip
        print(json.dumps(results["cold"], indent=1))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
