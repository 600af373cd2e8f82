"""The viewer with a model of two structures: a threshold slider per structure that moves its
structure's mask only, and downloads that hold every structure as ``nerveseg predict`` writes
them (indexed PNGs, ``masks.csv`` with a column per structure, ``submission.csv``)."""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nerveseg import metrics
from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.cli import main
from nerveseg.data.images import read_image
from nerveseg.data.loading import resize_image
from nerveseg.data.rle import rle_decode
from nerveseg.inference import open_predictor
from nerveseg.inference.indexed_masks import label_image, read_indexed_mask
from nerveseg.inference.predictor import normalise, resize_probabilities
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams, apply_postprocess
from nerveseg.structure_postprocess import StructurePostprocess, save_structure_postprocess
from nerveseg.viewer import ViewerServer

pytestmark = pytest.mark.browser
NAMES = ["nerve", "vessel"]
# Kaggle test ids, one with a leading zero: predict writes submission.csv, whose ids are whole
# numbers (02.tif is 2), and masks.csv, which keeps the names. File here: the tiny set's copy.
SCANS = {"1.tif": "1.tif", "02.tif": "2.tif"}


def wait_drawn(page, name: str) -> dict:
    page.wait_for_function(
        "name => { const s = viewer.state(); return s.status === 'ready' && s.name === name; }",
        arg=name,
    )
    return page.evaluate("viewer.state()")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """The competition's Dice of two boolean masks (1 when both are empty)."""
    return float(metrics.dice(torch.from_numpy(a), torch.from_numpy(b)))


def page_masks(state: dict) -> np.ndarray:
    """``(S, H, W)`` bool: every structure's mask the page shows."""
    shape = (state["height"], state["width"])
    return np.stack([rle_decode(rle, shape) for rle in state["rles"]])


def move(page, selector: str, value: float) -> dict:
    """Move a slider as a person does (an input event); the page's state afterwards."""
    page.eval_on_selector(
        selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", value
    )
    return page.evaluate("viewer.state()")


def probabilities(model: Path, path: Path) -> np.ndarray:
    """``(S, H, W)`` full-size probabilities as ``nerveseg predict`` computes them."""
    opened = open_predictor(model)
    frame = read_image(path)
    small = np.array(resize_image(frame, opened.info.image_size))
    output = opened.predictor(normalise(small[None], opened.info.mean, opened.info.std))
    return resize_probabilities(output.probabilities, frame.shape)[0].numpy()


def save_thresholds(run: Path, thresholds: list[float]) -> None:
    fitted = StructurePostprocess.of(
        {
            n: PostprocessParams(threshold=t, fill_holes=True)
            for n, t in zip(NAMES, thresholds, strict=True)
        }
    )
    save_structure_postprocess(run / "postprocess.json", fitted, {n: {} for n in NAMES})


@pytest.fixture(scope="module")
def scans(tiny_data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scans")
    for name, source in SCANS.items():
        shutil.copyfile(tiny_data / "test" / source, folder / name)
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory, scans) -> Path:
    """An untrained two-structure SegNet whose classifier is scaled and centred so that its
    probabilities spread over 0.1-0.9 (an untrained one's span 0.01, less than a slider step),
    with thresholds on the slider's 0.01 steps that give each structure a sizeable mask."""
    folder = tmp_path_factory.mktemp("two-wide")
    torch.manual_seed(0)
    kwargs = {"width": 0.0625, "output_prior": 0.5, "out_channels": 2}
    model = build_model("segnet", **kwargs).eval()
    small = np.array(resize_image(read_image(scans / "1.tif"), (64, 96)))
    with torch.no_grad():
        model.classifier.weight.mul_(150)
        model.classifier.bias.mul_(150)
        logits = model(normalise(small[None], 0.4, 0.2))
        model.classifier.bias.sub_(logits.flatten(2).median(dim=2).values[0])
    info = ModelInfo("segnet", kwargs, (64, 96), 0.4, 0.2, structures=NAMES)
    save_model_file(folder / "model.pt", model, info)
    probs = np.stack([probabilities(folder / "model.pt", scans / n) for n in SCANS], axis=1)
    save_thresholds(folder, [round(float(np.quantile(p, 0.6)), 2) for p in probs])
    return folder


@pytest.fixture
def page(open_page, run, scans):
    with ViewerServer(run) as server:
        page = open_page(server.url)
        page.set_input_files("#files", [str(scans / n) for n in SCANS])
        wait_drawn(page, "1")
        yield page
        assert page.errors == []
        page.close()


def test_each_threshold_moves_its_own_structures_mask_only(page, run, scans):
    fitted = [open_predictor(run).postprocess[n].threshold for n in NAMES]
    before = page.evaluate("viewer.state()")
    assert before["thresholds"] == fitted
    assert "(vessel)" in page.inner_text("label:has(#threshold-1)")
    assert page.inner_text("#threshold-value-1") == f"{fitted[1]:.2f}"
    probs = probabilities(run / "model.pt", scans / "1.tif")

    lower = round(fitted[1] - 0.1, 2)
    vessel = move(page, "#threshold-1", lower)
    assert vessel["thresholds"] == [fitted[0], lower] and vessel["drawn"] == before["drawn"] + 1
    assert vessel["rles"][0] == before["rles"][0]  # the nerve is left alone
    assert vessel["areas"][1] > before["areas"][1]
    expected = apply_postprocess(probs[1], PostprocessParams(threshold=lower, fill_holes=True))
    assert dice(page_masks(vessel)[1], expected) >= 0.99
    assert page.inner_text("#threshold-value-1") == f"{lower:.2f}"
    assert f"{vessel['areas'][1]} px" in page.inner_text("#stats")

    higher = round(fitted[0] + 0.1, 2)
    nerve = move(page, "#threshold", higher)
    assert nerve["rles"][1] == vessel["rles"][1] and nerve["areas"][0] < vessel["areas"][0]
    expected = apply_postprocess(probs[0], PostprocessParams(threshold=higher, fill_holes=True))
    assert dice(page_masks(nerve)[0], expected) >= 0.99

    # The next frame is drawn at both new thresholds.
    other = page.evaluate("i => viewer.show(i).then(() => viewer.state())", 1)
    probs = probabilities(run / "model.pt", scans / "02.tif")
    for k, threshold in enumerate([higher, lower]):
        expected = apply_postprocess(
            probs[k], PostprocessParams(threshold=threshold, fill_holes=True)
        )
        assert dice(page_masks(other)[k], expected) >= 0.99, NAMES[k]


