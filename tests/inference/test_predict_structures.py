"""``nerveseg predict`` with several structures: indexed PNGs, a run-length column per
structure, and a Kaggle submission that stays today's file for the first structure."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.cli import main
from nerveseg.crf import refine
from nerveseg.data.images import read_image, read_mask
from nerveseg.data.kaggle import write_submission
from nerveseg.data.loading import load_set, resize_image
from nerveseg.data.rle import rle_decode, rle_encode
from nerveseg.data.samples import discover_unlabelled
from nerveseg.inference import open_predictor, predict_folder
from nerveseg.inference.indexed_masks import read_indexed_mask
from nerveseg.inference.predictor import (
    masks_at_original_size,
    normalise,
    predict_batches,
    resize_probabilities,
)
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams, apply_postprocess
from nerveseg.structure_postprocess import StructurePostprocess, save_structure_postprocess

SIZE = (64, 96)
NAMES = ["nerve", "vessel"]


def model_file(folder: Path, names: list[str]) -> Path:
    """An untrained slim SegNet with one channel per name (output_prior 0.5: varied masks)."""
    torch.manual_seed(0)
    kwargs = {"width": 0.0625, "output_prior": 0.5}
    if len(names) > 1:
        kwargs["out_channels"] = len(names)
    info = ModelInfo(
        "segnet",
        kwargs,
        SIZE,
        mean=0.4,
        std=0.2,
        postprocess=PostprocessParams(min_area=3),
        structures=names,
    )
    path = folder / "model.pt"
    save_model_file(path, build_model("segnet", **kwargs), info)
    return path


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Path:
    return model_file(tmp_path_factory.mktemp("two"), NAMES)


@pytest.fixture(scope="module")
def one(tmp_path_factory) -> Path:
    return model_file(tmp_path_factory.mktemp("one"), ["nerve"])


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def old_submission(model: Path, folder: Path, path: Path) -> None:
    """The submission as nerveseg wrote it before structures: the network's one channel,
    ``masks_at_original_size`` with the model's parameters, RLE, ``write_submission``."""
    opened = open_predictor(model)
    loaded = load_set(discover_unlabelled(folder), opened.info.image_size)
    rows = []
    for chunk, output in predict_batches(opened.predictor, opened.info, loaded.images):
        probabilities = output.probabilities[:, 0]
        shapes = loaded.original_shapes[chunk]
        masks = masks_at_original_size(probabilities, shapes, opened.info.postprocess)
        rows += [(s.name, rle_encode(m)) for s, m in zip(loaded.samples[chunk], masks, strict=True)]
    write_submission(path, rows)


def test_one_structure_writes_the_same_submission_as_before(one, tiny_data, tmp_path):
    old_submission(one, tiny_data / "test", tmp_path / "old.csv")
    result = predict_folder(one, tiny_data / "test", tmp_path / "new", progress=False)
    new = (tmp_path / "new" / "submission.csv").read_bytes()
    assert new == (tmp_path / "old.csv").read_bytes()
    assert any(not row.endswith(",") for row in new.decode().splitlines()[1:])  # not all empty
    assert result.tables == [tmp_path / "new" / "submission.csv"]  # and no other table
    mask = read_mask(next((tmp_path / "new" / "masks").iterdir()))
    assert mask.dtype == bool  # the {0, 255} PNG as always


