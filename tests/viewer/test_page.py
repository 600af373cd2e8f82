"""The viewer in headless Chromium: the page's masks against ``nerveseg predict``'s, the
threshold slider, Dice against dropped masks, downloads, a corrupt file's message, and the
page's dense CRF against :mod:`nerveseg.crf`."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nerveseg import metrics
from nerveseg.cli import main
from nerveseg.crf import refine
from nerveseg.data.geometry import fit_image
from nerveseg.data.images import read_image, read_mask
from nerveseg.data.loading import resize_image
from nerveseg.data.rle import rle_decode, rle_encode
from nerveseg.inference import open_predictor
from nerveseg.inference.predictor import normalise, resize_probabilities
from nerveseg.postprocess import PostprocessParams, apply_postprocess, save_postprocess
from nerveseg.viewer import ViewerServer

pytestmark = pytest.mark.browser


def wait_drawn(page, count: int, name: str | None = None) -> dict:
    """Wait until ``count`` overlays were drawn (and frame ``name`` shows); the page's state."""
    page.wait_for_function(
        "([n, name]) => { const s = viewer.state(); return s.drawn >= n && s.status === 'ready'"
        " && (name === null || s.name === name); }",
        arg=[count, name],
    )
    return page.evaluate("viewer.state()")


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """The competition's Dice of two boolean masks (1 when both are empty)."""
    return float(metrics.dice(torch.from_numpy(a), torch.from_numpy(b)))


