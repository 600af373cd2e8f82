"""``open_predictor(source)``: the one place where something that predicts is assembled.

A source is a run folder (its ``model.pt``), a cross-validation folder (every ``fold-K/model.pt``
averaged), or a model file: ``model.pt`` (PyTorch), ``.onnx`` (ONNX Runtime) or ``.ts``
(TorchScript). What comes back carries the predictor, the model's description and the
post-processing to apply, one set per structure: a run's fitted ``postprocess.json`` when it has
one, else what the model file carries (an exported file carries its run's fitted one).
Prediction, evaluation, the report, fitting, the comparison and the benchmark all open their
models here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nerveseg import runs
from nerveseg.checkpoint import ModelInfo, load_model
from nerveseg.data.geometry import fit_image
from nerveseg.errors import NervesegError
from nerveseg.inference.ensemble import combine
from nerveseg.inference.predictor import (
    Predictor,
    TorchPredictor,
    normalise,
    pick_device,
    structure_masks_at_original_size,
)
from nerveseg.inference.tta import TTAPredictor
from nerveseg.structure_postprocess import StructurePostprocess, load_structure_postprocess

RUNTIMES = ("auto", "torch", "onnx", "torchscript")
_RUNTIME_OF_SUFFIX = {".pt": "torch", ".onnx": "onnx", ".ts": "torchscript"}


@dataclass
class OpenedPredictor:
    """A source opened for prediction.

    Attributes:
        predictor: the network(s) in their runtime, with test-time augmentation if asked.
        info: the model's description (the first fold's for a cross-validation folder): input
            size, normalisation, structures, and the post-processing it was trained with.
        postprocess: what to apply to its probabilities, per structure (see the module
            docstring).
        source: the run folder or model file.
        models: how many models are averaged (the folds of a cross-validation folder).
    """

    predictor: Predictor
    info: ModelInfo
    postprocess: StructurePostprocess
    source: Path
    models: int = 1

    @property
    def structures(self) -> list[str]:
        """The structure of each output channel, in order."""
        return list(self.info.structures)

    def segment(self, frame: np.ndarray) -> np.ndarray:
        r"""One live frame, end to end: ``(H, W)`` uint8 scan -> ``(S, H, W)`` bool masks.

        The same steps as \`\`nerveseg predict\`\` (resize, normalise, network, the CRF if asked,
        resize back, post-processing), for a probe that hands over one frame at a time. Channel
        \`\`k\`\` is structure \`\`k\`\` (:attr:\`structures\`); one structure gives \`\`(1, H, W)\`\`.
        """
        info = self.info
        small = fit_image(frame, info.image_size, info.resize)
        output = self.predictor(normalise(small[None], info.mean, info.std))
        shapes = [frame.shape]
        return structure_masks_at_original_size(
            output.probabilities,
            shapes,
            self.postprocess,
            output.presence,
            info.resize,
            images=small[None],
        )[0]


def open_predictor(
    source: Path,
    *,
    device: str = "auto",
    runtime: str = "auto",
    tta: bool = False,
    tta_shifts: int = 0,
    threads: int | None = None,
    channels_last: bool = False,
    use_postprocess_file: bool = True,
) -> OpenedPredictor:
    """Open a run folder, a cross-validation folder or a model file for prediction.

    Args:
        source: see the module docstring.
        device: for PyTorch and TorchScript: ``auto`` (the GPU when there is one), ``cpu``,
            ``cuda``, ``cuda:1`` ...
        runtime: ``auto`` follows the file's ending; naming one checks that it matches.
        tta: average with the left-right flipped frame (:class:`TTAPredictor`).
        tta_shifts: with ``tta``, also average over copies shifted by this many pixels.
        threads: ONNX Runtime intra-op threads (PyTorch follows ``torch.set_num_threads``).
        channels_last: NHWC memory layout for PyTorch models.
        use_postprocess_file: False ignores a run's ``postprocess.json``.

    Raises:
        NervesegError: a missing or unfinished run, a missing or unreadable file, an unknown
            ending, or a runtime that does not fit the file.
    """
    source = Path(source)
    if runtime not in RUNTIMES:
        raise NervesegError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    if source.is_dir() or not (source.exists() or source.suffix):  # a run folder, or a typo of one
        if runtime not in ("auto", "torch"):
            raise NervesegError(
                f"{source} is a run folder, which runs in torch; for {runtime}, export it first "
                f"(nerveseg export {source} --format {runtime}) and pass the exported file"
            )
        members = [
            _open_file(path, device, "torch", threads, channels_last)[:2]
            for path in runs.model_files(source)
        ]
        predictor, info = combine(members)
        postprocess = run_postprocess(source, info, use_file=use_postprocess_file)
        models = len(members)
    else:
        predictor, info, postprocess = _open_file(source, device, runtime, threads, channels_last)
        models = 1
    if tta:
        predictor = TTAPredictor(predictor, shifts=tta_shifts)
    return OpenedPredictor(predictor, info, postprocess, source, models)


def run_postprocess(run: Path, info: ModelInfo, *, use_file: bool = True) -> StructurePostprocess:
    """A run's post-processing per structure: its fitted ``postprocess.json``, else the model
    file's own for every structure."""
    path = Path(run) / runs.POSTPROCESS
    if use_file and path.is_file():
        return load_structure_postprocess(path, info.structures)
    return StructurePostprocess.uniform(info.postprocess, info.structures)


def _open_file(
    path: Path, device: str, runtime: str, threads: int | None, channels_last: bool
) -> tuple[Predictor, ModelInfo, StructurePostprocess]:
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
        own = StructurePostprocess.uniform(info.postprocess, info.structures)
        return TorchPredictor(model, pick_device(device), channels_last), info, own
    # The exported runtimes are imported only when used: ONNX Runtime is an optional extra.
    from nerveseg.inference.export_metadata import parse_exported
    from nerveseg.inference.runtimes import OnnxPredictor, TorchScriptPredictor

    if kind == "onnx":
        exported: OnnxPredictor | TorchScriptPredictor = OnnxPredictor(path, threads)
    else:
        exported = TorchScriptPredictor(path, pick_device(device))
    return (exported, *parse_exported(exported.metadata, path))
