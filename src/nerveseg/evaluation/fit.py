"""Choose post-processing on held-out predictions, one step at a time, by the competition score.

nnU-Net style: the steps are tried greedily in a fixed order, each over a short grid that
includes the current value, and a step's best value is kept only when its gain over the current
setting beats both ``margin`` (default half a frame's worth, ``0.5 / frames``) and the gain's
own standard error (the spread of the per-frame differences over sqrt(frames)). On a small
validation set a gain below its noise is chance, not skill; and a coarse grid gives chance
few chances to look like skill in the first place.

Scoring a setting on every frame is :class:`~nerveseg.evaluation.frame_scorer.FrameScorer`'s
job, which caches what the search asks for again and again.

The dense CRF (:mod:`nerveseg.crf`) is the last step, when the scorer has the frames at the
network's size: it must beat the cheap steps already fitted, not do their work (removing
small false blobs is the minimum area's job). Its settings are tried jointly with the
threshold, as it sharpens the probabilities the threshold was fitted on.

A run's post-processing is fitted with this search, one structure at a time, by
:func:`nerveseg.evaluation.fit_run.fit_run_postprocess`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nerveseg.evaluation.frame_scorer import FrameScorer
from nerveseg.postprocess import PostprocessParams

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
# Fractions of the frame's area: 0.2% .. 2.4% is ~500 .. 5,800 pixels of a 580x420 frame.
MIN_AREA_FRACTIONS = (0.0, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.024)
# Kaggle nerves cover up to ~7% of the frame; larger blobs are confusion, not nerve.
MAX_AREA_FRACTIONS = (0.0, 0.08, 0.12, 0.16)
# Fractions of the frame's width: ~6 and ~12 pixels at 580.
CLOSING_FRACTIONS = (0.0, 0.01, 0.02)
PRESENCE_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)
# The dense CRF: pairwise weight x kernel width (fractions of the network's input width: ~1.6
# and ~3.2 px at 160) x intensity width (grey levels), each with every threshold of
# CRF_THRESHOLDS: where most of a neighbourhood is background (most of a frame) the CRF lowers
# the probabilities, and on the real sample its best threshold was 0.1-0.2.
CRF_WEIGHTS = (1.0, 2.0, 4.0)
CRF_SPATIAL_FRACTIONS = (0.01, 0.02)
CRF_INTENSITY_SIGMAS = (10.0, 25.0)
CRF_THRESHOLDS = (0.1, 0.2, *THRESHOLDS)


@dataclass
class StepResult:
    """One greedy step: every value tried with its score, and what was kept."""

    step: str
    tried: list[tuple[Any, float]]
    chosen: Any
    kept: bool
    score: float
    dice_nerve: float


@dataclass
class FitResult:
    """The chosen parameters and the score before and after every step."""

    params: PostprocessParams
    start: PostprocessParams
    start_score: float
    start_dice_nerve: float
    steps: list[StepResult]
    frames: int
    nerve_frames: int
    margin: float
    source: str
    all_empty_score: float
    postprocess_seconds_per_frame: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.steps[-1].score if self.steps else self.start_score

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "frames": self.frames,
            "nerve_frames": self.nerve_frames,
            "margin": self.margin,
            "all_empty_score": self.all_empty_score,
            "start": {
                "params": self.start.to_dict(),
                "score": self.start_score,
                "dice_nerve": self.start_dice_nerve,
            },
            "steps": [
                {**dataclasses.asdict(s), "tried": [[v, score] for v, score in s.tried]}
                for s in self.steps
            ],
            "score": self.score,
            "postprocess_seconds_per_frame": self.postprocess_seconds_per_frame,
            **self.extra,
        }


def step_grids(
    shape: tuple[int, int], has_presence: bool, network_width: int | None = None
) -> list[tuple[str, tuple]]:
    """The greedy order and each step's grid, areas and radii scaled to a ``(H, W)`` frame.

    With ``network_width`` (the network's input width) the CRF step comes last; its values are
    mappings of the ``crf_*`` fields and the threshold.
    """
    frame_area = shape[0] * shape[1]
    steps = [
        ("threshold", THRESHOLDS),
        ("min_area", tuple(_round_area(f * frame_area) for f in MIN_AREA_FRACTIONS)),
        ("keep_largest", (False, True)),
        ("convex_hull", (False, True)),
        ("fill_holes", (False, True)),
        ("closing_radius", tuple(round(f * shape[1]) for f in CLOSING_FRACTIONS)),
        ("max_area", tuple(_round_area(f * frame_area) for f in MAX_AREA_FRACTIONS)),
    ]
    if has_presence:
        steps.append(("presence_threshold", PRESENCE_THRESHOLDS))
    if network_width:
        steps.append(("crf", crf_grid(network_width)))
    return steps


def crf_grid(network_width: int) -> tuple[dict[str, float], ...]:
    """The CRF step's settings, each with every threshold; kernel widths scaled to the width."""
    return tuple(
        {
            "crf_weight": weight,
            "crf_spatial_sigma": round(fraction * network_width, 1),
            "crf_intensity_sigma": intensity,
            "threshold": threshold,
        }
        for weight in CRF_WEIGHTS
        for fraction in CRF_SPATIAL_FRACTIONS
        for intensity in CRF_INTENSITY_SIGMAS
        for threshold in CRF_THRESHOLDS
    )


def fit_postprocess(
    scorer: FrameScorer,
    start: PostprocessParams,
    frame_shape: tuple[int, int],
    *,
    margin: float | None = None,
    source: str = "validation",
    crf: bool = True,
    log=None,
) -> FitResult:
    """Greedy search from ``start``; see the module docstring.

    Args:
        scorer: the held-out frames.
        start: where to begin (the model file's threshold and minimum area).
        frame_shape: ``(H, W)`` of the frames, to scale the area and radius grids.
        margin: the least gain a step must bring; default ``0.5 / frames``.
        source: what the frames are (written into the result).
        crf: try the dense CRF (when the scorer has the network-size frames).
        log: a ``print``-like callable for one line per step, or None.
    """
    frames = len(scorer.truths)
    margin = 0.5 / max(frames, 1) if margin is None else margin
    params = start
    score, dice_nerve = scorer.summary(params)
    current_values = scorer.per_image(params)
    start_score, start_dice = score, dice_nerve
    if log:
        log(
            f"{'start':<18} {params.describe():<24} score {score:.4f}  dice(nerve) {dice_nerve:.4f}"
        )
    steps = []
    network = scorer.network if crf else None
    width = None if network is None else network.images.shape[-1]
    for name, grid in step_grids(frame_shape, scorer.presence is not None, width):
        current = _value(params, name, grid)
        values = [current, *(v for v in grid if v != current)]
        tried = [(v, scorer.summary(_with(params, name, v))[0]) for v in values]
        best_value, _ = max(tried, key=lambda item: item[1])
        candidate = _with(params, name, best_value)
        kept = best_value != current and _significant(
            scorer.per_image(candidate) - current_values, margin
        )
        if kept:
            params = candidate
            score, dice_nerve = scorer.summary(params)
            current_values = scorer.per_image(params)
        chosen = _value(params, name, grid)
        steps.append(StepResult(name, tried, chosen, kept, score, dice_nerve))
        if log:
            verdict = "kept" if kept else "unchanged"
            setting = f"{describe_value(chosen)} ({verdict})"
            log(f"{name:<18} {setting:<24} score {score:.4f}  dice(nerve) {dice_nerve:.4f}")
    return FitResult(
        params=params,
        start=start,
        start_score=start_score,
        start_dice_nerve=start_dice,
        steps=steps,
        frames=frames,
        nerve_frames=int(scorer.nerve.sum()),
        margin=margin,
        source=source,
        all_empty_score=float((~scorer.nerve).mean()) if frames else float("nan"),
        postprocess_seconds_per_frame=scorer.seconds_per_frame(params),
    )


def describe_value(value: Any) -> str:
    """A step's value as one short phrase: a mapping (the CRF step's) as ``key value`` pairs,
    without the kernel widths of a CRF that is off."""
    if not isinstance(value, dict):
        return str(value)
    off = value.get("crf_weight") == 0
    shown = {k: v for k, v in value.items() if not (off and k.startswith("crf_"))}
    return ", ".join(
        ["crf off"] * off + [f"{k.removeprefix('crf_')} {v}" for k, v in shown.items()]
    )


def _value(params: PostprocessParams, name: str, grid: tuple) -> Any:
    """The current value of step ``name``: a field, or for a step whose values are mappings,
    the mapping of those fields."""
    if grid and isinstance(grid[0], dict):
        return {key: getattr(params, key) for key in grid[0]}
    return getattr(params, name)


def _with(params: PostprocessParams, name: str, value: Any) -> PostprocessParams:
    """``params`` with one step changed; a moved threshold carries the pixel hysteresis along.

    ``pixel_off`` is fitted as a share of the threshold (:mod:`temporal_fit`) and must stay at
    or below it, so a still step that moves the threshold keeps that share.
    """
    changes = value if isinstance(value, dict) else {name: value}
    moved = dataclasses.replace(params, **changes)
    if params.pixel_off and moved.threshold != params.threshold:
        share = params.pixel_off / params.threshold
        moved = dataclasses.replace(moved, pixel_off=round(share * moved.threshold, 4))
    return moved


def _significant(gains: np.ndarray, margin: float) -> bool:
    """Is the mean of per-frame ``gains`` above ``margin`` and above its standard error?"""
    mean = float(gains.mean())
    # Population std: a step that fixes exactly one frame and harms none passes (its standard
    # error is just under 1 / frames); with ddof=1 it would tie and float rounding would decide.
    error = float(gains.std() / np.sqrt(gains.size))
    return mean > margin and mean > error


def _round_area(value: float) -> int:
    """Areas to two significant figures, so the grid reads well in postprocess.json."""
    if value <= 0:
        return 0
    digits = max(len(str(int(value))) - 2, 0)
    return int(round(value, -digits))