def download(page, button: str, folder: Path) -> Path:
    with page.expect_download() as started:
        page.click(button)
    path = folder / started.value.suggested_filename
    started.value.save_as(path)
    return path


def png_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    data, chunks, at = path.read_bytes(), [], 8
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        chunks.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + size]))
        at += 12 + size
    return chunks


def test_downloads_hold_every_structure_as_predict_writes_them(page, run, scans, tmp_path):
    fitted = [open_predictor(run).postprocess[n].threshold for n in NAMES]
    moved = [round(fitted[0] + 0.05, 2), round(fitted[1] - 0.1, 2)]
    move(page, "#threshold", moved[0])
    move(page, "#threshold-1", moved[1])
    state = page.evaluate("i => viewer.show(i).then(() => viewer.state())", 1)
    masks = page_masks(state)
    assert (masks[0] & masks[1]).any() and (masks[1] & ~masks[0]).any()  # overlaps to resolve

    # This frame's PNG: value k + 1 where structure k is, the nerve winning overlaps.
    one = download(page, "#download-mask", tmp_path)
    assert one.name == "02_mask.png"
    with Image.open(one) as image:
        assert image.mode == "P" and image.info["nerveseg-structures"] == "nerve,vessel"
        assert np.array_equal(np.asarray(image), label_image(masks))

    # predict with the page's thresholds, against the ZIP and the CSV.
    predicted_run = Path(shutil.copytree(run, tmp_path / "run"))
    save_thresholds(predicted_run, moved)
    out = tmp_path / "predicted"
    assert (
        main(["predict", "--run", str(predicted_run), "--input", str(scans), "--out", str(out)])
        == 0
    )
    archive = download(page, "#download-zip", tmp_path)
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(unzipped)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert sorted(str(p.relative_to(unzipped)) for p in unzipped.rglob("*") if p.is_file()) == [
        w for w in written if not w.startswith(".")
    ]
    for name in ("1", "02"):
        ours, theirs = unzipped / "masks" / f"{name}_mask.png", out / "masks" / f"{name}_mask.png"
        # The same file but for the compressed pixels: header (bit depth), names, palette.
        assert [c for c in png_chunks(ours) if c[0] != b"IDAT"] == [
            c for c in png_chunks(theirs) if c[0] != b"IDAT"
        ]
        page_labels, predict_labels = read_indexed_mask(ours, 2), read_indexed_mask(theirs, 2)
        for k in range(2):
            assert dice(page_labels[k], predict_labels[k]) >= 0.99, (name, NAMES[k])
    tables = {}
    for table in ("masks.csv", "submission.csv"):
        with open(unzipped / table, newline="") as ours, open(out / table, newline="") as theirs:
            tables[table] = (list(csv.reader(ours)), list(csv.reader(theirs)))
    page_rows, predict_rows = tables["masks.csv"]
    assert page_rows[0] == predict_rows[0] == ["name", "nerve_pixels", "vessel_pixels"]
    assert [r[0] for r in page_rows] == [r[0] for r in predict_rows]
    shape = masks.shape[1:]
    for ours, theirs in zip(page_rows[1:], predict_rows[1:], strict=True):
        for k in (1, 2):  # each structure whole, overlaps included
            assert dice(rle_decode(ours[k], shape), rle_decode(theirs[k], shape)) >= 0.99
    assert tables["submission.csv"][0][0] == ["img", "pixels"]
    page_ids, predict_ids = ([r[0] for r in rows] for rows in tables["submission.csv"])
    assert page_ids == predict_ids == ["img", "1", "2"]  # test ids are numbers: 02.tif is 2
    assert [r[1] for r in tables["submission.csv"][0][1:]] == [r[1] for r in page_rows[1:]]

    # The CSV button: the table of every structure.
    (tmp_path / "csv").mkdir()
    assert (download(page, "#download-csv", tmp_path / "csv")).read_bytes() == (
        unzipped / "masks.csv"
    ).read_bytes()


def test_live_frames_download_every_structure(open_page, run, scans, tmp_path):
    """A video's or camera's frames are kept as drawn, every structure's mask."""
    with ViewerServer(run) as server:
        page = open_page(server.url)
        page.evaluate(
            """async (url) => {
              const bitmap = await createImageBitmap(await (await fetch(url)).blob());
              await viewer.benchmark([bitmap], 3);
            }""",
            f"data:image/png;base64,{_png_base64(scans / '1.tif')}",
        )
        state = page.evaluate("viewer.state()")
        table = download(page, "#download-csv", tmp_path)
        rows = list(csv.reader(table.open(newline="")))
        assert rows[0] == ["name", "nerve_pixels", "vessel_pixels"]
        assert [r[0] for r in rows[1:]] == ["bench_0", "bench_1", "bench_2"]
        assert rows[-1][1:] == state["rles"] and all(state["areas"])
        assert page.errors == []
        page.close()


def _png_base64(path: Path) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    Image.fromarray(read_image(path)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()
