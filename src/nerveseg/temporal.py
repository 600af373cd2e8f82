"""Steady masks from frame to frame: an average of probabilities, hysteresis on presence and
on each pixel.

Two nearly identical ultrasound frames can give masks that jump: a blob that vanishes for one
frame, an outline that wobbles with the speckle. In a stream, each frame's probabilities are
averaged with the frames before (an exponential moving average, weight ``ema_alpha`` on the
newest); the mask's presence switches on only once a presence score reaches ``presence_on``
and off only when it drops below ``presence_off`` (hysteresis on presence); and a pixel already
in the frame before's mask stays in while its probability is above ``pixel_off``, lower than
the threshold a new pixel needs (hysteresis per pixel). All are fields of
:class:`~nerveseg.postprocess.PostprocessParams` whose defaults mean "off"; still-image
prediction never uses them.

Why per-pixel hysteresis: an edge that wobbles with the speckle is noise that an average can
only remove by averaging over many frames, and a long average lags wherever the picture
changes (a nerve entering or leaving the view fades in and out over several frames, costing
Dice). Hysteresis removes the wobble without lag on the inside: a pixel joins the mask at once,
it only leaves later. Measured on a demo run's unseen synthetic sweeps (README, "Live video"),
each part as fitted on validation videos within 0.01 of score and Dice: the average alone cut
the mask change by 39%, pixel hysteresis alone by 50%, both by 67%, all three by 70%.

The average runs at the network's input size, before the probabilities are resized back:
bilinear resizing is linear, so averaging first gives the same result at a fraction of the
cost. The presence score is the presence head's (averaged) probability, or for a model without
a head the peak of the averaged probabilities. Pixel hysteresis needs the mask, so it runs at
the frame's own size (:meth:`TemporalFilter.mask`).

Motion-compensated averaging (shift the average onto the new frame by phase correlation
before blending, so it does not lag a moving nerve) was measured and left out: the nerve in
the synthetic sweeps moves 0.17 pixels a frame at 580x420 (p50; 0.04 at the network's size),
below what the shift estimate resolves, so a warp estimated on the probability maps only added
its own noise (mask change 0.025 -> 0.028 at ``ema_alpha`` 0.6) and one estimated on the frames
changed nothing, also on ten times faster sweeps. The average's lag here comes from the nerve
appearing and vanishing, which no warp follows (``benchmarks/motion_compensation.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from nerveseg.postprocess import PostprocessParams, apply_postprocess


@dataclass(frozen=True)
class TemporalStep:
    """One frame after the temporal filter.

    Attributes:
        probabilities: ``(h, w)`` float32 averaged probabilities (the filter's own buffer: copy
            it to keep it past the next frame).
        presence: the averaged presence-head probability, or None without a head.
        score: the presence score hysteresis looks at.
        on: whether the frame may show a mask (always True with hysteresis off).
    """

    probabilities: np.ndarray
    presence: float | None
    score: float
    on: bool


def is_temporal(params: PostprocessParams) -> bool:
    """Do ``params`` ask for any smoothing across frames?"""
    return params.ema_alpha < 1.0 or params.presence_on > 0.0 or params.pixel_off > 0.0


def stream_settings(params: PostprocessParams) -> dict[str, float]:
    """The fields that act only on streams, by name: what a fit or a live run reports."""
    return {
        "ema_alpha": params.ema_alpha,
        "presence_on": params.presence_on,
        "presence_off": params.presence_off,
        "pixel_off": params.pixel_off,
    }


def without_smoothing(params: PostprocessParams) -> PostprocessParams:
    """``params`` with the stream fields at their "off" defaults: every frame on its own."""
    return dataclasses.replace(
        params, ema_alpha=1.0, presence_on=0.0, presence_off=0.0, pixel_off=0.0
    )


class TemporalFilter:
    """The state a stream carries from frame to frame; one per stream, frames in order.

    Per frame: :meth:`step` with the network-size probabilities, then :meth:`mask` with those
    averaged probabilities resized to the frame.
    """

    def __init__(self, params: PostprocessParams) -> None:
        self.params = params
        self._mean: np.ndarray | None = None
        self._presence: float | None = None
        self._on = False
        self._held: np.ndarray | None = None  # the frame before's mask, for pixel hysteresis
        # While presence hysteresis is on it takes the place of the presence threshold.
        self._shape_params = (
            dataclasses.replace(params, presence_threshold=0.0)
            if params.presence_on > 0.0
            else params
        )

    def step(self, probabilities: np.ndarray, presence: float | None = None) -> TemporalStep:
        """Take the next frame's ``(h, w)`` probabilities (and presence probability)."""
        alpha = self.params.ema_alpha
        current = np.asarray(probabilities, dtype=np.float32)
        if self._mean is None or self._mean.shape != current.shape or alpha >= 1.0:
            self._mean = current.copy()
            self._presence = presence
        else:
            self._mean *= 1.0 - alpha
            self._mean += alpha * current
            if presence is not None and self._presence is not None:
                self._presence = (1.0 - alpha) * self._presence + alpha * presence
            else:
                self._presence = presence
        score = self._presence if self._presence is not None else float(self._mean.max())
        return TemporalStep(self._mean, self._presence, score, self._hysteresis(score))

    def _hysteresis(self, score: float) -> bool:
        params = self.params
        if params.presence_on <= 0.0:
            return True
        self._on = score >= params.presence_off if self._on else score >= params.presence_on
        return self._on

    def mask(self, full_probability: np.ndarray, step: TemporalStep) -> np.ndarray:
        """The ``(H, W)`` bool mask of the frame ``step`` came from, at the frame's size.

        ``full_probability`` is ``step.probabilities`` resized to the frame. The still-image
        steps and gates apply as usual, with the threshold lowered to ``pixel_off`` for the
        pixels of the frame before's mask. The mask carried to the next frame is the one
        before the presence decision: hiding a frame does not make its shape start over.
        """
        hold = self.params.pixel_off > 0.0
        if not step.on and not hold:
            return np.zeros(np.shape(full_probability), dtype=bool)  # no shape work to skip
        probability = full_probability
        if hold and self._held is not None and self._held.shape == np.shape(probability):
            kept = self._held & (probability > self.params.pixel_off)
            # From the threshold on, apply_postprocess looks at the thresholded mask only, so
            # raising the kept pixels above any threshold is the threshold with hysteresis.
            probability = np.where(kept, np.float32(1.0), probability)
        shaped = apply_postprocess(probability, self._shape_params, step.presence)
        if hold:
            self._held = shaped
        return shaped if step.on else np.zeros_like(shaped)
