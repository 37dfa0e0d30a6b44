"""The data-source seam: training reaches data only through DataSource."""

import numpy as np
import pytest

from fastgd import fit_batch, fit_minibatch, fit_sgd
from fastgd.sources import DataSource, DenseSource, as_source

from .conftest import make_problem


class Wrapped(DataSource):
    """A source that hides its arrays (no ``X`` attribute) and records which
    operations training asked for: if the training path reached around the
    interface, fits through it would fail or differ."""

    def __init__(self, X, y):
        self._inner = DenseSource(X, y)
        self.calls = []
        self.impls = self._inner.impls

    def _record(self, name):
        self.calls.append(name)
        return getattr(self._inner, name)

    shape = property(lambda self: self._inner.shape)
    dtype = property(lambda self: self._inner.dtype)
    targets = property(lambda self: self._inner.targets)

    def column_moments(self, sample_weight):
        return self._record("column_moments")(sample_weight)

    def gram_statistics(self, sample_weight, shift):
        return self._record("gram_statistics")(sample_weight, shift)

    def take_rows(self, rows):
        return self._record("take_rows")(rows)

    def rows_loss(self, rows, sample_weight, coef, intercept):
        return self._record("rows_loss")(rows, sample_weight, coef, intercept)

    def gradient_pass(self, sample_weight, weight_total, impl):
        return self._record("gradient_pass")(sample_weight, weight_total, impl)

    def epoch_pass(self, work, impl):
        return self._record("epoch_pass")(work, impl)


FITS = {
    "sgd": lambda X, y: fit_sgd(X, y, eta0="auto", standardize=True, tol=None,
                                early_stopping=True, random_state=0, max_iter=5),
    "minibatch": lambda X, y: fit_minibatch(X, y, batch_size=8, average=True,
                                            random_state=0, max_iter=5, tol=None),
    "batch-pass": lambda X, y: fit_batch(X, y, strategy="pass", max_iter=20, tol=None),
    "batch-gram": lambda X, y: fit_batch(X, y, strategy="gram", max_iter=20,
                                         eta0="auto", tol=None),
}  # fmt: skip
EXPECTED_CALLS = {
    "sgd": {"column_moments", "take_rows", "rows_loss", "epoch_pass"},
    "minibatch": {"epoch_pass"},
    "batch-pass": {"gradient_pass"},
    "batch-gram": {"column_moments", "gram_statistics", "take_rows"},
}


@pytest.mark.parametrize("fit", FITS)
def test_a_source_that_hides_its_arrays_fits_like_the_arrays(fit):
    X, y, _ = make_problem(m=150, n=4, k=2)
    source = Wrapped(X, y)
    through_source = FITS[fit](source, None)
    direct = FITS[fit](X, y)
    assert set(source.calls) == EXPECTED_CALLS[fit]
    np.testing.assert_array_equal(through_source.coef, direct.coef)
    np.testing.assert_array_equal(through_source.loss_history, direct.loss_history)


def test_a_source_holds_its_own_targets():
    X, y, _ = make_problem(m=20, n=2)
    with pytest.raises(ValueError, match="y=None"):
        fit_sgd(DenseSource(X, y), y)
    assert as_source(X, y).shape == (20, 2)


def test_dense_source_never_copies_a_c_contiguous_array():
    X, y, _ = make_problem(m=20, n=2)
    assert np.shares_memory(DenseSource(X, y).X, X)
    assert not DenseSource(X, y).X.flags.writeable


def test_a_source_built_to_predict_on_needs_no_targets():
    """X without y is rows to predict on: every kind of source builds, predicts
    as X @ coef + b, and says what is missing if a fit asks for targets; a
    sparse row without a stored entry is a row like any other."""
    import scipy.sparse as sp

    X = np.arange(12.0).reshape(4, 3)
    X[2] = 0.0
    coef, intercept = np.array([1.0, -2.0, 0.5]), np.array([0.25])
    for data in (X, sp.csr_matrix(X), sp.csr_matrix((1, 3))):
        source = as_source(data, None)
        dense = data.toarray() if sp.issparse(data) else data
        np.testing.assert_allclose(source.predict(coef, intercept), dense @ coef + 0.25)
        with pytest.raises(ValueError, match="has no targets"):
            source.targets  # noqa: B018
