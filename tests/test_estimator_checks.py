"""scikit-learn's own estimator checks, on every solver, none skipped."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fastgd import GDRegressor

ESTIMATORS = [
    GDRegressor(solver="sgd"),
    GDRegressor(solver="minibatch"),
    GDRegressor(solver="batch", tol=1e-10, max_iter=20000),
]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_compatible(estimator, check):
    check(estimator)
