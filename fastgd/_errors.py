"""fastgd's exceptions, in one place (re-exported where users meet them)."""


class DivergenceError(FloatingPointError):
    """Gradient descent diverged: the loss became non-finite or exploded."""


class DataFileError(ValueError):
    """A data file that cannot be used, with the reason and the fix."""
