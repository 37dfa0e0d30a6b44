"""The exact full gradient and loss of the training objective, in standardized
coordinates: what batch gradient descent steps along, SVRG's snapshot and the
excess-loss rule's measurement all read, through a data source's fused pass or
its Gram statistics."""

import numpy as np


def _gram_gradient(data):
    """The gradient from the Gram statistics, O(n^2 k) per call. With
    G = X^T X / W, c = X^T y / W and the means xbar, ybar:
    grad = 2 (G theta + xbar b - c), dJ/db = 2 (xbar.theta + b - ybar), and
    loss = theta^T G theta + 2 b xbar.theta + b^2 - 2 theta^T c - 2 b ybar
    + mean(y^2)."""
    gram, cross, x_mean, y_mean, y_square = data.source.gram_statistics(
        data.sample_weight
    )
    if data.y.ndim == 1:  # the common case, in as few NumPy calls as possible
        cross_1 = cross[:, 0]
        y_mean_1, y_square_1 = float(y_mean[0]), float(y_square[0])

        def gradient_single(coef, intercept):
            b = float(intercept[0])
            G_coef = gram @ coef
            x_coef = float(x_mean @ coef)
            grad = G_coef - cross_1
            grad += b * x_mean
            grad *= 2.0
            grad_b = 2.0 * (x_coef + b - y_mean_1)
            loss = (float(coef @ G_coef) + 2.0 * b * x_coef + b * b
                    - 2.0 * float(coef @ cross_1) - 2.0 * b * y_mean_1
                    + y_square_1)  # fmt: skip
            return grad, np.array([grad_b]), loss

        return gradient_single

    def gradient(coef, intercept):
        C = coef.reshape(len(coef), -1)
        G_coef = gram @ C
        x_coef = x_mean @ C
        grad = 2.0 * (G_coef + np.outer(x_mean, intercept) - cross)
        grad_b = 2.0 * (x_coef + intercept - y_mean)
        loss = (
            np.sum(C * G_coef, axis=0) + 2.0 * intercept * x_coef + intercept**2
            - 2.0 * np.sum(C * cross, axis=0) - 2.0 * intercept * y_mean + y_square
        )  # fmt: skip
        return grad, grad_b, float(np.mean(loss))

    return gradient


class FullGradient:
    """The exact training loss and gradient at coefficients in z units, in z units
    (float64): through the source's fused pass (``strategy="pass"``) or the Gram
    statistics (``"gram"``, formed when first used).

    The source computes in the original units; the chain rule brings the gradient
    back: scale * (grad_theta - shift dJ/db).
    """

    def __init__(self, data, impl, strategy="pass"):
        self.data, self.impl = data, impl
        self.use(strategy)
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
            self._gradient = data.source.gradient_pass(
                data.sample_weight, data.train_weight, self.impl
            )

    def __call__(self, coef, intercept):
        """(grad, grad_intercept, loss) at (coef, intercept) in z units."""
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
