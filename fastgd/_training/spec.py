"""The fit specification: every option of a fit, checked once, in one place.

``fit_sgd``, ``fit_minibatch``, ``fit_batch`` and ``GDRegressor`` all build a
:class:`FitSpec` with :func:`make_spec` and hand it to :func:`fastgd._training.fit`.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import optimizers, schedules
from .._validation import (
    check_alpha,
    check_average,
    check_eta0,
    check_fraction,
    check_int,
    check_option,
    check_random_state,
    check_tol,
)
from .objective import make_loss
from .penalty import make_penalty

IMPLS = ("compiled", "numpy", "loop")
SOLVERS = ("sgd", "minibatch", "batch", "svrg", "cg")
TOL_RULES = ("classic", "excess")
INTERCEPT_STARTS = ("zero", "mean")
BATCH_STRATEGIES = ("auto", "pass", "gram")


@dataclass(frozen=True)
class FitSpec:
    """A validated fit: the solver and its options (see ``fit_*`` for their
    meaning). ``batch_size`` is None for SGD and for batch gradient descent.
    ``max_recoveries``: how often a divergence is rolled back with a halved step
    before it raises. ``tol_scale``: "target_variance" makes the stochastic
    solvers' ``tol`` relative to var(y) (GDRegressor), None leaves it absolute.
    ``tol_rule``: "classic" (the stochastic solvers' patience on the epoch loss,
    batch's relative gradient norm) or "excess" (stop when the estimated relative
    excess loss is below ``tol``, :mod:`fastgd._training.excess`; SVRG always,
    and the stochastic solvers only when averaging). ``intercept_start``: "zero",
    or "mean" to start the intercept at the weighted mean of y.
    ``average="auto"``: average from the second epoch on. ``accelerate``: batch
    gradient descent with plain steps takes accelerated steps: Nesterov's with
    adaptive restart (:class:`~fastgd._training.engines.BatchEngine`), or
    Newton's for a smooth loss other than the squared
    (:class:`~fastgd._training.newton.NewtonEngine`); made False with an
    optimizer, which takes its own steps.
    ``eta0_rule``: "plain" (eta0="auto" is the plain step's) or "optimizer"
    (each optimizer's own rule, :func:`fastgd.optimizers.auto_step_size`).
    ``row_visits``: the stochastic solvers visit a row too heavy for their step
    several times an epoch at a fraction of its weight
    (:mod:`fastgd._training.visits`); None (the default) means "when eta0 is
    'auto'" (an explicit eta0 runs as given), and a resumed fit keeps it."""

    solver: str
    batch_size: int | None = None
    learning_rate: object = "constant"
    eta0: object = 0.01
    power_t: float = 0.25
    alpha: float = 0.0
    max_iter: int = 1000
    tol: float | None = 1e-3
    n_iter_no_change: int = 5
    fit_intercept: bool = True
    shuffle: object = "auto"
    random_state: object = None
    average: object = False
    standardize: bool = False
    early_stopping: bool = False
    validation_fraction: float = 0.1
    impl: str = "compiled"
    strategy: str = "auto"
    optimizer: str = "sgd"
    verbose: int = 0
    max_recoveries: int = 0
    tol_scale: str | None = None
    tol_rule: str = "classic"
    intercept_start: str = "zero"
    accelerate: bool = False
    eta0_rule: str = "plain"
    row_visits: bool | None = None
    loss: str = "squared_error"
    epsilon: float = 0.1
    quantile: float = 0.5
    penalty: str | None = "l2"
    l1_ratio: float = 0.15
    positive: bool = False
    name: str = "fit"

    @property
    def full_batch(self):
        return self.solver == "batch"

    @property
    def loss_function(self):
        """The :class:`~fastgd._training.objective.Loss` the fit minimizes."""
        return make_loss(self.loss, self.epsilon, self.quantile)

    @property
    def penalty_function(self):
        """The :class:`~fastgd._training.penalty.Penalty` the fit adds to its loss."""
        return make_penalty(self.penalty, self.alpha, self.l1_ratio, self.positive)

    @property
    def adaptive(self):
        """Divide the step when the stopping rule fires (stochastic solvers, and
        batch gradient descent with a normalized optimizer; for plain batch
        steps "adaptive" is a constant step)."""
        normalized = self.optimizer in optimizers.NORMALIZED
        return self.learning_rate == "adaptive" and (not self.full_batch or normalized)

    def replace(self, **changes):
        """A copy with ``changes``, checked again."""
        current = {field.name: getattr(self, field.name)
                   for field in dataclasses.fields(self)}  # fmt: skip
        return make_spec(**{**current, **changes})


def check_shuffle(value):
    """``shuffle``: True (all rows), "block" (blocks of rows, for data read in
    blocks), "auto" (True in memory, "block" for a file larger than the memory
    budget) or False."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if not (isinstance(value, str) and value in ("auto", "block")):
        raise ValueError(
            f"shuffle={value!r} is not an option: use True, False, 'auto' or 'block'."
        )
    return value


def _check_random_state(value):
    """Every solver checks random_state, whether it draws from it or not."""
    try:
        check_random_state(value)
    except ValueError as exc:
        raise ValueError(
            f"random_state={value!r} is not usable: pass None, an integer seed or a "
            "numpy.random.RandomState instance."
        ) from exc


def _check_loss_for_solver(spec):
    """Only the squared loss is a quadratic: SVRG's difference model, conjugate
    gradients and the Gram route are built on that."""
    if spec.loss_function.quadratic:
        return
    if spec.solver in ("svrg", "cg"):
        raise ValueError(
            f"solver={spec.solver!r} runs the squared loss only (it relies on the "
            f"objective being a quadratic); for loss={spec.loss!r} use solver="
            "'sgd', 'minibatch' or 'batch' (or 'auto')."
        )
    if spec.solver == "batch" and spec.strategy == "gram":
        raise ValueError(
            f"strategy='gram' forms X^T X, which gives the gradient of the squared "
            f"loss only; use strategy='pass' (or 'auto') with loss={spec.loss!r}."
        )


# The solvers that take proximal steps: batch gradient descent (FISTA), the
# per-sample epochs (proximal SGD) and SVRG (prox-SVRG); CG is for quadratics.
PROXIMAL_SOLVERS = ("batch", "sgd", "minibatch", "svrg")


def _check_penalty_for_solver(spec):
    """An L1 term or a bound (not differentiable) needs proximal steps: batch
    gradient descent's or the per-sample epochs', with plain steps."""
    penalty = spec.penalty_function
    if penalty.smooth:
        return
    what = (f"penalty={spec.penalty!r}" if penalty.lasso
            else "positive=True")  # fmt: skip
    if spec.solver not in PROXIMAL_SOLVERS:
        raise ValueError(
            f"{what} is not differentiable and needs proximal steps, which "
            f"solver={spec.solver!r} does not take; use solver='batch' (accelerated "
            "proximal gradient, certified by the duality gap for the squared "
            "loss), 'sgd', 'minibatch' (proximal SGD) or 'svrg' (prox-SVRG), or "
            "solver='auto'."
        )
    if spec.optimizer != "sgd":
        raise ValueError(
            f"{what} takes proximal steps, which optimizer={spec.optimizer!r} "
            "does not; use optimizer='sgd' with it."
        )


def make_spec(solver, **options):
    """A :class:`FitSpec`, every option checked (TypeError/ValueError naming the
    option and the fix).

    >>> make_spec("minibatch", batch_size=64, eta0="auto").batch_size
    64
    """
    spec = FitSpec(solver=check_option("solver", solver, SOLVERS), **options)
    check_option("impl", spec.impl, IMPLS)
    check_option("optimizer", spec.optimizer, optimizers.OPTIMIZERS)
    check_option("strategy", spec.strategy, BATCH_STRATEGIES)
    check_option("tol_rule", spec.tol_rule, TOL_RULES)
    check_option("intercept_start", spec.intercept_start, INTERCEPT_STARTS)
    check_option("eta0_rule", spec.eta0_rule, ("plain", "optimizer"))
    if not callable(spec.learning_rate):
        check_option("learning_rate", spec.learning_rate, schedules.NAMED_SCHEDULES)
    _check_random_state(spec.random_state)
    checked = dict(
        max_iter=check_int("max_iter", spec.max_iter),
        n_iter_no_change=check_int("n_iter_no_change", spec.n_iter_no_change),
        tol=check_tol(spec.tol),
        alpha=check_alpha(spec.alpha),
        eta0=check_eta0(spec.eta0),
        average=check_average(spec.average),
        max_recoveries=check_int("max_recoveries", spec.max_recoveries, minimum=0),
        # Acceleration (Nesterov's, or Newton's for a smooth loss) replaces plain
        # steps; an optimizer takes its own.
        accelerate=bool(spec.accelerate) and spec.optimizer == "sgd",
        shuffle=check_shuffle(spec.shuffle),
        row_visits=spec.eta0 == "auto"
        if spec.row_visits is None
        else bool(spec.row_visits),
    )
    if solver == "minibatch":
        checked["batch_size"] = check_int("batch_size", spec.batch_size)
    elif spec.batch_size is not None:
        raise ValueError(f"batch_size is for solver='minibatch', not {solver!r}.")
    if spec.early_stopping:
        checked["validation_fraction"] = check_fraction(
            "validation_fraction", spec.validation_fraction
        )
    if solver in ("batch", "svrg", "cg") and checked["average"]:
        raise ValueError(f"average is for solver='sgd' or 'minibatch', not {solver!r}.")
    if solver in ("svrg", "cg") and spec.optimizer != "sgd":
        raise ValueError(
            f"solver={solver!r} makes its own steps; use optimizer='sgd' with "
            f"it, or solver='sgd', 'minibatch' or 'batch' with "
            f"optimizer={spec.optimizer!r}."
        )
    if solver == "cg" and spec.early_stopping:
        raise ValueError(
            "solver='cg' solves the training objective to tol and has no "
            "early stopping; use early_stopping=False, or an iterative solver "
            "('sgd', 'minibatch', 'batch') with it."
        )
    _check_loss_for_solver(spec)
    _check_penalty_for_solver(spec)
    if solver in ("batch", "cg"):
        if spec.strategy == "gram" and spec.impl == "loop":
            raise ValueError(
                "strategy='gram' runs on NumPy; use impl='compiled' or impl='numpy' "
                "with it, or strategy='pass' for the loop implementation."
            )
    elif spec.impl == "loop" and spec.optimizer != "sgd":
        raise ValueError(
            f"impl='loop' implements plain gradient steps only; use impl="
            f"'compiled' or 'numpy' with optimizer={spec.optimizer!r}."
        )
    return dataclasses.replace(spec, **checked)
