"""What a labelled data folder holds, measured before any training: ``nerveseg inspect``.

Every file is validated the way training validates it (discovery, then decoding with every
pixel-level check), but bad files are collected for the report instead of stopping the run.
Structural problems (a missing or empty folder, mixed layouts) still raise
:class:`~nerveseg.errors.DataError`: there is nothing to inspect.

Two passes over the pixels: :func:`~nerveseg.data.loading.load_set` decodes and resizes every
frame to the inspection size (that copy feeds the near-duplicate search, the mean mask and the
intensity seen by training), then a second, threaded pass re-reads each kept frame at full
resolution for the numbers a person reads in original pixels: mask area (any structure, and
per structure of ``data.structures``), centroid and bounding box, intensity, and the content box
that shows letterbox borders (:mod:`nerveseg.data.quality.borders`). On two cores the second
pass adds about 1.5 ms per frame. Names without subjects (``0001.png``) are grouped into sweeps
as training groups them (:mod:`nerveseg.data.sweeps`), and the subject table shows those.

Writing the report (PNGs, HTML, CSV) lives in :mod:`nerveseg.data.quality.inspection_report`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from nerveseg.data.folders import natural_key
from nerveseg.data.images import read_image
from nerveseg.data.loading import LoadedSet, load_set, read_full_mask
from nerveseg.data.quality.borders import SizeBorders, borders_by_size, content_box
from nerveseg.data.quality.duplicates import DuplicateGroup, find_duplicate_groups
from nerveseg.data.samples import Sample, discover_labelled
from nerveseg.data.structures import DEFAULT_LABELS, LabelMap
from nerveseg.data.sweeps import SWEEP_THRESHOLD, names_carry_subjects, with_sweep_subjects
from nerveseg.errors import DataError, Problem

DEFAULT_SIZE = (96, 128)
"""``(h, w)`` the frames are resized to for the duplicate search and the mean mask."""

log = logging.getLogger(__name__)

_WORKERS = 2  # like loading: Pillow releases the GIL while decoding
_CHUNK = 512  # frames per bincount, so counting never makes a large int64 copy


@dataclass
class FrameStats:
    """Per-frame measurements at full resolution; arrays of length N, in sample order.

    Attributes:
        shapes: ``(N, 2)`` ``(H, W)`` of each file.
        areas: ``(N,)`` labelled pixels in the mask, any structure (0 = empty).
        structure_areas: ``(N, S)`` pixels of each structure.
        content: ``(N, 4)`` ``(top, left, bottom, right)`` of the pixels above black, see
            :func:`~nerveseg.data.quality.borders.content_box`.
        centroids: ``(N, 2)`` ``(row, column)`` of the mask's centre in pixels; NaN when empty.
        boxes: ``(N, 4)`` ``(top, left, bottom, right)`` inclusive pixel bounds; NaN when empty.
        means, stds: ``(N,)`` intensity in [0, 1].
        saturated: ``(N,)`` share of pixels at 255.
        black: ``(N,)`` share of pixels at 0.
        histogram: ``(256,)`` pixel counts over all frames.
    """

    shapes: np.ndarray
    areas: np.ndarray
    structure_areas: np.ndarray
    content: np.ndarray
    centroids: np.ndarray
    boxes: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    saturated: np.ndarray
    black: np.ndarray
    histogram: np.ndarray


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
        training_intensity=_intensity(loaded.images),
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


def measure_frames(loaded: LoadedSet, labels: LabelMap = DEFAULT_LABELS) -> FrameStats:
    """Re-read each kept frame at full resolution and measure its mask and intensity."""

    def measure(sample: Sample, shape: tuple[int, int]) -> tuple:
        return _measure(sample, shape, labels)

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        rows = list(pool.map(measure, loaded.samples, loaded.original_shapes))
    histogram = np.sum([row[-1] for row in rows], axis=0, dtype=np.int64)
    columns = list(zip(*(row[:-1] for row in rows), strict=True))
    shapes, areas, per_structure, content, centroids, boxes, means, stds, saturated, black = (
        np.array(column, dtype=np.float64) for column in columns
    )
    return FrameStats(
        shapes=shapes.astype(np.int64),
        areas=areas.astype(np.int64),
        structure_areas=per_structure.astype(np.int64).reshape(len(rows), labels.count),
        content=content.astype(np.int64),
        centroids=centroids,
        boxes=boxes,
        means=means,
        stds=stds,
        saturated=saturated,
        black=black,
        histogram=histogram,
    )


def _measure(sample: Sample, shape: tuple[int, int], labels: LabelMap) -> tuple:
    image = read_image(sample.image_path)
    mask = read_full_mask(sample, shape, labels=labels)
    per_structure = [int(np.count_nonzero(mask & (1 << k))) for k in range(labels.count)]
    # Pillow's histogram and row/column profiles: 5x faster than bincount and nonzero.
    counts = np.array(Image.fromarray(image).histogram(), dtype=np.int64)
    mean, std = histogram_moments(counts)
    pixels = image.size
    rows, cols = np.count_nonzero(mask, axis=1), np.count_nonzero(mask, axis=0)
    area = int(rows.sum())
    if area:
        centroid = (rows @ np.arange(rows.size) / area, cols @ np.arange(cols.size) / area)
        on_rows, on_cols = np.flatnonzero(rows), np.flatnonzero(cols)
        box = (on_rows[0], on_cols[0], on_rows[-1], on_cols[-1])
    else:
        centroid, box = (np.nan, np.nan), (np.nan,) * 4
    return (
        shape,
        area,
        per_structure,
        content_box(image),
        centroid,
        box,
        mean,
        std,
        counts[255] / pixels,
        counts[0] / pixels,
        counts,
    )


def histogram_moments(counts: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation in [0, 1] of the pixels a 256-bin histogram counts."""
    values = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum()
    mean = float(counts @ values / total)
    variance = float(counts @ (values - mean) ** 2 / total)
    return mean, variance**0.5


def _intensity(images: np.ndarray) -> tuple[float, float]:
    """Mean and std in [0, 1] at the inspection size, the resized pixels training normalises."""
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, len(images), _CHUNK):
        counts += np.bincount(images[start : start + _CHUNK].ravel(), minlength=256)
    return histogram_moments(counts)


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


def spread(values: np.ndarray) -> dict[str, float]:
    """``min``, ``median``, ``mean`` and ``max`` of ``values`` (NaN ignored; all NaN if none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if not values.size:
        return dict.fromkeys(("min", "median", "mean", "max"), float("nan"))
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }


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
