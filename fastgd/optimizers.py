"""Update rules: plain gradient steps and the adaptive optimizers.

For a parameter w with gradient g, step size eta and update count k (1, 2, ...):

* ``"sgd"``:       w -= eta g
* ``"momentum"``:  v = mu v + g;                       w -= eta v
* ``"nesterov"``:  v = mu v + g;                       w -= eta (g + mu v)
* ``"adagrad"``:   s += g^2;                           w -= eta g / (sqrt(s) + eps)
* ``"rmsprop"``:   s = rho s + (1 - rho) g^2;          w -= eta g / (sqrt(s) + eps)
* ``"adam"``:      m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
                   w -= eta (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)

Defaults are the literature's: mu = 0.9, rho = 0.9, b1 = 0.9, b2 = 0.999,
eps = 1e-8. The L2 penalty is applied as a decoupled weight decay
w = (1 - 2 eta alpha) w before the update (as in AdamW).

The rules are written twice, on purpose, and tested against each other:
:func:`delta` works on one parameter at a time in code that numba compiles (the
kernels package compiles it into the epochs and the batch update; this module
itself never imports numba), and :func:`step` is the vectorized NumPy version the
twins in :mod:`fastgd.reference` use.
"""

import numpy as np

# One table for the string option: name -> code used inside the compiled kernels.
OPTIMIZERS = {
    "sgd": 0,
    "momentum": 1,
    "nesterov": 2,
    "adagrad": 3,
    "rmsprop": 4,
    "adam": 5,
}
DEFAULTS = {"momentum": 0.9, "rho": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def parameters(name):
    """The kernels' parameter vector [momentum or rho or beta1, beta2, eps]."""
    first = {"momentum": "momentum", "nesterov": "momentum", "rmsprop": "rho"}.get(
        name, "beta1"
    )
    return np.array([DEFAULTS[first], DEFAULTS["beta2"], DEFAULTS["eps"]])


def delta(kind, g, state, i, eta, params, count):
    """The step for parameter i with gradient g under optimizer ``kind`` (a code
    of OPTIMIZERS), updating its state ``state[0, i]`` (first moment or velocity)
    and ``state[1, i]`` (second moment). ``params`` is :func:`parameters`' vector;
    ``count`` numbers the update from 1 (Adam's bias correction).

    >>> state, kind = initial_state((1,)), OPTIMIZERS["momentum"]
    >>> float(delta(kind, 2.0, state, 0, 0.1, parameters("momentum"), 1))
    0.2
    """
    if kind == 0:
        return eta * g
    if kind == 1 or kind == 2:
        state[0, i] = params[0] * state[0, i] + g
        if kind == 1:
            return eta * state[0, i]
        return eta * (g + params[0] * state[0, i])
    if kind == 3:
        state[1, i] += g * g
        return eta * g / (np.sqrt(state[1, i]) + params[2])
    if kind == 4:
        state[1, i] = params[0] * state[1, i] + (1.0 - params[0]) * g * g
        return eta * g / (np.sqrt(state[1, i]) + params[2])
    state[0, i] = params[0] * state[0, i] + (1.0 - params[0]) * g
    state[1, i] = params[1] * state[1, i] + (1.0 - params[1]) * g * g
    corrected_first = state[0, i] / (1.0 - params[0] ** count)
    corrected_second = state[1, i] / (1.0 - params[1] ** count)
    return eta * corrected_first / (np.sqrt(corrected_second) + params[2])


def initial_state(shape):
    """Zeroed state for ``shape`` parameters: [first moment / velocity, second
    moment] in float64."""
    return np.zeros((2, *shape))


def step(name, params, grad, state, eta, count, params_vector=None):
    """Apply one update in place: ``params -= delta``; ``state`` is updated too.

    ``params``, ``grad`` share a shape; ``state`` is (2, *shape); ``count`` is the
    number of this update (from 1), used by Adam's bias correction.
    """
    mu_or_beta1, beta2, eps = parameters(name) if params_vector is None else (
        params_vector)  # fmt: skip
    first, second = state[0], state[1]
    if name == "sgd":
        delta = eta * grad
    elif name == "momentum":
        first *= mu_or_beta1
        first += grad
        delta = eta * first
    elif name == "nesterov":
        first *= mu_or_beta1
        first += grad
        delta = eta * (grad + mu_or_beta1 * first)
    elif name == "adagrad":
        second += grad * grad
        delta = eta * grad / (np.sqrt(second) + eps)
    elif name == "rmsprop":
        second *= mu_or_beta1
        second += (1 - mu_or_beta1) * grad * grad
        delta = eta * grad / (np.sqrt(second) + eps)
    elif name == "adam":
        first *= mu_or_beta1
        first += (1 - mu_or_beta1) * grad
        second *= beta2
        second += (1 - beta2) * grad * grad
        corrected_first = first / (1 - mu_or_beta1**count)
        corrected_second = second / (1 - beta2**count)
        delta = eta * corrected_first / (np.sqrt(corrected_second) + eps)
    else:
        raise ValueError(f"optimizer={name!r}; use one of {sorted(OPTIMIZERS)}.")
    params -= delta.astype(params.dtype, copy=False)


# The optimizers whose update is normalized per parameter: a step moves each
# parameter by about eta, whatever the scale of its gradient.
NORMALIZED = ("adagrad", "rmsprop", "adam")
# Their eta0="auto": this fraction of the spread of y per parameter.
NORMALIZED_STEP_FRACTION = 0.1


def auto_step_size(name, plain_step, target_scale, n_parameters, stochastic=True):
    """eta0="auto" for optimizer ``name``, from the stable plain step size
    ``plain_step`` (:func:`fastgd._training.auto_step_size`), the standard
    deviation of y ``target_scale`` and the number of parameters.

    * "sgd": the plain step.
    * "momentum", "nesterov": the velocity sums the gradients with weights mu^k,
      so a steady step is eta / (1 - mu) times the gradient: stochastic steps
      take the plain step times (1 - mu), which keeps the gradient noise they
      add as it was. Full-batch steps keep the plain step: heavy ball is stable
      up to 2 (1 + mu) times it.
    * "adagrad" accumulates every squared gradient, so its steps shrink as
      1 / sqrt(t) by themselves: it starts 10 times larger than the others.
    * "adagrad", "rmsprop", "adam": a step moves a coefficient by about eta, so
      eta must be a distance in the units of the coefficients. In standardized
      coordinates the n coefficients of a least-squares fit share at most the
      spread of y, so each is about std(y) / sqrt(n) and the step is a tenth of
      that. (A step size derived for plain SGD is meaningless here: it has the
      units of 1 / |z|^2.)

    >>> round(auto_step_size("momentum", 0.5, 10.0, 4), 12)
    0.05
    >>> auto_step_size("adam", 0.5, 10.0, 4)
    0.5
    >>> auto_step_size("momentum", 0.5, 10.0, 4, stochastic=False)
    0.5
    """
    if name in ("momentum", "nesterov"):
        return plain_step * (1.0 - DEFAULTS["momentum"]) if stochastic else plain_step
    if name in NORMALIZED:
        spread = max(float(target_scale), np.finfo(np.float64).tiny)
        fraction = NORMALIZED_STEP_FRACTION * (10.0 if name == "adagrad" else 1.0)
        return float(fraction * spread / np.sqrt(n_parameters))
    return plain_step
