"""What a fit adds to its loss, described for training: the penalty.

The objective is fastgd's loss (twice scikit-learn's) plus ``alpha`` R(coef)
with scikit-learn's R, doubled the same way, so that the same ``alpha`` gives
``SGDRegressor``'s minimizer:

* ``"l2"``: alpha |coef|^2;
* ``"l1"``: 2 alpha |coef|_1;
* ``"elasticnet"``: 2 alpha l1_ratio |coef|_1 + alpha (1 - l1_ratio) |coef|^2;
* ``positive=True``: coef >= 0 as well (scikit-learn's ``Lasso(positive=True)``).

R applies to the coefficients **in the user's units**. Training works in z units,
z = (x - shift) * scale, where the user's coefficient is scale_j w_j, so in z
units the penalty weighs coefficient j by scale_j (the L1 term) and scale_j^2
(the L2 term): standardization is a preconditioner, never a change of the
objective. :meth:`Penalty.in_z_units` makes that translation once per fit;
everything else reads the :class:`ZPenalty` it returns:

* ``value``, ``subgradient`` (the minimum-norm subgradient of the penalized
  objective: the gradient where the penalty is smooth, what measures a
  proximal method's distance to stationarity where it is not);
* ``prox``: the proximal step of a step size, soft-thresholding and the L2
  shrink in closed form, so that a large weight (a column of tiny scale) never
  makes the step unstable;
* ``legacy``: an L2 penalty (or none) on unscaled coordinates, which the kernels
  and the batch steps apply as the decay 1 - 2 eta alpha they always did, bit
  for bit.
"""

from dataclasses import dataclass

import numpy as np

from .._validation import check_alpha, check_real

PENALTIES = (None, "l2", "l1", "elasticnet")


@dataclass(frozen=True)
class Penalty:
    """A checked penalty (see :func:`make_penalty`).

    >>> penalty = make_penalty("elasticnet", alpha=0.1, l1_ratio=0.5)
    >>> penalty.ridge, penalty.lasso, penalty.smooth
    (0.05, 0.1, False)
    """

    name: str | None = None
    alpha: float = 0.0
    l1_ratio: float = 0.15
    positive: bool = False

    @property
    def l1_share(self):
        return {None: 0.0, "l2": 0.0, "l1": 1.0}.get(self.name, self.l1_ratio)

    @property
    def ridge(self):
        """The factor of |coef|^2 (user's units)."""
        return 0.0 if self.name is None else self.alpha * (1.0 - self.l1_share)

    @property
    def lasso(self):
        """The factor of |coef|_1 (user's units)."""
        return 0.0 if self.name is None else 2.0 * self.alpha * self.l1_share

    @property
    def smooth(self):
        """Differentiable everywhere: no L1 term and no bound."""
        return self.lasso == 0.0 and not self.positive

    def in_z_units(self, scale, coef_ndim=1):
        """The :class:`ZPenalty` for coefficients in z units with the
        standardization's ``scale`` (coefficients of ``coef_ndim`` dimensions:
        2 for several outputs)."""
        scale = np.asarray(scale, dtype=np.float64)
        if self.smooth and np.all(scale == 1.0):
            return ZPenalty(self.ridge, 0.0, False)
        shape = (-1,) + (1,) * (coef_ndim - 1)
        weights = scale.reshape(shape)
        return ZPenalty(self.ridge * weights * weights, self.lasso * np.abs(weights),
                        self.positive)  # fmt: skip

    def proximal_decays(self, etas, dtype):
        """The kernels' proximal decays for step sizes ``etas``: one record a
        step of (shrink 1 - 2 eta ridge, threshold eta lasso, floor 0 with
        ``positive``, else -inf), in the user's units and ``dtype`` (the kernels
        weigh them by each column's scale: :mod:`fastgd._kernels.steps`).
        Without an L2 term the records have no shrink, and the kernels compile
        the step without its division."""
        etas = np.asarray(etas, dtype=np.float64)
        names = ("shrink",) * bool(self.ridge) + ("threshold", "floor")
        decays = np.empty(etas.shape, dtype=[(name, dtype) for name in names])
        if self.ridge:
            decays["shrink"] = 1.0 - 2.0 * self.ridge * etas
        decays["threshold"] = self.lasso * etas
        decays["floor"] = 0.0 if self.positive else -np.inf
        return decays


