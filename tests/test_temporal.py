"""The temporal filter on hand-made sequences with hand-computed results."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nerveseg.checkpoint import ModelInfo, load_model, save_model_file
from nerveseg.config import load_config
from nerveseg.errors import ConfigError
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams, load_postprocess, save_postprocess
from nerveseg.temporal import TemporalFilter, is_temporal, without_smoothing


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


def masks(params: PostprocessParams, frames: list, presence=None) -> list[np.ndarray]:
    """Each frame's mask through one filter (frames already at their own size: no resize)."""
    smoother = TemporalFilter(params)
    out = []
    for i, frame in enumerate(frames):
        step = smoother.step(
            np.asarray(frame, dtype=np.float32), None if presence is None else presence[i]
        )
        out.append(smoother.mask(step.probabilities, step))
    return out


def test_the_mask_empties_off_frames_and_hysteresis_replaces_the_presence_gate():
    prob = np.zeros((4, 4), dtype=np.float32)
    prob[1:3, 1:3] = 0.9
    params = PostprocessParams(presence_threshold=0.8, presence_on=0.6, presence_off=0.3)
    smoother = TemporalFilter(params)
    on = smoother.step(prob, 0.5)
    assert on.on is False  # 0.5 < 0.6: not yet on
    assert not smoother.mask(prob, on).any()
    smoother = TemporalFilter(params)
    smoother.step(prob, 0.7)  # switches on
    off = smoother.step(prob, 0.5)  # stays on (>= 0.3) although below presence_threshold 0.8
    assert off.on and smoother.mask(prob, off).sum() == 4


def test_pixel_hysteresis_by_hand_an_edge_pixel_around_the_threshold():
    # A 1x4 strip: a steady core (0.9), an edge pixel wobbling around the threshold 0.5, a
    # pixel that never reaches it, and background. Every frame alone, the edge toggles.
    edge = [0.55, 0.45, 0.55, 0.45, 0.35, 0.25, 0.45, 0.6]
    frames = [[[0.9, e, 0.45, 0.0]] for e in edge]
    alone = masks(PostprocessParams(), frames)
    assert [bool(m[0, 1]) for m in alone] == [True, False, True, False, False, False, False, True]
    # pixel_off 0.3: once in, the edge stays while above 0.3 (0.45, 0.55, 0.45, 0.35), leaves
    # at 0.25, and then needs the threshold again: 0.45 is not enough, 0.6 is.
    held = masks(PostprocessParams(pixel_off=0.3), frames)
    assert [bool(m[0, 1]) for m in held] == [True, True, True, True, True, False, False, True]
    # No lag on the way in, and a pixel never in the mask needs the full threshold: the third
    # pixel (0.45 throughout, above pixel_off) never joins; the core is always in.
    assert all(m[0, 0] and not m[0, 2] and not m[0, 3] for m in held)


def test_pixel_hysteresis_restarts_after_an_empty_mask_and_goes_through_the_shape_steps():
    # min_area 2: a lone held pixel is gated to empty, and then cannot hold on.
    params = PostprocessParams(pixel_off=0.2, min_area=2)
    frames = [[[0.9, 0.9, 0.0]], [[0.3, 0.1, 0.0]], [[0.3, 0.3, 0.0]], [[0.6, 0.6, 0.0]]]
    got = masks(params, frames)
    assert got[0].tolist() == [[True, True, False]]
    assert not got[1].any()  # only the first is held (0.3 > 0.2; 0.1 is not): 1 pixel < 2
    assert not got[2].any()  # nothing was in the mask before: 0.3 needs the threshold
    assert got[3].tolist() == [[True, True, False]]
    # keep_largest sees held and new pixels alike: the held pair beats the new single pixel
    params = PostprocessParams(pixel_off=0.2, keep_largest=True)
    got = masks(params, [[[0.9, 0.9, 0.0, 0.0]], [[0.3, 0.3, 0.0, 0.9]]])
    assert got[1].tolist() == [[True, True, False, False]]


def test_pixel_hysteresis_carries_the_shape_through_frames_presence_hysteresis_hides():
    # on at 0.6, off below 0.3 (presence head); the edge pixel is held through the hidden frame
    params = PostprocessParams(pixel_off=0.3, presence_on=0.6, presence_off=0.3)
    frames = [[[0.9, 0.6]], [[0.9, 0.4]], [[0.9, 0.4]]]
    got = masks(params, frames, presence=[0.9, 0.1, 0.9])
    assert got[0].tolist() == [[True, True]]
    assert not got[1].any()  # hidden: presence 0.1 < 0.3
    assert got[2].tolist() == [[True, True]]  # the edge (0.4 > 0.3) was held while hidden


def test_pixel_off_round_trips_through_postprocess_json_and_the_model_file(tmp_path):
    params = PostprocessParams(threshold=0.5, pixel_off=0.2, ema_alpha=0.8)
    save_postprocess(tmp_path / "postprocess.json", params, {})
    assert load_postprocess(tmp_path / "postprocess.json") == params
    info = ModelInfo("segnet", {"width": 0.0625}, (32, 32), 0.4, 0.2, postprocess=params)
    save_model_file(tmp_path / "model.pt", build_model("segnet", width=0.0625), info)
    assert load_model(tmp_path / "model.pt")[1].postprocess.pixel_off == 0.2
    assert is_temporal(PostprocessParams(pixel_off=0.2))
    assert without_smoothing(params) == PostprocessParams(threshold=0.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"presence_on": 0.4, "presence_off": 0.6}, "presence_off"),
        ({"ema_alpha": 0.0}, "ema_alpha"),
        ({"pixel_off": -0.1}, "pixel_off must be at least 0"),
        ({"pixel_off": 1.5}, "pixel_off must be at least 0 and at most 1"),
        ({"pixel_off": "low"}, "expected a number"),
        ({"threshold": 0.4, "pixel_off": 0.5}, r"pixel_off \(0.5\) must be at most threshold"),
    ],
)
def test_bad_stream_fields_are_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        PostprocessParams.from_dict(data)


def test_a_pixel_off_above_the_threshold_is_refused_in_the_config_too():
    with pytest.raises(ConfigError, match=r"postprocess\.pixel_off \(0\.6\)"):
        load_config("smoke", ["postprocess.pixel_off=0.6"])
    assert load_config("smoke", ["postprocess.pixel_off=0.2"]).postprocess.pixel_off == 0.2
