"""Exercises for the lessons: ``check("lrn_backward", my_fn)`` holds a learner's function against ScratchNet.

Each lesson ends with exercises; the "write it yourself" ones name a checker
here. ``check`` runs the learner's function on a few small float64 cases
against ScratchNet's own reference and returns a ``CheckResult`` whose repr
is a one- or two-sentence verdict: passed, or what is wrong and, for a known
mistake, a hint. It never raises on a wrong or unwritten answer, so a lesson
cell that calls it always runs. Reference solutions live apart, in
``lessons/solutions/``, one file per lesson.
"""

from __future__ import annotations

# Imported for their effect: each module registers its lesson's exercises in EXERCISES.
from . import (  # noqa: F401
    activations,
    augmentation,
    convolution,
    dropout,
    initialisation,
    looking_inside,
    lrn,
    pooling,
    sgd,
    softmax,
    tour,
    towers,
)
from .core import EXERCISES, Case, CheckResult, Exercise, Mistake, check

__all__ = ["EXERCISES", "Case", "CheckResult", "Exercise", "Mistake", "check", "exercises_of"]


def exercises_of(lesson: str) -> list[Exercise]:
    """The exercises with a checker in one lesson, by the notebook's stem ("04_lrn") or number ("04")."""
    return [e for e in EXERCISES.values() if e.lesson == lesson or e.lesson.split("_")[0] == lesson]
