"""Which frames a run trains and validates on: the split, a learning curve's fewer subjects, and
a resumed run keeping its own."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from nerveseg import runs
from nerveseg.data.config import DataConfig
from nerveseg.training.frames import split_frames


def _data(subjects: int = 10, frames: int = 3) -> SimpleNamespace:
    samples = [
        SimpleNamespace(name=f"{s}_{f}", subject=str(s))
        for s in range(subjects)
        for f in range(frames)
    ]
    return SimpleNamespace(samples=samples, masks=np.ones((len(samples), 2, 2), dtype=np.uint8))


def test_train_subjects_keeps_that_many_and_the_same_validation(tmp_path: Path) -> None:
    data = _data()
    everything = DataConfig(root=str(tmp_path), folds=5, fold=2)
    train_all, val_all, _ = split_frames(everything, data, tmp_path, resume=False)
    fewer = DataConfig(root=str(tmp_path), folds=5, fold=2, train_subjects=3)
    train, val, record = split_frames(fewer, data, tmp_path, resume=False)
    assert val.tolist() == val_all.tolist()
    assert {data.samples[i].subject for i in train} < {data.samples[i].subject for i in train_all}
    assert len({data.samples[i].subject for i in train}) == 3
    assert record["train"] == [data.samples[i].name for i in train]


def test_a_resumed_run_trains_on_the_frames_its_split_recorded(tmp_path: Path) -> None:
    data = _data()
    config = DataConfig(root=str(tmp_path), folds=5, fold=0, train_subjects=2)
    train, val, record = split_frames(config, data, tmp_path, resume=False)
    (tmp_path / runs.SPLIT).write_text(json.dumps(record))
    # resumed with the default (all subjects): the run's own record wins
    resumed_train, resumed_val, again = split_frames(
        DataConfig(root=str(tmp_path), folds=5, fold=0), data, tmp_path, resume=True
    )
    assert again is None
    assert resumed_train.tolist() == train.tolist()
    assert resumed_val.tolist() == val.tolist()