@pytest.fixture(scope="module")
def frames(tiny_data, tmp_path_factory) -> Path:
    """A 580x420 LZW TIFF (Kaggle's size and compression), a small plain TIFF, a PNG and its mask."""
    folder = tmp_path_factory.mktemp("viewer-frames")
    small = read_image(tiny_data / "test" / "1.tif")
    big = np.asarray(Image.fromarray(small).resize((580, 420), Image.Resampling.BICUBIC))
    noise = np.random.default_rng(0).integers(-12, 13, big.shape)
    big = np.clip(big.astype(int) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(big).save(folder / "big.tif", compression="tiff_lzw")
    shutil.copyfile(tiny_data / "test" / "2.tif", folder / "small.tif")
    labelled = sorted((tiny_data / "train").glob("*_mask.tif"))
    with_nerve = next(p for p in labelled if read_mask(p).any())
    scan = with_nerve.with_name(with_nerve.name.replace("_mask", ""))
    Image.fromarray(read_image(scan)).save(folder / "frame.png")
    Image.fromarray(read_mask(with_nerve).astype(np.uint8) * 255).save(folder / "frame_mask.png")
    return folder


SCANS = ["big.tif", "frame.png", "small.tif"]  # the page's order (by name)


def probabilities(opened, path: Path) -> np.ndarray:
    """Full-size probabilities as ``nerveseg predict`` computes them."""
    frame = read_image(path)
    small = np.array(resize_image(frame, opened.info.image_size))
    output = opened.predictor(normalise(small[None], opened.info.mean, opened.info.std))
    return resize_probabilities(output.probabilities, frame.shape)[0, 0].numpy()  # the nerve


@pytest.fixture(scope="module")
def run(copy_trained_run, frames) -> Path:
    """The smoke run with post-processing whose threshold gives the frames sizeable masks
    (the smoke model is barely trained), and every shape step on, so parity tests them all."""
    run = copy_trained_run()
    opened = open_predictor(run)
    values = np.concatenate([probabilities(opened, frames / n).ravel() for n in SCANS])
    threshold = round(float(np.quantile(values, 0.75)), 4)
    params = PostprocessParams(threshold=threshold, closing_radius=2, fill_holes=True)
    save_postprocess(run / "postprocess.json", params, {})
    return run


@pytest.fixture(scope="module")
def predicted(run, frames, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("predicted")
    assert main(["predict", "--run", str(run), "--input", str(frames), "--out", str(out)]) == 0
    return out / "masks"


@pytest.fixture(scope="module")
def server(run):
    with ViewerServer(run) as server:
        yield server


@pytest.fixture
def page(open_page, server, frames):
    page = open_page(server.url)
    page.set_input_files("#files", [str(frames / n) for n in [*SCANS, "frame_mask.png"]])
    wait_drawn(page, 1, "big")
    yield page
    assert page.errors == []
    page.close()


def show(page, index: int) -> dict:
    """Show frame ``index`` (the page's promise resolves once it is drawn or has failed)."""
    page.evaluate("i => viewer.show(i)", index)
    return page.evaluate("viewer.state()")


def page_mask(state: dict) -> np.ndarray:
    return rle_decode(state["rle"], (state["height"], state["width"]))


def test_page_masks_match_nerveseg_predict(page, predicted, tmp_path):
    for index, name in enumerate(SCANS):
        state = show(page, index)
        expected = read_mask(predicted / f"{Path(name).stem}_mask.png")
        mask = page_mask(state)
        assert mask.shape == expected.shape
        assert 0.01 < expected.mean() < 0.9, f"{name}: predict's mask is (nearly) empty or full"
        print(name, "pixels", int(expected.sum()), "differing", int((mask != expected).sum()))
        assert dice(mask, expected) >= 0.99, (name, int((mask != expected).sum()))
    page.screenshot(path=tmp_path / "viewer.png")


def test_overlay_is_drawn_where_the_mask_is(page):
    state = show(page, 0)
    mask = page_mask(state)
    y, x = np.argwhere(mask)[len(np.argwhere(mask)) // 2]
    inside = page.evaluate(
        f"Array.from(document.getElementById('view').getContext('2d').getImageData({x}, {y}, 1, 1).data)"
    )
    assert inside[1] > inside[0] + 20, inside  # blended towards the prediction's green


def test_threshold_slider_changes_the_mask(page, run, frames):
    before = show(page, 0)
    threshold = open_predictor(run).postprocess.first.threshold
    lower = round(max(threshold - 0.15, 0.01), 2)
    page.eval_on_selector(
        "#threshold", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", lower
    )
    after = page.evaluate("viewer.state()")
    assert after["area"] > before["area"]
    params = PostprocessParams(threshold=lower, closing_radius=2, fill_holes=True)
    expected = apply_postprocess(probabilities(open_predictor(run), frames / "big.tif"), params)
    assert dice(page_mask(after), expected) >= 0.99


def test_dropped_mask_gives_dice_and_score(page, predicted, frames):
    state = show(page, 1)
    assert state["name"] == "frame"
    truth = read_mask(frames / "frame_mask.png")
    expected = dice(read_mask(predicted / "frame_mask.png"), truth)
    assert state["dice"] == pytest.approx(expected, abs=0.01)
    page.wait_for_function("viewer.state().score !== null")
    assert page.evaluate("viewer.state().score.frames") == 1
    assert "Dice" in page.inner_text("#stats")


def test_folder_with_images_and_masks_is_scored(open_page, server, tiny_data, tmp_path):
    folder = tmp_path / "labelled"
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True)
    scans = sorted(p for p in (tiny_data / "train").glob("*.tif") if "_mask" not in p.name)[:3]
    for scan in scans:
        shutil.copyfile(scan, folder / "images" / scan.name)
        shutil.copyfile(scan.with_name(scan.stem + "_mask.tif"), folder / "masks" / scan.name)
    page = open_page(server.url)
    page.set_input_files("#folder", str(folder))  # the folder picker: paths under images/, masks/
    page.wait_for_function("viewer.state().score && viewer.state().score.frames === 3")
    assert page.evaluate("viewer.state().count") == 3
    assert page.errors == []
    page.close()


def test_csv_download_is_predicts_run_length_code(page, predicted):
    show(page, 2)
    with page.expect_download() as download:
        page.click("#download-csv")
    with open(download.value.path(), newline="") as handle:
        rows = {row["name"]: row["pixels"] for row in csv.DictReader(handle)}
    assert set(rows) == {"big", "frame", "small"}
    for name, pixels in rows.items():
        expected = read_mask(predicted / f"{name}_mask.png")
        assert dice(rle_decode(pixels, expected.shape), expected) >= 0.99
    with page.expect_download() as download:
        page.click("#download-mask")
    assert download.value.suggested_filename == "small_mask.png"


def test_static_export_runs_on_a_plain_web_server(open_page, trained_run, tiny_data, tmp_path):
    """No Python behind the page and no isolation headers: one thread, frames.json preloaded."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    site = tmp_path / "site"
    assert main(["export", str(trained_run), "--format", "web", "--out", str(site),
                 "--input", str(tiny_data / "test")]) == 0  # fmt: skip
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as plain:
        threading.Thread(target=plain.serve_forever, daemon=True).start()
        page = open_page(f"http://127.0.0.1:{plain.server_address[1]}/")
        state = wait_drawn(page, 1)
        assert (state["count"], state["name"], state["threads"]) == (4, "1", 1)
        assert not page.evaluate("crossOriginIsolated") and page.errors == []
        page.close()
        plain.shutdown()


def test_presence_head_probability_is_shown_as_predict_computes_it(open_page, frames, tmp_path):
    from nerveseg.checkpoint import ModelInfo, save_model_file
    from nerveseg.models import build_model

    torch.manual_seed(0)
    kwargs = {"width": 0.0625, "presence_head": True}
    model = build_model("segnet", **kwargs).eval()
    save_model_file(tmp_path / "model.pt", model, ModelInfo("segnet", kwargs, (64, 96), 0.4, 0.2))
    opened = open_predictor(tmp_path / "model.pt")
    small = np.array(resize_image(read_image(frames / "small.tif"), opened.info.image_size))
    expected = float(opened.predictor(normalise(small[None], 0.4, 0.2)).presence[0])
    with ViewerServer(tmp_path / "model.pt") as server:
        page = open_page(server.url)
        page.set_input_files("#files", [str(frames / "small.tif")])
        state = wait_drawn(page, 1, "small")
        assert state["presence"] == pytest.approx(expected, abs=1e-5)
        assert "presence" in page.inner_text("#stats") and page.errors == []
        page.close()


def test_the_page_says_it_does_not_apply_stream_smoothing(open_page, tmp_path):
    """Video and camera frames are segmented one by one as stills; a model whose
    post-processing smooths streams gets that said beside it, one without does not."""
    from nerveseg.checkpoint import ModelInfo, save_model_file
    from nerveseg.models import build_model

    kwargs = {"width": 0.0625}
    model = build_model("segnet", **kwargs).eval()
    for name, params in (
        ("still", PostprocessParams()),
        ("stream", PostprocessParams(ema_alpha=0.8, pixel_off=0.2)),
    ):
        info = ModelInfo("segnet", kwargs, (64, 96), 0.4, 0.2, postprocess=params)
        save_model_file(tmp_path / f"{name}.pt", model, info)
        with ViewerServer(tmp_path / f"{name}.pt") as server:
            page = open_page(server.url)
            summary = page.inner_text("#model-info")
            page.close()
        assert ("not applied here" in summary) == (name == "stream"), summary
    assert "average 0.8, pixel off 0.2" in summary


def test_corrupt_file_shows_a_message_not_a_blank_page(open_page, server, frames, tmp_path):
    broken = tmp_path / "broken.tif"
    broken.write_bytes((frames / "big.tif").read_bytes()[:3000])  # truncated
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    page = open_page(server.url)
    page.set_input_files("#files", [str(broken), str(garbage), str(frames / "small.tif")])
    page.wait_for_function("viewer.state().message !== ''")
    message = page.inner_text("#message")
    assert message.startswith("broken: ") and "truncated" in message, message
    assert page.is_visible("#message") and page.is_visible("#threshold")
    page.screenshot(path=tmp_path / "corrupt.png")
    show(page, 1)
    assert page.inner_text("#message").startswith("garbage: not a readable image")
    state = show(page, 2)
    assert state["name"] == "small" and page.evaluate("viewer.state().message") == ""
    bad_video = tmp_path / "scan.webm"
    bad_video.write_bytes(b"\x1aE\xdf\xa3" + bytes(500))  # an EBML start, then nothing
    page.set_input_files("#files", [str(bad_video)])
    page.wait_for_function("viewer.state().message.startsWith('scan.webm: cannot play')")
    assert page.errors == []
    page.close()


RECORD_CLIP = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 160;
  canvas.height = 128;
  const context = canvas.getContext("2d");
  const recorder = new MediaRecorder(canvas.captureStream(30), { mimeType: "video/webm" });
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.start();
  for (let i = 0; i < 30; i++) {
    context.fillStyle = `rgb(${8 * i}, ${8 * i}, ${8 * i})`;
    context.fillRect(0, 0, 160, 128);
    await new Promise((r) => setTimeout(r, 40));
  }
  const stopped = new Promise((r) => (recorder.onstop = r));
  recorder.stop();
  await stopped;
  const files = new DataTransfer();
  files.items.add(new File(chunks, "clip.webm", { type: "video/webm" }));
  const input = document.getElementById("files");
  input.files = files.files;
  input.dispatchEvent(new Event("change"));
}"""


def test_video_file_plays_with_overlays(page):
    page.evaluate(RECORD_CLIP)  # a WebM recorded in the page: no video tools needed
    page.wait_for_function("(viewer.state().name || '').startsWith('clip_')")
    before = page.evaluate("viewer.state()")
    assert (before["width"], before["height"]) == (160, 128)
    page.click("#play")
    page.wait_for_function(f"viewer.state().drawn > {before['drawn'] + 3}")
    page.click("#play")
    with page.expect_download() as download:
        page.click("#download-csv")
    names = Path(download.value.path()).read_text().splitlines()[1:]
    assert len(names) >= 4 and all(n.startswith("clip_") for n in names)


def test_camera_is_a_live_source_with_its_frame_rate(page):
    page.click("#camera")  # Chromium's fake camera (see conftest)
    page.wait_for_function(
        "(viewer.state().name || '').startsWith('camera_') && viewer.state().fps > 0"
    )
    state = page.evaluate("viewer.state()")
    assert state["width"] > 0 and state["rle"] is not None
    page.wait_for_function("document.getElementById('stats').innerText.includes('frames/s')")


# --- the page's pieces against the Python they copy, exactly ----------------------------------


@pytest.fixture(scope="module")
def blank(open_page, server):
    """One page for the pieces' tests: they import the page's modules, not its state."""
    page = open_page(server.url)
    yield page
    page.close()


def evaluate_module(page, module: str, body: str, arg):
    return page.evaluate(
        f"async (arg) => {{ const m = await import('/js/{module}'); {body} }}", arg
    )


@pytest.mark.parametrize(
    "shape,size", [((420, 580), (96, 128)), ((128, 160), (64, 96)), ((50, 70), (96, 128))]
)
def test_resize_is_pillows_exactly(blank, shape, size):
    page = blank
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    got = evaluate_module(
        page, "imaging.js",
        "return Array.from(m.resizeGray(Uint8Array.from(arg.p), arg.w, arg.h, arg.ow, arg.oh));",
        {"p": image.ravel().tolist(), "w": shape[1], "h": shape[0], "ow": size[1], "oh": size[0]},
    )  # fmt: skip
    np.testing.assert_array_equal(np.array(got).reshape(size), resize_image(image, size))


@pytest.mark.parametrize(
    "shape,size", [((512, 534), (128, 160)), ((632, 761), (128, 160)), ((100, 400), (96, 128))]
)
def test_letterbox_is_nervesegs_exactly(blank, shape, size):
    """A letterbox model's steps in the page: the frame into its box on black, and the box's
    probabilities back to the frame (nerveseg.data.geometry, predictor.resize_probabilities)."""
    import torch

    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    frame = {"w": shape[1], "h": shape[0], "ow": size[1], "oh": size[0]}
    got = evaluate_module(
        blank, "imaging.js",
        "return Array.from(m.fitGray(Uint8Array.from(arg.p), arg.w, arg.h, arg.ow, arg.oh, 'letterbox'));",
        {"p": image.ravel().tolist(), **frame},
    )  # fmt: skip
    np.testing.assert_array_equal(np.array(got).reshape(size), fit_image(image, size, "letterbox"))
    prob = rng.random(size, dtype=np.float32)
    got = evaluate_module(
        blank, "imaging.js",
        "return Array.from(m.probabilitiesAtFrame(Float32Array.from(arg.p), arg.ow, arg.oh, arg.w, arg.h, 'letterbox'));",
        {"p": prob.ravel().tolist(), **frame},
    )  # fmt: skip
    expected = resize_probabilities(torch.from_numpy(prob)[None], shape, "letterbox")[0].numpy()
    # Float32 rounding: the page's bilinear resize differs from torch's by up to ~6e-6, for
    # stretched frames too (resizeProbabilities); a box off by one pixel would differ by ~0.5.
    got = np.array(got, dtype=np.float32).reshape(shape)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


POSTPROCESS_CASES = [
    PostprocessParams(),
    PostprocessParams(threshold=0.62, keep_largest=True),
    PostprocessParams(threshold=0.6, convex_hull=True),
    PostprocessParams(threshold=0.45, keep_largest=True, convex_hull=True, closing_radius=2),
    PostprocessParams(threshold=0.55, closing_radius=3),
    PostprocessParams(threshold=0.58, fill_holes=True),
    PostprocessParams(
        threshold=0.5, keep_largest=True, closing_radius=2, fill_holes=True, min_area=40
    ),
    PostprocessParams(threshold=0.5, max_area=500),
    PostprocessParams(threshold=0.3, presence_threshold=0.6),
]


def test_postprocessing_is_nervesegs_exactly(blank):
    from scipy import ndimage

    page = blank
    rng = np.random.default_rng(2)
    for number, params in enumerate(POSTPROCESS_CASES):
        field = ndimage.gaussian_filter(rng.standard_normal((90, 120)), 4)
        prob = (1 / (1 + np.exp(-field * 12))).astype(np.float32)
        presence = float(rng.uniform(0.3, 0.9))
        got = evaluate_module(
            page, "postprocess.js",
            "return Array.from(m.applyPostprocess(Float32Array.from(arg.p), 120, 90, arg.params, arg.presence));",
            {"p": prob.ravel().tolist(), "params": params.to_dict(), "presence": presence},
        )  # fmt: skip
        expected = apply_postprocess(prob, params, presence)
        np.testing.assert_array_equal(np.array(got, bool).reshape(90, 120), expected, str(number))


TIFF_VARIANTS = {
    "raw": {},
    "lzw": {"compression": "tiff_lzw"},
    "packbits": {"compression": "packbits"},
    "deflate": {"compression": "tiff_adobe_deflate"},
}


@pytest.mark.parametrize("mode", ["L", "I;16", "RGB"])
@pytest.mark.parametrize("variant", list(TIFF_VARIANTS))
def test_tiff_decoder_reads_what_nerveseg_reads(blank, tmp_path, mode, variant):
    import base64

    rng = np.random.default_rng(3)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (37, 53), dtype=np.uint16))
    elif mode == "RGB":
        image = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    else:
        image = Image.fromarray(rng.integers(0, 256, (37, 53), dtype=np.uint8))
    path = tmp_path / "x.tif"
    image.save(path, **TIFF_VARIANTS[variant])
    page = blank
    got = evaluate_module(
        page, "frames.js",
        "const b = Uint8Array.from(atob(arg), c => c.charCodeAt(0)); const f = await m.decodeImage(b);"
        " return [f.width, f.height, Array.from(f.gray)];",
        base64.b64encode(path.read_bytes()).decode(),
    )  # fmt: skip
    assert got[:2] == [53, 37]
    np.testing.assert_array_equal(np.array(got[2]).reshape(37, 53), read_image(path))


