"""Gradient descent (or ascent) on any function, a gradient check, and the closed
form of least squares: the course toolkit around the solvers."""

from typing import NamedTuple

import numpy as np

from ._errors import DivergenceError
from ._validation import check_data, check_int, check_tol

# |f| this many times larger than at the start (and at least 1) means divergence.
_EXPLOSION = 1e12


class MinimizeResult(NamedTuple):
    """What :func:`minimize` returns.

    Attributes
    ----------
    x : float or ndarray
        The best point found (a float when ``x0`` was a scalar).
    fun : float
        f(x).
    n_iter : int
        Steps taken by the run that found ``x``.
    converged : bool
        Whether that run stopped because the change in f fell below ``tol``.
    path : ndarray of shape (n_iter + 1,) or (n_iter + 1, d)
        The points that run visited, starting point first.
    n_runs : int
        Runs made: 1 + n_restarts.
    """

    x: object
    fun: float
    n_iter: int
    converged: bool
    path: np.ndarray
    n_runs: int


def _descend(fun, grad, start, learning_rate, tol, max_iter, sign):
    x = np.array(start, dtype=np.float64)
    value = float(fun(x if x.ndim else float(x)))
    limit = _EXPLOSION * max(1.0, abs(value))
    path, converged = [x.copy()], False
    for t in range(max_iter):
        eta = float(learning_rate(t)) if callable(learning_rate) else learning_rate
        gradient = np.asarray(grad(x if x.ndim else float(x)), dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            x = x - sign * eta * gradient
            new_value = float(fun(x if x.ndim else float(x)))
        if (
            not (np.all(np.isfinite(x)) and np.isfinite(new_value))
            or abs(new_value) > limit
        ):
            raise DivergenceError(
                f"Gradient {'ascent' if sign < 0 else 'descent'} diverged at step "
                f"{t + 1}: f = {new_value:.3g} with step size {eta:.3g}. Use a "
                f"smaller learning_rate (try {eta / 10:.3g})."
            )
        path.append(x.copy())
        if abs(new_value - value) < tol:
            converged, value = True, new_value
            break
        value = new_value
    return x, value, len(path) - 1, converged, np.array(path)


def minimize(
    fun, grad, x0, *, learning_rate=0.1, tol=1e-10, max_iter=10_000,
    maximize=False, n_restarts=0, restart_range=None, random_state=None,
):  # fmt: skip
    """Gradient descent on ``fun`` (ascent with ``maximize=True``) from ``x0``.

    x_{t+1} = x_t - eta_t grad(x_t) (plus for ascent), stopping when
    |f(x_{t+1}) - f(x_t)| < ``tol``. With ``n_restarts``, also starts from that many
    random points drawn uniformly in ``restart_range`` and returns the best run (the
    way out of a local minimum).

    Parameters
    ----------
    fun, grad : callable
        f(x) -> float and its gradient, of a float or of a 1-D array.
    x0 : float or array-like of shape (d,)
        Starting point.
    learning_rate : float or callable, default=0.1
        A constant step or a schedule t -> eta (see :mod:`fastgd.schedules`).
    tol : float, default=1e-10
        Stop when f changes by less than this.
    max_iter : int, default=10000
        Steps per run.
    maximize : bool, default=False
        Gradient ascent: find a maximum.
    n_restarts : int, default=0
        Extra runs from random starting points.
    restart_range : (low, high), optional
        Where random starts are drawn; default x0 - 10 to x0 + 10 per coordinate.
    random_state : int, RandomState instance or None
        Seeds the random starts.

    Returns
    -------
    MinimizeResult

    Raises
    ------
    DivergenceError
        If a run's f or x stops being finite or f explodes (step too large).
        With restarts, runs that diverge are dropped; the error is raised only
        when every run diverged.

    Examples
    --------
    >>> from fastgd import minimize
    >>> result = minimize(lambda x: (x - 3.5) ** 2 - 4.5 * x + 10,
    ...                   lambda x: 2 * (x - 3.5) - 4.5, x0=0.0)
    >>> round(result.x, 3), result.converged
    (5.75, True)
    """
    max_iter = check_int("max_iter", max_iter)
    n_restarts = check_int("n_restarts", n_restarts, minimum=0)
    tol = check_tol(tol)
    tol = 0.0 if tol is None else tol
    if not callable(learning_rate) and not (
        np.isfinite(learning_rate) and learning_rate > 0
    ):
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}.")
    start = np.asarray(x0, dtype=np.float64)
    low, high = restart_range if restart_range is not None else (start - 10, start + 10)
    from ._validation import check_random_state

    rng = check_random_state(random_state)
    starts = [start] + [
        rng.uniform(low, high, size=start.shape) for _ in range(n_restarts)
    ]
    sign = -1.0 if maximize else 1.0
    runs, errors = [], []
    for point in starts:
        try:
            runs.append(_descend(fun, grad, point, learning_rate, tol, max_iter, sign))
        except DivergenceError as error:
            errors.append(error)
    if not runs:
        raise errors[0]
    best = min(runs, key=lambda run: sign * run[1])
    x, value, n_iter, converged, path = best
    return MinimizeResult(
        x=float(x) if x.ndim == 0 else x, fun=float(value), n_iter=n_iter,
        converged=converged, path=path, n_runs=len(starts),
    )  # fmt: skip


