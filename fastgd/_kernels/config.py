"""The one place where numba options are set: ``_jit``, the cache and threads.

Every kernel of the package is decorated with :func:`jit`. It caches to disk when
it can, with two fastgd-specific choices:

* A fallback: when no cache directory is writable numba refuses ``cache=True`` at
  decoration time; the kernel is then compiled without a cache and one warning
  says so.
* One source stamp for the whole package: numba invalidates a cached function
  only when *its own* file changes, so an epoch kernel calling a helper from
  another file would keep stale machine code after the helper is edited. Every
  kernel's cache entry is stamped with a digest of all the files whose code is
  compiled into the kernels (this package and ``fastgd/optimizers.py``), so an edit
  to any of them recompiles all of them.
"""

import ctypes
import hashlib
import importlib.metadata
import os
import sys
import warnings
from pathlib import Path

import numba

# Deliberate fastmath subset: "reassoc" lets LLVM vectorize dot products and
# "contract" allows FMA. The flags that assume no NaN/inf ("nnan", "ninf") are left
# out on purpose: they would delete the divergence checks.
FASTMATH_FLAGS = frozenset({"reassoc", "contract"})

JIT_DISABLED = bool(numba.config.DISABLE_JIT)

# The TBB library file numba's tbb threading layer links against (Linux, macOS).
_TBB_LIBRARY_NAMES = ("libtbb.so.12", "libtbb.12.dylib")


def load_pip_tbb():
    """Load the TBB runtime of the ``tbb`` pip package, if installed, so numba can
    use its tbb threading layer (safe under fork() and concurrent threads) when
    asked for it.

    The package puts libtbb in ``<prefix>/lib``, which the dynamic loader does not
    search in a virtual environment, so numba would quietly fall back to omp or
    workqueue. Loading it first by path lets numba's tbb layer find it by its
    soname. Returns the path loaded, or None (not installed, another platform, or
    the library does not load)."""
    try:
        files = importlib.metadata.distribution("tbb").files or ()
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name in _TBB_LIBRARY_NAMES:
            path = Path(file.locate()).resolve()
            try:
                ctypes.CDLL(str(path), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            except OSError:
                return None
            return path
    return None


def _tbb_requested():
    """Whether numba was told to prefer tbb (NUMBA_THREADING_LAYER=tbb, "safe" or
    "threadsafe", or a priority list starting with tbb). fastgd does not load it
    otherwise: an SGD epoch runs one short parallel region per chunk, and on tbb
    it measured about 25% slower than on omp (docs/performance.md)."""
    layer = str(numba.config.THREADING_LAYER).lower()
    priority = list(getattr(numba.config, "THREADING_LAYER_PRIORITY", []))
    explicit_priority = "NUMBA_THREADING_LAYER_PRIORITY" in os.environ
    return layer in ("tbb", "safe", "threadsafe") or (
        layer == "default" and explicit_priority and priority[:1] == ["tbb"]
    )


TBB_LOADED = (
    load_pip_tbb()
    if not JIT_DISABLED and sys.platform != "win32" and _tbb_requested()
    else None
)
NUMBA_VERSION = numba.__version__

_PACKAGE = Path(__file__).resolve().parent
_COMPILED_SOURCES = (*sorted(_PACKAGE.glob("*.py")), _PACKAGE.parent / "optimizers.py")
_cache_warning_shown = False


def _source_digest(paths):
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


SOURCE_DIGEST = _source_digest(_COMPILED_SOURCES)


def _stamp_with_package_digest(dispatcher):
    """Make the dispatcher's cache index depend on every compiled source file.

    Uses numba's cache internals (``_cache._cache_file._source_stamp``); where a
    numba version lays them out differently, its own per-file stamp stays."""
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is not None and hasattr(cache_file, "_source_stamp"):
        cache_file._source_stamp = (cache_file._source_stamp, SOURCE_DIGEST)
    return dispatcher


def jit(parallel=False, inline=False):
    """``numba.njit`` with fastgd's options, caching to disk when it can.

    ``inline=True`` inlines the function into its callers in numba's IR, for hot
    helpers that LLVM would otherwise leave as a call per row.
    """

    def decorate(func):
        global _cache_warning_shown
        options = dict(nogil=True, fastmath=set(FASTMATH_FLAGS), parallel=parallel,
                       inline="always" if inline else "never")  # fmt: skip
        try:
            return _stamp_with_package_digest(numba.njit(cache=True, **options)(func))
        except RuntimeError as exc:  # numba: "cannot cache function ...: no locator"
            if not _cache_warning_shown:
                warnings.warn(
                    f"fastgd cannot cache its compiled kernels ({exc}); they will be "
                    "recompiled in every process. Set NUMBA_CACHE_DIR to a writable "
                    "directory to keep them.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                _cache_warning_shown = True
            return numba.njit(cache=False, **options)(func)

    return decorate


def compiled_signatures(kernel):
    """Type signatures a kernel was compiled for ([] when the JIT is disabled); for
    a kernel with a serial and a parallel build, those of both."""
    builds = getattr(kernel, "builds", (kernel,))
    return [signature for build in builds
            for signature in getattr(build, "signatures", [])]  # fmt: skip


def llvm_cpu_name():
    """The CPU LLVM compiles the kernels for (e.g. znver4, sapphirerapids)."""
    try:
        import llvmlite.binding as llvm

        return llvm.get_host_cpu_name()
    except (ImportError, AttributeError, RuntimeError):
        return ""


def get_num_threads():
    """Number of threads the parallel kernels use."""
    return numba.get_num_threads()


def set_num_threads(n):
    """Set the number of threads the parallel kernels use (at most the maximum)."""
    numba.set_num_threads(int(n))


def max_threads():
    """The most threads numba can use in this process."""
    return numba.config.NUMBA_NUM_THREADS
