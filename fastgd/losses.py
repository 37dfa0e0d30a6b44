"""Regression losses: what a fit minimizes, one integer kind each.

Every loss is a function of the residual r = prediction - y (and a parameter:
``epsilon``, or the ``quantile`` tau). fastgd's losses are **twice**
scikit-learn's (``SGDRegressor``, ``HuberRegressor``, ``QuantileRegressor``),
so that the squared loss keeps fastgd's own convention, r^2 (DESIGN.md), and
every loss has the minimizer scikit-learn's has for the same ``alpha``: the
objective is mean loss + alpha R(coef) with the penalty doubled alike (L2:
alpha |coef|^2, scikit-learn's alpha |coef|^2 / 2 times 2).

============================== ========================================== =============
loss                           value (r = prediction - y)                 sup ell''
============================== ========================================== =============
squared_error                  r^2                                        2
huber (epsilon)                r^2 if abs(r) <= eps, else 2 eps abs(r) -  2
                               eps^2
epsilon_insensitive (epsilon)  2 max(abs(r) - eps, 0)                     0 (not smooth)
squared_epsilon_insensitive    2 max(abs(r) - eps, 0)^2                   4
quantile (tau)                 2 tau (-r) if r < 0, else 2 (1 - tau) r    0 (not smooth)
============================== ========================================== =============

(scikit-learn's squared_epsilon_insensitive is max(abs(r) - eps, 0)^2, not
half of it: its double is 2 max(...)^2.) The quantile loss is the pinball loss
of y - prediction: the fit predicts the tau-quantile of y given x.

The rules are written twice, as the optimizers' are (:mod:`fastgd.optimizers`):
:func:`value` and :func:`derivative` take one residual, in code that numba
compiles into the kernels (the kernels package compiles them; this module never
imports numba); :func:`values` and :func:`derivatives` are their NumPy twins,
for :mod:`fastgd.reference`, tested against them. A kernel takes the loss as
``None`` (the squared loss, compiled to exactly the code it has always run) or
the array [kind, parameter] of :func:`kernel_loss`.
"""

import numpy as np

SQUARED_ERROR, HUBER, EPSILON_INSENSITIVE = 0, 1, 2
SQUARED_EPSILON_INSENSITIVE, QUANTILE = 3, 4
# One table for the string option: name -> kind used inside the kernels.
LOSSES = {
    "squared_error": SQUARED_ERROR,
    "huber": HUBER,
    "epsilon_insensitive": EPSILON_INSENSITIVE,
    "squared_epsilon_insensitive": SQUARED_EPSILON_INSENSITIVE,
    "quantile": QUANTILE,
}
# sup of the second derivative (the curvature a step size must respect); 0 for
# the piecewise-linear losses, which have no finite bound (kinks).
CURVATURE_BOUND = {
    SQUARED_ERROR: 2.0,
    HUBER: 2.0,
    EPSILON_INSENSITIVE: 0.0,
    SQUARED_EPSILON_INSENSITIVE: 4.0,
    QUANTILE: 0.0,
}
# sup of abs(ell'): the slope a step of a non-smooth loss can take (None:
# unbounded, it grows with r).
SLOPE_BOUND = {EPSILON_INSENSITIVE: 2.0, QUANTILE: 2.0}


def value(kind, r, parameter):
    """The loss of residual ``r`` (a scalar) under loss ``kind``.

    >>> float(value(HUBER, 3.0, 1.0))  # 2 * 1 * 3 - 1
    5.0
    """
    if kind == HUBER:
        size = abs(r)
        if size <= parameter:
            return r * r
        return 2.0 * parameter * size - parameter * parameter
    if kind == EPSILON_INSENSITIVE:
        return 2.0 * max(abs(r) - parameter, 0.0)
    if kind == SQUARED_EPSILON_INSENSITIVE:
        outside = max(abs(r) - parameter, 0.0)
        return 2.0 * outside * outside
    if kind == QUANTILE:
        if r < 0.0:
            return -2.0 * parameter * r
        return 2.0 * (1.0 - parameter) * r
    return r * r


