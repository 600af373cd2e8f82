"""Decoding samples into arrays at one size, with every pixel-level check on the way.

Each file is decoded exactly once, and that decode is where the pixel-level checks happen:
unreadable files, masks of the wrong size, mask values that mean no structure (non-binary masks
for the Kaggle default), and ``train_masks.csv`` rows that disagree with the mask file. All
problems are collected and reported together. Masks come back packed, one bit per structure
(:mod:`nerveseg.data.structures`); frames reach the network size by ``data.resize``
(:mod:`nerveseg.data.geometry`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from nerveseg.data.geometry import fit_image, fit_mask
from nerveseg.data.geometry import resize_image as resize_image  # where callers found it
from nerveseg.data.images import read_image
from nerveseg.data.kaggle import TRAIN_MASKS_CSV
from nerveseg.data.labels import read_labels
from nerveseg.data.rle import RLEError, rle_decode
from nerveseg.data.samples import Sample, apply_skip_policy
from nerveseg.data.structures import DEFAULT_LABELS, LabelMap
from nerveseg.errors import DataError, NervesegError, Problem

# Pillow releases the GIL while decoding and resizing, so two threads use both cores of a small
# machine without the start-up and pickling cost of processes.
_WORKERS = 2

_LOAD_HINT = (
    "Fix or replace the files listed, or skip bad samples with --skip-bad (skip_bad=True in "
    "Python) to use the rest."
)


@dataclass
class LoadedSet:
    """Decoded samples, ready for training or prediction.

    Attributes:
        samples: the samples kept, in the same order as the arrays.
        images: ``(N, h, w)`` uint8 scans.
        masks: ``(N, h, w)`` uint8 packed masks (bit ``k`` = structure ``k``; ``{0, 1}`` for one
            structure), or None for an unlabelled set.
        original_shapes: ``(H, W)`` of each file before resizing, to map predictions back.
        problems: what was skipped (only ever non-empty with ``skip_bad=True``).
    """

    samples: list[Sample]
    images: np.ndarray
    masks: np.ndarray | None
    original_shapes: list[tuple[int, int]]
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Decoded:
    """One sample after decoding: arrays, or the problems that stopped it."""

    image: np.ndarray | None = None
    mask: np.ndarray | None = None
    shape: tuple[int, int] | None = None
    problems: list[Problem] = field(default_factory=list)


def load_set(
    samples: Sequence[Sample],
    size: tuple[int, int] | None,
    *,
    labels: LabelMap = DEFAULT_LABELS,
    resize: str = "stretch",
    skip_bad: bool = False,
    threshold_masks: bool = False,
    progress: bool = False,
) -> LoadedSet:
    """Decode, check and resize every sample.

    Args:
        samples: from :func:`~nerveseg.data.samples.discover_labelled` (masks are loaded) or
            :func:`~nerveseg.data.samples.discover_unlabelled` (``masks`` is None).
        size: ``(h, w)`` to resize to, or None to keep the files' size (which must then be the
            same for all). Scans use antialiased bilinear resizing; masks are area-averaged and
            kept where at least half covered, so thin nerves neither vanish nor grow.
        labels: what mask values mean (``data.structures``, ``data.ignore_values``).
        resize: ``stretch`` or ``letterbox`` (aspect kept, padded), see
            :mod:`nerveseg.data.geometry`; only used with a ``size``.
        skip_bad: leave out samples with problems (listed in ``problems`` and one warning)
            instead of raising.
        threshold_masks: binarise non-binary (e.g. JPEG) masks at half range instead of refusing.
        progress: show a tqdm progress bar when tqdm is installed.

    Raises:
        DataError: listing every problem, unless ``skip_bad``; always when nothing is usable.
    """
    samples = list(samples)
    if not samples:
        raise NervesegError("no samples to load: the data folder yielded none")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"size must be (height, width) with positive values, got {size}")
    labelled = any(sample.labelled for sample in samples)

    def decode(sample: Sample) -> _Decoded:
        return _decode(sample, size, resize, labels, labelled=labelled, threshold=threshold_masks)

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        decoded = list(_with_progress(pool.map(decode, samples), len(samples), progress))

    problems = [problem for item in decoded for problem in item.problems]
    keep = [i for i, item in enumerate(decoded) if not item.problems]
    if size is None:
        keep, odd = _common_shape(samples, decoded, keep)
        problems += odd
    apply_skip_policy(
        problems, len(keep), skip_bad=skip_bad, hint=_LOAD_HINT, stage="loading images"
    )
    return LoadedSet(
        samples=[samples[i] for i in keep],
        original_shapes=[decoded[i].shape for i in keep],
        images=_stack_and_release(decoded, keep, "image"),
        masks=_stack_and_release(decoded, keep, "mask") if labelled else None,
        problems=problems,
    )


def read_full_mask(
    sample: Sample,
    shape: tuple[int, int],
    *,
    labels: LabelMap = DEFAULT_LABELS,
    threshold: bool = False,
) -> np.ndarray:
    """The sample's ``(H, W)`` uint8 packed mask at the original resolution, from its file or RLE.

    Used for full-resolution evaluation, where the competition scores. One structure gives
    ``{0, 1}``.

    Raises:
        DataError: the mask is missing, unreadable, not ``shape``, holds values that mean no
            structure, or disagrees with the CSV.
    """
    return _full_mask(sample, tuple(shape), labels, threshold=threshold)


def _decode(
    sample: Sample,
    size: tuple[int, int] | None,
    resize: str,
    labels: LabelMap,
    *,
    labelled: bool,
    threshold: bool,
) -> _Decoded:
    """Read one sample; problems are returned, not raised, so one bad file stops nothing."""
    try:
        image = read_image(sample.image_path)
        mask = _full_mask(sample, image.shape, labels, threshold=threshold) if labelled else None
    except DataError as exc:
        return _Decoded(problems=exc.problems)
    if size is None:
        small, small_mask = image, None if mask is None else mask.astype(np.uint8)
    else:
        small = fit_image(image, size, resize)
        small_mask = None if mask is None else fit_mask(mask, size, resize)
    return _Decoded(image=small, mask=small_mask, shape=image.shape)


def _full_mask(
    sample: Sample, shape: tuple[int, int], labels: LabelMap, *, threshold: bool
) -> np.ndarray:
    """Mask from the file, the CSV row, or both after checking that they agree."""
    if not sample.labelled:
        raise DataError([Problem(sample.image_path, "has no mask, but the set is labelled")])
    from_file = None
    if sample.mask_path is not None:
        from_file = read_labels(sample.mask_path, labels, threshold=threshold)
        if from_file.shape != shape:
            reason = (
                f"mask is {_wxh(from_file.shape)} but its image is {_wxh(shape)}; "
                "masks must match their image's size"
            )
            raise DataError([Problem(sample.mask_path, reason)])
    if sample.mask_rle is None:
        return from_file
    # The CSV is Kaggle's: it holds the first structure (the nerve) only.
    from_rle = _rle_mask(sample, shape)
    if from_file is None:
        if labels.count > 1:
            reason = (
                f"has only its {TRAIN_MASKS_CSV} row, which holds the first structure "
                f"({labels.names[0]}) only; give it a mask file holding every structure"
            )
            raise DataError([Problem(sample.image_path, reason)])
        return from_rle.astype(np.uint8)
    first = (from_file & 1).astype(bool)
    if not np.array_equal(first, from_rle):
        differ = int(np.count_nonzero(first != from_rle))
        reason = (
            f"disagrees with the {TRAIN_MASKS_CSV} row for {sample.name} ({differ} pixels "
            "differ); one of them is wrong: fix or remove the mask file or the row"
        )
        if labels.count > 1 or not labels.binary:
            reason += f" (the row holds the first structure, {labels.names[0]})"
        else:
            reason += " (a mask file of several structures needs data.structures)"
        raise DataError([Problem(sample.mask_path, reason)])
    return from_file


def _rle_mask(sample: Sample, shape: tuple[int, int]) -> np.ndarray:
    """Decode the sample's CSV row at its image's size (580x420 for Kaggle frames).

    Run-length codes only mean something for a given frame size; decoding at the image's own
    size lets a Kaggle-layout set of another size (such as a small synthetic one) carry a CSV too.
    """
    try:
        return rle_decode(sample.mask_rle, shape)
    except RLEError as exc:
        reason = f"its {TRAIN_MASKS_CSV} row does not fit this {_wxh(shape)} image: {exc}"
        raise DataError([Problem(sample.image_path, reason)]) from None


def _stack_and_release(decoded: list[_Decoded], keep: list[int], attr: str) -> np.ndarray:
    """Copy each kept array into one block, dropping it as we go to avoid holding two copies."""
    first = getattr(decoded[keep[0]], attr)
    block = np.empty((len(keep), *first.shape), dtype=first.dtype)
    for row, i in enumerate(keep):
        block[row] = getattr(decoded[i], attr)
        setattr(decoded[i], attr, None)
    return block


def _common_shape(
    samples: list[Sample], decoded: list[_Decoded], keep: list[int]
) -> tuple[list[int], list[Problem]]:
    """Without resizing, arrays stack only if all sizes agree: the odd ones out are problems."""
    counts = Counter(decoded[i].shape for i in keep)
    if len(counts) <= 1:
        return keep, []
    common = counts.most_common(1)[0][0]
    odd = [
        Problem(
            samples[i].image_path,
            f"is {_wxh(decoded[i].shape)} but most images are {_wxh(common)}; "
            "give a size to resize to, or make all images one size",
        )
        for i in keep
        if decoded[i].shape != common
    ]
    return [i for i in keep if decoded[i].shape == common], odd


def _with_progress(items: Iterable, total: int, enabled: bool) -> Iterator:
    """Wrap ``items`` in a tqdm bar when asked and available; tqdm is optional."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            return iter(tqdm(items, total=total, desc="loading", unit="image"))
    return iter(items)


def _wxh(shape: tuple[int, ...]) -> str:
    """``(H, W)`` -> ``"WxH"``, the way image sizes are usually written."""
    return f"{shape[1]}x{shape[0]}"
