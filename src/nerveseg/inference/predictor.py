"""One inference path for evaluation, prediction, reports and benchmarks.

decode/resize (done once by :func:`nerveseg.data.loading.load_set`) -> normalise -> a
:class:`Predictor` (a PyTorch model, an ONNX Runtime session, test-time augmentation or an
ensemble wrapping others) -> probabilities -> the dense CRF when the post-processing asks for
it (:mod:`nerveseg.crf`, at the network's size) -> resize back to each frame's original size ->
post-process. A predictor is anything that maps a normalised batch to a :class:`BatchOutput`,
so runtimes and wrappers compose without the callers knowing which they hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nerveseg.checkpoint import ModelInfo
from nerveseg.crf import refine, uses_crf
from nerveseg.data.geometry import crop_to_frame
from nerveseg.errors import NervesegError
from nerveseg.models.outputs import split_output
from nerveseg.postprocess import PostprocessParams, apply_postprocess
from nerveseg.structure_postprocess import StructurePostprocess, apply_structures


@dataclass
class BatchOutput:
    """A batch of predictions on the CPU.

    Attributes:
        probabilities: ``(N, S, h, w)`` float32 probabilities of each of the model's ``S``
            structures (``ModelInfo.structures``, channel ``k`` = structure ``k``) at the
            network's input size.
        presence: ``(N, S)`` float32 probability that the frame shows each structure at all,
            from a presence head, or None for models without one.
    """

    probabilities: torch.Tensor
    presence: torch.Tensor | None = None

    @classmethod
    def from_network(
        cls, probabilities: torch.Tensor, presence: torch.Tensor | None = None
    ) -> BatchOutput:
        """Any runtime's output in the shapes above.

        A network or exported file of one structure gives ``(N, h, w)`` probabilities (the
        exported format keeps that shape) and ``(N,)`` presence; a presence head of one output
        per frame on a model of several structures gates every structure alike.
        """
        if probabilities.ndim == 3:
            probabilities = probabilities[:, None]
        if presence is not None:
            frames, channels = probabilities.shape[:2]
            if presence.numel() == frames * channels:
                presence = presence.reshape(frames, channels)
            else:
                presence = presence.reshape(frames, 1).expand(frames, channels)
        return cls(probabilities, presence)


class Predictor(Protocol):
    """Maps a normalised ``(N, 1, h, w)`` float32 CPU batch to a :class:`BatchOutput`."""

    def __call__(self, batch: torch.Tensor) -> BatchOutput: ...


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` means the GPU when there is one; a device this machine lacks is refused."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    problem = check_device(requested)
    if problem:
        raise NervesegError(problem)
    return torch.device(requested)


def check_device(requested: str) -> str | None:
    """Why ``requested`` cannot run here (one line with the fix), or None when it can."""
    match = re.fullmatch(r"(auto|cpu|mps|cuda)(?::(\d+))?", requested)
    if not match or (match[2] is not None and match[1] != "cuda"):
        return f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N"
    kind, index = match[1], int(match[2] or 0)
    if kind == "mps" and not torch.backends.mps.is_available():
        return "device mps: no Apple GPU here; use --device auto or cpu"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if kind == "cuda" and index >= count:
        have = f"cuda:0 to cuda:{count - 1}" if count else "no CUDA GPU"
        return f"device {requested}: this machine has {have}; use --device auto or cpu"
    return None


class TorchPredictor:
    """A PyTorch model in eval mode on ``device``; optional channels-last memory layout."""

    def __init__(
        self, model: nn.Module, device: torch.device | None = None, channels_last: bool = False
    ) -> None:
        self.device = device or torch.device("cpu")
        self.channels_last = channels_last
        self.model = model.to(self.device).eval()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, batch: torch.Tensor) -> BatchOutput:
        batch = batch.to(self.device)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        mask_logits, presence_logits = split_output(self.model(batch))
        probabilities = torch.sigmoid(mask_logits.float()).cpu()
        presence = None if presence_logits is None else torch.sigmoid(presence_logits.float()).cpu()
        return BatchOutput.from_network(probabilities, presence)


def normalise(images: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """``(N, h, w)`` uint8 frames -> ``(N, 1, h, w)`` float32, scaled to [0, 1] then standardised."""
    batch = torch.from_numpy(np.ascontiguousarray(images))[:, None].float() / 255.0
    return (batch - mean) / std


def predict_batches(
    predictor: Predictor, info: ModelInfo, images: np.ndarray, *, batch_size: int = 16
) -> Iterator[tuple[slice, BatchOutput]]:
    """Yield ``(batch_slice, output)`` for ``(N, h, w)`` uint8 frames at the model's input size.

    Batches are yielded as they are computed so callers can write results as they come.
    """
    for start in range(0, len(images), batch_size):
        chunk = slice(start, min(start + batch_size, len(images)))
        yield chunk, predictor(normalise(images[chunk], info.mean, info.std))


def resize_probabilities(
    probabilities: torch.Tensor, shape: tuple[int, int], resize: str = "stretch"
) -> torch.Tensor:
    """``(N, h, w)`` (or ``(N, S, h, w)``) network-size probabilities back to a
    ``shape = (H, W)`` frame.

    ``resize`` is the model's (``ModelInfo.resize``): a letterboxed frame's box is cut out
    first (:func:`~nerveseg.data.geometry.crop_to_frame`), then the bilinear resize is the same.
    """
    probabilities = crop_to_frame(probabilities, shape, resize)
    if tuple(probabilities.shape[-2:]) == tuple(shape):
        return probabilities
    if probabilities.ndim == 4:
        return F.interpolate(probabilities, size=shape, mode="bilinear", align_corners=False)
    resized = F.interpolate(
        probabilities[:, None], size=shape, mode="bilinear", align_corners=False
    )
    return resized[:, 0]


def masks_at_original_size(
    probabilities: torch.Tensor,
    shapes: list[tuple[int, int]],
    params: PostprocessParams,
    presence: torch.Tensor | None = None,
    resize: str = "stretch",
    images: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Post-processed boolean masks, each at its frame's original size.

    ``presence`` is the batch's ``(N,)`` presence probabilities, for the presence gate;
    ``resize`` how the frames were brought to the network's size (the model's); ``images``
    the ``(N, h, w)`` uint8 frames the network saw, for the CRF (needed only when ``params``
    ask for it).
    """
    if uses_crf(params):
        if images is None:
            raise ValueError(
                "the post-processing asks for the CRF: pass the frames the network saw"
            )
        probabilities = refine(probabilities, images, params)
    masks = []
    for i, (prob, shape) in enumerate(zip(probabilities, shapes, strict=True)):
        full = resize_probabilities(prob[None], shape, resize)[0]
        frame_presence = None if presence is None else float(presence[i])
        masks.append(apply_postprocess(full, params, frame_presence))
    return masks