def check_gradient(fun, grad, x, eps=1e-6):
    """Compare ``grad(x)`` with central differences (f(x + eps e_j) - f(x - eps
    e_j)) / (2 eps), component by component.

    Returns
    -------
    numerical : ndarray
        The finite-difference gradient, shaped like x.
    max_relative_error : float
        max_j |numerical_j - analytic_j| / max(|numerical|_inf, |analytic|_inf),
        0 when both vanish.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import check_gradient
    >>> _, error = check_gradient(lambda v: np.sum(v ** 3), lambda v: 3 * v ** 2,
    ...                           np.array([1.0, -2.0]))
    >>> bool(error < 1e-8)
    True
    """
    x = np.array(x, dtype=np.float64)
    analytic = np.asarray(grad(x), dtype=np.float64).reshape(x.shape)
    numerical = np.empty_like(x)
    for j in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[j] = eps
        numerical[j] = (fun(x + step) - fun(x - step)) / (2 * eps)
    scale = max(np.max(np.abs(numerical)), np.max(np.abs(analytic)))
    if scale == 0:
        return numerical, 0.0
    return numerical, float(np.max(np.abs(numerical - analytic)) / scale)


def normal_equation(X, y, fit_intercept=True):
    """The least-squares solution in closed form, by a numerically stable solver.

    Solves min |X coef + b - y|^2 with ``numpy.linalg.lstsq`` (SVD) on X with a
    column of ones appended when ``fit_intercept`` (a copy of X: this is a
    reference, not the fast path). No explicit inverse of X^T X.

    Returns
    -------
    coef : ndarray of shape (n_features,) or (n_features, n_targets)
    intercept : float or ndarray of shape (n_targets,)

    Examples
    --------
    >>> import numpy as np
    >>> from fastgd import normal_equation
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> coef, intercept = normal_equation(X, 2 * X[:, 0] + 1)
    >>> np.round(coef, 6).tolist(), round(float(intercept), 6)
    ([2.0], 1.0)
    """
    X, y = check_data(X, y)
    A = X.astype(np.float64)
    if fit_intercept:
        A = np.hstack([A, np.ones((A.shape[0], 1))])
    solution = np.linalg.lstsq(A, y.astype(np.float64), rcond=None)[0]
    if not fit_intercept:
        return solution, (0.0 if y.ndim == 1 else np.zeros(y.shape[1]))
    return solution[:-1], (float(solution[-1]) if y.ndim == 1 else solution[-1])
