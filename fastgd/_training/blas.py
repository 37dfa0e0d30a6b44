"""One BLAS thread for the small linear algebra between the kernels' passes.

A fit that measures (the excess estimates) or takes Newton steps alternates
numba's parallel passes over X with O(n^2) to O(n^3) NumPy algebra on a sample
or an n x n matrix. After each BLAS call OpenBLAS's threads keep spinning for a
while, waiting for more work; on a host with no spare core they then hold the
cores that numba's next pass needs. On the AMD EPYC host (2 vCPU) the Huber
fit of 1,000,000 x 100 (13 Newton steps) took 1.57-1.72 s against 1.06-1.31 s
with that algebra on one BLAS thread: each gradient pass ran 60-80 ms instead
of 35-45. Algebra of this size gains little from threads.

The limit is threadpoolctl's: process-wide, and set while other threads could
be inside BLAS. OpenBLAS does not take that safely (fits in 8 threads at once
came back with other coefficients than the same fit alone), so it applies
only while the process runs one Python thread; with several, the algebra
keeps BLAS's threads, as it always did. It covers the BLAS libraries loaded
when it is first used (NumPy's).
"""

import contextlib
import functools
import threading

_controller = None


def _blas():
    if threading.active_count() > 1:  # see the module docstring
        return contextlib.nullcontext()
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def one_blas_thread(function):
    """Decorator: ``function`` runs with BLAS on one thread.

    >>> @one_blas_thread
    ... def solve(a, b):
    ...     return np.linalg.solve(a, b)
    >>> import numpy as np
    >>> solve(np.eye(2), np.ones(2)).tolist()
    [1.0, 1.0]
    """

    @functools.wraps(function)
    def limited(*args, **kwargs):
        with _blas():
            return function(*args, **kwargs)

    return limited
