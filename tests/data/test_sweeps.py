"""Names without subjects: frames grouped into sweeps, and splits that keep each sweep whole."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy import ndimage

from nerveseg.data.loading import LoadedSet
from nerveseg.data.samples import Sample, subject_of
from nerveseg.data.splits import fold_by_subject, split_by_subject
from nerveseg.data.sweeps import SWEEP_THRESHOLD, names_carry_subjects, with_sweep_subjects


def _sweep(rng: np.random.Generator, frames: int) -> list[np.ndarray]:
    """A probe sweep: one smooth picture, moved a pixel per frame, with fresh speckle."""
    scene = ndimage.gaussian_filter(rng.standard_normal((64, 90)), 3)
    scene = 128 + 120 * scene / np.abs(scene).max()
    shots = []
    for shift in range(frames):
        frame = scene[8:56, shift : shift + 64] + rng.normal(0, 4, (48, 64))
        shots.append(np.clip(frame, 0, 255).astype(np.uint8))
    return shots


def _subjectless_set(sweeps: int = 4, frames: int = 5) -> tuple[LoadedSet, list[int]]:
    """``sweeps`` sweeps whose frames are numbered in a shuffled order: ``0001`` ... ``0020``."""
    rng = np.random.default_rng(0)
    images, truth = [], []
    for number in range(sweeps):
        images += _sweep(rng, frames)
        truth += [number] * frames
    order = rng.permutation(len(images))
    names = [f"{i + 1:04d}" for i in range(len(images))]
    samples = [Sample(n, subject_of(n), Path(f"{n}.png")) for n in names]
    loaded = LoadedSet(
        samples=samples,
        images=np.stack([images[i] for i in order]),
        masks=np.zeros((len(images), 48, 64), np.uint8),
        original_shapes=[(48, 64)] * len(images),
    )
    return loaded, [truth[i] for i in order]


def test_names_carry_subjects_unless_every_frame_is_its_own():
    kaggle = [Sample(n, subject_of(n), Path(n)) for n in ("5_1", "5_2", "6_1")]
    numbered = [Sample(n, subject_of(n), Path(n)) for n in ("0001", "0002")]
    assert names_carry_subjects(kaggle) and not names_carry_subjects(numbered)
    loaded = LoadedSet(kaggle, np.zeros((3, 4, 4), np.uint8), None, [(4, 4)] * 3)
    assert with_sweep_subjects(loaded) is loaded


def test_subjectless_frames_are_grouped_by_sweep_with_one_warning(caplog):
    loaded, truth = _subjectless_set()
    with caplog.at_level(logging.WARNING, logger="nerveseg"):
        grouped = with_sweep_subjects(loaded, SWEEP_THRESHOLD)
    assert len(caplog.records) == 1 and "carry no subject" in caplog.text
    assert "4 sweeps" in caplog.text
    subjects = [s.subject for s in grouped.samples]
    assert subjects[0] == "sweep-1"
    # The groups are exactly the sweeps, whatever their names' order.
    pairs = {(s, t) for s, t in zip(subjects, truth, strict=True)}
    assert len(pairs) == len(set(subjects)) == len(set(truth)) == 4
    assert [s.name for s in grouped.samples] == [s.name for s in loaded.samples]


def test_splits_and_folds_keep_a_sweep_on_one_side():
    loaded, truth = _subjectless_set(sweeps=6, frames=4)
    subjects = [s.subject for s in with_sweep_subjects(loaded).samples]
    truth = np.array(truth)
    for seed in range(3):
        train, val = split_by_subject(subjects, 0.34, seed)
        assert not set(truth[train]) & set(truth[val]) and len(val) == 8
    for fold in range(3):
        train, val = fold_by_subject(subjects, [False] * len(subjects), 3, fold, 0)
        assert not set(truth[train]) & set(truth[val])
    # By single frames (what the names alone give) the same split mixes sweeps.
    names = [s.subject for s in loaded.samples]
    train, val = split_by_subject(names, 0.34, 0)
    assert set(truth[train]) & set(truth[val])
