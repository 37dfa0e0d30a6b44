"""Losses: what a fit minimizes, one integer kind each.

Every rule takes the residual r = prediction - y, the target y and a parameter
(``epsilon``, or the ``quantile`` tau). A regression loss is a function of r
alone; a classification loss is a function of the margin z = y s of the score
s = r + y and a label y of -1 or +1 (so z = y r + 1), as scikit-learn's
``SGDClassifier`` losses are. The kernels compute r as they always did and pass
y beside it. fastgd's losses are **twice**
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

The classification losses, of the margin z (twice ``SGDClassifier``'s, as above,
so that ``alpha`` means what it means there; :class:`fastgd.GDClassifier`):

============================== ========================================== =============
loss                           value (z = y s)                            sup ell''
============================== ========================================== =============
log_loss                       2 log(1 + exp(-z))                         1/2
hinge                          2 max(1 - z, 0)                            0 (not smooth)
squared_hinge                  2 max(1 - z, 0)^2                          4
modified_huber                 2 (1 - z)^2 if z >= -1 (0 beyond 1), else  4
                               -8 z
perceptron                     2 max(-z, 0)                               0 (not smooth)
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
LOG_LOSS, HINGE, SQUARED_HINGE, MODIFIED_HUBER, PERCEPTRON = 5, 6, 7, 8, 9
# One table for the string option: name -> kind used inside the kernels.
LOSSES = {
    "squared_error": SQUARED_ERROR,
    "huber": HUBER,
    "epsilon_insensitive": EPSILON_INSENSITIVE,
    "squared_epsilon_insensitive": SQUARED_EPSILON_INSENSITIVE,
    "quantile": QUANTILE,
}
# The classification losses (labels -1 and +1), by name.
CLASSIFICATION_LOSSES = {
    "log_loss": LOG_LOSS,
    "hinge": HINGE,
    "squared_hinge": SQUARED_HINGE,
    "modified_huber": MODIFIED_HUBER,
    "perceptron": PERCEPTRON,
}
# sup of the second derivative (the curvature a step size must respect); 0 for
# the piecewise-linear losses, which have no finite bound (kinks).
CURVATURE_BOUND = {
    SQUARED_ERROR: 2.0,
    HUBER: 2.0,
    EPSILON_INSENSITIVE: 0.0,
    SQUARED_EPSILON_INSENSITIVE: 4.0,
    QUANTILE: 0.0,
    LOG_LOSS: 0.5,
    HINGE: 0.0,
    SQUARED_HINGE: 4.0,
    MODIFIED_HUBER: 4.0,
    PERCEPTRON: 0.0,
}
# Every loss by name, what :func:`kernel_loss` looks up.
KINDS = {**LOSSES, **CLASSIFICATION_LOSSES}


def value(kind, r, y, parameter):
    """The loss at residual ``r`` (a scalar) and target ``y`` under loss ``kind``.

    >>> float(value(HUBER, 3.0, 0.0, 1.0))  # 2 * 1 * 3 - 1
    5.0
    >>> float(value(HINGE, -1.5, 1.0, 0.0))  # score -0.5, label +1: 2 (1 + 0.5)
    3.0
    """
    if kind >= LOG_LOSS:
        z = y * r + 1.0  # the margin y (r + y), y^2 = 1
        if kind == LOG_LOSS:
            if z > 0.0:
                return 2.0 * np.log1p(np.exp(-z))
            return 2.0 * (np.log1p(np.exp(z)) - z)
        if kind == SQUARED_HINGE:
            short = max(1.0 - z, 0.0)
            return 2.0 * short * short
        if kind == MODIFIED_HUBER:
            if z < -1.0:
                return -8.0 * z
            short = max(1.0 - z, 0.0)
            return 2.0 * short * short
        # The hinge's kink is at a margin of 1, the perceptron's at 0
        # (scikit-learn's thresholds).
        return 2.0 * max((1.0 if kind == HINGE else 0.0) - z, 0.0)
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


def derivative(kind, r, y, parameter):
    """d loss / d prediction at residual ``r`` and target ``y`` (a subgradient at
    a kink: 0 inside the epsilon tube's edge and at r = 0 for the quantile loss,
    the full slope at the hinge's, all in the subdifferential).

    >>> float(derivative(HUBER, 3.0, 0.0, 1.0))
    2.0
    >>> float(derivative(QUANTILE, -1.0, 0.0, 0.9))
    -1.8
    >>> float(derivative(LOG_LOSS, -1.0, 1.0, 0.0))  # score 0: -2 y sigmoid(0)
    -1.0
    """
    if kind >= LOG_LOSS:
        z = y * r + 1.0
        if kind == LOG_LOSS:  # -2 y sigmoid(-z), without overflow
            if z >= 0.0:
                e = np.exp(-z)
                return -2.0 * y * e / (1.0 + e)
            return -2.0 * y / (1.0 + np.exp(z))
        if kind == SQUARED_HINGE:
            return -4.0 * y * max(1.0 - z, 0.0)
        if kind == MODIFIED_HUBER:
            if z < -1.0:
                return -8.0 * y
            return -4.0 * y * max(1.0 - z, 0.0)
        # At the kink too the full slope, as scikit-learn's, so that a
        # perceptron started at 0 moves.
        if z <= (1.0 if kind == HINGE else 0.0):
            return -2.0 * y
        return 0.0
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


def _margins(r, y):
    """The margins y (r + y) of residuals r at labels y (arrays, float64)."""
    return np.asarray(y, dtype=np.float64) * r + 1.0


def values(kind, r, y, parameter):
    """:func:`value` on arrays of residuals and targets (float64)."""
    r = np.asarray(r, dtype=np.float64)
    if kind >= LOG_LOSS:
        z = _margins(r, y)
        if kind == LOG_LOSS:
            return 2.0 * np.logaddexp(0.0, -z)
        short = np.maximum(1.0 - z, 0.0)
        if kind == SQUARED_HINGE:
            return 2.0 * short * short
        if kind == MODIFIED_HUBER:
            return np.where(z < -1.0, -8.0 * z, 2.0 * short * short)
        return 2.0 * np.maximum((1.0 if kind == HINGE else 0.0) - z, 0.0)
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


def derivatives(kind, r, y, parameter):
    """:func:`derivative` on arrays of residuals and targets (float64)."""
    r = np.asarray(r, dtype=np.float64)
    if kind >= LOG_LOSS:
        y = np.asarray(y, dtype=np.float64)
        z = _margins(r, y)
        if kind == LOG_LOSS:
            return -2.0 * y * _sigmoids(-z)
        short = np.maximum(1.0 - z, 0.0)
        if kind == SQUARED_HINGE:
            return -4.0 * y * short
        if kind == MODIFIED_HUBER:
            return np.where(z < -1.0, -8.0 * y, -4.0 * y * short)
        return np.where(z <= (1.0 if kind == HINGE else 0.0), -2.0 * y, 0.0)
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


def _sigmoids(z):
    """1 / (1 + exp(-z)) of an array, without overflow."""
    return np.exp(-np.logaddexp(0.0, -z))


def curvatures(kind, r, y, parameter):
    """The loss's second derivative at each residual (float64; 0 at and beyond a
    kink, where it has none): what a Newton step or decrement weighs rows by."""
    r = np.asarray(r, dtype=np.float64)
    size = np.abs(r)
    if kind == LOG_LOSS:
        p = _sigmoids(_margins(r, y))
        return 2.0 * p * (1.0 - p)
    if kind in (SQUARED_HINGE, MODIFIED_HUBER):
        z = _margins(r, y)
        inside = (z < 1.0) & ((z >= -1.0) | (kind == SQUARED_HINGE))
        return np.where(inside, 4.0, 0.0)
    if kind == HUBER:
        return np.where(size <= parameter, 2.0, 0.0)
    if kind == SQUARED_EPSILON_INSENSITIVE:
        return np.where(size > parameter, 4.0, 0.0)
    if kind in (EPSILON_INSENSITIVE, QUANTILE, HINGE, PERCEPTRON):
        return np.zeros_like(r)
    return np.full_like(r, 2.0)


def majorizing_curvatures(kind, r, y, parameter):
    """The larger of the second derivative and slope / r at each residual: for
    Huber beyond epsilon 2 epsilon / abs(r), the weight of iteratively
    reweighted least squares, whose quadratic lies above the loss (Huber, 1964),
    so a step on it never raises the objective. Elsewhere the second
    derivative, which is never below slope / r for the regression losses
    (a Newton step on a classification loss is checked by its engine)."""
    curvature = curvatures(kind, r, y, parameter)
    if kind != HUBER:
        return curvature
    size = np.maximum(np.abs(np.asarray(r, dtype=np.float64)), parameter)
    return np.maximum(curvature, 2.0 * parameter / size)


def kernel_loss(name, parameter=0.0):
    """What the kernels take for loss ``name``: None for the squared loss (its
    code as it always was), else the float64 array [kind, parameter] (an array,
    not a tuple of two scalars: numba's parallel loops cannot take a tuple of
    scalars through a nested argument)."""
    kind = KINDS[name]
    if kind == SQUARED_ERROR:
        return None
    return np.array([kind, parameter], dtype=np.float64)
