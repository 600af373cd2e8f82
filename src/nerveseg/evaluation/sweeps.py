"""Sweeps with truth, frame by frame in time order, for fitting and scoring stream smoothing.

Two sources: a run's held-out frames, each subject's frames in natural name order
(:func:`sweeps_of`), and recorded sweep videos with a mask video beside each
(:func:`video_sweeps`; the layout ``nerveseg synth --video`` writes). Probabilities stay at the
network's input size, as the temporal filter averages them there, refined by the dense CRF
first when the post-processing they are built for asks for it (as a stream's are).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nerveseg.crf import refine
from nerveseg.data.folders import natural_key
from nerveseg.data.geometry import fit_image
from nerveseg.data.streams import open_stream
from nerveseg.errors import NervesegError
from nerveseg.evaluation.holdout import HeldOut
from nerveseg.inference.predictor import normalise
from nerveseg.inference.sources import OpenedPredictor
from nerveseg.postprocess import PostprocessParams


@dataclass(frozen=True)
class SweepFrame:
    """One frame of a sweep: network-size probabilities, presence, the full-size truth, and how
    the frame reached the network's size (the model's ``resize``, to map the probabilities back)."""

    probabilities: np.ndarray
    presence: float | None
    truth: np.ndarray
    resize: str = "stretch"


def video_sweeps(
    opened: OpenedPredictor, folder: Path, params: PostprocessParams | None = None
) -> list[list[SweepFrame]]:
    """Sweeps with truth from ``folder``: every ``NAME_masks.EXT`` beside a video ``NAME.EXT``.

    ``params``: the post-processing the sweeps are for (its CRF, if any, is applied); default:
    the model's own for its first structure.

    The layout ``nerveseg synth --video`` writes (or any recorded sweep with a mask video or
    TIFF stack of the same length: 0 = background, above 127 = nerve). A mask video holds one
    structure: the model's first channel is played.
    """
    folder = Path(folder)
    pairs = []
    for masks in sorted(folder.glob("*_masks.*")):
        video = masks.with_name(masks.name.replace("_masks.", ".", 1))
        if video.is_file():
            pairs.append((video, masks))
    if not pairs:
        raise NervesegError(
            f"{folder}: no sweep videos with truth (NAME.mkv beside NAME_masks.mkv); write some "
            "with nerveseg synth OUT --video"
        )
    params = opened.postprocess.first if params is None else params  # the played channel's
    return [_sweep_frames(opened, video, masks, params) for video, masks in pairs]


def _sweep_frames(
    opened: OpenedPredictor, video: Path, masks: Path, params: PostprocessParams
) -> list[SweepFrame]:
    info, frames = opened.info, []
    with open_stream(video) as images, open_stream(masks) as labels:
        for frame, label in zip(images, labels, strict=False):
            small = fit_image(frame.image, info.image_size, info.resize)
            output = opened.predictor(normalise(small[None], info.mean, info.std))
            presence = None if output.presence is None else float(output.presence[0, 0])
            probabilities = refine(output.probabilities[0, 0].numpy(), small, params)
            truth = label.image > 127
            frames.append(SweepFrame(probabilities, presence, truth, info.resize))
    return frames


def sweeps_of(held: HeldOut, params: PostprocessParams | None = None) -> list[list[SweepFrame]]:
    """The held-out frames as sweeps: one per subject and frame size (one recording has one
    size), frames in natural name order, refined by the CRF when ``params`` ask for it."""
    order: dict[tuple[str, tuple[int, int]], list[int]] = {}
    for index, sample in enumerate(held.samples):
        order.setdefault((sample.subject, tuple(held.shapes[index])), []).append(index)
    sweeps = []
    for indices in order.values():
        indices.sort(key=lambda i: natural_key(held.samples[i].name))
        sweeps.append(
            [
                SweepFrame(
                    held.probability(i, params),
                    held.frame_presence(i),
                    held.truth(i),
                    held.info.resize,
                )
                for i in indices
            ]
        )
    return sweeps
