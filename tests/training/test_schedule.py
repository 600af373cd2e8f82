"""Warm-up + cosine over a step or wall-clock budget: hand-computed factors."""

from __future__ import annotations

import math

import pytest

from nerveseg.training.schedule import FINAL_FRACTION, budget_progress, warmup_cosine


def test_warmup_rises_linearly_to_the_peak():
    assert [warmup_cosine(s, 4, 0.0) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_cosine_falls_from_the_peak_to_the_final_fraction():
    assert warmup_cosine(10, 0, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 0, 0.5) == pytest.approx(FINAL_FRACTION + (1 - FINAL_FRACTION) / 2)
    assert warmup_cosine(10, 0, 1.0) == pytest.approx(FINAL_FRACTION)
    assert warmup_cosine(10, 0, 3.0) == pytest.approx(FINAL_FRACTION)  # past the end: held


def test_progress_is_the_larger_of_steps_and_time():
    assert budget_progress(50, 100, 10, 60) == 0.5
    assert budget_progress(50, 100, 45, 60) == 0.75  # the clock runs out first
    assert budget_progress(50, math.inf, 30, 60) == 0.5  # no step budget
    assert budget_progress(50, 200, 30, 0) == 0.25  # no time budget