def test_two_structures_write_indexed_pngs_and_a_column_each(two, tiny_data, tmp_path, capsys):
    out = tmp_path / "pred"
    args = ["predict", "--model", str(two), "--input", str(tiny_data / "test"), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "with a nerve" in printed and "with a vessel" in printed and "masks.csv" in printed

    # The submission is the first structure, exactly as the one-structure path writes it.
    old_submission(two, tiny_data / "test", tmp_path / "old.csv")
    assert (out / "submission.csv").read_bytes() == (tmp_path / "old.csv").read_bytes()

    table = rows_of(out / "masks.csv")
    assert list(table[0]) == ["name", "nerve_pixels", "vessel_pixels"]
    by_id = {
        row[0]: row[1] for row in csv.reader((out / "submission.csv").open()) if row[0] != "img"
    }
    opened = open_predictor(two)
    nonempty = [0, 0]
    for row in table:
        frame = next((tiny_data / "test").glob(f"{row['name']}.*"))
        masks = opened.segment(read_image(frame))
        assert row["nerve_pixels"] == rle_encode(masks[0]) == by_id[row["name"]]
        assert row["vessel_pixels"] == rle_encode(masks[1])
        png = read_indexed_mask(out / "masks" / f"{row['name']}_mask.png", 2)
        np.testing.assert_array_equal(png[0], masks[0])
        np.testing.assert_array_equal(png[1], masks[1] & ~masks[0])  # the overlap rule
        shape = masks.shape[1:]
        np.testing.assert_array_equal(rle_decode(row["vessel_pixels"], shape), masks[1])
        nonempty = [n + bool(m.any()) for n, m in zip(nonempty, masks, strict=True)]
    assert all(nonempty)  # both structures drawn somewhere: the check above is not vacuous


def test_own_names_get_one_table_with_a_column_per_structure(two, tiny_data, tmp_path):
    frames = tmp_path / "scans"
    frames.mkdir()
    for index, source in enumerate(sorted((tiny_data / "test").glob("*.tif"))[:2]):
        (frames / f"scan_{index + 1}.tif").write_bytes(source.read_bytes())
    result = predict_folder(two, frames, tmp_path / "out", progress=False)
    assert result.tables == [tmp_path / "out" / "masks.csv"] == [result.submission]
    assert not (tmp_path / "out" / "submission.csv").exists()
    assert [r["name"] for r in rows_of(result.submission)] == ["scan_1", "scan_2"]
    assert set(result.nonempty_by_structure) == set(NAMES)


def test_resume_reads_indexed_masks_back(two, tiny_data, tmp_path):
    out = tmp_path / "pred"
    predict_folder(two, tiny_data / "test", out, progress=False)
    submission = (out / "submission.csv").read_bytes()
    table = rows_of(out / "masks.csv")
    for path in [next((out / "masks").iterdir()), out / "submission.csv", out / "masks.csv"]:
        path.unlink()
    predict_folder(two, tiny_data / "test", out, resume=True, progress=False)
    assert (out / "submission.csv").read_bytes() == submission  # the first structure is exact
    resumed = rows_of(out / "masks.csv")
    assert [r["nerve_pixels"] for r in resumed] == [r["nerve_pixels"] for r in table]


def test_each_structure_is_refined_by_its_own_crf(two, tiny_data, tmp_path):
    """A CRF on the vessel only: its channel is refined, the nerve's is not, in predict and
    segment alike."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(two.read_bytes())
    crf = PostprocessParams(crf_weight=2.0, crf_spatial_sigma=2.0, crf_intensity_sigma=15.0)
    fitted = StructurePostprocess.of({"nerve": PostprocessParams(), "vessel": crf})
    save_structure_postprocess(run / "postprocess.json", fitted, {n: {} for n in NAMES})
    opened = open_predictor(run)
    frame = read_image(tiny_data / "test" / "1.tif")
    small = np.array(resize_image(frame, SIZE))
    output = opened.predictor(normalise(small[None], 0.4, 0.2)).probabilities[0].numpy()

    def mask(probabilities: np.ndarray, params: PostprocessParams) -> np.ndarray:
        full = resize_probabilities(torch.from_numpy(probabilities)[None], frame.shape)[0]
        return apply_postprocess(full.numpy(), params)

    nerve = mask(output[0], fitted["nerve"])
    vessel = mask(refine(output[1], small, crf), crf)
    assert (vessel != mask(output[1], crf)).sum() > 20  # the CRF changes the vessel's mask
    np.testing.assert_array_equal(opened.segment(frame), np.stack([nerve, vessel]))
    out = tmp_path / "pred"
    assert (
        main(["predict", "--run", str(run), "--input", str(tiny_data / "test"), "--out", str(out)])
        == 0
    )
    row = next(r for r in rows_of(out / "masks.csv") if r["name"] == "1")
    assert row["vessel_pixels"] == rle_encode(vessel) and row["nerve_pixels"] == rle_encode(nerve)
