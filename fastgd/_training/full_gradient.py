"""The exact full gradient and loss of the training objective, in standardized
coordinates: what batch gradient descent steps along, SVRG's snapshot and the
excess-loss rule's measurement all read, through a data source's fused pass or
its Gram statistics."""

import math

import numpy as np


def _gram_gradient(data):
    """The gradient from the centred Gram statistics, O(n^2 k) per call. With
    C = cov(x), c = cov(x, y), the means xbar, ybar and the mean residual
    delta = xbar.theta + b - ybar: grad = 2 (C theta - c + xbar delta),
    dJ/db = 2 delta and loss = theta^T C theta - 2 theta^T c + var(y) + delta^2.
    Centred sums keep an offset in y or in a column (1e12 times its spread)
    from cancelling the loss and the gradient."""
    statistics = data.gram_statistics()
    covariance, cross, x_mean, y_mean, y_variance = statistics
    if data.y.ndim == 1:  # the common case, in as few NumPy calls as possible
        cross_1 = cross[:, 0]
        y_mean_1, y_variance_1 = float(y_mean[0]), float(y_variance[0])

        def gradient_single(coef, intercept):
            delta = float(x_mean @ coef) + float(intercept[0]) - y_mean_1
            C_coef = covariance @ coef
            grad = C_coef - cross_1
            grad += delta * x_mean
            grad *= 2.0
            loss = (float(coef @ C_coef) - 2.0 * float(coef @ cross_1)
                    + y_variance_1 + delta * delta)  # fmt: skip
            return grad, np.array([2.0 * delta]), loss

        return gradient_single

    def gradient(coef, intercept):
        C = coef.reshape(len(coef), -1)
        delta = x_mean @ C + intercept - y_mean
        C_coef = covariance @ C
        grad = 2.0 * (C_coef - cross + np.outer(x_mean, delta))
        loss = (np.sum(C * C_coef, axis=0) - 2.0 * np.sum(C * cross, axis=0)
                + y_variance + delta**2)  # fmt: skip
        return grad, 2.0 * delta, float(np.mean(loss))

    return gradient


# Measured excesses before the contraction predicts how many evaluations are
# left (note_excess): two contractions, since the first alone says little about
# an accelerated method, whose momentum builds up.
PREDICTING_AFTER = 3


class FullGradient:
    """The exact training loss and gradient at coefficients in z units, in z units
    (float64): through the source's fused pass (``strategy="pass"``) or the Gram
    statistics (``"gram"``, formed when first used; the squared loss only). ``loss``:
    the kernels' loss (None: squared).

    The source computes in the original units; the chain rule brings the gradient
    back: scale * (grad_theta - shift dJ/db).
    """

    def __init__(self, data, impl, strategy="pass", gram_after=None,
                 unit="iteration", loss=None):  # fmt: skip
        self.data, self.impl, self.loss = data, impl, loss
        self.use(strategy)
        # strategy="auto"'s ski-rental switch (see strategy.plan_batch_strategy):
        # "gram" from evaluation gram_after + 1 on; ``described`` says what ran,
        # counting evaluations as the engine's ``unit``.
        self.gram_after, self.evaluations, self._unit = gram_after, 0, unit
        self.described = strategy
        self._excesses = []  # the relative excess measured after each evaluation
        # The standardization in float64, shaped for coef.
        column = (slice(None),) if data.y.ndim == 1 else (slice(None), None)
        self._scale = data.scale.astype(np.float64)[column]
        self._shift = data.shift.astype(np.float64)

    def use(self, strategy):
        data = self.data
        self.strategy = strategy
        if strategy == "gram":
            self._gradient = _gram_gradient(data)
        else:
            # The squared loss is asked as before the losses came: a source
            # written for it alone keeps working.
            extra = () if self.loss is None else (self.loss,)
            self._gradient = data.source.gradient_pass(
                data.sample_weight, data.train_weight, self.impl, *extra
            )

    def note_excess(self, excess, tol):
        """Switch to X^T X early where the excess measured so far says the fit
        will run past the ski-rental switch anyway: from the third
        measurement on, the mean contraction per evaluation so far predicts
        the evaluations left to ``tol``; once the fit would run past
        ``gram_after`` (the evaluations that pay for X^T X,
        :func:`~fastgd._training.strategy.plan_batch_strategy`) and form it
        there, the next evaluation forms it. A plan for what the data does,
        where the plan's lower bound knows only ``tol`` (a slow,
        ill-conditioned fit: 3 passes before X^T X rather than
        ``gram_after``)."""
        if self.gram_after is None or not (0.0 < excess < np.inf):
            return
        self._excesses.append(excess)
        first, count = self._excesses[0], len(self._excesses)
        if count < PREDICTING_AFTER or excess <= tol:
            return
        contraction = (excess / first) ** (1.0 / (count - 1))
        left = (np.inf if contraction >= 1.0
                else math.log(excess / tol) / -math.log(contraction))  # fmt: skip
        if self.evaluations + left >= self.gram_after:
            self.gram_after = self.evaluations

    def __call__(self, coef, intercept):
        """(grad, grad_intercept, loss) at (coef, intercept) in z units."""
        if self.gram_after is not None and self.evaluations >= self.gram_after:
            self.use("gram")
            self.described = f"pass, then gram from {self._unit} {self.evaluations + 1}"
            self.gram_after = None
        self.evaluations += 1
        scale, shift = self._scale, self._shift
        # to_original_units, inlined: this runs once per iteration.
        theta = scale * coef
        # Not shift @ theta: BLAS would wake OpenBLAS's threads, which then spin
        # for ~0.1 s on the cores the next parallel kernel needs (a sparse
        # gradient at 100,000 x 20,000: 1.3 -> 8 ms).
        shifted = np.add.reduce(shift * theta if theta.ndim == 1 else
                                shift[:, None] * theta, axis=0)  # fmt: skip
        grad, grad_b, loss = self._gradient(theta, intercept - shifted)
        shift_term = np.multiply.outer(shift, grad_b).reshape(grad.shape)
        return scale * (grad - shift_term), np.array(grad_b, dtype=np.float64), loss


def shared_pass(data, impl, loss=None):
    """The fit's one :class:`FullGradient` by passes for ``impl`` (and the
    kernels' ``loss``, None: squared), shared by
    everything that measures (the stochastic engines' measuring pass, SVRG's
    snapshot, the excess estimates and the stop's certificate): one set of the
    source's pass buffers (per block, n + 1 sums each: 6 MB at 50,000 columns),
    not one each. Its results are fresh arrays, so sharing aliases nothing."""
    key = ("full_gradient", impl, None if loss is None else tuple(loss))
    if key not in data.cache:
        data.cache[key] = FullGradient(data, impl, loss=loss)
    return data.cache[key]
