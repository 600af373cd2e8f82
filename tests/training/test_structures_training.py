"""Two structures (nerve + vessel) through training: augmentation keeps every channel with its
frame, and ``train()`` logs, checkpoints and describes each structure.

The frames are built in memory with packed masks (bit 0 nerve, bit 1 vessel, as
:mod:`nerveseg.data.structures` decodes them) and handed to ``train()`` in place of the loader,
so this test does not depend on how mask files map to structures (tested with the data).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nerveseg.checkpoint import load_model
from nerveseg.config import load_config
from nerveseg.data.augment import AugmentConfig, augment_batch, build_augmentation
from nerveseg.data.loading import LoadedSet
from nerveseg.data.samples import Sample
from nerveseg.data.structures import pack, unpack
from nerveseg.models.outputs import split_output
from nerveseg.training import RunResult, train
from nerveseg.training import frames as training_frames

SIZE = (64, 96)


def two_structure_set(subjects: int = 4, per_subject: int = 8) -> LoadedSet:
    """Frames with a bright nerve disc (bit 0) on 3 of 4 frames and a dark vessel disc (bit 1)
    on every other frame, so each structure has frames with and without it."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: SIZE[0], : SIZE[1]]
    samples, images, masks = [], [], []
    for s in range(subjects):
        for f in range(per_subject):
            image = rng.normal(100, 20, SIZE)
            nerve = vessel = np.zeros(SIZE, dtype=bool)
            if f % 4:
                cy, cx = rng.integers(15, 30), rng.integers(15, 40)
                nerve = (yy - cy) ** 2 + (xx - cx) ** 2 < 64
                image[nerve] += 80
            if f % 2 == 0:
                cy, cx = rng.integers(35, 50), rng.integers(55, 80)
                vessel = (yy - cy) ** 2 + (xx - cx) ** 2 < 49
                image[vessel] -= 70
            samples.append(Sample(f"{s + 1}_{f + 1}", str(s + 1), Path(f"{s + 1}_{f + 1}.tif")))
            images.append(np.clip(image, 0, 255).astype(np.uint8))
            masks.append(pack(np.stack([nerve, vessel])))
    return LoadedSet(samples, np.stack(images), np.stack(masks), [SIZE] * len(samples))


def test_augmentation_moves_every_structure_with_its_frame():
    data = two_structure_set(1, 4)
    masks = unpack(torch.from_numpy(data.masks), 2).float()  # (N, 2, h, w)
    images = torch.from_numpy(data.images)[:, None].float() / 255
    flip = build_augmentation(
        AugmentConfig(rotation_p=0.0, clahe_p=0.0, intensity_p=0.0, gamma_p=0.0, hflip_p=1.0)
    )
    _, flipped = augment_batch(flip, images, masks)
    assert torch.equal(flipped, masks.flip(-1))
    turn = build_augmentation(AugmentConfig(rotation_p=1.0, rotation_degrees=30, hflip_p=0.0))
    torch.manual_seed(3)
    _, both = augment_batch(turn, images, masks)
    torch.manual_seed(3)
    _, vessel_alone = augment_batch(turn, images, masks[:, 1:])
    assert set(both.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(both[:, 1:], vessel_alone)  # the same draw whatever the channel count
    assert not torch.equal(both, masks)


@pytest.fixture(scope="module")
def two_structure_run(tmp_path_factory) -> Path:
    data = two_structure_set()
    patch = pytest.MonkeyPatch()
    patch.setattr(training_frames, "load_training_data", lambda config: data)
    run = tmp_path_factory.mktemp("structures") / "run"
    config = load_config(
        "smoke",
        [
            f"data.root={run.parent}",
            "data.structures={nerve: [1], vessel: [2]}",
            "model.name=segnet_basic",
            "model.width=0.25",
            "model.presence_head=true",
            "train.epochs=3",
            "optim.lr=0.003",
        ],
    )
    try:
        train(config, run)
    finally:
        patch.undo()
    return run


@pytest.mark.slow
def test_validation_logs_each_structure_and_their_mean(two_structure_run):
    with open(two_structure_run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for figure in ("score", "dice", "iou", "false_detection_rate", "missed_rate"):
            assert row[f"val/{figure}_nerve"] and row[f"val/{figure}_vessel"], figure
        mean = (float(row["val/score_nerve"]) + float(row["val/score_vessel"])) / 2
        assert float(row["val/score"]) == pytest.approx(mean, abs=2e-6)  # 6 digits in the CSV
        assert 0.0 <= float(row["val/presence_accuracy_vessel"]) <= 1.0


@pytest.mark.slow
def test_model_file_names_its_structures_and_has_a_channel_for_each(two_structure_run):
    model, info = load_model(two_structure_run / "model.pt")
    assert info.structures == ["nerve", "vessel"]
    assert info.model_kwargs["out_channels"] == 2
    assert info.resize == "stretch"
    with torch.no_grad():
        mask_logits, presence_logits = split_output(model(torch.zeros(1, 1, *SIZE)))
    assert mask_logits.shape == (1, 2, *SIZE) and presence_logits.shape == (1, 2)


@pytest.mark.slow
def test_summary_gives_each_structures_validation_figures(two_structure_run):
    summary = json.loads((two_structure_run / "summary.json").read_text())
    figures = summary["val_structures"]
    assert list(figures) == ["nerve", "vessel"]
    for name in figures:
        assert 0.0 <= figures[name]["dice"] <= 1.0 and 0.0 <= figures[name]["score"] <= 1.0
    mean = (figures["nerve"]["score"] + figures["vessel"]["score"]) / 2
    assert summary["best_val_score"] == pytest.approx(mean, abs=2e-6)
    assert summary["val_dice_nerve"] == figures["nerve"]["dice"]
    # Validation is subject 4's 8 frames: the nerve is on 6 (2 empty), the vessel on 4 (4 empty).
    assert summary["val_images"] == 8
    assert summary["all_empty_val_score"] == pytest.approx((2 / 8 + 4 / 8) / 2)
    assert RunResult.read(two_structure_run).val_structures == figures
