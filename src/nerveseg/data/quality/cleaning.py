"""Repairing contradictory labels of near-duplicate training frames.

Policies, applied to the groups :func:`~nerveseg.data.quality.duplicates.find_duplicate_groups` flags as
contradictory (groups whose masks agree are left alone):

- ``none``: skip detection entirely.
- ``report``: find the groups, change nothing.
- ``drop``: leave every frame of a contradictory group out of training. Keeping the labelled
  member and dropping only its empty twin was considered: that bets on the nerve, which
  ``union`` already does (and keeps both copies as evidence), and a group of two non-empty
  masks in different places has no single labelled member to prefer. ``drop`` is the policy that
  asserts nothing about which label was right.
- ``union``: every member gets the union of the group's masks (bets on the nerve: an annotator
  missed it, or drew part of it).
- ``majority``: every member gets the pixelwise majority of the group's masks. A pixel marked in
  exactly half of the masks follows the group's vote of non-empty against empty masks; when that
  vote is tied too (the common case, one labelled and one empty copy) the pixel stays empty. The
  competition scores an empty prediction on an empty mask 1 and any nerve on it 0, so where the
  annotators were split 50/50 predicting no nerve is the better bet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nerveseg.data.quality.duplicates import (
    DEFAULT_THRESHOLD,
    DuplicateGroup,
    find_duplicate_groups,
)
from nerveseg.errors import ConfigError

CLEAN_POLICIES = ("none", "report", "drop", "union", "majority")


@dataclass
class CleanResult:
    """Training frames after a cleaning policy.

    Attributes:
        keep: int indices into the arrays given, of the frames to train on, ascending.
        masks: ``(N, h, w)`` uint8 packed masks after repair, in the input order (all N, also the
            dropped ones); a copy when any mask changed, else the input array itself.
        groups: every duplicate group found (contradictory or not); empty for ``none``.
        changed_frames: frames whose mask the policy changed.
        dropped_frames: frames left out of ``keep``.
    """

    keep: np.ndarray
    masks: np.ndarray
    groups: list[DuplicateGroup]
    changed_frames: int
    dropped_frames: int


def check_policy(policy: str) -> None:
    """Raise :class:`ConfigError` naming the valid policies unless ``policy`` is one."""
    if policy not in CLEAN_POLICIES:
        raise ConfigError(
            f"unknown cleaning policy {policy!r}; choose one of {', '.join(CLEAN_POLICIES)}"
        )


def clean_training_frames(
    images: np.ndarray,
    masks: np.ndarray,
    subjects: Sequence[str],
    policy: str,
    threshold: float = DEFAULT_THRESHOLD,
) -> CleanResult:
    """Find near-duplicate groups among training frames and apply a policy to contradictions.

    Only ever call this on the training frames: validation and test frames must keep their
    labels as given, or the scores would be measured against repaired (easier) labels.

    Args:
        images: ``(N, h, w)`` uint8 training frames.
        masks: ``(N, h, w)`` uint8 masks in ``{0, 1}``.
        subjects: the subject of each frame.
        policy: one of :data:`CLEAN_POLICIES` (see the module docstring).
        threshold: signature distance below which two frames are duplicates.

    Raises:
        ConfigError: an unknown policy or a bad threshold.
    """
    check_policy(policy)
    if policy == "none":
        return CleanResult(np.arange(len(masks)), masks, [], 0, 0)
    groups = find_duplicate_groups(images, masks, subjects, threshold)
    return apply_policy(masks, groups, policy)


def apply_policy(masks: np.ndarray, groups: Sequence[DuplicateGroup], policy: str) -> CleanResult:
    """Apply ``policy`` to the contradictory ``groups`` already found among ``masks``.

    Lets a caller compare policies without finding the groups again.
    """
    check_policy(policy)
    groups = list(groups)
    keep = np.arange(len(masks))
    contradictory = [group for group in groups if group.contradictory]
    if policy in ("none", "report") or not contradictory:
        return CleanResult(keep, masks, groups, 0, 0)
    if policy == "drop":
        dropped = sorted({i for group in contradictory for i in group.members})
        keep = np.setdiff1d(keep, dropped)
        return CleanResult(keep, masks, groups, 0, len(dropped))
    repaired = masks.copy()
    for group in contradictory:
        repaired[group.members] = _merge(masks[group.members], policy).astype(masks.dtype)
    changed = int((repaired != masks).reshape(len(masks), -1).any(axis=1).sum())
    return CleanResult(keep, repaired if changed else masks, groups, changed, 0)


def _merge(members: np.ndarray, policy: str) -> np.ndarray:
    """``(n, h, w)`` packed masks of one group -> the ``(h, w)`` mask every member gets.

    Each structure (bit) is merged on its own, so one structure gives the ``{0, 1}`` mask of
    before and a vessel's pixels never become nerve.
    """
    present = int(np.bitwise_or.reduce(members.astype(np.uint8), axis=None))
    merged = np.zeros(members.shape[1:], dtype=np.uint8)
    for bit in range(8):
        if present >> bit & 1:
            merged |= _merge_plane((members >> bit) & 1, policy).astype(np.uint8) << bit
    return merged


def _merge_plane(members: np.ndarray, policy: str) -> np.ndarray:
    """``(n, h, w)`` masks of one structure -> the ``(h, w)`` bool mask every member gets."""
    marked = members != 0
    if policy == "union":
        return marked.any(axis=0)
    votes = marked.sum(axis=0) * 2
    n = len(members)
    nonempty = int(marked.reshape(n, -1).any(axis=1).sum())
    tie = nonempty * 2 > n  # a tied pixel follows the group's non-empty vote; a tied vote: empty
    return (votes > n) | ((votes == n) & tie)
