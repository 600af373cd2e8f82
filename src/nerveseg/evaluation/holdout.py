"""Predictions on frames a model did not train on, kept in memory for scoring and fitting.

For a single run these are its validation frames; for a cross-validation folder
(``RUN/fold-K/``) they are the out-of-fold predictions: every frame of the data set predicted
once, by the fold model that held it out. That is the honest set on which to fit the
post-processing of a fold ensemble and to report its expected score.

Probabilities stay at the network's input size (~80 KB a frame at 128x160) as the network gave
them; callers take one frame at a time, refined by the dense CRF when a post-processing asks
for it (:meth:`HeldOut.probability`) and resized to the original size
(:meth:`HeldOut.full_probability`).

A model of several structures is held out as one :class:`HeldOut` per structure, in channel
order, sharing the frames: each is scored and fitted exactly as a one-structure model's, on its
own channel against its own bit of the truth masks (``nerveseg.data.structures``).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nerveseg import runs
from nerveseg.checkpoint import ModelInfo
from nerveseg.crf import refine
from nerveseg.data.folders import natural_key
from nerveseg.data.labels import labels_of_saved
from nerveseg.data.loading import load_set, read_full_mask
from nerveseg.data.samples import Sample, discover_labelled
from nerveseg.errors import NervesegError
from nerveseg.inference.predictor import predict_batches, resize_probabilities
from nerveseg.inference.sources import OpenedPredictor, open_predictor, run_postprocess
from nerveseg.postprocess import PostprocessParams


@dataclass
class HeldOut:
    """Per-frame predictions at the network's input size, with what is needed to score them.

    Attributes:
        samples: the frames, in order.
        shapes: each frame's original ``(H, W)``.
        images: ``(N, h, w)`` uint8 frames as the network saw them (for overlays and the CRF).
        probabilities: ``(N, h, w)`` float32 probabilities of this structure.
        presence: ``(N,)`` float32 presence probabilities, or None without a presence head.
        info: the (first) model's info: input size, normalisation, its own post-processing.
        postprocess: this structure's post-processing of the run (its fitted
            ``postprocess.json``, else the model file's), for the whole set.
        source: ``"validation"``, ``"out-of-fold"`` or ``"all"`` (every frame of a data set).
        seconds_per_frame: the predictor's time per frame (normalisation included).
        structure: the structure's name (``info.structures``).
        index: its channel, and bit ``1 << index`` of the packed truth masks.
    """

    samples: list[Sample]
    shapes: list[tuple[int, int]]
    images: np.ndarray
    probabilities: np.ndarray
    presence: np.ndarray | None
    info: ModelInfo
    postprocess: PostprocessParams
    source: str
    seconds_per_frame: float
    structure: str = "nerve"
    index: int = 0

    def __len__(self) -> int:
        return len(self.samples)

    def probability(self, index: int, params: PostprocessParams | None = None) -> np.ndarray:
        """Frame ``index``'s ``(h, w)`` probabilities, refined by the CRF if ``params`` ask."""
        prob = self.probabilities[index]
        return prob if params is None else refine(prob, self.images[index], params)

    def full_probability(self, index: int, params: PostprocessParams | None = None) -> np.ndarray:
        """Frame ``index``'s probabilities (refined by the CRF if ``params`` ask) back at its
        original size (the model's resize): ``(H, W)``."""
        prob = torch.from_numpy(self.probability(index, params))[None]
        return resize_probabilities(prob, self.shapes[index], self.info.resize)[0].numpy()

    def truth(self, index: int) -> np.ndarray:
        """Frame ``index``'s ``(H, W)`` bool mask of this structure at the original size, read
        as the model's run read masks (its ``data.structures``)."""
        labels = labels_of_saved(self.info.config)
        mask = read_full_mask(self.samples[index], self.shapes[index], labels=labels)
        return structure_truth(mask, self.index)

    def frame_presence(self, index: int) -> float | None:
        return None if self.presence is None else float(self.presence[index])

    @property
    def frame_shape(self) -> tuple[int, int]:
        """The most common original ``(H, W)``: what post-processing's areas and radii are
        scaled to when it is fitted on these frames."""
        return Counter(self.shapes).most_common(1)[0][0]

    def subject_halves(self) -> tuple[list[str], list[str]]:
        """The subjects, in name order, dealt alternately into two halves: one to fit a choice
        on, the other to score it on, then the other way round."""
        subjects = sorted({sample.subject for sample in self.samples}, key=natural_key)
        return subjects[0::2], subjects[1::2]

    def of_subjects(self, subjects: Iterable[str]) -> HeldOut:
        """The frames of ``subjects`` only, in the same order: a validation set of a single run
        splits by subject into a half to fit post-processing on and a half to score the fit
        on, so that no frame is scored by a choice made on it."""
        wanted = set(subjects)
        keep = [i for i, sample in enumerate(self.samples) if sample.subject in wanted]
        return dataclasses.replace(
            self,
            samples=[self.samples[i] for i in keep],
            shapes=[self.shapes[i] for i in keep],
            images=self.images[keep],
            probabilities=self.probabilities[keep],
            presence=None if self.presence is None else self.presence[keep],
        )


