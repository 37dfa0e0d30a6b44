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

from . import datasets, reference, schedules
from ._training import choose_solver
from .linear_model import GDRegressor
from .minimize import MinimizeResult, check_gradient, minimize, normal_equation
from .solvers import (
    DivergenceError,
    FitResult,
    fit_batch,
    fit_minibatch,
    fit_sgd,
    fit_svrg,
)

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "FitResult",
    "GDRegressor",
    "MinimizeResult",
    "__version__",
    "check_gradient",
    "choose_solver",
    "datasets",
    "fit_batch",
    "fit_minibatch",
    "fit_sgd",
    "fit_svrg",
    "minimize",
    "normal_equation",
    "reference",
    "schedules",
]
