"""Segmenting a stream frame by frame, with the temporal filter between frames.

The still-image path (:meth:`~nerveseg.inference.sources.OpenedPredictor.segment`) treats
every frame alone; here each frame's probabilities (refined by the dense CRF first when the
post-processing asks for it, as a still image's are) pass through a
:class:`~nerveseg.temporal.TemporalFilter` (average over frames, hysteresis on presence) before
they become a mask, as the post-processing's stream fields say. With those fields at their
defaults the masks are exactly the still-image ones. A model of several structures keeps one
filter per structure, each with that structure's own post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nerveseg.crf import refine
from nerveseg.data.geometry import fit_image
from nerveseg.inference.predictor import normalise, resize_probabilities
from nerveseg.inference.sources import OpenedPredictor
from nerveseg.structure_postprocess import StructurePostprocess
from nerveseg.temporal import TemporalFilter, without_smoothing


@dataclass(frozen=True)
class StreamResult:
    """One segmented frame.

    Attributes:
        masks: ``(S, H, W)`` bool, one mask per structure (channel order).
        presence: ``(S,)`` each structure's presence score (see TemporalStep).
    """

    masks: np.ndarray
    presence: np.ndarray


__all__ = ["StreamResult", "StreamSegmenter", "without_smoothing"]


class StreamSegmenter:
    """An opened predictor and the temporal state of one stream; frames in order."""

    def __init__(self, opened: OpenedPredictor, params: StructurePostprocess | None = None) -> None:
        self.opened = opened
        self.params = opened.postprocess if params is None else params
        self.filters = [TemporalFilter(p) for p in self.params.params]

    def segment(self, image: np.ndarray) -> StreamResult:
        """``(H, W)`` uint8 frame -> its masks, given the frames before it."""
        info = self.opened.info
        small = fit_image(image, info.image_size, info.resize)  # writable, for torch
        output = self.opened.predictor(normalise(small[None], info.mean, info.std))
        masks, scores = [], []
        for k, (smoother, params) in enumerate(zip(self.filters, self.params.params, strict=True)):
            presence = None if output.presence is None else float(output.presence[0, k])
            probabilities = refine(output.probabilities[0, k].numpy(), small, params)
            step = smoother.step(probabilities, presence)
            probabilities = torch.from_numpy(step.probabilities)[None]
            full = resize_probabilities(probabilities, image.shape, info.resize)
            masks.append(smoother.mask(full[0].numpy(), step))
            scores.append(step.score)
        return StreamResult(np.stack(masks), np.array(scores, dtype=float))
