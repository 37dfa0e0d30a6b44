"""fastgd: linear least squares by gradient descent, fast.

Compiled (Numba) kernels for batch, stochastic and mini-batch gradient descent,
with loop-based and NumPy twins of every method.

>>> import fastgd
>>> from fastgd.datasets import make_regression
>>> X, y, coef = make_regression(1000, 5, random_state=0)
>>> result = fastgd.fit_sgd(X, y, random_state=0)
>>> result.coef.shape
(5,)
"""

from . import datasets, reference, schedules
from .linear_model import GDRegressor
from .minimize import MinimizeResult, check_gradient, minimize, normal_equation
from .solvers import (
    DivergenceError,
    FitResult,
    fit_batch,
    fit_minibatch,
    fit_sgd,
)

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "FitResult",
    "GDRegressor",
    "MinimizeResult",
    "__version__",
    "check_gradient",
    "datasets",
    "fit_batch",
    "fit_minibatch",
    "fit_sgd",
    "minimize",
    "normal_equation",
    "reference",
    "schedules",
]
