"""Learning-rate schedules against their formulas, and how the solvers use them."""

import math
import re

import numpy as np
import pytest

from fastgd import fit_batch, fit_minibatch, fit_sgd, schedules

from .conftest import make_problem

STEPS = np.array([0, 1, 10, 1000])

CASES = [
    ("constant", schedules.constant(0.3), lambda t: 0.3),
    ("annealing", schedules.annealing(5, 50), lambda t: 5 / (t + 50)),
    ("annealing-2", schedules.annealing(1.0, 2.0), lambda t: 1.0 / (t + 2.0)),
    ("invscaling", schedules.invscaling(0.5, 0.25), lambda t: 0.5 / (t + 1) ** 0.25),
    ("inverse_time", schedules.inverse_time(0.5, 0.1), lambda t: 0.5 / (1 + 0.1 * t)),
    ("exponential", schedules.exponential(0.5, 0.9), lambda t: 0.5 * 0.9**t),
    ("natural_exp", schedules.natural_exp(0.5, 0.01),
     lambda t: 0.5 * math.exp(-0.01 * t)),
    ("cosine", schedules.cosine(0.5, 100, eta_min=0.01),
     lambda t: 0.01 + 0.49 * 0.5 * (1 + math.cos(math.pi * min(t, 100) / 100))),
    ("piecewise", schedules.piecewise_constant([1, 10], [0.3, 0.2, 0.1]),
     lambda t: 0.3 if t < 1 else 0.2 if t < 10 else 0.1),
    ("join", schedules.join([schedules.constant(0.2), schedules.inverse_time(0.1, 1.0)],
                            [10]),
     lambda t: 0.2 if t < 10 else 0.1 / (1 + (t - 10))),
]  # fmt: skip


@pytest.mark.parametrize(
    "schedule, formula", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_schedule_matches_its_formula(schedule, formula):
    expected = [formula(t) for t in STEPS]
    np.testing.assert_allclose(schedule(STEPS), expected, rtol=1e-15)
    assert float(schedule(7)) == pytest.approx(formula(7), rel=1e-15)


@pytest.mark.parametrize(
    "factory, args, words",
    [
        (schedules.constant, (0,), "> 0"),
        (schedules.annealing, (1, -1), "> 0"),
        (schedules.invscaling, (1, -0.5), "power_t"),
        (schedules.inverse_time, (1, -0.1), ">= 0"),
        (schedules.exponential, (1, 1.5), "<= 1"),
        (schedules.natural_exp, (-1, 0.1), "> 0"),
        (schedules.cosine, (1, 10, 2.0), "must not exceed"),
        (schedules.piecewise_constant, ([1, 2], [0.1]), "len(values)"),
        (schedules.piecewise_constant, ([2, 1], [0.1, 0.1, 0.1]), "increasing"),
        (schedules.join, ([schedules.constant(1)], [5]), "len(schedules)"),
    ],
)
def test_schedule_factories_reject_bad_values(factory, args, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        factory(*args)


def test_a_joined_schedule_drives_a_fit():
    X, y, _ = make_problem(m=50, n=2)
    warm_then_decay = schedules.join(
        [schedules.constant(0.01), schedules.exponential(0.01, 0.999)], [100]
    )
    result = fit_sgd(X, y, learning_rate=warm_then_decay, max_iter=5, tol=None,
                     random_state=0)  # fmt: skip
    assert np.all(np.isfinite(result.coef)) and result.n_steps == 250


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