@dataclass(frozen=True, eq=False)
class ZPenalty:
    """The penalty on z-unit coefficients: sum(ridge w^2) + sum(lasso |w|), and
    w >= 0 when ``positive``. ``ridge``/``lasso`` are scalars or per-coefficient
    weights shaped to broadcast against the coefficients.

    >>> penalty = ZPenalty(0.5, np.array([1.0, 0.0]), False)
    >>> penalty.prox(np.array([3.0, -2.0]), eta=1.0).tolist()
    [1.0, -1.0]
    """

    ridge: object
    lasso: object
    positive: bool

    @property
    def legacy(self):
        """A scalar L2 factor and nothing else: the decay 1 - 2 eta ridge."""
        return np.ndim(self.ridge) == 0 and self.smooth

    @property
    def smooth(self):
        return bool(np.all(self.lasso == 0)) and not self.positive

    @property
    def ridge_diagonal(self):
        """The L2 factors as a scalar or one per coefficient (n,): what the
        curvature's diagonal gains (2 of them; the excess estimates and CG take
        half the curvature)."""
        return self.ridge if np.ndim(self.ridge) == 0 else np.reshape(self.ridge, -1)

    @property
    def has_ridge(self):
        return bool(np.any(self.ridge != 0))

    def value(self, coef):
        coef = np.asarray(coef, dtype=np.float64)
        if np.ndim(self.ridge) == 0:
            total = self.ridge * float(np.sum(np.square(coef)))
        else:
            total = float(np.sum(self.ridge * np.square(coef)))
        if not np.all(self.lasso == 0):
            total += float(np.sum(self.lasso * np.abs(coef)))
        return total

    def gradient(self, coef):
        """The L2 term's gradient, 2 ridge w."""
        return 2.0 * self.ridge * coef

    def subgradient(self, coef, grad):
        """The minimum-norm element of grad + (the penalty's subdifferential) at
        ``coef``, for the loss's gradient ``grad``: 0 only at a minimizer."""
        total = grad + self.gradient(coef) if self.has_ridge else grad
        if self.smooth:
            return total
        lasso = np.broadcast_to(self.lasso, np.shape(coef))
        at_zero = coef == 0
        if self.positive:
            # At 0 the subdifferential is (-inf, lasso]: only a pull upwards
            # beyond the L1 term's is left.
            kink = np.minimum(total + lasso, 0.0)
        else:
            kink = np.sign(total) * np.maximum(np.abs(total) - lasso, 0.0)
        return np.where(at_zero, kink, total + lasso * np.sign(coef))

    def prox(self, coef, eta):
        """argmin_w |w - coef|^2 / (2 eta) + penalty(w): soft-threshold by
        eta lasso (clipped at 0 when ``positive``), then shrink by
        1 / (1 + 2 eta ridge)."""
        threshold = eta * self.lasso
        if self.positive:
            shrunk = np.maximum(coef - threshold, 0.0)
        else:
            shrunk = np.sign(coef) * np.maximum(np.abs(coef) - threshold, 0.0)
        if self.has_ridge:
            shrunk = shrunk / (1.0 + 2.0 * eta * self.ridge)
        return shrunk


def make_penalty(name, alpha, l1_ratio=0.15, positive=False):
    """The :class:`Penalty` for the ``penalty``, ``alpha``, ``l1_ratio`` and
    ``positive`` options, each checked (ValueError naming the option and the
    fix)."""
    if name not in PENALTIES:
        raise ValueError(
            f"penalty={name!r} is not supported; use one of {list(PENALTIES)}."
        )
    alpha = check_alpha(alpha)
    l1_ratio = check_real("l1_ratio", l1_ratio)
    if not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(
            f"l1_ratio={l1_ratio!r} is outside [0, 1]: it is the L1 term's share "
            "of the elastic-net penalty (0: L2 only, 1: L1 only); use a value in "
            "[0, 1]."
        )
    if not isinstance(positive, (bool, np.bool_)):
        raise TypeError(f"positive must be True or False, got {positive!r}.")
    return Penalty(name, alpha, float(l1_ratio), bool(positive))
