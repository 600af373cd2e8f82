"""Subject-wise splits.

A subject's ~120 frames come from one probe sweep and are near-duplicates of each other, so a
split by image leaks the validation set into training and overstates every score. Every split
here keeps all frames of a subject on one side: a single hold-out split by share of
subjects, or k folds stratified by the share of empty frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nerveseg.errors import NervesegError


def split_by_subject(
    subjects: Sequence[str], val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split frame indices into train and validation by subject.

    Args:
        subjects: the subject of each frame.
        val_fraction: share of *subjects* to hold out (at least one subject is held out).
        seed: makes the choice reproducible.

    Returns:
        ``(train_indices, val_indices)``, each sorted.
    """
    if not 0.0 < val_fraction < 1.0:
        raise NervesegError(f"data.val_fraction must be between 0 and 1, got {val_fraction}")
    unique = sorted(set(subjects), key=_natural_key)
    if len(unique) < 2:
        raise NervesegError(
            f"a subject-wise split needs at least 2 subjects, found {len(unique)} ({unique}); "
            "name frames SUBJECT_INDEX (e.g. 3_17.tif) so nerveseg can tell subjects apart"
        )
    rng = np.random.default_rng(seed)
    count = min(len(unique) - 1, max(1, round(val_fraction * len(unique))))
    held_out = set(rng.choice(np.array(unique, dtype=object), size=count, replace=False).tolist())
    is_val = np.array([s in held_out for s in subjects])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _natural_key(text: str) -> tuple:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def fold_by_subject(
    subjects: Sequence[str], has_nerve: Sequence[bool], folds: int, fold: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """K-fold cross-validation grouped by subject and stratified by the share of empty frames.

    Subjects are shuffled (by ``seed``), ordered by their share of frames with a nerve, and dealt
    to the folds in a snake order (0, 1, ..., k-1, k-1, ..., 0, ...), so every fold gets subjects
    from across the range and a similar share of empty frames: the all-empty score, and with
    it every competition score, is comparable between folds.

    Returns:
        ``(train_indices, val_indices)`` for fold number ``fold`` (0-based), each sorted.
    """
    unique = sorted(set(subjects), key=_natural_key)
    if folds < 2:
        raise NervesegError(f"--folds must be at least 2, got {folds}")
    if not 0 <= fold < folds:
        raise NervesegError(f"--fold must be between 0 and {folds - 1}, got {fold}")
    if len(unique) < folds:
        raise NervesegError(
            f"{folds} folds need at least {folds} subjects, found {len(unique)}; use fewer --folds"
        )
    assignment = assign_folds(subjects, has_nerve, folds, seed)
    is_val = np.array([assignment[s] == fold for s in subjects])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def fewer_training_subjects(
    subjects: Sequence[str], train_idx: np.ndarray, count: int, seed: int
) -> np.ndarray:
    """``train_idx`` cut down to the frames of ``count`` of its subjects, drawn by ``seed``.

    A learning curve asks what more labelled subjects would buy: train on fewer of them and
    watch the held-out score, with the validation side of the split left exactly as it was.
    ``count`` of 0, or at least the number of training subjects, keeps them all.
    """
    unique = sorted({subjects[i] for i in train_idx}, key=_natural_key)
    if count <= 0 or count >= len(unique):
        return train_idx
    rng = np.random.default_rng(seed)
    kept = set(rng.choice(np.array(unique, dtype=object), size=count, replace=False).tolist())
    return np.array([i for i in train_idx if subjects[i] in kept], dtype=train_idx.dtype)


def assign_folds(
    subjects: Sequence[str], has_nerve: Sequence[bool], folds: int, seed: int
) -> dict[str, int]:
    """The fold of every subject (see :func:`fold_by_subject`)."""
    frames: dict[str, list[bool]] = {}
    for subject, nerve in zip(subjects, has_nerve, strict=True):
        frames.setdefault(subject, []).append(bool(nerve))
    order = sorted(frames, key=_natural_key)
    shuffled = [order[i] for i in np.random.default_rng(seed).permutation(len(order))]
    ranked = sorted(shuffled, key=lambda s: float(np.mean(frames[s])))  # stable: ties stay shuffled
    snake = [*range(folds), *reversed(range(folds))]
    return {subject: snake[i % len(snake)] for i, subject in enumerate(ranked)}
