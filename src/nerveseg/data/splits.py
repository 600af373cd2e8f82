"""Subject-wise splits.

A subject's ~120 frames come from one probe sweep and are near-duplicates of each other, so a
split by image leaks the validation set into training and overstates every score. Every split
here keeps all frames of a subject on one side.
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
