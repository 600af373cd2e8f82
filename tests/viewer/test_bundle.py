"""The viewer's Python side: the model bundle, the static export, the local server, the CLI."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nerveseg.cli import main
from nerveseg.viewer import ViewerServer, prepare_model
from nerveseg.viewer.assets import VENDOR_FILES, missing_vendor_files
from nerveseg.viewer.bundle import find_frames

needs_vendor = pytest.mark.skipif(
    bool(missing_vendor_files()),
    reason="onnxruntime-web is not vendored (make setup; needs npm and the network once)",
)


def test_model_bundle_carries_what_the_page_repeats(trained_run, tmp_path):
    from nerveseg.inference import open_predictor

    data = prepare_model(trained_run, tmp_path)
    opened = open_predictor(trained_run)
    assert (tmp_path / "model.onnx").stat().st_size > 1000
    assert json.loads((tmp_path / "model.json").read_text()) == data
    assert data["image_size"] == list(opened.info.image_size)
    assert (data["mean"], data["std"]) == (opened.info.mean, opened.info.std)
    assert data["postprocess"] == opened.postprocess.first.to_dict()  # one structure


def test_model_bundle_uses_the_runs_fitted_postprocessing(run_copy, tmp_path):
    from nerveseg.postprocess import PostprocessParams, save_postprocess

    fitted = PostprocessParams(threshold=0.3, min_area=7, keep_largest=True)
    save_postprocess(run_copy / "postprocess.json", fitted, {})
    assert prepare_model(run_copy, tmp_path)["postprocess"] == fitted.to_dict()


@needs_vendor
def test_export_web_writes_a_static_folder(trained_run, tiny_data, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["export", str(trained_run), "--format", "web", "--out", str(out),
                 "--input", str(tiny_data / "test")]) == 0  # fmt: skip
    assert "http.server" in capsys.readouterr().out
    for name in ["index.html", "viewer.css", "js/main.js", "model.onnx", "model.json"]:
        assert (out / name).is_file(), name
    for name in VENDOR_FILES:
        assert (out / "vendor" / name).is_file(), name
    listed = json.loads((out / "frames.json").read_text())["frames"]
    assert [f["name"] for f in listed] == [f.name for f in find_frames(tiny_data / "test")]
    assert all((out / f["image"]).is_file() for f in listed)
    assert main(["export", str(trained_run), "--format", "web", "--out", str(out)]) == 2
    (out / "notes.txt").write_text("mine")
    assert (
        main(["export", str(trained_run), "--format", "web", "--out", str(out), "--overwrite"]) == 0
    )
    assert (out / "notes.txt").read_text() == "mine" and (out / "model.json").is_file()
    assert json.loads((out / "frames.json").read_text())["frames"] == []  # replaced: no --input now
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no staging folder left


def test_export_web_never_replaces_a_folder_it_did_not_write(trained_run, tmp_path, capsys):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work")
    args = ["export", str(trained_run), "--format", "web", "--out", str(theirs), "--overwrite"]
    assert main(args) == 2
    assert "is not a viewer nerveseg exported" in capsys.readouterr().err
    assert [p.name for p in theirs.iterdir()] == ["thesis.tex"]


def test_find_frames_pairs_masks_by_name(tiny_data):
    frames = find_frames(tiny_data / "train")
    assert frames and all(f.mask is not None for f in frames)
    assert all(f.mask.stem == f"{f.name}_mask" for f in frames)
    assert [f.name for f in find_frames(tiny_data)] == [
        f.name for f in find_frames(tiny_data / "test")
    ]


@needs_vendor
def test_server_binds_loopback_and_isolates(trained_run, tiny_data):
    with ViewerServer(trained_run, frames=tiny_data / "test") as server:
        assert server.address[0] == "127.0.0.1"
        with urllib.request.urlopen(server.url) as response:
            assert b"nerveseg viewer" in response.read()
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        with urllib.request.urlopen(server.url + "js/main.js") as response:
            assert response.headers["Content-Type"].startswith("text/javascript")
        with urllib.request.urlopen(server.url + "frames.json") as response:
            first = json.loads(response.read())["frames"][0]
        with urllib.request.urlopen(server.url + first["image"]) as response:
            assert response.read() == (tiny_data / "test" / Path(first["image"]).name).read_bytes()
        for path in ["../pyproject.toml", "frames/0/..%2F..%2Fsecret", "frames/99/x.tif"]:
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(server.url + path)
            assert caught.value.code == 404


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("no/such/run", "no such run folder or model file"),
        ("model.ts", "the viewer runs ONNX"),
    ],
)
def test_view_bad_source_is_one_line_exit_2(tmp_path, capsys, source, says):
    if source.endswith(".ts"):
        (tmp_path / source).write_bytes(b"not a model")
    assert main(["view", str(tmp_path / source), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--input", "{tmp}/missing"], "missing"),
    ],
)
def test_view_bad_flags_are_one_line_exit_2(trained_run, tmp_path, capsys, args, says):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    try:
        status = main(["view", str(trained_run), "--no-browser", *args])
    except SystemExit as exc:  # a flag argparse refuses
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_view_unfinished_run_says_train_first(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["view", str(tmp_path / "run"), "--no-browser"]) == 2
    assert "train first" in capsys.readouterr().err


@needs_vendor
def test_serve_viewer_announces_its_address_and_stops(trained_run, tiny_data):
    import threading

    from nerveseg.viewer import serve_viewer

    said: list[str] = []
    stop = threading.Event()
    args = {"frames": tiny_data / "test", "open_browser": False, "announce": said.append}
    thread = threading.Thread(
        target=serve_viewer, args=(trained_run,), kwargs={**args, "until": stop}
    )
    thread.start()
    try:
        for _ in range(600):
            if said:
                break
            stop.wait(0.05)
        url = said[0].split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "frames.json") as response:
            assert len(json.loads(response.read())["frames"]) == len(
                find_frames(tiny_data / "test")
            )
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_view_opens_with_the_runs_test_frames(trained_run, tiny_data):
    from nerveseg.cli.view import _default_frames

    assert _default_frames(trained_run).resolve() == (tiny_data / "test").resolve()
    assert _default_frames(trained_run / "model.pt") is None
