"""Subject-wise splits: no subject on both sides, reproducible from the seed."""

import pytest

from nerveseg.data.splits import split_by_subject
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
