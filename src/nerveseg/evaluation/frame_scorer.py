"""Scores post-processing settings on fixed held-out frames, caching what a search repeats.

Probabilities are resized to the original resolution once and kept as float16 (~0.5 GB for
1,100 Kaggle frames). Each shape setting (threshold, largest component, closing, holes) is
computed once per frame and cached as per-frame (area, Dice-if-kept); the gates (minimum and
maximum area, presence) then cost nothing to search, since a gated frame scores 1 when its truth
is empty and 0 otherwise. A CRF setting (:mod:`nerveseg.crf`) refines every frame once at the
network's size (one refined set in memory at a time), resized back frame by frame.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from nerveseg.crf import refine, uses_crf
from nerveseg.evaluation.holdout import HeldOut
from nerveseg.inference.predictor import resize_probabilities
from nerveseg.postprocess import PostprocessParams, apply_postprocess, kept_frames, shape_mask


@dataclass(frozen=True)
class NetworkFrames:
    """What the CRF step needs: ``(N, h, w)`` uint8 frames and float32 probabilities at the
    network's input size, each frame's original ``(H, W)``, and how the model resizes."""

    images: np.ndarray
    probabilities: np.ndarray
    shapes: list[tuple[int, int]]
    resize: str = "stretch"


class FrameScorer:
    """Scores parameter sets on fixed full-resolution probabilities and truths.

    With ``network`` (the same frames at the network's size) it also scores CRF settings,
    refining on ``device``.
    """

    def __init__(
        self,
        probabilities: list[np.ndarray],
        truths: list[np.ndarray],
        presence: np.ndarray | None = None,
        network: NetworkFrames | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.probabilities = probabilities
        self.truths = truths
        self.presence = presence
        self.network = network
        self.device = torch.device(device)
        self.truth_area = np.array([np.count_nonzero(t) for t in truths])
        self.nerve = self.truth_area > 0
        self._shaped: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._refined: tuple[tuple, np.ndarray] | None = None

    @classmethod
    def from_holdout(cls, held: HeldOut, device: torch.device | str = "cpu") -> FrameScorer:
        probabilities = [held.full_probability(i).astype(np.float16) for i in range(len(held))]
        truths = [held.truth(i) for i in range(len(held))]
        network = NetworkFrames(held.images, held.probabilities, held.shapes, held.info.resize)
        return cls(probabilities, truths, held.presence, network, device)

    def per_image(self, params: PostprocessParams) -> np.ndarray:
        """``(N,)`` competition Dice of every frame under ``params``."""
        areas, dice_kept = self._shape(params)
        kept = kept_frames(areas, params, self.presence)
        return np.where(kept, dice_kept, (~self.nerve).astype(float))

    def summary(self, params: PostprocessParams) -> tuple[float, float]:
        """(competition score, mean Dice on frames with a nerve)."""
        values = self.per_image(params)
        dice_nerve = float(values[self.nerve].mean()) if self.nerve.any() else float("nan")
        return float(values.mean()), dice_nerve

    def _shape(self, params: PostprocessParams) -> tuple[np.ndarray, np.ndarray]:
        shape = (
            params.threshold,
            params.keep_largest,
            params.convex_hull,
            params.closing_radius,
            params.fill_holes,
        )
        key = (_crf_key(params), *shape)
        if key not in self._shaped:
            areas, dice_kept = [], []
            for prob, truth, truth_area in zip(
                self._full_probabilities(params), self.truths, self.truth_area, strict=True
            ):
                mask = shape_mask(prob, params)
                area = int(np.count_nonzero(mask))
                both = area + int(truth_area)
                overlap = int(np.count_nonzero(mask & truth)) if area and truth_area else 0
                areas.append(area)
                dice_kept.append(2 * overlap / both if both else 1.0)
            self._shaped[key] = (np.array(areas), np.array(dice_kept))
        return self._shaped[key]

    def _full_probabilities(self, params: PostprocessParams) -> Iterator[np.ndarray]:
        """Every frame's full-resolution probabilities, refined by the CRF if ``params`` ask."""
        if not uses_crf(params):
            yield from self.probabilities
            return
        refined = self.refined(params)
        for prob, shape in zip(refined, self.network.shapes, strict=True):
            full = resize_probabilities(torch.from_numpy(prob)[None], shape, self.network.resize)
            yield full[0].numpy()

    def refined(self, params: PostprocessParams) -> np.ndarray:
        """``(N, h, w)`` network-size probabilities refined by the CRF of ``params`` (the last
        setting asked for is kept, one set in memory)."""
        if self.network is None:
            raise ValueError("this scorer has no network-size frames to run the CRF on")
        key = _crf_key(params)
        if self._refined is None or self._refined[0] != key:
            probs = torch.from_numpy(self.network.probabilities).to(self.device)
            refined = refine(probs, torch.from_numpy(self.network.images), params)
            self._refined = (key, refined.cpu().numpy())
        return self._refined[1]

    def seconds_per_frame(self, params: PostprocessParams, frames: int = 50) -> float:
        """Seconds the post-processing takes per frame with ``params``: the CRF at the network's
        size (when on), then :func:`apply_postprocess` at full resolution."""
        chosen = self.probabilities[:frames]
        if not chosen:
            return float("nan")
        presence = None if self.presence is None else self.presence[:frames]
        started = time.perf_counter()
        if uses_crf(params) and self.network is not None:
            probs = torch.from_numpy(self.network.probabilities[:frames]).to(self.device)
            refine(probs, torch.from_numpy(self.network.images[:frames]), params).cpu()
        # One frame at a time, as prediction applies it: frames of several sizes do not stack.
        for i, probability in enumerate(chosen):
            apply_postprocess(probability, params, None if presence is None else float(presence[i]))
        return (time.perf_counter() - started) / len(chosen)


def _crf_key(params: PostprocessParams) -> tuple | None:
    """What the CRF of ``params`` depends on; None when it is off."""
    if not uses_crf(params):
        return None
    return (
        params.crf_weight,
        params.crf_smoothness,
        params.crf_spatial_sigma,
        params.crf_intensity_sigma,
        params.crf_iterations,
    )