def structure_masks_at_original_size(
    probabilities: torch.Tensor,
    shapes: list[tuple[int, int]],
    params: StructurePostprocess,
    presence: torch.Tensor | None = None,
    resize: str = "stretch",
    images: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Every structure's post-processed masks, each frame at its original size.

    Args:
        probabilities: ``(N, S, h, w)`` probabilities at the network's size.
        shapes: each frame's original ``(H, W)``.
        params: one parameter set per structure.
        presence: ``(N, S)`` presence probabilities, or None.
        resize: how the frames were brought to the network's size (the model's).
        images: the ``(N, h, w)`` uint8 frames the network saw, for the CRF (needed only when
            a structure's parameters ask for it; each structure's channel is refined with its
            own).

    Returns:
        one ``(S, H, W)`` bool array per frame. For one structure its only channel is exactly
        :func:`masks_at_original_size`'s mask.
    """
    if any(uses_crf(p) for p in params.params):
        if images is None:
            raise ValueError(
                "the post-processing asks for the CRF: pass the frames the network saw"
            )
        channels = [refine(probabilities[:, k], images, p) for k, p in enumerate(params.params)]
        probabilities = torch.stack(channels, dim=1)
    masks = []
    for i, (prob, shape) in enumerate(zip(probabilities, shapes, strict=True)):
        full = resize_probabilities(prob[None], shape, resize)[0]
        masks.append(apply_structures(full, params, None if presence is None else presence[i]))
    return masks
