"""fastgd: linear least squares by gradient descent, fast.

Compiled (Numba) kernels for batch, stochastic, mini-batch and variance-reduced
(SVRG) gradient descent, with loop-based and NumPy twins of every method.

>>> import fastgd
>>> from fastgd.datasets import make_regression
>>> X, y, coef = make_regression(1000, 5, random_state=0)
>>> result = fastgd.fit_sgd(X, y, random_state=0)
>>> result.coef.shape
(5,)
"""

import importlib
from typing import TYPE_CHECKING

# Public names and the module that defines each. They are imported on first use
# (PEP 562), so ``import fastgd`` costs milliseconds: scikit-learn (about 1.2 s
# to import) and numba (0.2-0.6 s) load only when a fit, an estimator or a kernel
# is first touched.
_LAZY = {
    "DivergenceError": "solvers",
    "FitResult": "solvers",
    "GDClassifier": "classifier",
    "GDRegressor": "linear_model",
    "MinimizeResult": "minimize",
    "check_gradient": "minimize",
    "choose_solver": "_training",
    "fit_batch": "solvers",
    "fit_minibatch": "solvers",
    "fit_sgd": "solvers",
    "fit_svrg": "solvers",
    "fit_cg": "solvers",
    "load_model": "_fit_job",
    "normal_equation": "minimize",
}
_SUBMODULES = frozenset(
    {"datasets", "optimizers", "plotting", "reference", "schedules", "sources"}
)

# ``fastgd.minimize`` is the function, not its module: bound now, as importing the
# submodule later would rebind the name to the module. (Light: NumPy only.)
from .minimize import minimize  # noqa: E402

if TYPE_CHECKING:  # what static tools and IDEs see
    from . import (  # noqa: F401 - attributes on first use
        datasets,
        optimizers,
        plotting,
        reference,
        schedules,
        sources,
    )
    from ._fit_job import load_model
    from ._training import choose_solver
    from .classifier import GDClassifier
    from .linear_model import GDRegressor
    from .minimize import MinimizeResult, check_gradient, normal_equation
    from .solvers import (
        DivergenceError,
        FitResult,
        fit_batch,
        fit_cg,
        fit_minibatch,
        fit_sgd,
        fit_svrg,
    )


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "FitResult",
    "GDClassifier",
    "GDRegressor",
    "MinimizeResult",
    "__version__",
    "check_gradient",
    "choose_solver",
    "datasets",
    "fit_batch",
    "fit_cg",
    "fit_minibatch",
    "fit_sgd",
    "fit_svrg",
    "load_model",
    "minimize",
    "normal_equation",
    "reference",
    "schedules",
]
