"""The seeded shuffle of the epochs: xorshift64 and Fisher-Yates, in place."""

import numpy as np

from .config import jit as _jit


@_jit()
def _next_random(rng_state):
    """xorshift64 step: returns 64 random bits and advances ``rng_state[0]``.

    Shifts and xors only: no multiplication overflow, so the same code runs (and
    gives the same numbers) with the JIT disabled.
    """
    s = rng_state[0]
    s ^= s << np.uint64(13)
    s ^= s >> np.uint64(7)
    s ^= s << np.uint64(17)
    rng_state[0] = s
    return s


@_jit()
def shuffle(order, rng_state):
    """Fisher-Yates shuffle of ``order`` in place, drawing from ``rng_state``.

    Step i swaps position i with a uniform pick among positions i..m-1. The draw
    maps the high 32 random bits by multiply-shift (Lemire), which avoids a
    division per element (uniform while m <= 2**32). Epochs shuffle all of
    ``order`` before their first update, on one thread: 3 ms at m = 1,000,000.
    Shuffling on the prefetching thread, a chunk ahead, hid those 3 ms but cost
    10-15 ms once chunks alternate between threads (the swaps move lines of
    ``order`` from core to core; docs/performance.md).
    """
    m = order.shape[0]
    for i in range(m - 1):
        high = _next_random(rng_state) >> np.uint64(32)
        j = i + np.int64((high * np.uint64(m - i)) >> np.uint64(32))
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp
