"""Streaming, resumable prediction of a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.cli import main
from nerveseg.crf import refine
from nerveseg.data.images import read_image, read_mask
from nerveseg.data.loading import resize_image
from nerveseg.errors import NervesegError
from nerveseg.inference import open_predictor, predict_folder, write_predictions
from nerveseg.inference import predict as prediction
from nerveseg.inference.predict_output import MARKER
from nerveseg.inference.predictor import BatchOutput, normalise, resize_probabilities
from nerveseg.inference.stream import StreamSegmenter
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams, apply_postprocess


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    # output_prior 0.5: the untrained model draws varied masks at threshold 0.5, not none.
    torch.manual_seed(0)
    kwargs = {"width": 0.0625, "output_prior": 0.5}
    info = ModelInfo(
        "segnet", kwargs, (64, 96), mean=0.4, std=0.2, postprocess=PostprocessParams(min_area=3)
    )
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_model_file(path, build_model("segnet", **kwargs), info)
    return path


class Counting:
    """Wraps a predictor and counts the frames it was asked for."""

    def __init__(self, base) -> None:
        self.base, self.frames = base, 0

    def __call__(self, batch: torch.Tensor) -> BatchOutput:
        self.frames += len(batch)
        return self.base(batch)


def test_resume_predicts_only_missing_frames_and_gives_the_same_submission(
    model_file, tiny_data, tmp_path, monkeypatch
):
    monkeypatch.setattr(prediction, "CHUNK", 3)  # 4 frames: two chunks
    out = tmp_path / "pred"
    args = ["predict", "--model", str(model_file), "--input", str(tiny_data / "test")]
    assert main([*args, "--out", str(out)]) == 0
    submission = (out / "submission.csv").read_bytes()
    rows = submission.decode().splitlines()[1:]
    assert len(rows) == 4 and any(not row.endswith(",") for row in rows)  # some masks non-empty
    masks = sorted((out / "masks").glob("*_mask.png"))
    removed = masks[1:3]
    for path in [*removed, out / "submission.csv"]:
        path.unlink()

    opened = open_predictor(model_file)
    counting = Counting(opened.predictor)
    opened.predictor = counting
    result = write_predictions(opened, tiny_data / "test", out, resume=True, progress=False)
    assert counting.frames == len(removed)
    assert result.frames == 4
    assert (out / "submission.csv").read_bytes() == submission
    assert all(path.is_file() for path in removed)


def test_resume_and_overwrite_conflict(model_file, tiny_data, tmp_path):
    with pytest.raises(NervesegError, match="pick one"):
        predict_folder(model_file, tiny_data / "test", tmp_path, resume=True, overwrite=True)


def test_existing_predictions_name_both_ways_forward(model_file, tiny_data, tmp_path, capsys):
    args = ["predict", "--model", str(model_file), "--input", str(tiny_data / "test")]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "--resume" in err
    assert main([*args, "--out", str(tmp_path), "--resume"]) == 0


def test_own_frame_names_get_a_masks_table(model_file, tiny_data, tmp_path):
    """Frames not named like Kaggle test ids (e.g. 'patientA_3') get masks.csv, not an error."""
    frames = tmp_path / "scans"
    frames.mkdir()
    for index, source in enumerate(sorted((tiny_data / "test").glob("*.tif"))[:3]):
        (frames / f"patientA_{index + 1}.tif").write_bytes(source.read_bytes())
    out = tmp_path / "pred"
    args = ["predict", "--model", str(model_file), "--input", str(frames), "--out", str(out)]
    assert main(args) == 0
    lines = (out / "masks.csv").read_text().splitlines()
    assert lines[0] == "name,pixels"
    assert [line.split(",")[0] for line in lines[1:]] == ["patientA_1", "patientA_2", "patientA_3"]
    assert not (out / "submission.csv").exists()
    assert main(args) == 2  # a second run into the same --out is refused, as for submission.csv


def test_skip_bad_gives_an_unreadable_frame_an_empty_row(model_file, tiny_data, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, frame in enumerate(sorted((tiny_data / "test").glob("*.tif"))[:3], start=1):
        (frames / f"{i}.tif").write_bytes(frame.read_bytes())
    (frames / "4.tif").write_bytes(b"not a tiff")
    out = tmp_path / "out"
    with pytest.raises(NervesegError, match="--skip-bad"):
        predict_folder(model_file, frames, out, progress=False)
    assert not out.exists()  # the chunk failed to decode: nothing written
    with pytest.warns(UserWarning, match="4.tif"):
        result = predict_folder(model_file, frames, out, skip_bad=True, progress=False)
    rows = (out / "submission.csv").read_text().splitlines()
    assert result.frames == 4 and rows[-1] == "4,"
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{i}_mask.png" for i in (1, 2, 3)]


def test_overwrite_replaces_only_the_files_prediction_wrote(model_file, tiny_data, tmp_path):
    out = tmp_path / "out"
    predict_folder(model_file, tiny_data / "test", out, progress=False)
    (out / "notes.txt").write_text("mine")
    (out / "masks" / "keep.txt").write_text("mine too")
    predict_folder(model_file, tiny_data / "test", out, overwrite=True, progress=False)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "masks" / "keep.txt").read_text() == "mine too"
    assert (out / MARKER).is_file()


def test_a_data_sets_masks_are_never_taken_for_predictions(model_file, tiny_data, tmp_path):
    data = tmp_path / "scans"
    (data / "masks").mkdir(parents=True)
    (data / "masks" / "1.png").write_bytes(b"ground truth")
    with pytest.raises(NervesegError, match="did not write"):
        predict_folder(model_file, tiny_data / "test", data, overwrite=True, progress=False)
    assert (data / "masks" / "1.png").read_bytes() == b"ground truth"


def test_two_files_with_one_test_id_are_refused_before_writing(model_file, tiny_data, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    frame = next((tiny_data / "test").glob("*.tif")).read_bytes()
    for name in ("7.tif", "12.tif", "012.tif"):
        (frames / name).write_bytes(frame)
    with pytest.raises(NervesegError, match=r"012.tif and 12.tif: both are test id 12"):
        predict_folder(model_file, frames, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_predict_segment_and_streams_apply_the_crf_alike(tiny_data, tmp_path):
    torch.manual_seed(0)
    kwargs = {"width": 0.0625, "output_prior": 0.5}
    params = PostprocessParams(crf_weight=2.0, crf_spatial_sigma=2.0, crf_intensity_sigma=15.0)
    info = ModelInfo("segnet", kwargs, (64, 96), mean=0.4, std=0.2, postprocess=params)
    path = tmp_path / "model.pt"
    save_model_file(path, build_model("segnet", **kwargs), info)
    opened = open_predictor(path)
    frame = read_image(tiny_data / "test" / "1.tif")
    small = np.array(resize_image(frame, info.image_size))
    output = opened.predictor(normalise(small[None], info.mean, info.std))
    probs = output.probabilities[0, 0].numpy()  # the one structure's channel

    def mask(probabilities: np.ndarray) -> np.ndarray:
        full = resize_probabilities(torch.from_numpy(probabilities)[None], frame.shape)[0]
        return apply_postprocess(full.numpy(), params)

    expected = mask(refine(probs, small, params))
    assert (expected != mask(probs)).sum() > 20  # the CRF changes the mask: the test can fail
    np.testing.assert_array_equal(opened.segment(frame)[0], expected)
    np.testing.assert_array_equal(StreamSegmenter(opened).segment(frame).masks[0], expected)
    predict_folder(path, tiny_data / "test", tmp_path / "out", progress=False)
    np.testing.assert_array_equal(read_mask(tmp_path / "out" / "masks" / "1_mask.png"), expected)
