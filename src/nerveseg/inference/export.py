"""Export a trained model for deployment: ONNX (for ONNX Runtime) or TorchScript.

An exported file maps a normalised ``image`` batch ``(N, 1, H, W)`` float32 to nerve
``probabilities`` ``(N, H, W)`` (the sigmoid is inside the graph, so a runtime only has to
threshold) and, for a model with a presence head, ``presence`` ``(N,)`` probabilities. A model
of several structures (``ModelInfo.structures``: nerve, vessel ...) gives ``(N, S, H, W)``
probabilities instead, channel ``k`` = structure ``k``, and its presence per structure. N is
dynamic; H and W are fixed at the model's input size. What :class:`ModelInfo` holds (model
name and arguments, structure names, input size, normalisation, post-processing ...) travels
inside the file as JSON (:mod:`nerveseg.inference.export_metadata`), its post-processing
being the run's fitted ``postprocess.json`` when it has one (per structure, under
``structure_postprocess``, when there are several), so ``nerveseg predict --model model.onnx``
needs nothing else.

Exporter and opset: torch's TorchScript-based exporter (``dynamo=False``) at opset 17. It
exports our scatter-based unpooling exactly (max abs difference ~1e-7 against PyTorch) in ~3 s;
the dynamo exporter gave the same graph speed but took ~26 s and needs ``onnxscript``. Opset 17
has every operator SegNet uses (``ScatterElements``, ``MaxPool`` with indices) and runs on ONNX
Runtime 1.11 and later, so exported files also open in older deployments.

TorchScript is deprecated by PyTorch (2.13 warns on ``torch.jit.save``/``load``) but still the
one format a C++ program loads with libtorch alone; it is kept while it works, ONNX is the
recommended format.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nerveseg import runs
from nerveseg.checkpoint import ModelInfo, load_model
from nerveseg.errors import NervesegError
from nerveseg.files import atomic_path
from nerveseg.inference.export_metadata import METADATA_KEY, metadata_json
from nerveseg.models.outputs import split_output
from nerveseg.structure_postprocess import StructurePostprocess, load_structure_postprocess

ONNX_OPSET = 17
# Opsets the export was checked to run in ONNX Runtime (ScatterElements for the unpooling and
# Resize need 11; torch 2.13's exporter writes up to 23).
ONNX_OPSETS = range(11, 24)
SUFFIXES = {"onnx": ".onnx", "torchscript": ".ts"}


class ProbabilityModel(nn.Module):
    """What gets exported: the network followed by its sigmoid(s).

    One structure keeps the ``(N, H, W)`` output every earlier export has; several give
    ``(N, S, H, W)``.
    """

    def __init__(self, model: nn.Module, structures: int = 1) -> None:
        super().__init__()
        self.model = model
        self.structures = structures

    def forward(self, image: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        mask_logits, presence_logits = split_output(self.model(image))
        probabilities = torch.sigmoid(mask_logits)
        if self.structures == 1:
            probabilities = probabilities[:, 0]
        if presence_logits is None:
            return probabilities
        return probabilities, torch.sigmoid(presence_logits)


def export_model(
    source: Path,
    out: Path | None = None,
    *,
    format: str = "onnx",
    opset: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Export a run folder's model (or a ``model.pt``) to ``out``; returns the path written.

    Args:
        source: a finished run folder or a nerveseg model file.
        out: the file to write; default ``model.onnx`` / ``model.ts`` beside the model file.
        format: ``onnx`` or ``torchscript``.
        opset: the ONNX opset, default :data:`ONNX_OPSET` (ignored for TorchScript).
        overwrite: replace an existing ``out``.

    Raises:
        NervesegError: unknown format, wrong file ending, an existing ``out`` without
            ``overwrite``, or a source that is not a run or model file.
    """
    if format not in SUFFIXES:
        raise NervesegError(f"unknown export format {format!r}; choose {' or '.join(SUFFIXES)}")
    if opset is not None and opset not in ONNX_OPSETS:
        raise NervesegError(
            f"--opset {opset}: the export supports ONNX opsets {ONNX_OPSETS.start} to "
            f"{ONNX_OPSETS.stop - 1}; leave it out for {ONNX_OPSET}"
        )
    model_path, fitted_path = _resolve_source(Path(source))
    out = Path(out) if out is not None else model_path.with_suffix(SUFFIXES[format])
    if out.suffix != SUFFIXES[format]:
        raise NervesegError(
            f"{out}: a {format} file must end in {SUFFIXES[format]} (the ending tells "
            "nerveseg predict which runtime to use)"
        )
    _check_replaceable(out, overwrite)
    model, info = load_model(model_path)
    postprocess = None
    if fitted_path is not None:
        postprocess = load_structure_postprocess(fitted_path, info.structures)
        info = dataclasses.replace(info, postprocess=postprocess.first)
    if format == "onnx":
        data = onnx_bytes(model, info, opset=opset or ONNX_OPSET, postprocess=postprocess)
        with atomic_path(out) as tmp:
            tmp.write_bytes(data)
    else:
        traced = trace(model, info)
        metadata = metadata_json(info, postprocess)
        with atomic_path(out) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
            torch.jit.save(traced, str(tmp), _extra_files={METADATA_KEY: metadata})
    return out


