"""scikit-learn's own estimator checks, on every solver, none skipped."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fastgd import GDRegressor

# The stochastic solvers without averaging: check_sample_weight_equivalence asks
# for agreement to 1e-7, which the adaptive step reaches and averaging (O(1/t))
# does not within max_iter; the averaged defaults are checked by "auto".
ESTIMATORS = [
    GDRegressor(tol=1e-10),
    GDRegressor(solver="sgd", average=False, tol=1e-10),
    GDRegressor(solver="minibatch", average=False, tol=1e-10),
    GDRegressor(solver="batch", tol=1e-10, max_iter=20000),
    GDRegressor(solver="svrg", tol=1e-12, max_iter=2000),
]


@parametrize_with_checks(ESTIMATORS)
def test_scikit_learn_compatible(estimator, check):
    check(estimator)
