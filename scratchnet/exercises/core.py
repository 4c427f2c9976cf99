"""The machinery of the lessons' exercises: an exercise, its cases, its known mistakes, and ``check``.

A learner writes a function; ``check`` runs it on every case of the exercise
(float64, small shapes, fixed seeds) against ScratchNet's own reference and
answers in one or two sentences: passed, or the first thing that is wrong
(an exception, the type, the shape, the dtype, the numbers) and, when the
answer matches a known mistake, a hint. Nothing here raises on a wrong or
unwritten answer: a lesson cell that calls ``check`` always runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

EXERCISES: dict = {}


@dataclass(frozen=True)
class Case:
    """One input to try: ``args`` go to both functions, positionally, in the order of the exercise's signature.

    ``hidden`` goes to the reference alone: what it needs to compute the answer independently of the
    formula the learner is asked for (e.g. the weights that produced the logits ``z``).
    """

    label: str
    args: tuple
    hidden: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer (a function with the exercise's signature) and the hint it earns."""

    hint: str
    answer: Callable


@dataclass(frozen=True)
class Exercise:
    """``reference(*case.args)`` is the right answer; ``cases()`` builds the inputs afresh on every check."""

    name: str
    lesson: str                      # the notebook's stem, e.g. "04_lrn"; its solution is lessons/solutions/<lesson>.py
    signature: str                   # what the learner writes, e.g. "lrn_backward(a, dy, size, alpha, beta, k) -> da"
    cases: Callable[[], list]
    reference: Callable
    mistakes: tuple = field(default=())
    rtol: float = 1e-7
    returns: tuple = field(default=())   # names of the returned values when there are several, e.g. ("dx", "dW", "db")


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found; its repr is the message, so a notebook cell that ends with ``check(...)`` shows it."""

    name: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message

    __str__ = __repr__


def register(exercise: Exercise) -> Exercise:
    if exercise.name in EXERCISES:
        raise ValueError(f"two exercises are named {exercise.name!r}")
    EXERCISES[exercise.name] = exercise
    return exercise


def check(name_or_function, function: Callable | None = None) -> CheckResult:
    """``check("lrn_backward", my_fn)``, or ``check(lrn_backward)`` when the function has the exercise's name."""
    if function is None:
        function, name = name_or_function, getattr(name_or_function, "__name__", "")
    else:
        name = name_or_function
    if name not in EXERCISES:
        raise KeyError(f"no exercise is named {name!r}; the exercises are {', '.join(sorted(EXERCISES))}")
    exercise = EXERCISES[name]
    cases = exercise.cases()
    largest = 0.0
    for case in cases:
        problem, error = _try_case(exercise, function, case)
        if problem:
            verdict = "" if problem.startswith("not written") else "FAILED "
            return CheckResult(name, False, f"{name}: {verdict}{problem}{_hint(exercise, function, case)}")
        largest = max(largest, error)
    return CheckResult(name, True, f"{name}: passed. Your function matches ScratchNet's reference on all "
                                   f"{len(cases)} cases (largest relative error {largest:.1e}).")


def _try_case(exercise: Exercise, function: Callable, case: Case):
    """(what is wrong, or ""; the largest relative error) for one case."""
    expected = exercise.reference(*_copied(case.args), **case.hidden)
    try:
        got = function(*_copied(case.args))
    except NotImplementedError:
        return (f"not written yet (the function raises NotImplementedError). Write {exercise.signature}; "
                f"a reference solution is in lessons/solutions/{exercise.lesson}.py."), 0.0
    except Exception as error:                              # the learner's bug, reported, not re-raised
        return f"on case '{case.label}': it raised {type(error).__name__}: {error}", 0.0
    return compare(expected, got, f"on case '{case.label}'", exercise.rtol, exercise.returns)


def compare(expected, got, where: str, rtol: float, names: tuple = ()):
    """(what is wrong, or ""; the largest relative error) for one answer against the reference's."""
    if not isinstance(expected, tuple):
        return _compare_one(expected, got, where, rtol)
    if not isinstance(got, (tuple, list)) or len(got) != len(expected):
        return f"{where}: it should return {len(expected)} values (a tuple), got {_kind(got)}.", 0.0
    largest = 0.0
    names = names or tuple(f"value {i + 1} of {len(expected)}" for i in range(len(expected)))
    for name, want, have in zip(names, expected, got):
        problem, error = _compare_one(want, have, f"{where}, in the returned {name}", rtol)
        if problem:
            return problem, error
        largest = max(largest, error)
    return "", largest


def _compare_one(expected, got, where: str, rtol: float):
    expected = np.asarray(expected)
    try:
        have = np.asarray(got)
    except (TypeError, ValueError):                          # e.g. a list of arrays of different shapes
        return f"{where}: it returned {_kind(got)}, not an array of numbers.", 0.0
    if expected.shape != have.shape:
        return f"{where}: the shape is {have.shape}, expected {expected.shape}.", 0.0
    if expected.ndim and expected.dtype.kind == "f" and have.dtype != expected.dtype:
        return f"{where}: the dtype is {have.dtype}, expected {expected.dtype} (keep the inputs' dtype).", 0.0
    if have.dtype.kind not in "biuf":
        return f"{where}: it returned {have.dtype} values, expected numbers.", 0.0
    if expected.dtype.kind in "biu":
        return _compare_exact(expected, have, where)
    if not np.all(np.isfinite(have)):
        return f"{where}: the answer contains NaN or inf (the reference's is finite).", 0.0
    return _compare_close(expected, have.astype(np.float64), where, rtol)


def _compare_exact(expected, have, where: str):
    if np.array_equal(expected, have):
        return "", 0.0
    if expected.ndim == 0:
        return f"{where}: got {have.item()}, expected {expected.item()}.", 0.0
    wrong = np.argwhere(expected != have)
    first = tuple(int(i) for i in wrong[0])
    return (f"{where}: {len(wrong)} of {expected.size} entries differ, the first at index {first} "
            f"(got {have[first]}, expected {expected[first]}).", 0.0)


def _compare_close(expected, have, where: str, rtol: float):
    # Errors relative to the answer's largest entry: an entry near zero has no meaningful relative error.
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-12)
    error = np.abs(have - expected)
    relative = float(error.max(initial=0.0)) / scale
    if relative <= rtol:
        return "", relative
    if expected.ndim == 0:
        return f"{where}: got {float(have):.6g}, expected {float(expected):.6g} (relative error {relative:.1e}).", relative
    index = tuple(int(i) for i in np.unravel_index(np.argmax(error), error.shape))
    return (f"{where}: largest error {error[index]:.2e} at index {index} (got {have[index]:.6g}, expected "
            f"{expected[index]:.6g}); relative to the largest entry {relative:.1e}, tolerance {rtol:.0e}.", relative)


def _hint(exercise: Exercise, function: Callable, case: Case) -> str:
    """ " Hint: ..." when the learner's answer on this case is one of the exercise's known mistakes."""
    try:
        got = function(*_copied(case.args))
    except Exception:
        return ""
    for mistake in exercise.mistakes:
        if _same(mistake.answer(*_copied(case.args)), got):
            return f" Hint: {mistake.hint}"
    return ""


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or b.dtype.kind not in "biuf":
        return False
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12 * max(1.0, float(np.abs(a).max(initial=0.0))),
                            equal_nan=True))


def _copied(args: tuple) -> tuple:
    # A function that writes into its inputs must not change the reference's, nor the next case's.
    return tuple(copy.deepcopy(arg) for arg in args)


def _kind(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"one {type(value).__name__}"
