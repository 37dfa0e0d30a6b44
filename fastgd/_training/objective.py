"""What a fit minimizes, described for training: the loss (:class:`Loss`).

Training never asks a loss's name. It asks the description what it needs:

* ``kernel``: what the kernels take (None for the squared loss, compiled to
  the code it always was; else [kind, parameter] of :mod:`fastgd.losses`);
* ``quadratic``: the objective is a quadratic (squared loss). Only then do the
  Gram route, the exact excess rule g^T H^-1 g / 4 (:mod:`.excess`,
  :mod:`.krylov`), SVRG's difference model (y never read) and conjugate
  gradients apply;
* ``step_factor``: ``eta0="auto"`` is worked out for the squared loss (curvature
  2); a loss whose curvature is bounded by c takes 2 / c of it. A loss with
  kinks (epsilon-insensitive, quantile) has no curvature bound; its slope is
  bounded by 2, as the squared loss's is at a residual of 1 (in the
  standardized units ``eta0="auto"`` works in), so it takes the squared loss's
  step;
* ``zero_model_loss(y)``: the loss of the model that predicts 0, the scale of
  the divergence limit; ``baseline_loss(y)``: that of a constant model, the
  scale ``tol`` is relative to (at the median of y for a regression loss);
* ``classification``: a loss of the margin, whose targets are labels -1 and
  +1 (:class:`fastgd.GDClassifier` encodes the classes so).
"""

from dataclasses import dataclass

import numpy as np

from .. import losses
from .._validation import check_option

# Which loss parameter each loss reads (the others ignore it).
PARAMETER_OF = {
    "huber": "epsilon",
    "epsilon_insensitive": "epsilon",
    "squared_epsilon_insensitive": "epsilon",
    "quantile": "quantile",
}


@dataclass(frozen=True)
class Loss:
    """A checked loss: its name and parameter (see :func:`make_loss`).

    >>> loss = make_loss("huber", epsilon=1.35, quantile=0.5)
    >>> loss.quadratic, loss.step_factor, loss.kernel.tolist()
    (False, 1.0, [1.0, 1.35])
    """

    name: str = "squared_error"
    parameter: float = 0.0

    @property
    def kind(self):
        return losses.KINDS[self.name]

    @property
    def classification(self):
        return self.name in losses.CLASSIFICATION_LOSSES

    @property
    def kernel(self):
        return losses.kernel_loss(self.name, self.parameter)

    @property
    def quadratic(self):
        return self.kind == losses.SQUARED_ERROR

    @property
    def smooth(self):
        return losses.CURVATURE_BOUND[self.kind] > 0

    @property
    def step_factor(self):
        bound = losses.CURVATURE_BOUND[self.kind]
        return 2.0 / bound if bound > 0 else 1.0

    def zero_model_loss(self, y):
        """The mean loss of predicting 0 for every target (unweighted). A margin
        loss that is 0 there (the perceptron, whose minimizer the zero model
        is) gives no scale: its loss a unit margin on the wrong side stands in
        (2 for the perceptron)."""
        Y = np.asarray(y, dtype=np.float64)
        if self.quadratic:
            return float(np.mean(np.square(Y)))
        value = float(np.mean(losses.values(self.kind, -Y, Y, self.parameter)))
        if self.classification and value == 0.0:
            # Scores -y: residuals -2y, margins -1.
            value = float(
                np.mean(losses.values(self.kind, -2.0 * Y, Y, self.parameter))
            )
        return value

    def baseline_loss(self, y):
        """The mean loss of a constant model (unweighted): for a regression loss
        at the median of y, for a classification loss at score 0 (2 log 2 for
        log_loss, 2 for the hinge)."""
        Y = np.asarray(y, dtype=np.float64)
        if self.classification:
            return self.zero_model_loss(Y)
        return self.zero_model_loss(Y - np.median(Y, axis=0))

    def check_targets(self, y):
        """ValueError unless a classification loss's targets are labels -1 and +1
        (a regression loss takes any finite target)."""
        if self.classification and not np.all(np.abs(np.asarray(y)) == 1):
            raise ValueError(
                f"loss={self.name!r} fits labels -1 and +1, and the targets hold "
                "other values; fit fastgd.GDClassifier, which encodes any labels."
            )


def make_loss(name, epsilon, quantile):
    """The :class:`Loss` for the ``loss``, ``epsilon`` and ``quantile`` options,
    each checked (ValueError naming the option and the fix)."""
    check_option("loss", name, losses.KINDS)
    parameter = PARAMETER_OF.get(name)
    if parameter == "epsilon":
        value = _finite_float("epsilon", epsilon)
        if value < 0:
            raise ValueError(
                f"epsilon={epsilon!r} is negative: it is the half-width of the "
                f"residuals loss={name!r} treats as small; use epsilon >= 0."
            )
        return Loss(name, value)
    if parameter == "quantile":
        value = _finite_float("quantile", quantile)
        if not 0.0 < value < 1.0:
            raise ValueError(
                f"quantile={quantile!r} is outside (0, 1): it is the fraction of "
                "the targets the fit puts below its prediction; use a value "
                "strictly between 0 and 1 (0.5: the median)."
            )
        return Loss(name, value)
    return Loss(name)


def _finite_float(option, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{option} must be a number, got {type(value).__name__}.")
    if not np.isfinite(value):
        raise ValueError(f"{option}={value!r} is not finite; pass a finite number.")
    return float(value)
