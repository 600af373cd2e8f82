"""A letterbox model end to end on a set of several frame sizes: train, predict, evaluate, fit.

The run records ``resize: letterbox``; predictions come back at each frame's own size and match
what the live path (``OpenedPredictor.segment``) computes for the same frame.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.checkpoint import load_model
from nerveseg.cli import main
from nerveseg.config import load_config
from nerveseg.data.geometry import fit_image
from nerveseg.data.images import read_image, read_mask
from nerveseg.data.synth import generate_dataset
from nerveseg.inference import open_predictor
from nerveseg.inference.predictor import normalise
from nerveseg.inference.stream import StreamSegmenter, without_smoothing
from nerveseg.postprocess import PostprocessParams, save_postprocess

ONE_OF_TWO = ["--set", "data.structures={nerve: [1]}", "--set", "data.ignore_values=[2]"]


@pytest.fixture(scope="module")
def mixed_sizes(tmp_path_factory) -> Path:
    """The smoke set with its artery labelled (value 2), every even frame exported at 160x200:
    the frame on a taller black canvas, as scanners export a deeper view. Every subject, hence
    the validation one too, holds both sizes."""
    root = tmp_path_factory.mktemp("mixed") / "data"
    config = load_config("smoke").synth
    config.vessel = True
    generate_dataset(root, config)
    (root / "train_masks.csv").unlink()  # its rows index 160x128 frames
    shutil.rmtree(root / "test")
    for path in sorted((root / "train").glob("*_[2468]*.tif")):
        pixels = np.asarray(Image.open(path))
        canvas = np.zeros((200, 160), np.uint8)
        canvas[20:148] = pixels
        Image.fromarray(canvas).save(path)
    return root


@pytest.fixture(scope="module")
def letterbox_run(mixed_sizes, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("letterbox") / "run"
    args = ["train", "--data", str(mixed_sizes), "--run", str(run), "--preset", "smoke"]
    assert main([*args, "--set", "data.resize=letterbox", *ONE_OF_TWO]) == 0
    return run


def test_the_model_file_records_letterbox(letterbox_run, tmp_path):
    _, info = load_model(letterbox_run / "model.pt")
    assert info.resize == "letterbox"
    exported = tmp_path / "model.onnx"
    assert main(["export", str(letterbox_run), "--format", "onnx", "--out", str(exported)]) == 0
    assert open_predictor(exported).info.resize == "letterbox"  # travels with the export


def test_predictions_come_back_at_each_frames_own_size(letterbox_run, mixed_sizes, tmp_path):
    run = Path(shutil.copytree(letterbox_run, tmp_path / "run"))
    frames = mixed_sizes / "train"
    names = ("1_1", "1_5", "4_2", "4_6")
    # The smoke model is barely trained: a threshold at its own upper quartile gives masks.
    opened = open_predictor(run)
    info = opened.info
    small = np.stack(
        [fit_image(read_image(frames / f"{n}.tif"), info.image_size, "letterbox") for n in names]
    )
    values = opened.predictor(normalise(small, info.mean, info.std)).probabilities
    save_postprocess(
        run / "postprocess.json", PostprocessParams(threshold=float(values.quantile(0.75))), {}
    )
    out = tmp_path / "predicted"
    assert main(["predict", "--run", str(run), "--input", str(frames), "--out", str(out)]) == 0
    opened = open_predictor(run)
    for name in names:
        written = read_mask(out / "masks" / f"{name}_mask.png")
        frame = read_image(frames / f"{name}.tif")
        even = int(name.split("_")[1]) % 2 == 0
        assert written.shape == frame.shape == ((200, 160) if even else (128, 160))
        assert written.any()
        assert np.array_equal(written, opened.segment(frame))  # the still live path agrees
        stream = StreamSegmenter(opened, without_smoothing(opened.postprocess))
        assert np.array_equal(written, stream.segment(frame).mask)  # and the stream path
        if frame.shape == (200, 160):  # the canvas rows: black, padding of the frame's own
            assert not written[:20].any() or written[20:148].any()


def test_evaluate_and_fit_postprocess_take_mixed_sizes(letterbox_run, tmp_path):
    run = Path(shutil.copytree(letterbox_run, tmp_path / "run"))
    assert main(["evaluate", "--run", str(run), *["--split", "all"]]) == 0
    assert main(["fit-postprocess", str(run)]) == 0
    assert (run / "postprocess.json").is_file()
