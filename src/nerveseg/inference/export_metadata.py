"""The JSON an exported model carries: what :class:`~nerveseg.checkpoint.ModelInfo` holds.

An ONNX file stores it under the ``metadata_props`` key :data:`METADATA_KEY`, a TorchScript file
as the extra file of that name. Its own module because writing and reading it are separate
concerns: :mod:`nerveseg.inference.export` writes it with torch's exporter, while the runtimes
(:mod:`nerveseg.inference.runtimes`) and :func:`~nerveseg.inference.sources.open_predictor` only
read it back, and they need none of the export machinery for that.

The format: ``format`` and ``format_version`` (as in a ``model.pt``), ``nerveseg_version``,
``info`` (:meth:`ModelInfo.to_dict`) and, for a model of several structures, the
post-processing per structure under ``structure_postprocess``. Version 1 exports carried a run's
fitted post-processing beside the info; :func:`parse_metadata` still reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nerveseg import __version__
from nerveseg.checkpoint import FORMAT, FORMAT_VERSION, ModelInfo, check_format
from nerveseg.errors import NervesegError
from nerveseg.files import nan_to_none
from nerveseg.postprocess import PostprocessParams
from nerveseg.structure_postprocess import StructurePostprocess

METADATA_KEY = "nerveseg"


def metadata_json(info: ModelInfo, postprocess: StructurePostprocess | None = None) -> str:
    """The JSON that travels inside an exported file.

    The info names the structures; a model of several carries ``postprocess`` (each
    structure's own, when they were fitted) under ``structure_postprocess``.
    """
    data: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nerveseg_version": __version__,
        "info": info.to_dict(),
    }
    if postprocess is not None and len(postprocess) > 1:
        data["structure_postprocess"] = postprocess.to_dict()
    return json.dumps(nan_to_none(data), allow_nan=False)


def parse_exported(text: str | bytes | None, path: Path) -> tuple[ModelInfo, StructurePostprocess]:
    """The :class:`ModelInfo` in an exported file's JSON and its post-processing per structure.

    Raises:
        NervesegError: no or malformed metadata, written by a newer nerveseg, or post-processing
            for other structures than the model's.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    info = parse_metadata(text, path)  # the text is valid nerveseg JSON from here on
    raw = json.loads(text).get("structure_postprocess")
    if raw is None:
        return info, StructurePostprocess.uniform(info.postprocess, info.structures)
    if not isinstance(raw, dict) or sorted(raw) != sorted(info.structures):
        raise NervesegError(
            f"{path}: its post-processing does not name the model's structures "
            f"{', '.join(info.structures)}; export it again with nerveseg export"
        )
    return info, StructurePostprocess.of(
        {
            name: PostprocessParams.from_dict(raw[name], source=f"{path}: {name}")
            for name in info.structures
        }
    )


def parse_metadata(text: str | bytes | None, path: Path) -> ModelInfo:
    """The :class:`ModelInfo` in an exported file's JSON.

    Raises:
        NervesegError: no nerveseg metadata, malformed metadata, or written by a newer nerveseg.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not text:
        raise NervesegError(f"{path}: holds no nerveseg metadata; export it with `nerveseg export`")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NervesegError(f"{path}: its nerveseg metadata is not valid JSON ({exc})") from None
    check_format(data, path, "its metadata is not nerveseg's; export it with nerveseg")
    raw = data.get("info")
    if isinstance(raw, dict) and isinstance(data.get("postprocess"), dict):
        # Version 1 exports carried a run's fitted post-processing beside the info.
        raw = {**raw, "postprocess": data["postprocess"]}
    return ModelInfo.from_dict(raw, str(path))
