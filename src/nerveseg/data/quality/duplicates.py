"""Near-duplicate frames within a subject, and which of them carry contradictory labels.

The Kaggle training set holds near-identical pictures of one subject labelled once with the nerve
and once without (or with two masks in different places). Frames are compared through small
signatures: the frame area-averaged to ``24x32`` (which averages speckle away), made zero-mean
and unit-norm (so gain changes do not matter). The distance of two frames is the Euclidean
distance of their signatures, ``sqrt(2 - 2 r)`` for their correlation ``r``: 0 for the same
picture, about 1.4 for unrelated ones. Frames closer than a threshold are linked and the
connected components of the links within a subject are the groups; frames of different subjects
are never compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nerveseg.errors import ConfigError

# Measured with the 24x32 signatures on frames loaded at 96x128 by benchmarks/clean_speed.py
# (loading at 128x160 gives the same group counts):
# - Synthetic (47 x 120 frames, 60 injected pairs): injected pairs 0.002-0.004; every other
#   frame's nearest neighbour >= 0.03 (1st percentile 0.076, median 0.14: consecutive frames of
#   a sweep). Any threshold from 0.005 to 0.03 finds exactly the 60 pairs and nothing else.
# - Real sample (1,816 labelled frames of 40 subjects, lossy copies): nearest-neighbour
#   distances are bimodal, a cluster of same pictures below 0.015 (205 frames), a dip at
#   0.015-0.02 (6 frames), then ordinary sweep neighbours (median 0.22). Groups: 83 at 0.015,
#   85 at 0.02, 89 at 0.025, 92 at 0.03, then they grow again (107 at 0.05, 142 at 0.08); the
#   largest stays 9 frames of a probe held still. In sampled pairs, those up to ~0.025 show the
#   same picture, those from ~0.033 visibly moved. The lossy copy alone moves a frame 0.009-0.013
#   from its original TIFF (6 frames have both), so duplicates among the originals may sit a
#   little higher than in the sample: 0.025, mid-plateau, leaves that room and stays below the
#   closest distinct frames seen (0.03 synthetic, 0.033 real), 7x above the synthetic pairs.
DEFAULT_THRESHOLD = 0.025

# Two masks drawn on the same real picture mostly agree with IoU 0.5-0.9 (217 labelled pairs in
# real groups at 0.02, IoU on the coverage grid: 200 at >= 0.5, 16 at 0.3-0.5, none at 0.1-0.3,
# one at 0.0: a strip along the top drawn instead of the nerve). Below 0.25 the two masks mark
# different structures, not one nerve drawn twice.
DEFAULT_OVERLAP_IOU = 0.25

THUMBNAIL_SIZE = (24, 32)
# Masks are compared as area coverage on this grid: fine enough for a nerve of ~2% of the frame,
# cheap for any input size.
_MASK_GRID = (48, 64)
# Pixels per chunk when shrinking frames, so full-size 420x580 sets never make a float copy of
# the whole stack.
_CHUNK_PIXELS = 1 << 23


@dataclass
class DuplicateGroup:
    """Frames of one subject that show the same picture.

    Attributes:
        subject: the subject all members belong to.
        members: indices into the arrays given to :func:`find_duplicate_groups`, sorted.
        contradictory: the members' masks disagree (some empty and some not, or two non-empty
            masks that barely overlap). Always False when no masks were given.
        reason: why the group is contradictory, e.g. ``"3 of 5 masks empty"`` or
            ``"masks barely overlap (IoU 0.12)"``; ``""`` when it is not.
        max_distance: the largest signature distance of a linked pair in the group.
    """

    subject: str
    members: list[int]
    contradictory: bool
    reason: str
    max_distance: float


def area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """``(size_out, size_in)`` float32 weights that area-average a line of pixels to a new length.

    Each output pixel averages the input pixels it covers, partly covered ones pro rata, so
    ``A @ image @ B.T`` is the exact area average for any pair of sizes (Pillow's BOX resize for
    whole-number ratios), on a whole stack at once.
    """
    edges = np.arange(size_out + 1) * (size_in / size_out)
    start = np.arange(size_in)
    overlap = np.minimum(edges[1:, None], start + 1) - np.maximum(edges[:-1, None], start)
    weights = np.clip(overlap, 0.0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def shrink(stack: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average ``(N, h, w)`` frames (any dtype) to ``(N, *size)`` float32, in chunks."""
    n, height, width = stack.shape
    rows, cols = area_matrix(height, size[0]), area_matrix(width, size[1])
    out = np.empty((n, *size), dtype=np.float32)
    step = max(1, _CHUNK_PIXELS // max(height * width, 1))
    for start in range(0, n, step):
        chunk = stack[start : start + step].astype(np.float32)
        out[start : start + step] = rows @ chunk @ cols.T
    return out


def thumbnails(images: np.ndarray, size: tuple[int, int] = THUMBNAIL_SIZE) -> np.ndarray:
    """Signature vectors for comparing frames.

    Args:
        images: ``(N, h, w)`` uint8 frames, any size.
        size: ``(h, w)`` the frames are area-averaged to.

    Returns:
        ``(N, h * w)`` float32, each row zero-mean with unit norm (all zeros for a flat frame).
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, h, w), got shape {images.shape}")
    vectors = shrink(images, size).reshape(len(images), -1)
    vectors -= vectors.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A flat frame has no pattern to compare; it stays the zero vector (distance 0 to another).
    vectors /= np.where(norms > 1e-6, norms, 1.0)
    return vectors


def pairwise_distances(vectors: np.ndarray) -> np.ndarray:
    """``(n, d)`` -> ``(n, n)`` float64 Euclidean distances, from one matrix product."""
    vectors = vectors.astype(np.float64)
    squares = np.einsum("ij,ij->i", vectors, vectors)
    d2 = squares[:, None] + squares[None, :] - 2.0 * (vectors @ vectors.T)
    return np.sqrt(np.clip(d2, 0.0, None))


def mask_coverage(masks: np.ndarray) -> np.ndarray:
    """``(n, h, w)`` masks -> ``(n, 48 * 64)`` float32 share of each grid cell the mask covers."""
    masks = np.asarray(masks)
    return shrink(masks != 0, _MASK_GRID).reshape(len(masks), -1)


def pairwise_mask_iou(coverage: np.ndarray) -> np.ndarray:
    """``(n, d)`` coverage from :func:`mask_coverage` -> ``(n, n)`` IoU; empty/empty counts 1.

    On coverage the IoU is ``sum(min) / sum(max)``: the exact IoU where masks fill whole cells,
    slightly above it along their edges.
    """
    n = len(coverage)
    iou = np.ones((n, n))
    for i in range(n):
        inter = np.minimum(coverage[i], coverage).sum(axis=1)
        union = np.maximum(coverage[i], coverage).sum(axis=1)
        iou[i] = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 1.0)
    return iou


def find_duplicate_groups(
    images: np.ndarray,
    masks: np.ndarray | None,
    subjects: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    overlap_iou: float = DEFAULT_OVERLAP_IOU,
    names: Sequence[str] | None = None,
) -> list[DuplicateGroup]:
    """Groups (size >= 2) of near-identical frames within each subject.

    Args:
        images: ``(N, h, w)`` uint8 frames at any size (the training size is fine).
        masks: ``(N, h', w')`` packed masks (bit ``k`` = structure ``k``; one structure:
            nonzero = nerve), or None to only find the groups.
        subjects: the subject of each frame; groups never span two subjects.
        threshold: frames whose signature distance is below this are linked.
        overlap_iou: two non-empty masks of one group with an IoU below this contradict.
        names: the structures' names, for the reasons of several structures' contradictions.

    Returns:
        The groups, ordered by their first member.

    Raises:
        ConfigError: a threshold outside its range.
        ValueError: arrays whose lengths do not match.
    """
    if not threshold > 0:
        raise ConfigError(f"the duplicate threshold must be > 0, got {threshold}")
    if not 0 <= overlap_iou <= 1:
        raise ConfigError(f"the overlap IoU must be from 0 to 1, got {overlap_iou}")
    images = np.asarray(images)
    subjects = np.asarray([str(s) for s in subjects])
    if len(subjects) != len(images) or (masks is not None and len(masks) != len(images)):
        masks_n = "no" if masks is None else len(masks)
        raise ValueError(
            f"got {len(images)} images, {masks_n} masks and {len(subjects)} subjects; "
            "they must match"
        )
    if len(images) == 0:
        return []
    vectors = thumbnails(images)
    groups = []
    for subject in dict.fromkeys(subjects):
        index = np.flatnonzero(subjects == subject)
        for members, distance in _link(vectors[index], threshold):
            groups.append(
                DuplicateGroup(str(subject), index[members].tolist(), False, "", distance)
            )
    groups.sort(key=lambda group: group.members[0])
    if masks is not None:
        for group in groups:
            group.reason = contradiction(np.asarray(masks)[group.members], overlap_iou, names)
            group.contradictory = bool(group.reason)
    return groups


def _link(vectors: np.ndarray, threshold: float) -> list[tuple[np.ndarray, float]]:
    """Connected components of the below-threshold links: (member positions, largest link)."""
    # Imported here: scipy.sparse takes ~1 s to import, and every `nerveseg` command imports
    # this module through the CLI for DEFAULT_THRESHOLD.
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    distances = pairwise_distances(vectors)
    linked = np.triu(distances < threshold, k=1)
    rows, cols = np.nonzero(linked)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=distances.shape)
    _, labels = connected_components(graph, directed=False)
    found = []
    for label in np.unique(labels[rows]):
        members = np.flatnonzero(labels == label)
        edges = labels[rows] == label
        found.append((members, float(distances[rows[edges], cols[edges]].max())))
    return found


def contradiction(
    masks: np.ndarray,
    overlap_iou: float = DEFAULT_OVERLAP_IOU,
    names: Sequence[str] | None = None,
) -> str:
    """Why the masks of one group contradict each other, or ``""`` when they agree.

    With several structures each is judged on its own (a vessel drawn in one copy and missing
    in the other contradicts, however well the nerves agree) and named in the reason.

    Args:
        masks: ``(n, h, w)`` packed masks of the group's members (one structure: nonzero).
        overlap_iou: non-empty masks with a lower IoU than this (on the coarse grid) contradict.
        names: the structures' names (default ``structure 1``, ``structure 2`` ...).
    """
    masks = np.asarray(masks)
    several = (names is not None and len(names) > 1) or (masks.size and int(masks.max()) > 1)
    if not several:
        return _contradiction(masks, overlap_iou)
    present = int(np.bitwise_or.reduce(masks.astype(np.uint8), axis=None))
    reasons = []
    for k in range(8):
        if present >> k & 1:
            reason = _contradiction((masks >> k) & 1, overlap_iou)
            if reason:
                name = names[k] if names is not None and k < len(names) else f"structure {k + 1}"
                reasons.append(f"{name}: {reason}")
    return "; ".join(reasons)


def _contradiction(masks: np.ndarray, overlap_iou: float) -> str:
    """:func:`contradiction` for one structure's masks (nonzero = the structure)."""
    empty = ~np.asarray(masks).reshape(len(masks), -1).any(axis=1)
    reasons = []
    if empty.any() and not empty.all():
        reasons.append(f"{int(empty.sum())} of {len(empty)} masks empty")
    if (~empty).sum() >= 2:
        lowest = float(pairwise_mask_iou(mask_coverage(masks[~empty])).min())
        if lowest < overlap_iou:
            reasons.append(f"masks barely overlap (IoU {lowest:.2f})")
    return "; ".join(reasons)
