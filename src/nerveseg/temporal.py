"""Steady masks from frame to frame: an average of probabilities and hysteresis on presence.

Two nearly identical ultrasound frames can give masks that jump: a blob that vanishes for one
frame, an outline that wobbles with the speckle. In a stream, each frame's probabilities are
averaged with the frames before (an exponential moving average, weight ``ema_alpha`` on the
newest), and the mask's presence switches on only once a presence score reaches
``presence_on`` and off only when it drops below ``presence_off`` (hysteresis). Both are fields
of :class:`~nerveseg.postprocess.PostprocessParams` whose defaults mean "off"; still-image
prediction never uses them.

The average runs at the network's input size, before the probabilities are resized back:
bilinear resizing is linear, so averaging first gives the same result at a fraction of the
cost. The presence score is the presence head's (averaged) probability, or for a model without
a head the peak of the averaged probabilities.
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
    return params.ema_alpha < 1.0 or params.presence_on > 0.0


def without_smoothing(params: PostprocessParams) -> PostprocessParams:
    """``params`` with the stream fields at their "off" defaults: every frame on its own."""
    return dataclasses.replace(params, ema_alpha=1.0, presence_on=0.0, presence_off=0.0)


class TemporalFilter:
    """The state a stream carries from frame to frame; one per stream, frames in order."""

    def __init__(self, params: PostprocessParams) -> None:
        self.params = params
        self._mean: np.ndarray | None = None
        self._presence: float | None = None
        self._on = False

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


def stream_mask(
    full_probability: np.ndarray, params: PostprocessParams, step: TemporalStep
) -> np.ndarray:
    """The ``(H, W)`` bool mask of one filtered frame at its original size.

    ``full_probability`` is ``step.probabilities`` resized to the frame. The still-image steps
    and gates apply as usual; hysteresis, when on, takes the place of the presence threshold.
    """
    if not step.on:
        return np.zeros(np.shape(full_probability), dtype=bool)
    if params.presence_on > 0.0:
        params = dataclasses.replace(params, presence_threshold=0.0)
    return apply_postprocess(full_probability, params, step.presence)
