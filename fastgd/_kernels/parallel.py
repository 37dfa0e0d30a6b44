"""Which build of a parallel kernel runs: on numba's threads, or on the caller's.

Every kernel with a ``prange`` is built twice from one Python function, a parallel
and a serial build (``prange`` runs as ``range``), and :class:`ParallelKernel`
picks one per call. The two give the same result, bit for bit: the parallel loops
split their work into fixed blocks reduced in block order, and the two-thread
epoch runs its updates in the same order as one thread. So the choice is free to
follow what is safe and what pays:

* **Small work runs serially.** A pass with one block of rows, or an epoch whose
  rows stay in cache, has nothing to share out; a fresh install then never pays
  for compiling the parallel build (numba's parfor pipeline, 2-3 s a kernel) to fit
  a small problem.
* **After ``fork()`` from a process that ran the omp layer, kernels run
  serially.** GNU OpenMP cannot run in a forked child: numba aborts the child
  ("fork() called from a process already using GNU OpenMP"), which leaves a
  ``multiprocessing.Pool`` waiting forever. The tbb and workqueue layers survive
  fork and keep their threads.
* **The workqueue layer runs one parallel region at a time.** It is not
  thread-safe ("Concurrent access has been detected" aborts the process), so a
  parallel kernel takes a lock first; a thread that finds it held runs the
  serial build instead of waiting. tbb and omp are thread-safe and take no lock.
  Before the first parallel call the layer is not yet chosen, so that call takes
  the lock too.
"""

import os
import threading
import types

import numba

from .config import jit as _jit

THREAD_SAFE_LAYERS = frozenset({"tbb", "omp"})
_workqueue_lock = threading.Lock()
_serial_only = False  # set in a child forked from a process using the omp layer


def threading_layer():
    """The threading layer numba launched in this process, or None before the
    first parallel call."""
    try:
        return numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized."
        return None


def _after_fork_in_child():
    global _serial_only, _workqueue_lock
    _serial_only = _serial_only or threading_layer() == "omp"
    # A lock held by another thread of the parent at fork time stays held forever.
    _workqueue_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def serial_only():
    """True in a child forked after the omp layer ran: kernels stay on one thread."""
    return _serial_only


class ParallelKernel:
    """A kernel with a parallel and a serial build; calling it runs one of them.

    ``uses_threads(*args)`` says whether this call's work is worth threads. The
    parallel build runs only when it is, numba has more than one thread, and the
    threading layer allows it now (see the module docstring); otherwise the
    serial build runs. ``kernel.parallel`` and ``kernel.serial`` are the two numba
    dispatchers, for tests and for callers that need one of them.
    """

    def __init__(self, parallel, serial, uses_threads):
        self.parallel = parallel
        self.serial = serial
        self.uses_threads = uses_threads
        self.__doc__ = parallel.__doc__
        self.__name__ = parallel.__name__
        self.__wrapped__ = getattr(parallel, "py_func", parallel)

    @property
    def builds(self):
        """(serial, parallel): the numba dispatchers (functions without the JIT)."""
        return self.serial, self.parallel

    def __call__(self, *args):
        # The size test first: asking numba for its threads launches the layer,
        # which small work never needs.
        if _serial_only or not self.uses_threads(*args) or numba.get_num_threads() < 2:
            return self.serial(*args)
        if threading_layer() in THREAD_SAFE_LAYERS:
            return self.parallel(*args)
        if not _workqueue_lock.acquire(blocking=False):
            return self.serial(*args)  # another thread is in a parallel region
        try:
            return self.parallel(*args)
        finally:
            _workqueue_lock.release()

    def __repr__(self):
        return f"<ParallelKernel {self.__name__}>"


def _serial_copy(func):
    """The same code under another name: numba names a function's disk cache after
    its qualified name, and the two builds must not share one."""
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                              func.__defaults__, func.__closure__)  # fmt: skip
    copy.__qualname__ = func.__qualname__ + "_serial"
    copy.__doc__ = func.__doc__
    copy.__module__ = func.__module__
    return copy


def serial_build(func):
    """``func`` (a Python function, or the one a numba dispatcher compiles)
    compiled without ``parallel``, under a name of its own."""
    return _jit()(_serial_copy(getattr(func, "py_func", func)))


def parallel_kernel(uses_threads, serial=None):
    """Decorator: a :class:`ParallelKernel` from a function with ``prange`` loops.

    Its serial build is ``serial`` (a jitted function with the same arguments and
    result) or, by default, the same function compiled without ``parallel``.
    """

    def decorate(func):
        one_thread = serial if serial is not None else serial_build(func)
        return ParallelKernel(_jit(parallel=True)(func), one_thread, uses_threads)

    return decorate


def blocks_in_last_argument(*args):
    """``uses_threads`` of the streaming kernels: their last argument holds one row
    of partial sums per fixed block of rows; one block has nothing to share."""
    return args[-1].shape[0] > 1
