"""What a labelled data folder holds, measured before any training: ``nerveseg inspect``.

Every file is validated the way training validates it (discovery, then decoding with every
pixel-level check), but bad files are collected for the report instead of stopping the run.
Structural problems (a missing or empty folder, mixed layouts) still raise
:class:`~nerveseg.errors.DataError`: there is nothing to inspect.

Two passes over the pixels: :func:`~nerveseg.data.loading.load_set` decodes and resizes every
frame to the inspection size (that copy feeds the near-duplicate search, the mean mask and the
intensity seen by training), then :func:`~nerveseg.data.quality.frame_stats.measure_frames`
re-reads each kept frame at full resolution for the numbers a person reads in original pixels.
Names without subjects (``0001.png``) are grouped into sweeps as training groups them
(:mod:`nerveseg.data.sweeps`), and the subject table shows those.

Writing the report (PNGs, HTML, CSV) lives in :mod:`nerveseg.data.quality.inspection_report`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nerveseg.data.folders import natural_key
from nerveseg.data.loading import load_set
from nerveseg.data.quality.borders import SizeBorders, borders_by_size
from nerveseg.data.quality.duplicates import DuplicateGroup, find_duplicate_groups
from nerveseg.data.quality.frame_stats import FrameStats, intensity_moments, measure_frames
from nerveseg.data.samples import Sample, discover_labelled
from nerveseg.data.structures import DEFAULT_LABELS, LabelMap
from nerveseg.data.sweeps import SWEEP_THRESHOLD, names_carry_subjects, with_sweep_subjects
from nerveseg.errors import DataError, Problem

DEFAULT_SIZE = (96, 128)
"""``(h, w)`` the frames are resized to for the duplicate search and the mean mask."""

log = logging.getLogger(__name__)


@dataclass
class SubjectRow:
    """One line of the per-subject table."""

    subject: str
    frames: int
    empty_frames: int
    median_area: float  # over the frames with a nerve; NaN if none

    @property
    def empty_fraction(self) -> float:
        return self.empty_frames / self.frames


@dataclass
class Inspection:
    """Everything :func:`inspect_data` found; see :func:`~nerveseg.data.quality.inspection_report.summarise`.

    Attributes:
        root: the data folder.
        size: ``(h, w)`` of :attr:`mean_mask` and of the duplicate search.
        samples: the frames kept (readable, valid), in natural name order.
        frames: their full-resolution measurements.
        subjects: per-subject table, in natural subject order.
        mean_mask: ``(h, w)`` float share of frames covering each pixel (a probability image).
        duplicates: near-duplicate groups, indices into :attr:`samples`.
        problems: files left out, from discovery and decoding.
        training_intensity: mean and std in [0, 1] of the resized frames, the pixels training
            normalises (speckle averages out when shrinking, so the std is below full size's).
        labels: what the mask values mean (``data.structures``); :attr:`structures` names them.
        borders: black borders per frame size, most frequent size first.
        sweeps: True when the names carry no subject and :attr:`subjects` are sweeps of similar
            frames found in the pictures (what training splits by).
        warnings: sentences a person should read before training.
        seconds: how long the inspection took.
    """

    root: Path
    size: tuple[int, int]
    samples: list[Sample]
    frames: FrameStats
    subjects: list[SubjectRow]
    mean_mask: np.ndarray
    duplicates: list[DuplicateGroup]
    problems: list[Problem]
    training_intensity: tuple[float, float]
    labels: LabelMap = DEFAULT_LABELS
    borders: list[SizeBorders] = field(default_factory=list)
    sweeps: bool = False
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def structures(self) -> list[str]:
        """The structure names, in channel order."""
        return self.labels.names


def inspect_data(
    root: Path,
    size: tuple[int, int] = DEFAULT_SIZE,
    *,
    labels: LabelMap = DEFAULT_LABELS,
    sweep_threshold: float = SWEEP_THRESHOLD,
    progress: bool = False,
) -> Inspection:
    """Validate and measure every labelled frame under ``root``.

    Args:
        root: a labelled data folder, any layout :func:`discover_labelled` reads.
        size: ``(h, w)`` for the duplicate search and the mean mask.
        labels: what the mask values mean (``data.structures``, ``data.ignore_values``).
        sweep_threshold: for names without subjects, how alike frames of one sweep are.
        progress: show a progress bar while decoding.

    Raises:
        DataError: the folder is unusable as a whole (missing, empty, mixed layouts) or no
            frame in it is readable. Bad single files are reported in ``problems`` instead.
    """
    started = time.perf_counter()
    root = Path(root)
    samples, problems = _discover(root)
    loaded = load_set(samples, tuple(size), labels=labels, skip_bad=True, progress=progress)
    problems += loaded.problems
    sweeps = not names_carry_subjects(loaded.samples)
    loaded = with_sweep_subjects(loaded, sweep_threshold, announce=False)
    log.info("measuring %d frames at full resolution", len(loaded.samples))
    frames = measure_frames(loaded, labels)
    subject_names = [sample.subject for sample in loaded.samples]
    log.info("searching for near-duplicates at %dx%d", size[1], size[0])
    inspection = Inspection(
        root=root,
        size=tuple(size),
        samples=loaded.samples,
        frames=frames,
        subjects=subject_table(subject_names, frames.areas),
        mean_mask=(loaded.masks != 0).mean(axis=0, dtype=np.float64),
        duplicates=find_duplicate_groups(
            loaded.images, loaded.masks, subject_names, names=labels.names
        ),
        problems=problems,
        training_intensity=intensity_moments(loaded.images),
        labels=labels,
        borders=borders_by_size(frames.shapes, frames.content),
        sweeps=sweeps,
    )
    inspection.warnings = _warnings(inspection)
    inspection.seconds = time.perf_counter() - started
    return inspection


def _discover(root: Path) -> tuple[list[Sample], list[Problem]]:
    """Samples plus the per-file discovery problems, which ``skip_bad`` only shows in a warning.

    Discovery reads names only, so asking twice costs nothing: the strict call collects the
    problems, the lenient one the samples (and re-raises what is structural).
    """
    try:
        return discover_labelled(root), []
    except DataError as exc:
        problems = list(exc.problems)
    return discover_labelled(root, skip_bad=True), problems


def subject_table(subjects: list[str], areas: np.ndarray) -> list[SubjectRow]:
    """Frames, empty frames and median nerve area per subject, in natural subject order."""
    rows = []
    names = np.array(subjects)
    for subject in sorted(set(subjects), key=natural_key):
        mine = areas[names == subject]
        nonempty = mine[mine > 0]
        median = float(np.median(nonempty)) if nonempty.size else float("nan")
        rows.append(SubjectRow(subject, int(mine.size), int((mine == 0).sum()), median))
    return rows


def _warnings(inspection: Inspection) -> list[str]:
    """What a person should know before training, worst first."""
    found = []
    areas = inspection.frames.areas
    if not areas.any():
        found.append(
            f"All {areas.size} masks are empty: there is no nerve to learn from. Check that the "
            "masks (or train_masks.csv) are the ones meant for these images."
        )
    elif areas.size >= 20 and areas.all():
        found.append(
            f"None of the {areas.size} masks is empty: a model trained on this never sees a frame "
            "without a nerve, yet most real frames (59% in the Kaggle set) have none."
        )
    if inspection.problems:
        found.append(
            f"{len(inspection.problems)} file(s) could not be used and are left out (listed "
            "under Failing files); training stops on them unless run with --skip-bad."
        )
    single = [row.subject for row in inspection.subjects if row.frames == 1]
    if inspection.sweeps:
        sizes = sorted((row.frames for row in inspection.subjects), reverse=True)
        found.append(
            f"The file names carry no subject (SUBJECT_FRAME), so training splits by "
            f"{len(sizes)} sweeps of similar frames found in the pictures (largest "
            f"{', '.join(map(str, sizes[:3]))} frames; {sizes.count(1)} frames alike no other): "
            "frames of one scan that look different can still land on both sides, so held-out "
            "scores may be optimistic. Name frames SUBJECT_FRAME if the subjects are known."
        )
    elif single:
        shown = ", ".join(single[:10]) + (" ..." if len(single) > 10 else "")
        found.append(
            f"{len(single)} subject(s) have a single frame ({shown}). Subjects come from names "
            "SUBJECT_FRAME and a name without a frame number is a subject of its own: check the "
            "naming if this is unexpected, as the validation split is made by subject."
        )
    contradictory = sum(group.contradictory for group in inspection.duplicates)
    if contradictory:
        found.append(
            f"{contradictory} group(s) of near-identical frames are labelled inconsistently (a "
            "nerve in one, none or elsewhere in another): these labels cap the achievable score."
        )
    sizes = {tuple(shape) for shape in inspection.frames.shapes.tolist()}
    if len(sizes) > 1:
        found.append(
            f"The images come in {len(sizes)} different sizes; with data.resize=stretch (the "
            "default) training stretches some of them, data.resize=letterbox keeps every "
            "frame's aspect."
        )
    return found
