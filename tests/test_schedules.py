"""Learning-rate schedules against their formulas, and how the solvers use them."""

import math

import numpy as np
import pytest

from fastgd import fit_batch, fit_minibatch, fit_sgd, schedules

from .conftest import make_problem

STEPS = np.array([0, 1, 10, 1000])

CASES = [
    ("constant", schedules.constant(0.3), lambda t: 0.3),
    ("annealing", schedules.annealing(5, 50), lambda t: 5 / (t + 50)),
    ("annealing-2", schedules.annealing(1.0, 2.0), lambda t: 1.0 / (t + 2.0)),
]


@pytest.mark.parametrize(
    "schedule, formula", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_schedule_matches_its_formula(schedule, formula):
    expected = [formula(t) for t in STEPS]
    np.testing.assert_allclose(schedule(STEPS), expected, rtol=1e-15)
    assert float(schedule(7)) == pytest.approx(formula(7), rel=1e-15)


@pytest.mark.parametrize(
    "factory, args", [(schedules.constant, (0,)), (schedules.annealing, (1, -1))]
)
def test_schedule_factories_reject_bad_values(factory, args):
    with pytest.raises(ValueError, match="> 0"):
        factory(*args)


def test_named_annealing_starts_at_eta0_and_halves_after_one_epoch():
    schedule = schedules.resolve("annealing", 0.2, steps_per_epoch=100)
    assert schedule(0) == pytest.approx(0.2)
    assert schedule(100) == pytest.approx(0.1)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"\['adaptive', 'annealing', 'constant', 'invscaling'\]"
    ):
        schedules.resolve("optimal", 0.1, 10)


def test_step_sizes_accepts_scalar_only_callables():
    values = schedules.step_sizes(lambda t: 1.0 / math.sqrt(t + 1), 3, 2)
    np.testing.assert_allclose(values, [1 / 2, 1 / math.sqrt(5)])


def test_step_sizes_rejects_non_positive_values():
    with pytest.raises(ValueError, match="t=2"):
        schedules.step_sizes(lambda t: 1.0 - 0.5 * t, 0, 4)


@pytest.mark.parametrize(
    "fit, steps_per_epoch",
    [
        (lambda X, y, **kw: fit_sgd(X, y, **kw), 40),
        (lambda X, y, **kw: fit_minibatch(X, y, batch_size=16, **kw), 3),
        (lambda X, y, **kw: fit_batch(X, y, **kw), 1),
    ],
    ids=["sgd counts samples", "minibatch counts batches", "batch counts iterations"],
)
def test_what_t_counts(fit, steps_per_epoch):
    """A callable schedule sees every step t exactly once, in order."""
    X, y, _ = make_problem(m=40, n=2)
    seen = []

    def recording(t):
        seen.extend(np.atleast_1d(t).tolist())
        return np.full(np.shape(t), 0.01)

    result = fit(X, y, learning_rate=recording, max_iter=3, tol=None)
    assert seen == list(range(3 * steps_per_epoch))
    assert result.n_steps == 3 * steps_per_epoch


def test_callable_schedule_equals_the_named_one():
    X, y, _ = make_problem(m=50, n=3)
    named = fit_sgd(
        X, y, learning_rate="annealing", eta0=0.02, max_iter=3, tol=None, random_state=0
    )
    explicit = fit_sgd(
        X,
        y,
        learning_rate=schedules.annealing(0.02 * 50, 50),
        max_iter=3,
        tol=None,
        random_state=0,
    )
    np.testing.assert_array_equal(named.coef, explicit.coef)
