"""float32 stays float32, float64 stays float64; kernels compile once per dtype."""

import numpy as np
import pytest

from fastgd import _kernels, fit_batch, fit_minibatch, fit_sgd
from fastgd._kernels import epochs

from .conftest import make_problem, relative_error

FITS = {
    "batch": lambda X, y: fit_batch(X, y, eta0=0.2, tol=1e-6, max_iter=3000),
    "batch-gram": lambda X, y: fit_batch(X, y, eta0=0.2, strategy="gram"),
    "sgd": lambda X, y: fit_sgd(X, y, eta0=0.005, random_state=0, max_iter=50),
    "minibatch": lambda X, y: fit_minibatch(
        X, y, eta0=0.05, batch_size=8, random_state=0, max_iter=50
    ),
}


@pytest.mark.parametrize("method", FITS)
def test_dtype_is_kept_and_float32_agrees_with_float64(method, n_targets):
    X, y, _ = make_problem(m=400, n=4, k=n_targets, noise=0.01)
    result64 = FITS[method](X, y)
    result32 = FITS[method](X.astype(np.float32), y.astype(np.float32))
    assert result64.coef.dtype == np.float64
    assert result32.coef.dtype == np.float32
    assert np.asarray(result32.intercept).dtype == np.float32
    assert relative_error(result32.coef, result64.coef) < 1e-3


def _essential(signature):
    """A signature with what must vary stripped of what must not: arrays keep their
    dtype and dimensions, but not their layout or read-only flag; None stays None;
    grouped arguments (tuples) are stripped member by member."""
    return tuple(
        (str(t.dtype), t.ndim) if hasattr(t, "ndim")
        else _essential(t.types) if hasattr(t, "types") else str(t)
        for t in signature
    )  # fmt: skip


@pytest.mark.skipif(
    _kernels.JIT_DISABLED, reason="NUMBA_DISABLE_JIT=1: no compiled signatures"
)
def test_each_kernel_compiles_once_per_dtype():
    """Writable, read-only, Fortran-ordered and integer inputs, single and
    multi-output, must not add signatures: one per dtype and configuration
    (standardized or not, averaged or not), never one per layout or flag. Only
    the signatures these fits add are counted: other tests call the kernels
    directly with arguments of their own."""
    # Small fits run the serial builds; the epoch's serial build is the row loops.
    kernels = [
        epochs._sgd_rows,
        epochs._sgd_rows_multi,
        epochs._minibatch_rows,
        epochs._minibatch_rows_multi,
        _kernels.batch_gradient.serial,
        _kernels.batch_gradient_multi.serial,
    ]
    before = {kernel: set(_kernels.compiled_signatures(kernel)) for kernel in kernels}
    for dtype in (np.float64, np.float32):
        for k in (1, 2):
            X, y, _ = make_problem(m=64, n=3, k=k, dtype=dtype)
            read_only = X.copy()
            read_only.flags.writeable = False
            for data in (X, read_only, np.asfortranarray(X)):
                fit_sgd(data, y, max_iter=2, tol=None, random_state=0)
                fit_sgd(data, y, max_iter=2, tol=None, standardize=True, average=True)
                fit_minibatch(data, y, batch_size=5, max_iter=2, tol=None)
                fit_minibatch(data, y, learning_rate="annealing", max_iter=2, tol=None)
                fit_batch(data, y, max_iter=2, tol=None)
                fit_batch(data, y, max_iter=2, tol=None, sample_weight=np.ones(64))
    for kernel in kernels:
        signatures = set(_kernels.compiled_signatures(kernel)) - before[kernel]
        essentials = [_essential(signature) for signature in signatures]
        assert len(set(essentials)) == len(essentials), (kernel, signatures)
        if not before[kernel]:
            assert {str(s[0].dtype) for s in signatures} == {"float32", "float64"}
    # The batch kernel's one optional argument is the loss (argument 6): for the
    # squared loss (None), these fits add at most one signature per dtype.
    added = set(_kernels.compiled_signatures(_kernels.batch_gradient.serial))
    added -= before[_kernels.batch_gradient.serial]
    squared = [signature for signature in added if str(signature[6]) == "none"]
    assert len(squared) <= 2


def test_integer_data_is_cast_to_float64():
    X, y, _ = make_problem(m=100, n=2)
    X_int = np.round(X * 10).astype(np.int32)
    result = fit_batch(X_int, y, eta0=0.001, max_iter=10, tol=None)
    assert result.coef.dtype == np.float64
