"""The viewer with a model of two structures: each drawn in its colour with its own
post-processing, its masks those of ``nerveseg predict``, and the static export working too."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from nerveseg import metrics
from nerveseg.checkpoint import ModelInfo, save_model_file
from nerveseg.cli import main
from nerveseg.data.images import read_image
from nerveseg.data.loading import resize_image
from nerveseg.data.rle import rle_decode
from nerveseg.inference import open_predictor
from nerveseg.inference.overlay import COLOURS
from nerveseg.inference.predictor import normalise
from nerveseg.models import build_model
from nerveseg.postprocess import PostprocessParams
from nerveseg.structure_postprocess import StructurePostprocess, save_structure_postprocess
from nerveseg.viewer import ViewerServer

pytestmark = pytest.mark.browser
NAMES = ["nerve", "vessel"]
SCANS = ["1.tif", "2.tif"]


def wait_drawn(page, name: str | None = None) -> dict:
    page.wait_for_function(
        "name => { const s = viewer.state(); return s.drawn >= 1 && s.status === 'ready'"
        " && (name === null || s.name === name); }",
        arg=name,
    )
    return page.evaluate("viewer.state()")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """The competition's Dice of two boolean masks (1 when both are empty)."""
    return float(metrics.dice(torch.from_numpy(a), torch.from_numpy(b)))


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_data) -> Path:
    """A run folder of an untrained two-structure SegNet whose fitted thresholds give each
    structure a sizeable mask on the test frames, with a different threshold per structure."""
    folder = tmp_path_factory.mktemp("two")
    torch.manual_seed(0)
    kwargs = {"width": 0.0625, "output_prior": 0.5, "out_channels": 2}
    info = ModelInfo("segnet", kwargs, (64, 96), 0.4, 0.2, structures=NAMES)
    save_model_file(folder / "model.pt", build_model("segnet", **kwargs), info)
    opened = open_predictor(folder / "model.pt")
    thresholds = []
    for k in range(2):
        values = []
        for name in SCANS:
            small = np.array(resize_image(read_image(tiny_data / "test" / name), (64, 96)))
            output = opened.predictor(normalise(small[None], 0.4, 0.2))
            values.append(output.probabilities[0, k].numpy().ravel())
        thresholds.append(round(float(np.quantile(np.concatenate(values), 0.7 + 0.1 * k)), 4))
    fitted = StructurePostprocess.of(
        {
            name: PostprocessParams(threshold=t, fill_holes=True)
            for name, t in zip(NAMES, thresholds, strict=True)
        }
    )
    save_structure_postprocess(folder / "postprocess.json", fitted, {n: {} for n in NAMES})
    return folder


def test_each_structure_is_drawn_in_its_colour_as_predict_segments_it(
    open_page, run, tiny_data, tmp_path
):
    opened = open_predictor(run)
    assert opened.postprocess["nerve"].threshold != opened.postprocess["vessel"].threshold
    with ViewerServer(run) as server:
        page = open_page(server.url)
        assert "(nerve)" in page.inner_text("label:has(#threshold)")
        assert "vessel" in page.inner_text(".legend") and "vessel" in page.inner_text("#model-info")
        page.set_input_files("#files", [str(tiny_data / "test" / n) for n in SCANS])
        state = wait_drawn(page, "1")
        for index, name in enumerate(SCANS):
            state = page.evaluate("i => viewer.show(i).then(() => viewer.state())", index)
            assert state["structures"] == NAMES
            expected = opened.segment(read_image(tiny_data / "test" / name))
            shape = (state["height"], state["width"])
            for k in range(2):
                mask = rle_decode(state["rles"][k], shape)
                assert 0.01 < expected[k].mean() < 0.9, (name, k)
                assert dice(mask, expected[k]) >= 0.99, (name, k)
            assert state["rle"] == state["rles"][0]  # the first slider and Dice: the nerve
        # Opaque fill: a pixel of the vessel alone shows the vessel's colour, of the nerve the nerve's.
        page.eval_on_selector(
            "#opacity", "el => { el.value = 1; el.dispatchEvent(new Event('input')); }"
        )
        pixels = page.evaluate(
            "() => { const c = document.getElementById('view');"
            " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
        )
        rgb = np.array(pixels, dtype=np.uint8).reshape(*shape, 4)[..., :3]
        only_vessel = expected[1] & ~expected[0]
        assert only_vessel.any() and expected[0].any()
        assert (rgb[only_vessel] == COLOURS[1]).all(axis=1).mean() > 0.99
        assert (rgb[expected[0]] == COLOURS[0]).all(axis=1).mean() > 0.99
        assert "vessel" in page.inner_text("#stats") and page.errors == []
        page.screenshot(path=tmp_path / "two-structures.png")
        page.close()


def test_the_static_export_of_two_structures_runs(open_page, run, tiny_data, tmp_path):
    site = tmp_path / "site"
    args = ["export", str(run), "--format", "web", "--out", str(site)]
    assert main([*args, "--input", str(tiny_data / "test")]) == 0
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as plain:
        threading.Thread(target=plain.serve_forever, daemon=True).start()
        page = open_page(f"http://127.0.0.1:{plain.server_address[1]}/")
        state = wait_drawn(page)
        assert state["structures"] == NAMES and len(state["rles"]) == 2
        assert page.errors == []
        page.close()
        plain.shutdown()


def test_a_dropped_mask_is_outlined_but_not_scored(open_page, run, tiny_data):
    """Which value of a mask means which structure is the run's data.structures, which the
    page does not read: it draws the mask's outline and leaves Dice and the score out."""
    scan = next(p for p in sorted((tiny_data / "train").glob("*.tif")) if "_mask" not in p.name)
    mask = scan.with_name(scan.stem + "_mask.tif")
    with ViewerServer(run) as server:
        page = open_page(server.url)
        page.set_input_files("#files", [str(scan), str(mask)])
        state = wait_drawn(page, scan.stem)
        assert state["dice"] is None and state["score"] is None
        assert "Dice" not in page.inner_text("#stats")
        assert "not scored" in page.inner_text(".legend") and page.errors == []
        page.close()
