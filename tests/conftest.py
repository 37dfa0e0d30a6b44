"""Shared test helpers: small problems (the suite also runs with the JIT disabled)."""

import numpy as np
import pytest

from fastgd import _kernels
from fastgd.datasets import make_regression

# For tests that reach their accuracy through thousands of per-sample steps:
# without the JIT they run for a minute each, under coverage for longer, and
# only repeat kernel lines that quicker tests already cover. The JIT run of the
# suite checks them (.ci/run runs both).
slow_without_jit = pytest.mark.skipif(
    _kernels.JIT_DISABLED,
    reason="thousands of per-sample steps as Python: the JIT run checks it",
)


def make_problem(m=200, n=5, k=1, dtype=np.float64, seed=0, noise=0.1, bias=0.5):
    """A small regression problem with known coefficients."""
    return make_regression(
        m, n, k, noise=noise, bias=bias, dtype=dtype, random_state=seed
    )


def lstsq(X, y, fit_intercept=True):
    """Closed-form oracle: (coef, intercept) from numpy.linalg.lstsq in float64."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if fit_intercept:
        A = np.hstack([X, np.ones((X.shape[0], 1))])
        solution = np.linalg.lstsq(A, y, rcond=None)[0]
        return solution[:-1], solution[-1]
    return np.linalg.lstsq(X, y, rcond=None)[0], np.zeros(y.shape[1:])


def relative_error(actual, expected):
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(np.max(np.abs(expected)), np.finfo(np.float64).tiny)
    return float(
        np.max(np.abs(np.asarray(actual, dtype=np.float64) - expected)) / scale
    )


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture(params=[1, 3], ids=["single", "multi"])
def n_targets(request):
    return request.param


@pytest.fixture(scope="session")
def dask_cluster():
    """One LocalCluster for the whole run (started on first use): 2 worker
    processes with 1 thread each, as the tests of fastgd's Dask source need."""
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:  # fmt: skip
        yield cluster


@pytest.fixture(scope="session")
def _dask_session_client(dask_cluster):
    from distributed import Client

    with Client(dask_cluster, set_as_default=False) as client:
        yield client


@pytest.fixture
def dask_client(_dask_session_client):
    """The session cluster's client, current for this test only (other tests
    run on Dask's default scheduler)."""
    with _dask_session_client.as_current():
        yield _dask_session_client
