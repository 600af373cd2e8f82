"""The runtimes of exported models: ONNX Runtime and TorchScript.

``model.pt`` runs in PyTorch (:class:`~nerveseg.inference.predictor.TorchPredictor`), ``.onnx``
in ONNX Runtime (:class:`OnnxPredictor`) and ``.ts`` in TorchScript
(:class:`TorchScriptPredictor`); :func:`~nerveseg.inference.sources.open_predictor` picks by the
file's ending. All of them are :class:`~nerveseg.inference.predictor.Predictor`\\ s, so
prediction, evaluation and the benchmark work with any of them unchanged.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from nerveseg.errors import NervesegError
from nerveseg.inference.export_metadata import METADATA_KEY
from nerveseg.inference.predictor import BatchOutput


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
        return BatchOutput.from_network(torch.from_numpy(outputs[0]), presence)


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
            return BatchOutput.from_network(output[0].float().cpu(), output[1].float().cpu())
        return BatchOutput.from_network(output.float().cpu())


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise NervesegError(
            "ONNX Runtime is not installed: pip install 'nerveseg[export]' (or onnxruntime)"
        ) from None
    return onnxruntime