def structure_truth(mask: np.ndarray, index: int) -> np.ndarray:
    """Structure ``index``'s ``(H, W)`` bool mask from a packed truth mask (bit ``1 << index``);
    a one-structure bool mask is returned as it is."""
    if index == 0 and mask.dtype == bool:
        return mask
    return ((np.asarray(mask, dtype=np.uint8) >> index) & 1).astype(bool)


def predict_frames(
    opened: OpenedPredictor,
    samples: list[Sample],
    *,
    batch_size: int = 16,
    source: str = "all",
) -> list[HeldOut]:
    """Load ``samples`` at the model's size and predict them all: one :class:`HeldOut` per
    structure, in channel order."""
    predictor, info = opened.predictor, opened.info
    labels = labels_of_saved(info.config)
    loaded = load_set(samples, info.image_size, labels=labels, resize=info.resize, progress=True)
    count = len(info.structures)
    probabilities = np.empty((len(loaded.images), count, *info.image_size), dtype=np.float32)
    presences: list[np.ndarray] = []
    started = time.perf_counter()
    for chunk, output in predict_batches(predictor, info, loaded.images, batch_size=batch_size):
        probabilities[chunk] = output.probabilities.numpy()
        if output.presence is not None:
            presences.append(output.presence.numpy())
    seconds = (time.perf_counter() - started) / max(len(loaded.samples), 1)
    presence = np.concatenate(presences) if presences else None
    return [
        HeldOut(
            samples=loaded.samples,
            shapes=loaded.original_shapes,
            images=loaded.images,
            probabilities=probabilities[:, k],
            presence=None if presence is None else presence[:, k],
            info=info,
            postprocess=opened.postprocess[name],
            source=source,
            seconds_per_frame=seconds,
            structure=name,
            index=k,
        )
        for k, name in enumerate(info.structures)
    ]


def predict_holdout(
    run: Path,
    data_root: Path | None = None,
    *,
    device: str = "auto",
    tta: bool = False,
    batch_size: int = 16,
) -> list[HeldOut]:
    """The run's validation frames, or out-of-fold predictions for a cross-validation folder:
    one :class:`HeldOut` per structure, in channel order.

    ``data_root`` replaces the data folder the run trained on (the same frames elsewhere).
    """
    run = Path(run)
    if not runs.is_cross_validation(run):
        return _validation(run, data_root, device=device, tta=tta, batch_size=batch_size)
    folds = [
        _validation(fold, data_root, device=device, tta=tta, batch_size=batch_size)
        for fold in runs.fold_dirs(run)
    ]
    fitted = run_postprocess(run, folds[0][0].info)
    return [
        _concatenate([fold[k] for fold in folds], fitted[name])
        for k, name in enumerate(fitted.names)
    ]


def _concatenate(parts: list[HeldOut], postprocess: PostprocessParams) -> HeldOut:
    """One structure's out-of-fold predictions from each fold's validation frames."""
    frames = sum(len(p) for p in parts)
    return HeldOut(
        samples=[s for p in parts for s in p.samples],
        shapes=[s for p in parts for s in p.shapes],
        images=np.concatenate([p.images for p in parts]),
        probabilities=np.concatenate([p.probabilities for p in parts]),
        presence=(
            None
            if any(p.presence is None for p in parts)
            else np.concatenate([p.presence for p in parts])
        ),
        info=parts[0].info,
        postprocess=postprocess,
        source="out-of-fold",
        seconds_per_frame=sum(p.seconds_per_frame * len(p) for p in parts) / max(frames, 1),
        structure=parts[0].structure,
        index=parts[0].index,
    )


def _validation(
    run: Path, data_root: Path | None, *, device: str, tta: bool, batch_size: int
) -> list[HeldOut]:
    opened = open_predictor(run, device=device, tta=tta)
    samples = split_samples(run, data_root)
    return predict_frames(opened, samples, batch_size=batch_size, source="validation")


def split_samples(run: Path, data_root: Path | None = None, *, part: str = "val") -> list[Sample]:
    """The frames a single run held out for validation (``part="val"``) or trained on
    (``part="train"``), as its ``split.json`` lists them, found in the data folder it trained on
    or in ``data_root``."""
    split = runs.read_json(Path(run) / runs.SPLIT)
    root = Path(data_root) if data_root else Path(split["data"])
    wanted = set(split[part])
    samples = [s for s in discover_labelled(root) if s.name in wanted]
    if not samples:
        kind = "validation" if part == "val" else "training"
        raise NervesegError(
            f"none of {Path(run).name}'s {kind} frames are in {root}; pass --split all to "
            "score every frame of another data set"
        )
    return samples
