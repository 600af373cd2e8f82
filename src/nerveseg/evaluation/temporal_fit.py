"""Choose the stream fields (EMA weight, presence and pixel hysteresis) on validation sweeps.

After the still-image steps are fitted (:mod:`nerveseg.evaluation.fit`), each validation
subject's frames are played in order as one sweep through the temporal filter, for every
``ema_alpha`` x ``pixel_off`` x (``presence_on``, ``presence_off``) of a short grid
(``pixel_off`` as shares of the fitted threshold). The setting with the least flicker
(:mod:`nerveseg.flicker`: mask change where the truth barely moves) whose competition score and
Dice on nerve frames are both at most ``max_loss`` (0.01) below the unsmoothed ones wins, and
is kept only when it cuts flicker by at least ``min_cut`` (10%) of the unsmoothed value:
smoothing that does not help is lag for nothing.

The held-out subjects' frames are usually farther apart in time than a video's (a 36-frame
synthetic sweep, or Kaggle's sampled frames), and the EMA weight is per frame: sweeps recorded
at the stream's own rate (``nerveseg fit-postprocess RUN --sweeps DIR``, :func:`video_sweeps`)
fit it better when there are some (:mod:`nerveseg.evaluation.sweeps` reads both).

Cost: one pass over the frames per ``ema_alpha`` (resize back once a frame, then the shape
steps and the pixel hysteresis once per ``pixel_off``: a few ms a frame each); each pass keeps
only per-frame numbers (is the mask empty, its Dice, its change from the frame before, the
presence score), from which every presence hysteresis setting is scored without touching a
mask again. That is exact because the mask a frame hands to the next one's pixel hysteresis
does not depend on whether presence hysteresis shows it (:meth:`TemporalFilter.mask`).
Validation frames carry no clock, so toggles per minute assume ``fps`` (30) frames a second.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nerveseg.evaluation.holdout import HeldOut
from nerveseg.evaluation.sweeps import SweepFrame, sweeps_of
from nerveseg.flicker import Flicker, mask_change, measure_flicker
from nerveseg.inference.predictor import resize_probabilities
from nerveseg.postprocess import PostprocessParams
from nerveseg.temporal import TemporalFilter, stream_settings, without_smoothing

ALPHAS = (1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1)
PIXEL_OFF_SHARES = (0.0, 0.8, 0.6, 0.4, 0.2, 0.1)  # pixel_off = share x threshold; 0 = off
HYSTERESIS = ((0.0, 0.0), (0.5, 0.3), (0.6, 0.3), (0.6, 0.4), (0.7, 0.4), (0.7, 0.5), (0.8, 0.5))
MAX_LOSS = 0.01
MIN_CUT = 0.1
FPS = 30.0


@dataclass(frozen=True)
class TemporalScore:
    """Score, Dice on nerve frames and flicker of one setting over all sweeps."""

    params: PostprocessParams
    score: float
    dice_nerve: float
    flicker: Flicker

    def as_dict(self) -> dict[str, Any]:
        return {
            **stream_settings(self.params),
            "score": self.score,
            "dice_nerve": self.dice_nerve,
            **self.flicker.as_dict(),
        }


@dataclass
class TemporalFit:
    """The chosen stream fields (the baseline's when not kept), the least flickering setting
    within the allowed loss, and every setting tried."""

    params: PostprocessParams
    baseline: TemporalScore
    chosen: TemporalScore
    best: TemporalScore
    kept: bool
    tried: list[TemporalScore]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "baseline": self.baseline.as_dict(),
            "chosen": self.chosen.as_dict(),
            "best_within_loss": self.best.as_dict(),
            "tried": [t.as_dict() for t in self.tried],
            "max_loss": MAX_LOSS,
            "min_cut": MIN_CUT,
            "pixel_off_shares": PIXEL_OFF_SHARES,
            "assumed_fps": FPS,
        }


@dataclass
class _Pass:
    """Per frame, for one ``ema_alpha`` and ``pixel_off``: mask not empty, Dice if shown,
    change, score."""

    nonempty: np.ndarray
    dice: np.ndarray
    change: np.ndarray  # with the frame before, both shown; 0 for a sweep's first frame
    score: np.ndarray
    first: np.ndarray  # True at each sweep's first frame


class SweepScorer:
    """Scores stream settings on sweeps (lists of :class:`SweepFrame` in time order)."""

    def __init__(self, sweeps: Sequence[Sequence[SweepFrame]], fps: float = FPS) -> None:
        self.sweeps = [list(s) for s in sweeps if len(s) > 1]
        self.fps = fps
        frames = [f for s in self.sweeps for f in s]
        self.nerve = np.array([bool(f.truth.any()) for f in frames])
        self.truth_change = np.concatenate(
            [[mask_change(a.truth, b.truth) for a, b in itertools.pairwise(s)] for s in self.sweeps]
        )
        self._passes: dict[tuple[Any, ...], _Pass] = {}

    def evaluate(self, params: PostprocessParams) -> TemporalScore:
        """Play every sweep through the filter with ``params``; score, Dice and flicker."""
        return self.evaluate_all([params])[0]

    def evaluate_all(self, settings: Sequence[PostprocessParams]) -> list[TemporalScore]:
        """:meth:`evaluate` for each of ``settings``, playing the frames once per EMA weight."""
        missing: dict[tuple[Any, ...], dict[tuple[Any, ...], PostprocessParams]] = {}
        for params in settings:
            key = _pass_key(params)
            if key not in self._passes:
                shape = _shape_only(params)
                shared = _pass_key(dataclasses.replace(shape, pixel_off=0.0))
                missing.setdefault(shared, {})[key] = shape
        for group in missing.values():
            self._passes.update(self._play(group))
        return [self._score(params, self._passes[_pass_key(params)]) for params in settings]

    def _score(self, params: PostprocessParams, run: _Pass) -> TemporalScore:
        hysteresis = params.presence_on > 0
        on = _hysteresis(run.score, run.first, params) if hysteresis else np.ones_like(run.first)
        shown = run.nonempty & on
        per_frame = np.where(on, run.dice, (~self.nerve).astype(float))
        previous = np.roll(shown, 1)
        both = np.roll(on, 1) & on
        change = np.where(both, run.change, (shown != previous).astype(float))
        pairs = change[~run.first]
        bounds = [*np.flatnonzero(run.first).tolist(), len(shown)]
        present = [shown[a:b] for a, b in itertools.pairwise(bounds)]
        truths = [self.nerve[a:b] for a, b in itertools.pairwise(bounds)]
        flicker = measure_flicker(pairs, present, len(shown) / self.fps, self.truth_change, truths)
        dice_nerve = float(per_frame[self.nerve].mean()) if self.nerve.any() else float("nan")
        return TemporalScore(params, float(per_frame.mean()), dice_nerve, flicker)

    def _play(self, group: dict[tuple[Any, ...], PostprocessParams]) -> dict[tuple, _Pass]:
        """Play the sweeps once for settings that differ only in ``pixel_off``.

        The average and its resize back are shared; each setting has its own filter for the
        mask (pixel hysteresis carries each one's own mask from frame to frame). Every frame is
        "on" here: presence hysteresis is scored later from the presence scores.
        """
        keys, settings = list(group), list(group.values())
        rows: dict[tuple, list[tuple]] = {key: [] for key in keys}
        for sweep in self.sweeps:
            smoothers = [TemporalFilter(params) for params in settings]
            previous: list[np.ndarray | None] = [None] * len(keys)
            for number, frame in enumerate(sweep):
                step = smoothers[0].step(frame.probabilities, frame.presence)
                full = resize_probabilities(
                    torch.from_numpy(step.probabilities)[None], frame.truth.shape, frame.resize
                )[0].numpy()
                for i, key in enumerate(keys):
                    mask = smoothers[i].mask(full, step)
                    change = 0.0 if previous[i] is None else mask_change(previous[i], mask)
                    dice = _dice(mask, frame.truth)
                    rows[key].append((mask.any(), dice, change, step.score, number == 0))
                    previous[i] = mask
        return {key: _Pass(*(np.array(c) for c in zip(*rows[key], strict=True))) for key in keys}


def fit_temporal(
    scorer: SweepScorer,
    still: PostprocessParams,
    *,
    max_loss: float = MAX_LOSS,
    min_cut: float = MIN_CUT,
    log: Callable[[str], None] | None = None,
) -> TemporalFit:
    """Choose ``ema_alpha``, ``pixel_off``, ``presence_on``, ``presence_off`` on top of the still
    ``still``."""
    off = without_smoothing(still)
    # Off first, then ever stronger, as ALPHAS: of settings that tie, the mildest wins.
    pixel_offs = list(dict.fromkeys(round(share * off.threshold, 3) for share in PIXEL_OFF_SHARES))
    grid = [
        dataclasses.replace(off, ema_alpha=alpha, pixel_off=pixel, presence_on=on, presence_off=low)
        for alpha in ALPHAS
        for pixel in pixel_offs
        for on, low in HYSTERESIS
    ]
    baseline, *tried = scorer.evaluate_all([off, *grid])
    allowed = [t for t in tried if within_loss(t, baseline, max_loss)]
    best = min(allowed, key=lambda t: (_finite(t.flicker.mask_change), -t.score))
    cut = baseline.flicker.mask_change - best.flicker.mask_change
    kept = bool(np.isfinite(cut) and cut >= min_cut * baseline.flicker.mask_change and cut > 0)
    chosen = best if kept else baseline
    if log:
        for name, row in (("unsmoothed", baseline), ("smoothed" if kept else "best tried", best)):
            log(
                f"{name:<18} alpha {row.params.ema_alpha} on/off {row.params.presence_on}/"
                f"{row.params.presence_off} pixel_off {row.params.pixel_off}  "
                f"score {row.score:.4f}  dice(nerve) "
                f"{row.dice_nerve:.4f}  mask change {row.flicker.mask_change:.4f}  toggles/min "
                f"{row.flicker.toggles_per_minute:.1f}"
            )
        log(f"stream smoothing {'kept' if kept else 'not kept (no clear flicker cut)'}")
    return TemporalFit(chosen.params, baseline, chosen, best, kept, tried)


def stream_scores(held: HeldOut, params: PostprocessParams) -> dict[str, Any] | None:
    """Score and flicker of the held-out subjects played as sweeps, with ``params`` and with
    their smoothing off; None when no subject has two frames."""
    sweeps = sweeps_of(held, params)
    if not any(len(sweep) > 1 for sweep in sweeps):
        return None
    scorer = SweepScorer(sweeps)
    return {
        "as_set": scorer.evaluate(params).as_dict(),
        "unsmoothed": scorer.evaluate(without_smoothing(params)).as_dict(),
        "assumed_fps": scorer.fps,
    }


def within_loss(
    candidate: TemporalScore, baseline: TemporalScore, max_loss: float = MAX_LOSS
) -> bool:
    """At most ``max_loss`` below the baseline in competition score and in Dice on nerve frames.

    Both, because either can hide the other's loss: averaging that keeps a mask on a little
    after the nerve leaves costs empty frames, and empty frames it clears can pay for nerve
    outlines it blurs (measured: score -0.004 with Dice on nerve frames -0.07).
    """
    if candidate.score < baseline.score - max_loss:
        return False
    if np.isnan(baseline.dice_nerve) or np.isnan(candidate.dice_nerve):
        return True
    return candidate.dice_nerve >= baseline.dice_nerve - max_loss


def _shape_only(params: PostprocessParams) -> PostprocessParams:
    """What a pass plays: presence hysteresis off (scored later from the presence scores) and,
    where it is on, the presence threshold left out as the filter leaves it out."""
    hysteresis = params.presence_on > 0
    return dataclasses.replace(
        params,
        presence_on=0.0,
        presence_off=0.0,
        presence_threshold=0.0 if hysteresis else params.presence_threshold,
    )


def _pass_key(params: PostprocessParams) -> tuple[Any, ...]:
    """Settings whose passes are the same share a key: they differ in presence hysteresis
    only, and in the presence threshold only where hysteresis replaces it."""
    return tuple(_shape_only(params).to_dict().values())


def _hysteresis(score: np.ndarray, first: np.ndarray, params: PostprocessParams) -> np.ndarray:
    """The on/off state of every frame, restarting (off) at each sweep's first frame."""
    on = np.zeros(len(score), dtype=bool)
    state = False
    for i, value in enumerate(score):
        state = False if first[i] else state
        state = value >= params.presence_off if state else value >= params.presence_on
        on[i] = state
    return on


def _dice(mask: np.ndarray, truth: np.ndarray) -> float:
    """Competition Dice of one frame: empty/empty is 1."""
    total = int(np.count_nonzero(mask)) + int(np.count_nonzero(truth))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(mask & truth)) / total


def _finite(value: float) -> float:
    return value if np.isfinite(value) else float("inf")