def _check_replaceable(out: Path, overwrite: bool) -> None:
    """An existing ``out`` is replaced only when asked, and only if nerveseg wrote it."""
    if not out.exists():
        return
    if not overwrite:
        raise NervesegError(f"{out}: already exists; pass --overwrite to replace it")
    if not out.is_file() or not written_by_nerveseg(out):
        raise NervesegError(
            f"{out}: not a model nerveseg exported, so --overwrite leaves it; choose another --out"
        )


def written_by_nerveseg(path: Path) -> bool:
    """True for an ONNX or TorchScript file carrying nerveseg's metadata."""
    import onnx

    try:
        if path.suffix == SUFFIXES["torchscript"]:
            with zipfile.ZipFile(path) as archive:
                return any(n.endswith(f"extra/{METADATA_KEY}") for n in archive.namelist())
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # anything unreadable is not ours
        return False
    return any(prop.key == METADATA_KEY for prop in model.metadata_props)


def onnx_bytes(
    model: nn.Module,
    info: ModelInfo,
    *,
    opset: int = ONNX_OPSET,
    postprocess: StructurePostprocess | None = None,
) -> bytes:
    """The model as an ONNX file in memory (for a file, or straight into ONNX Runtime).

    ``postprocess`` is the post-processing per structure to carry (default: the info's own).
    """
    try:
        import onnx
    except ImportError:
        raise NervesegError(
            "ONNX export needs the onnx package: pip install 'nerveseg[export]'"
        ) from None

    wrapped = ProbabilityModel(model, len(info.structures)).eval()
    example = torch.zeros(2, 1, *info.image_size)  # batch 2: no size-1 dimension to fold
    with torch.no_grad():
        has_presence = isinstance(wrapped(example), tuple)
    outputs = ["probabilities", "presence"] if has_presence else ["probabilities"]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The size check in forward() is a Python branch the tracer warns about; sizes are fixed.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapped,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=["image"],
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in ["image", *outputs]},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.doc_string = (
        f"nerveseg {info.model_name}: image (N,1,H,W) -> {', '.join(outputs)}; "
        f"structures {', '.join(info.structures)}"
    )
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata_json(info, postprocess)
    return proto.SerializeToString()


def trace(model: nn.Module, info: ModelInfo) -> torch.jit.ScriptModule:
    """TorchScript of :class:`ProbabilityModel` by tracing (dynamic batch, fixed H and W)."""
    wrapped = ProbabilityModel(model, len(info.structures)).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        # check_trace re-runs the model to compare; the export tests do that once, not per export.
        return torch.jit.trace(wrapped, torch.zeros(2, 1, *info.image_size), check_trace=False)


def quantize_static_int8(
    data: bytes, info: ModelInfo, calibration: np.ndarray | None = None
) -> bytes:
    """Static int8 quantisation (QDQ, per-channel weights) of an ONNX model from :func:`onnx_bytes`.

    Args:
        data: the fp32 ONNX model.
        info: its info (for the input size when ``calibration`` is None).
        calibration: ``(N, 1, H, W)`` float32 normalised frames that set the activation ranges;
            None uses 16 random ones, which is fine for timing but not for quality: compare the
            masks with fp32 on real frames before trusting a quantised model.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration is None:
        calibration = np.random.default_rng(0).standard_normal(
            (16, 1, *info.image_size), dtype=np.float32
        )
    inputs = [np.ascontiguousarray(frame[None], dtype=np.float32) for frame in calibration]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(inputs)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"image": item}

    with tempfile.TemporaryDirectory() as tmp:
        fp32, prepared, int8 = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        fp32.write_bytes(data)
        quant_pre_process(str(fp32), str(prepared))
        quantize_static(
            str(prepared), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True
        )
        return _with_metadata_of(data, int8.read_bytes())


def _with_metadata_of(original: bytes, derived: bytes) -> bytes:
    """``derived`` (a quantised model) carrying ``original``'s nerveseg metadata."""
    import onnx

    source, target = onnx.load_from_string(original), onnx.load_from_string(derived)
    present = {entry.key for entry in target.metadata_props}
    for entry in source.metadata_props:
        if entry.key not in present:
            target.metadata_props.add(key=entry.key, value=entry.value)
    return target.SerializeToString()


def _resolve_source(source: Path) -> tuple[Path, Path | None]:
    """The model file to export and its run's fitted ``postprocess.json``, if any."""
    if source.is_dir():
        runs.require_finished(source)
        source = source / runs.MODEL
    if source.suffix in SUFFIXES.values():
        raise NervesegError(f"{source}: already exported; export from its run or model.pt")
    fitted = source.parent / runs.POSTPROCESS  # a run's model.pt sits beside its other files
    if source.name == runs.MODEL and fitted.is_file():
        return source, fitted
    return source, None
