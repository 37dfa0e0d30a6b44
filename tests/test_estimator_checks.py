"""scikit-learn's own estimator checks, on every solver, none skipped (the tuned
estimators and the per-sample solvers' defaults only with the JIT: see
CHECKED)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fastgd import GDClassifier, GDRegressor, _kernels

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
# Every solver with its defaults too. The default fit (auto, CG) and batch pass
# every check. The stochastic solvers stop at a relative excess loss of
# tol=1e-4, so a fit with weights and one on repeated rows agree to about
# 1e-2 of the coefficients, where check_sample_weight_equivalence asks for
# 1e-7: expected failures, as scikit-learn declares them for SGDRegressor (with
# tol=1e-10 they pass, above).
SOLVERS = ("auto", "sgd", "minibatch", "batch", "svrg", "cg")
DEFAULTS = [GDRegressor(solver=solver) for solver in SOLVERS]
WHY = "stops at a relative excess of tol=1e-4; agreement to 1e-7 needs tol=1e-10"
WEIGHT_EQUIVALENCE = {
    "check_sample_weight_equivalence_on_dense_data": WHY,
    "check_sample_weight_equivalence_on_sparse_data": WHY,
}


# solver="cg" solves one data set to tol: its partial_fit raises (use "auto",
# which fits by CG and takes mini-batches by another solver).
NO_PARTIAL_FIT = {
    "check_n_features_in_after_fitting": "solver='cg' refuses partial_fit",
    "check_estimators_partial_fit_n_features": "solver='cg' refuses partial_fit",
}


# Every loss with its defaults: "auto" runs batch Newton steps for the smooth
# ones, which stop at tol=1e-4 of relative excess (weighted and repeated rows
# then agree to about 1e-6, not 1e-7), and SGD for the ones with kinks, which
# stops on its loss plateau (about 1e-2).
SMOOTH = ("huber", "squared_epsilon_insensitive")
KINKED = ("epsilon_insensitive", "quantile")
LOSS_DEFAULTS = [GDRegressor(loss=loss) for loss in SMOOTH + KINKED]
KINK_WHY = (
    "a loss with kinks has no certificate: SGD stops on its loss plateau, "
    "batch (with an L1 term) at max_iter"
)


# The penalties that need proximal steps (batch, FISTA, stopping on the duality
# gap) pass every check, with their defaults too; so do the per-sample solvers'
# proximal steps, lazy on the checks' sparse matrices (sgd and minibatch stop at
# tol=1e-4: the weight-equivalence checks as above).
PENALTIES = [
    GDRegressor(penalty="l1", alpha=0.01),
    GDRegressor(penalty="elasticnet", alpha=0.01, positive=True, tol=1e-10,
                max_iter=100_000),
    GDRegressor(solver="sgd", penalty="l1", alpha=0.01),
    GDRegressor(solver="minibatch", penalty="elasticnet", alpha=0.01,
                standardize=False),
]  # fmt: skip
# Every other (loss, penalty) pair, with "auto"'s choice: batch proximal steps
# for L1 and the elastic-net, and what LOSS_DEFAULTS run without a penalty.
LOSS_PENALTIES = [
    GDRegressor(loss=loss, penalty=penalty, alpha=0.01)
    for loss in SMOOTH + KINKED
    for penalty in (None, "l1", "elasticnet")
] + [GDRegressor(penalty=None)]


# The classifier: its default (batch Newton steps, L2) and every loss, the
# per-sample solvers (standardize=False: with the L2 default a CSR matrix's lazy
# decay needs it, as the error says) and the proximal penalties. Newton steps
# stop at tol=1e-4 close enough for the weight checks; averaged SGD, the
# hinge's and perceptron's plateau and FISTA on an L1 term at tol=1e-4 do not
# (with tol=1e-10 the elastic-net passes them).
CLASSIFIERS = [GDClassifier(loss=loss) for loss in
               ("log_loss", "hinge", "squared_hinge", "modified_huber",
                "perceptron")] + [
    GDClassifier(solver="sgd", standardize=False),
    GDClassifier(solver="minibatch", loss="modified_huber", standardize=False),
    GDClassifier(penalty="l1", class_weight="balanced"),
    GDClassifier(penalty="elasticnet", tol=1e-10, max_iter=100_000),
]  # fmt: skip
CLASSIFIER_WHY = {
    "hinge": KINK_WHY,
    "perceptron": KINK_WHY,
    "sgd": WHY,
    "minibatch": WHY,
    "l1": "FISTA on a margin loss with an L1 term stops at tol=1e-4",
}


def expected_failures(estimator):
    if isinstance(estimator, GDClassifier):
        if estimator.loss in CLASSIFIER_WHY:  # the checks' sparse data passes
            return {"check_sample_weight_equivalence_on_dense_data": KINK_WHY}
        why = (CLASSIFIER_WHY.get(estimator.solver)
               or CLASSIFIER_WHY.get(estimator.penalty))  # fmt: skip
        return dict.fromkeys(WEIGHT_EQUIVALENCE, why) if why else {}
    if estimator.loss in KINKED:
        return dict.fromkeys(WEIGHT_EQUIVALENCE, KINK_WHY)
    if estimator.loss in SMOOTH and estimator.penalty in ("l1", "elasticnet"):
        return {}  # batch proximal steps on the gap's precision: they agree
    if estimator.loss in SMOOTH:
        return WEIGHT_EQUIVALENCE
    if estimator.solver in ("sgd", "minibatch", "svrg") and estimator.tol == 1e-4:
        return WEIGHT_EQUIVALENCE
    if estimator.solver == "cg":
        return NO_PARTIAL_FIT
    return {}


# Without the JIT (the coverage run) the defaults only, and not the per-sample
# solvers': the tuned estimators run the same code to tol=1e-10, and SGD's and
# mini-batch's epochs for minutes as Python, through the estimator code that
# the other solvers' checks cover. The JIT run checks every estimator.
# The losses' estimators too only with the JIT: the SGD of the losses with kinks
# runs many epochs per check as Python, and tests/test_losses.py covers their
# kernel bodies without the JIT.
NO_JIT = [estimator for estimator in DEFAULTS
          if estimator.solver not in ("sgd", "minibatch")]  # fmt: skip
CHECKED = (NO_JIT + CLASSIFIERS[:1] if _kernels.JIT_DISABLED
           else ESTIMATORS + DEFAULTS + LOSS_DEFAULTS + PENALTIES
           + LOSS_PENALTIES + CLASSIFIERS)  # fmt: skip


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failures)
def test_scikit_learn_compatible(estimator, check):
    check(estimator)
