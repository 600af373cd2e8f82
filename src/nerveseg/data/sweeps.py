"""Frames whose names carry no subject: the sweeps they came from, found in the pictures.

Splits keep a subject's frames on one side (:mod:`nerveseg.data.splits`), because frames of one
probe sweep are near-duplicates. A name like ``0001.png`` carries no subject
(:func:`~nerveseg.data.samples.subject_of` makes every such frame its own), and a split by
single frames would put a sweep's neighbours on both sides and overstate every score. Such sets
are grouped instead by what the frames show: frames whose thumbnails are closer than
``data.sweep_threshold`` are linked (the near-duplicate search of
:mod:`nerveseg.data.quality.duplicates`, over the whole set) and each connected group becomes
one subject, ``sweep-1``, ``sweep-2`` ... in order of their first frame.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from nerveseg.data.quality.duplicates import find_duplicate_groups

if TYPE_CHECKING:  # the config imports this module for its threshold: keep that import light
    from nerveseg.data.loading import LoadedSet
    from nerveseg.data.samples import Sample

log = logging.getLogger(__name__)

# Thumbnail distance below which two frames of a subject-less set are one sweep. Measured with
# frames at 128x160 (the training size):
# - usgra-seg (204 real frames, three sizes, letterboxed): nearest-neighbour distances 1st/25th/
#   50th percentile 0.07/0.33/0.53. Pairs below 0.4 show the same view; 0.4-0.5 the same region
#   with the probe moved or another region; at 0.6 links chain into one group of 85 frames.
#   Groups at 0.3 / 0.4 / 0.5: 181 / 174 / 149 (largest 2 / 3 / 6 frames).
# - Kaggle sample (1,816 lossy frames of 40 subjects, names stripped of subjects): groups at
#   0.3 / 0.4 / 0.5: 907 / 691 / 501, of which 7 / 8 / 7 span two subjects (34-42 frames): the
#   links rarely cross patients, yet they only find a sweep's close neighbours, not whole sweeps.
# 0.4 keeps every same-view pair together and stays well below the chaining seen at 0.6.
SWEEP_THRESHOLD = 0.4

_EVERYTHING = "all"  # one pseudo-subject: the duplicate search then compares every pair


def names_carry_subjects(samples: Sequence[Sample]) -> bool:
    """False when every frame is its own subject (``0001``, ``scan_a``): no name has ``S_I``."""
    return len(samples) < 2 or any(sample.subject != sample.name for sample in samples)


def sweep_labels(images: np.ndarray, names: Sequence[str], threshold: float) -> list[str]:
    """``sweep-K`` for every frame: connected groups of frames closer than ``threshold``.

    Args:
        images: ``(N, h, w)`` uint8 frames at one size (the training size is fine).
        names: the frames' names, for the order only.
        threshold: thumbnail distance (see :mod:`nerveseg.data.quality.duplicates`).
    """
    group_of = np.arange(len(images))
    for group in find_duplicate_groups(images, None, [_EVERYTHING] * len(images), threshold):
        group_of[group.members] = group.members[0]
    numbers = {first: n for n, first in enumerate(dict.fromkeys(group_of.tolist()), start=1)}
    return [f"sweep-{numbers[g]}" for g in group_of.tolist()]


def with_sweep_subjects(
    loaded: LoadedSet, threshold: float = SWEEP_THRESHOLD, *, announce: bool = True
) -> LoadedSet:
    """``loaded`` with sweeps as subjects when its names carry none; unchanged otherwise.

    Says so once (a warning with the groups found), so a split by sweeps is never a surprise;
    ``announce=False`` leaves the telling to the caller (``nerveseg inspect`` reports it).
    """
    samples = loaded.samples
    if names_carry_subjects(samples):
        return loaded
    labels = sweep_labels(loaded.images, [s.name for s in samples], threshold)
    sizes = sorted(np.unique(labels, return_counts=True)[1].tolist(), reverse=True)
    log.log(
        logging.WARNING if announce else logging.DEBUG,
        "the frame names carry no subject (e.g. %s; subjects come from names SUBJECT_FRAME): "
        "splitting by %d sweeps of similar frames instead (data.sweep_threshold %g; largest "
        "%s frames; %d frames alike no other)",
        samples[0].name,
        len(sizes),
        threshold,
        ", ".join(str(n) for n in sizes[:5]),
        sizes.count(1),
    )
    regrouped = [
        dataclasses.replace(sample, subject=label)
        for sample, label in zip(samples, labels, strict=True)
    ]
    return dataclasses.replace(loaded, samples=regrouped)