def rle_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    blob = np.zeros((31, 17), bool)
    blob[10:14, 3:9] = True  # runs end inside each column, away from its ends
    wrap = np.zeros((31, 17), bool)
    wrap[25:, 4] = wrap[:6, 5] = True  # one run from the bottom of a column to the next's top
    wrap[12, 9] = True
    return [rng.random((31, 17)) > 0.6, blob, wrap, np.zeros((31, 17), bool)]


@pytest.mark.parametrize("case", range(4))
def test_run_length_code_is_the_competitions(blank, case):
    mask = rle_cases()[case]
    got = evaluate_module(
        blank, "masks.js", "return m.rleEncode(Uint8Array.from(arg), 17, 31);",
        mask.astype(np.uint8).ravel().tolist(),
    )  # fmt: skip
    assert got == rle_encode(mask)


# --- the dense CRF ----------------------------------------------------------------------------

CRF = {
    "crf_weight": 4.0,
    "crf_smoothness": 0.3,
    "crf_spatial_sigma": 2.0,
    "crf_intensity_sigma": 15.0,
    "crf_iterations": 5,
}
CRF_SCANS = ["1.tif", "2.tif"]


def network_output(opened, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The frame at the network's size and the network's probabilities, as predict has them."""
    small = np.array(resize_image(read_image(path), opened.info.image_size))
    output = opened.predictor(normalise(small[None], opened.info.mean, opened.info.std))
    return small, output.probabilities[0, 0].numpy()  # the one structure's channel


@pytest.fixture(scope="module")
def crf_run(copy_trained_run, tiny_data) -> Path:
    """The smoke run with a CRF, and a threshold that gives its frames sizeable masks after the
    CRF: the barely trained smoke model's probabilities are all near 0.01, so the threshold
    keeps six significant digits."""
    run = copy_trained_run()
    opened = open_predictor(run)
    outputs = [network_output(opened, tiny_data / "test" / n) for n in CRF_SCANS]
    params = PostprocessParams(**CRF)
    values = np.concatenate([refine(probs, small, params).ravel() for small, probs in outputs])
    threshold = float(f"{np.quantile(values, 0.75):.6g}")
    save_postprocess(run / "postprocess.json", PostprocessParams(threshold=threshold, **CRF), {})
    return run


@pytest.fixture(scope="module")
def crf_page(open_page, crf_run):
    with ViewerServer(crf_run) as server:
        page = open_page(server.url)
        page.server_url = server.url
        yield page
        assert page.errors == []
        page.close()


def test_the_page_refines_probabilities_as_python_does(crf_page):
    page = crf_page
    rng = np.random.default_rng(0)
    height, width = 20, 28
    # Smooth probabilities and a frame with two regions and speckle, so both kernels matter.
    probs = resize_probabilities(
        torch.from_numpy(rng.random((1, 5, 7), dtype=np.float32)), (height, width)
    )[0].numpy()
    gray = np.where(np.arange(width) < 12, 60, 180) + rng.integers(-20, 21, (height, width))
    gray = gray.astype(np.uint8)
    params = PostprocessParams(**CRF)
    expected = refine(probs, gray, params)
    got = page.evaluate(
        """async ([url, p, g, w, h, params]) => {
            const crf = await import(url + "js/crf.js");
            return Array.from(crf.refine(Float32Array.from(p), Uint8Array.from(g), w, h, params));
        }""",
        [page.server_url, probs.ravel().tolist(), gray.ravel().tolist(), width, height, CRF],
    )
    got = np.array(got, np.float32).reshape(height, width)
    assert np.abs(expected - probs).max() > 0.05  # the CRF did something to compare
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_page_masks_with_a_crf_match_nerveseg_predict(crf_page, crf_run, tiny_data, tmp_path):
    page, run = crf_page, crf_run
    out = tmp_path / "predicted"
    args = ["predict", "--run", str(run), "--input", str(tiny_data / "test"), "--out", str(out)]
    assert main(args) == 0
    opened = open_predictor(run)
    without = PostprocessParams(threshold=opened.postprocess.first.threshold)
    page.set_input_files("#files", [str(tiny_data / "test" / n) for n in CRF_SCANS])
    for index, name in enumerate(CRF_SCANS):
        page.evaluate("i => viewer.show(i)", index)
        state = wait_drawn(page, index + 1, Path(name).stem)
        expected = read_mask(out / "masks" / f"{Path(name).stem}_mask.png")
        assert 0.01 < expected.mean() < 0.9, f"{name}: predict's mask is (nearly) empty or full"
        _, probs = network_output(opened, tiny_data / "test" / name)
        full = resize_probabilities(torch.from_numpy(probs)[None], expected.shape)
        plain = apply_postprocess(full[0].numpy(), without)
        # The CRF moves more pixels than the page may differ by: the comparison can fail.
        assert dice(plain, expected) < 0.99, name
        assert dice(page_mask(state), expected) >= 0.995, name
