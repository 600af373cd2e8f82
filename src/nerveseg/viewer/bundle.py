"""What the page loads: ``model.onnx``, ``model.json``, and optionally frames to show.

``model.json`` holds what the page needs to repeat ``nerveseg predict``'s steps: the network's
input size, the normalisation and the post-processing (a run's fitted ``postprocess.json`` when
it has one, as ``predict`` uses). The network is the same ONNX file ``nerveseg export`` writes
(sigmoid inside, the unpooling as a scatter), which onnxruntime-web runs unchanged.

A model of several structures (nerve, vessel ...) adds their names, each one's post-processing
in channel order (``structure_postprocess``: where each structure's threshold slider starts)
and its colour (``colours``, those of ``nerveseg live`` and the palette of predict's indexed
PNGs, which the page's downloads repeat); ``postprocess`` stays the first structure's, what a
page of one structure and a ``model.json`` reader from before structures use.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerveseg import __version__, runs
from nerveseg.data.folders import LABELME_SUFFIX, natural_key, require_folder, scan_pairs
from nerveseg.errors import NervesegError
from nerveseg.files import write_json
from nerveseg.inference.export import export_model
from nerveseg.inference.overlay import structure_colour
from nerveseg.inference.sources import open_predictor
from nerveseg.viewer.assets import require_vendor_files, static_dir

MODEL_FILE = "model.onnx"
MODEL_JSON = "model.json"
FRAMES_JSON = "frames.json"
FRAMES_DIR = "frames"
WEB_FORMAT = "nerveseg-web"


@dataclass(frozen=True)
class Frame:
    """A frame to show when the page opens, and its mask file when there is one."""

    name: str
    image: Path
    mask: Path | None = None


def prepare_model(source: Path, folder: Path) -> dict[str, Any]:
    """Write ``folder/model.onnx`` and ``folder/model.json`` for ``source``; returns the JSON data.

    Args:
        source: a finished run folder, its ``model.pt``, or an exported ``.onnx`` file.
        folder: an existing folder to write into.

    Raises:
        NervesegError: a missing source, a cross-validation folder, a TorchScript file, or a
            run that is not finished.
    """
    source = Path(source)
    onnx_path = Path(folder) / MODEL_FILE
    if not source.exists():
        raise NervesegError(
            f"{source}: no such run folder or model file; pass a finished run (e.g. demo/run), "
            "its model.pt or an exported model.onnx"
        )
    if source.is_dir() and runs.is_cross_validation(source):
        raise NervesegError(
            f"{source}: a cross-validation folder averages several models, which the page does "
            f"not; view one fold: nerveseg view {source / 'fold-0'}"
        )
    if source.suffix == ".onnx":
        shutil.copyfile(source, onnx_path)
    elif source.suffix == ".ts":
        raise NervesegError(
            f"{source}: the viewer runs ONNX; view the run folder or export it with "
            "nerveseg export RUN --format onnx"
        )
    else:
        export_model(source, onnx_path, format="onnx", overwrite=True)
    # Read back through the one place a model is opened: the info inside the file and the
    # post-processing predict would apply to it.
    opened = open_predictor(onnx_path, threads=1)
    data = {
        "format": WEB_FORMAT,
        "format_version": 1,
        "nerveseg_version": __version__,
        "source": str(source),
        "model": MODEL_FILE,
        "model_name": opened.info.model_name,
        "model_kwargs": opened.info.model_kwargs,
        "image_size": list(opened.info.image_size),
        "resize": opened.info.resize,
        "mean": opened.info.mean,
        "std": opened.info.std,
        "postprocess": opened.postprocess.first.to_dict(),
        "structures": list(opened.postprocess.names),
        "structure_postprocess": [params.to_dict() for params in opened.postprocess.params],
        "colours": [list(structure_colour(k)) for k in range(len(opened.postprocess))],
    }
    write_json(Path(folder) / MODEL_JSON, data)
    return data


def find_frames(folder: Path) -> list[Frame]:
    """The scans in ``folder`` (or its ``test/``), each with its ``NAME_mask`` file if present.

    Raises:
        DataError: a missing folder or one without images.
    """
    folder = require_folder(Path(folder), "frames folder")
    scan = scan_pairs(folder)
    if not scan.images and (folder / "test").is_dir():
        folder = folder / "test"
        scan = scan_pairs(folder)
    if not scan.images:
        raise NervesegError(f"{folder}: no images to show (looked for .png, .tif, .jpg files)")
    names = sorted(scan.images, key=natural_key)
    # The page decodes image masks only; a LabelMe NAME.json beside a frame is left out.
    masks = {n: m for n, m in scan.masks.items() if m.suffix.lower() != LABELME_SUFFIX}
    return [Frame(n, scan.images[n], masks.get(n)) for n in names]


def frames_listing(frames: list[Frame]) -> dict[str, Any]:
    """``frames.json``: where the page fetches each frame (and mask) from, in order."""
    items = []
    for number, frame in enumerate(frames):
        item = {"name": frame.name, "image": f"{FRAMES_DIR}/{number}/{frame.image.name}"}
        if frame.mask is not None:
            item["mask"] = f"{FRAMES_DIR}/{number}/{frame.mask.name}"
        items.append(item)
    return {"frames": items}


def export_web(
    source: Path, out: Path, *, frames: Path | None = None, overwrite: bool = False
) -> Path:
    """Write a static viewer to ``out``: the page, onnxruntime-web, the model, optional frames.

    The folder works on any web server (``python -m http.server`` included) with no Python
    behind it. Without cross-origin-isolation headers from that server the page runs the
    network on one thread, which the real-time preset does not need more than. It is built
    beside ``out`` and moved in when complete; ``overwrite`` replaces only a viewer nerveseg
    exported, and only the entries it writes (a file of the user's inside stays).

    Raises:
        NervesegError: ``out`` exists without ``overwrite`` or is not an exported viewer,
            onnxruntime-web is not vendored, or the source or frames folder is unusable.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise NervesegError(f"{out}: already exists; pass --overwrite to replace it")
    if out.exists() and not is_web_export(out):
        raise NervesegError(
            f"{out}: exists and is not a viewer nerveseg exported; choose another --out "
            "(nothing was changed)"
        )
    listed = find_frames(frames) if frames is not None else []
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_site(staging, source, listed)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not out.exists():
        staging.rename(out)  # complete or absent, like every file nerveseg writes
        return out
    for entry in sorted(staging.iterdir()):
        old = out / entry.name
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
        entry.rename(old)
    staging.rmdir()
    return out


def is_web_export(folder: Path) -> bool:
    """True for a folder ``export_web`` wrote (its ``model.json`` says so)."""
    try:
        data = json.loads((Path(folder) / MODEL_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == WEB_FORMAT


def _write_site(folder: Path, source: Path, frames: list[Frame]) -> None:
    """The page's files, the model and the frames into the (empty) ``folder``."""
    shutil.copytree(
        static_dir(), folder, ignore=shutil.ignore_patterns("__pycache__", ".*"), dirs_exist_ok=True
    )
    prepare_model(source, folder)
    require_vendor_files()
    for number, frame in enumerate(frames):
        target = folder / FRAMES_DIR / str(number)
        target.mkdir(parents=True)
        for path in (frame.image, frame.mask):
            if path is not None:
                shutil.copyfile(path, target / path.name)
    write_json(folder / FRAMES_JSON, frames_listing(frames))
