"""Subject-wise splits: no subject on both sides, reproducible from the seed."""

import numpy as np
import pytest

from nerveseg.data.splits import fewer_training_subjects, fold_by_subject, split_by_subject
from nerveseg.errors import NervesegError


def test_no_subject_on_both_sides():
    subjects = [str(s) for s in range(10) for _ in range(7)]
    train, val = split_by_subject(subjects, 0.2, seed=3)
    assert {subjects[i] for i in train}.isdisjoint({subjects[i] for i in val})
    assert len(train) + len(val) == len(subjects)
    assert len({subjects[i] for i in val}) == 2


def test_same_seed_same_split_other_seed_other_split():
    subjects = [str(s) for s in range(20) for _ in range(3)]
    a = split_by_subject(subjects, 0.25, seed=1)[1].tolist()
    assert a == split_by_subject(subjects, 0.25, seed=1)[1].tolist()
    assert a != split_by_subject(subjects, 0.25, seed=2)[1].tolist()


def test_at_least_one_subject_each_side():
    train, val = split_by_subject(["a", "a", "b"], 0.01, seed=0)
    assert len(val) > 0 and len(train) > 0


def test_one_subject_is_an_error():
    with pytest.raises(NervesegError, match="at least 2 subjects"):
        split_by_subject(["a", "a"], 0.2, seed=0)


def _subjects_with_empty_shares(count: int, frames: int = 10):
    """Subjects whose share of nerve frames ranges from 0 to 1."""
    subjects, has_nerve = [], []
    for s in range(count):
        nerve_frames = round(frames * s / (count - 1))
        subjects += [str(s)] * frames
        has_nerve += [i < nerve_frames for i in range(frames)]
    return subjects, has_nerve


def test_folds_cover_every_subject_once():
    subjects, has_nerve = _subjects_with_empty_shares(20)
    seen = []
    for fold in range(5):
        train, val = fold_by_subject(subjects, has_nerve, 5, fold, seed=0)
        val_subjects = {subjects[i] for i in val}
        assert val_subjects.isdisjoint({subjects[i] for i in train})
        assert len(val_subjects) == 4
        seen += sorted(val_subjects)
    assert sorted(seen) == sorted(set(subjects))


def test_folds_are_stratified_by_empty_share():
    subjects, has_nerve = _subjects_with_empty_shares(20)
    nerve = np.array(has_nerve)
    shares = [nerve[fold_by_subject(subjects, has_nerve, 5, f, seed=3)[1]].mean() for f in range(5)]
    assert max(shares) - min(shares) <= 0.1  # the overall share is 0.5


def test_folds_are_reproducible_from_the_seed():
    subjects, has_nerve = _subjects_with_empty_shares(12)
    a = fold_by_subject(subjects, has_nerve, 3, 1, seed=7)[1].tolist()
    assert a == fold_by_subject(subjects, has_nerve, 3, 1, seed=7)[1].tolist()


@pytest.mark.parametrize(
    ("folds", "fold", "message"),
    [(1, 0, "at least 2"), (3, 3, "between 0 and 2"), (30, 0, "at least 30 subjects")],
)
def test_bad_fold_requests(folds, fold, message):
    subjects, has_nerve = _subjects_with_empty_shares(5)
    with pytest.raises(NervesegError, match=message):
        fold_by_subject(subjects, has_nerve, folds, fold, seed=0)


def test_fewer_training_subjects_keeps_whole_subjects_and_leaves_validation_alone():
    subjects = [str(s) for s in range(10) for _ in range(4)]
    train, _ = fold_by_subject(subjects, [True] * len(subjects), folds=5, fold=0, seed=0)
    fewer = fewer_training_subjects(subjects, train, count=3, seed=0)
    kept = {subjects[i] for i in fewer}
    assert len(kept) == 3 and kept <= {subjects[i] for i in train}
    # every frame of a kept subject stays: whole subjects, not frames, are dropped
    assert len(fewer) == 3 * 4
    assert set(fewer.tolist()) <= set(train.tolist())
    assert fewer_training_subjects(subjects, train, count=3, seed=0).tolist() == fewer.tolist()
    assert fewer_training_subjects(subjects, train, count=3, seed=1).tolist() != fewer.tolist()


@pytest.mark.parametrize("count", [0, 8, 20])
def test_fewer_training_subjects_zero_or_too_many_keeps_all(count):
    subjects = [str(s) for s in range(10) for _ in range(2)]
    train, _ = fold_by_subject(subjects, [True] * len(subjects), folds=5, fold=1, seed=0)
    assert fewer_training_subjects(subjects, train, count, seed=0).tolist() == train.tolist()
