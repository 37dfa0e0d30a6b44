"""Counting numba's compilations while code runs: how the benchmark proves that
no timed region paid for a compile (numba's event API, ``numba:compile``; a
load from the disk cache is not a compile)."""

import contextlib

from numba.core import event


class _Counter(event.Listener):
    def __init__(self):
        self.count = 0

    def on_start(self, event):
        self.count += 1

    def on_end(self, event):
        pass


@contextlib.contextmanager
def count_compilations():
    """A context whose value's ``count`` is the number of functions numba
    compiled inside it (always 0 with ``NUMBA_DISABLE_JIT=1``).

    >>> with count_compilations() as compiled:
    ...     pass
    >>> compiled.count
    0
    """
    counter = _Counter()
    with event.install_listener("numba:compile", counter):
        yield counter