def derivative(kind, r, parameter):
    """d loss / d prediction at residual ``r`` (a subgradient at a kink: 0
    inside the epsilon tube's edge and at r = 0 for the quantile loss, both in
    the subdifferential).

    >>> float(derivative(HUBER, 3.0, 1.0)), float(derivative(QUANTILE, -1.0, 0.9))
    (2.0, -1.8)
    """
    if kind == HUBER:
        if r > parameter:
            return 2.0 * parameter
        if r < -parameter:
            return -2.0 * parameter
        return r + r
    if kind == EPSILON_INSENSITIVE:
        if r > parameter:
            return 2.0
        if r < -parameter:
            return -2.0
        return 0.0
    if kind == SQUARED_EPSILON_INSENSITIVE:
        if r > parameter:
            return 4.0 * (r - parameter)
        if r < -parameter:
            return 4.0 * (r + parameter)
        return 0.0
    if kind == QUANTILE:
        if r < 0.0:
            return -2.0 * parameter
        if r > 0.0:
            return 2.0 * (1.0 - parameter)
        return 0.0
    return r + r


def values(kind, r, parameter):
    """:func:`value` on an array of residuals (float64)."""
    r = np.asarray(r, dtype=np.float64)
    size = np.abs(r)
    if kind == HUBER:
        return np.where(
            size <= parameter, r * r, 2.0 * parameter * size - parameter * parameter
        )
    if kind == EPSILON_INSENSITIVE:
        return 2.0 * np.maximum(size - parameter, 0.0)
    if kind == SQUARED_EPSILON_INSENSITIVE:
        return 2.0 * np.maximum(size - parameter, 0.0) ** 2
    if kind == QUANTILE:
        return np.where(r < 0.0, -2.0 * parameter * r, 2.0 * (1.0 - parameter) * r)
    return r * r


def derivatives(kind, r, parameter):
    """:func:`derivative` on an array of residuals (float64)."""
    r = np.asarray(r, dtype=np.float64)
    if kind == HUBER:
        return 2.0 * np.clip(r, -parameter, parameter)
    if kind == EPSILON_INSENSITIVE:
        return 2.0 * np.sign(r) * (np.abs(r) > parameter)
    if kind == SQUARED_EPSILON_INSENSITIVE:
        return 4.0 * np.sign(r) * np.maximum(np.abs(r) - parameter, 0.0)
    if kind == QUANTILE:
        return np.where(
            r < 0.0, -2.0 * parameter, np.where(r > 0.0, 2.0 - 2.0 * parameter, 0.0)
        )
    return 2.0 * r


def curvatures(kind, r, parameter):
    """The loss's second derivative at each residual (float64; 0 at and beyond a
    kink, where it has none): what a Newton step or decrement weighs rows by."""
    r = np.asarray(r, dtype=np.float64)
    size = np.abs(r)
    if kind == HUBER:
        return np.where(size <= parameter, 2.0, 0.0)
    if kind == SQUARED_EPSILON_INSENSITIVE:
        return np.where(size > parameter, 4.0, 0.0)
    if kind in (EPSILON_INSENSITIVE, QUANTILE):
        return np.zeros_like(r)
    return np.full_like(r, 2.0)


def majorizing_curvatures(kind, r, parameter):
    """The larger of the second derivative and slope / r at each residual: for
    Huber beyond epsilon 2 epsilon / abs(r), the weight of iteratively
    reweighted least squares, whose quadratic lies above the loss (Huber, 1964),
    so a step on it never raises the objective. Elsewhere the second
    derivative, which is never below slope / r for these losses."""
    curvature = curvatures(kind, r, parameter)
    if kind != HUBER:
        return curvature
    size = np.maximum(np.abs(np.asarray(r, dtype=np.float64)), parameter)
    return np.maximum(curvature, 2.0 * parameter / size)


def kernel_loss(name, parameter=0.0):
    """What the kernels take for loss ``name``: None for the squared loss (its
    code as it always was), else the float64 array [kind, parameter] (an array,
    not a tuple of two scalars: numba's parallel loops cannot take a tuple of
    scalars through a nested argument)."""
    kind = LOSSES[name]
    if kind == SQUARED_ERROR:
        return None
    return np.array([kind, parameter], dtype=np.float64)
