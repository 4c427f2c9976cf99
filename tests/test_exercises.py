"""The lessons' exercises: every checker passes its reference solution and fails wrong answers, saying why.

Solutions live in ``lessons/solutions/NN_name.py`` (one per lesson, loaded
here by path); each registered mistake must fail with its own hint, and a
few generic wrong answers (slightly off, wrong dtype, wrong shape, a stub)
must fail with the matching sentence. The notebooks are checked too: each
ends with an Exercises section of 2 to 4 items, and calls the checkers of
its lesson by their registered names.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from scratchnet.exercises import EXERCISES, check, exercises_of

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
SOLUTIONS_DIR = LESSONS_DIR / "solutions"
NOTEBOOKS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.ipynb"))
NAMES = sorted(EXERCISES)


def solution(name: str):
    exercise = EXERCISES[name]
    path = SOLUTIONS_DIR / f"{exercise.lesson}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{exercise.lesson}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _transform(output, change):
    """Apply ``change`` to every returned array (or to the one), keeping the tuple structure."""
    if isinstance(output, tuple):
        return tuple(change(np.asarray(value)) for value in output)
    return change(np.asarray(output))


def _wrapped(function, change):
    return lambda *args: _transform(function(*args), change)


def _slightly_off(value):
    return value + 1 if value.dtype.kind in "iu" else value * (1 + 1e-4) + 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_passes(name):
    result = check(name, solution(name))
    assert result.passed, result.message
    assert result.message.startswith(f"{name}: passed")


@pytest.mark.parametrize("name", NAMES)
def test_every_known_mistake_fails_with_its_hint(name):
    exercise = EXERCISES[name]
    assert exercise.mistakes, f"{name}: no known mistake to test the checker against"
    for mistake in exercise.mistakes:
        result = check(name, mistake.answer)
        assert not result.passed, f"{name}: the mistake {mistake.hint!r} passed"
        assert result.message.startswith(f"{name}: FAILED on case '")
        assert f"Hint: {mistake.hint}" in result.message, result.message


@pytest.mark.parametrize("name", NAMES)
def test_generic_wrong_answers_fail_and_say_why(name):
    right = solution(name)
    off = check(name, _wrapped(right, _slightly_off))
    assert not off.passed and re.search(r"largest error|got .+, expected|entries differ", off.message), off.message

    reshaped = check(name, _wrapped(right, lambda value: value[..., None]))
    assert not reshaped.passed and "the shape is" in reshaped.message, reshaped.message

    def stub(*args):
        raise NotImplementedError
    unwritten = check(name, stub)
    assert not unwritten.passed and f"{name}: not written yet" in unwritten.message
    assert f"lessons/solutions/{EXERCISES[name].lesson}.py" in unwritten.message

    def broken(*args):
        raise IndexError("index 7 is out of bounds")
    crashed = check(name, broken)
    assert not crashed.passed and "it raised IndexError: index 7 is out of bounds" in crashed.message


def _returns_float_arrays(name: str) -> bool:
    case = EXERCISES[name].cases()[0]
    output = EXERCISES[name].reference(*case.args, **case.hidden)
    values = output if isinstance(output, tuple) else (output,)
    return any(np.asarray(value).dtype == np.float64 and np.ndim(value) for value in values)


@pytest.mark.parametrize("name", [n for n in NAMES if _returns_float_arrays(n)])
def test_a_changed_dtype_is_named(name):
    result = check(name, _wrapped(solution(name), lambda value: value.astype(np.float32)
                                  if value.dtype.kind == "f" and value.ndim else value))
    assert not result.passed and "the dtype is float32, expected float64" in result.message, result.message


def test_a_function_named_like_its_exercise_needs_no_name():
    conv_cost = solution("conv_cost")
    assert check(conv_cost).passed
    with pytest.raises(KeyError, match="no exercise is named"):
        check("conv_costs", conv_cost)


def test_every_lesson_has_a_solution_file_for_its_checkers():
    lessons = [path.stem for path in NOTEBOOKS]
    assert {exercise.lesson for exercise in EXERCISES.values()} == set(lessons), "a lesson without a checker"
    assert sorted(path.stem for path in SOLUTIONS_DIR.glob("*.py")) == lessons


def _exercise_section(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    start = max(i for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"
                and re.search(r"^## Exercises", "".join(cell["source"]), re.M))
    return ["".join(cell["source"]) for cell in cells[start:]]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_each_lesson_ends_with_exercises_that_call_its_checkers(notebook):
    section = _exercise_section(notebook)
    numbered = re.findall(r"^\*\*Exercise (\d)", "\n".join(section), re.M)
    assert 2 <= len(numbered) <= 4 and numbered == [str(i) for i in range(1, len(numbered) + 1)], numbered
    called = set(re.findall(r"""check\(\s*["']?([a-z_0-9]+)""", "\n".join(section)))   # check(fn) or check("name", fn)
    assert called == {exercise.name for exercise in exercises_of(notebook.stem)}, called
