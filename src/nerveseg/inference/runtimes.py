"""Predictors for exported models, one loader for every model file, and live single frames.

``model.pt`` runs in PyTorch (:class:`~nerveseg.inference.predictor.TorchPredictor`), ``.onnx`` in ONNX
Runtime (:class:`OnnxPredictor`) and ``.ts`` in TorchScript (:class:`TorchScriptPredictor`);
:func:`load_predictor` picks by the file's ending. All of them are
:class:`~nerveseg.inference.predictor.Predictor`\\ s, so prediction, evaluation and the benchmark work
with any of them unchanged.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nerveseg.checkpoint import ModelInfo, load_model
from nerveseg.data.loading import resize_image
from nerveseg.errors import NervesegError
from nerveseg.inference.export import METADATA_KEY, parse_metadata
from nerveseg.inference.predictor import (
    BatchOutput,
    Predictor,
    TorchPredictor,
    masks_at_original_size,
    normalise,
    pick_device,
)
from nerveseg.postprocess import PostprocessParams

RUNTIMES = ("auto", "torch", "onnx", "torchscript")
_RUNTIME_OF_SUFFIX = {".pt": "torch", ".onnx": "onnx", ".ts": "torchscript"}


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class OnnxPredictor:
    """An exported ONNX model in an ONNX Runtime session on the CPU.

    Args:
        model: an ``.onnx`` file from :func:`nerveseg.inference.export.export_model`, or its bytes.
        threads: intra-op threads; default one per available core.

    Session settings for a small CPU: one intra-op pool as wide as the cores, sequential
    execution (a segmentation net is a chain: inter-op parallelism only adds threads fighting
    for the same cores), every graph optimisation (conv + batch-norm + ReLU fusion), and pool
    threads that sleep instead of spinning between operators, the ONNX Runtime counterpart of
    ``OMP_WAIT_POLICY=PASSIVE``: spinning threads collapse when anything else needs the CPU.
    """

    def __init__(self, model: Path | bytes, threads: int | None = None) -> None:
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for foreign files
            name = "the ONNX model" if isinstance(model, bytes) else str(model)
            raise NervesegError(f"{name}: ONNX Runtime cannot open it ({exc})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]

    @property
    def metadata(self) -> str | None:
        """The nerveseg JSON stored in the file, if any."""
        return self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)

    def __call__(self, batch: torch.Tensor) -> BatchOutput:
        feed = {self.input_name: np.ascontiguousarray(batch.numpy(), dtype=np.float32)}
        outputs = self.session.run(self.output_names, feed)
        presence = torch.from_numpy(outputs[1]) if len(outputs) > 1 else None
        return BatchOutput(torch.from_numpy(outputs[0]), presence)


class TorchScriptPredictor:
    """An exported TorchScript model (its output is already probabilities)."""

    def __init__(self, path: Path, device: torch.device | None = None) -> None:
        self.device = device or torch.device("cpu")
        extra = {METADATA_KEY: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # see nerveseg.inference.export
                self.module = torch.jit.load(
                    str(path), map_location=self.device, _extra_files=extra
                )
        except Exception as exc:  # torch raises RuntimeError and others for foreign files
            raise NervesegError(
                f"{path}: not a readable TorchScript file ({exc.__class__.__name__})"
            ) from None
        self.module.eval()
        self.metadata = extra[METADATA_KEY] or None
        if isinstance(self.metadata, bytes):
            self.metadata = self.metadata.decode("utf-8")

    @torch.inference_mode()
    def __call__(self, batch: torch.Tensor) -> BatchOutput:
        output = self.module(batch.to(self.device))
        if isinstance(output, tuple):
            return BatchOutput(output[0].float().cpu(), output[1].float().cpu())
        return BatchOutput(output.float().cpu())


@dataclass
class OpenedModel:
    """A model file opened for prediction.

    Attributes:
        predictor: the network in its runtime.
        info: what travels with the weights (input size, normalisation ...).
        postprocess: the post-processing the file carries: an exported run's fitted
            ``postprocess.json``, else the model's threshold and minimum area.
    """

    predictor: Predictor
    info: ModelInfo
    postprocess: PostprocessParams


def load_predictor(
    path: Path, device: str = "auto", runtime: str = "auto", threads: int | None = None
) -> tuple[Predictor, ModelInfo]:
    """Open any nerveseg model file as a predictor, with the info that travels with it.

    See :func:`open_model` for the arguments and errors.
    """
    opened = open_model(path, device, runtime, threads)
    return opened.predictor, opened.info


def open_model(
    path: Path, device: str = "auto", runtime: str = "auto", threads: int | None = None
) -> OpenedModel:
    """Open any nerveseg model file: predictor, info and post-processing.

    Args:
        path: ``model.pt`` (PyTorch), ``.onnx`` (ONNX Runtime, CPU) or ``.ts`` (TorchScript).
        device: for PyTorch and TorchScript: ``auto``, ``cpu``, ``cuda`` ...
        runtime: ``auto`` follows the file's ending; naming one checks that it matches.
        threads: ONNX Runtime intra-op threads (PyTorch and TorchScript follow
            ``torch.set_num_threads``).

    Raises:
        NervesegError: missing or unreadable file, an unknown ending, or a runtime that
            does not fit the file.
    """
    path = Path(path)
    if runtime not in RUNTIMES:
        raise NervesegError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if not path.is_file():
        raise NervesegError(f"{path}: model file not found")
    kind = _RUNTIME_OF_SUFFIX.get(path.suffix)
    if kind is None:
        endings = ", ".join(_RUNTIME_OF_SUFFIX)
        raise NervesegError(f"{path}: unknown model file ending; nerveseg reads {endings}")
    if runtime not in ("auto", kind):
        how = (
            "use the run's model.pt"
            if runtime == "torch"
            else f"export it from the run's model.pt (nerveseg export RUN --format {runtime})"
        )
        raise NervesegError(f"{path} runs in {kind}, not {runtime}; {how}")
    if kind == "torch":
        model, info = load_model(path)
        predictor = TorchPredictor(model, pick_device(device))
        return OpenedModel(predictor, info, PostprocessParams.from_model_info(info))
    if kind == "onnx":
        exported: Any = OnnxPredictor(path, threads)
    else:
        exported = TorchScriptPredictor(path, pick_device(device))
    info, metadata = parse_metadata(exported.metadata, path)
    fitted = metadata.get("postprocess")
    params = (
        PostprocessParams.from_dict(fitted) if fitted else PostprocessParams.from_model_info(info)
    )
    return OpenedModel(exported, info, params)


def segment_frame(
    predictor: Predictor,
    info: ModelInfo,
    frame: np.ndarray,
    postprocess: PostprocessParams | None = None,
) -> np.ndarray:
    """One live frame, end to end: ``(H, W)`` uint8 scan -> ``(H, W)`` bool mask.

    The same steps as ``nerveseg predict`` (resize, normalise, network, resize back,
    post-processing: ``postprocess``, else the model's threshold and minimum area), for a probe
    that hands over one frame at a time.
    """
    small = np.array(resize_image(frame, info.image_size))  # writable: torch warns otherwise
    output = predictor(normalise(small[None], info.mean, info.std))
    params = postprocess or info
    return masks_at_original_size(output.probabilities, [frame.shape], params, output.presence)[0]


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise NervesegError(
            "ONNX Runtime is not installed: pip install 'nerveseg[export]' (or onnxruntime)"
        ) from None
    return onnxruntime
