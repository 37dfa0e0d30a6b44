"""fastgd's exceptions and warnings, in one place (re-exported where users meet
them)."""

import sys


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the loss became non-finite or exploded."""


class DataFileError(ValueError):
    """A data file that cannot be used, with the reason and the fix."""


class ConvergenceWarning(UserWarning):
    """A fit stopped before meeting its tolerance (fastgd's own class, used
    while scikit-learn is not loaded; see :func:`convergence_warning`)."""


def convergence_warning():
    """The class a fit warns with when it stops short: scikit-learn's
    ``ConvergenceWarning`` whenever scikit-learn is loaded (GDRegressor loads
    it; so does anyone who can name its class to filter it), otherwise
    :class:`ConvergenceWarning`, so that the functional API never pays for
    importing scikit-learn. Both are UserWarnings."""
    module = sys.modules.get("sklearn.exceptions")
    return module.ConvergenceWarning if module is not None else ConvergenceWarning
