"""The temporal filter on hand-made sequences with hand-computed results."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nerveseg.errors import ConfigError
from nerveseg.postprocess import PostprocessParams
from nerveseg.temporal import TemporalFilter, is_temporal, stream_mask


def run(params: PostprocessParams, peaks: list[float], presence=None) -> list:
    """Feed 1x2 frames whose peak is each value of ``peaks`` (the other pixel is 0)."""
    smoother = TemporalFilter(params)
    steps = []
    for i, peak in enumerate(peaks):
        step = smoother.step(np.array([[peak, 0.0]]), None if presence is None else presence[i])
        steps.append(dataclasses.replace(step, probabilities=step.probabilities.copy()))
    return steps


def test_defaults_are_off_and_old_files_load():
    params = PostprocessParams.from_dict({"threshold": 0.4, "min_area": 10})  # an old file
    assert (params.ema_alpha, params.presence_on, params.presence_off) == (1.0, 0.0, 0.0)
    assert not is_temporal(params)
    steps = run(params, [0.8, 0.0, 0.4])
    assert [s.probabilities[0, 0] for s in steps] == pytest.approx([0.8, 0.0, 0.4])
    assert all(s.on for s in steps)


def test_moving_average_by_hand():
    # alpha 0.5: 0.8; 0.5*0.0 + 0.5*0.8 = 0.4; 0.5*0.4 + 0.5*0.4 = 0.4; 0.5*1.0 + 0.5*0.4 = 0.7
    steps = run(PostprocessParams(ema_alpha=0.5), [0.8, 0.0, 0.4, 1.0], presence=[1, 0, 0, 1])
    assert [s.probabilities[0, 0] for s in steps] == pytest.approx([0.8, 0.4, 0.4, 0.7])
    # presence averages the same way: 1, 0.5, 0.25, 0.625; and is the score
    assert [s.presence for s in steps] == pytest.approx([1.0, 0.5, 0.25, 0.625])
    assert [s.score for s in steps] == pytest.approx([1.0, 0.5, 0.25, 0.625])


def test_hysteresis_by_hand():
    # on at 0.6, off below 0.3; the score without a presence head is the peak probability
    params = PostprocessParams(presence_on=0.6, presence_off=0.3)
    steps = run(params, [0.5, 0.7, 0.4, 0.31, 0.2, 0.5, 0.65])
    assert [s.on for s in steps] == [False, True, True, True, False, False, True]


def test_stream_mask_empties_off_frames_and_hysteresis_replaces_the_presence_gate():
    prob = np.zeros((4, 4), dtype=np.float32)
    prob[1:3, 1:3] = 0.9
    params = PostprocessParams(presence_threshold=0.8, presence_on=0.6, presence_off=0.3)
    on, off = TemporalFilter(params).step(prob, 0.5), None
    assert on.on is False  # 0.5 < 0.6: not yet on
    assert not stream_mask(prob, params, on).any()
    smoother = TemporalFilter(params)
    smoother.step(prob, 0.7)  # switches on
    off = smoother.step(prob, 0.5)  # stays on (>= 0.3) although below presence_threshold 0.8
    assert off.on and stream_mask(prob, params, off).sum() == 4


def test_off_threshold_above_on_threshold_is_refused():
    with pytest.raises(ConfigError, match="presence_off"):
        PostprocessParams.from_dict({"presence_on": 0.4, "presence_off": 0.6})
    with pytest.raises(ConfigError, match="ema_alpha"):
        PostprocessParams.from_dict({"ema_alpha": 0.0})
