"""Training throughput through the real training path, on a GPU (or the CPU for a dry run).

Builds a Kaggle-sized set of random uint8 frames (5,635 at 128x160 by default), hands it to
the same LightningModule and DataModule that ``nerveseg train`` uses (the set moves to the GPU
once; augmentation runs there), and times full epochs with Lightning's loop: forward, BCE +
Dice, backward, Adam. Prints images/s, seconds per epoch, achieved TFLOP/s (3 x the forward
FLOPs per image: the backward pass costs about twice the forward) as a share of the card's
peak, and the time between steps (data fetch, augmentation on the device and the loop's own
overhead). Asserts nothing.

    python benchmarks/gpu_throughput.py                                  # H100: bf16, channels-last
    python benchmarks/gpu_throughput.py --precision 16-mixed --no-channels-last
    python benchmarks/gpu_throughput.py --frames 256 --accelerator cpu --precision 32-true  # dry run
"""

from __future__ import annotations

import argparse
import time

import lightning as L
import torch

from nerveseg.config import OptimConfig
from nerveseg.data.augment import AugmentConfig, build_augmentation
from nerveseg.losses import BCEDiceLoss
from nerveseg.models import build_model
from nerveseg.models.profile import count_flops
from nerveseg.training.datamodule import CachedFrames, FramesDataModule
from nerveseg.training.module import SegmentationModule

# Dense (no sparsity) peak TFLOP/s by card and precision, from the vendors' data sheets.
PEAK_TFLOPS = {
    ("H100", "bf16"): 989.0,  # SXM; the PCIe card: 756
    ("H100", "fp16"): 989.0,
    ("H100", "fp32"): 67.0,
    ("H200", "bf16"): 989.0,
    ("H200", "fp16"): 989.0,
    ("H200", "fp32"): 67.0,
    ("A100", "bf16"): 312.0,
    ("A100", "fp16"): 312.0,
    ("A100", "fp32"): 19.5,
}


class EpochClock(L.Callback):
    """Seconds per training epoch and the gaps between batches (time not spent in a step)."""

    def __init__(self) -> None:
        self.epochs: list[float] = []
        self.gaps: list[float] = []
        self.images = 0

    def _sync(self, module: L.LightningModule) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_epoch_start(self, trainer, module) -> None:
        self._sync(module)
        self._epoch_start = self._batch_end = time.perf_counter()

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        self.gaps.append(time.perf_counter() - self._batch_end)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        self._batch_end = time.perf_counter()
        self.images += len(batch[0])

    def on_train_epoch_end(self, trainer, module) -> None:
        self._sync(module)
        self.epochs.append(time.perf_counter() - self._epoch_start)


def precision_family(precision: str) -> str:
    return "bf16" if "bf16" in precision else "fp16" if precision.startswith("16") else "fp32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5635)
    parser.add_argument("--size", type=int, nargs=2, default=[128, 160], metavar=("H", "W"))
    parser.add_argument("--model", default="segnet")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="the first one warms up")
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--peak-tflops", type=float, help="the card's peak (default: a table)")
    args = parser.parse_args()
    size = tuple(args.size)

    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.frames, 1, *size), dtype=torch.uint8)
    masks = torch.zeros(args.frames, 1, *size, dtype=torch.uint8)
    masks[::2, :, size[0] // 3 : size[0] // 2, size[1] // 3 : size[1] // 2] = 1
    data = FramesDataModule(
        CachedFrames(images, masks), CachedFrames(images[:64], masks[:64]), args.batch, seed=0
    )
    model = build_model(args.model, width=args.width)
    flops_per_image = count_flops(model, size)
    augment = AugmentConfig(enabled=not args.no_augment)
    module = SegmentationModule(
        model,
        BCEDiceLoss(),
        OptimConfig(scheduler="none"),
        mean=0.4,
        std=0.2,
        augmentation=build_augmentation(augment),
        channels_last=not args.no_channels_last,
    )
    clock = EpochClock()
    trainer = L.Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=args.precision,
        max_epochs=args.epochs,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    torch.backends.cudnn.benchmark = True
    trainer.fit(module, datamodule=data)

    steady = clock.epochs[1:] or clock.epochs
    seconds = min(steady)
    per_s = args.frames / seconds
    achieved = 3 * flops_per_image * per_s / 1e12
    device = torch.cuda.get_device_name() if module.device.type == "cuda" else "CPU"
    family = precision_family(args.precision)
    peak = args.peak_tflops or next(
        (v for (card, p), v in PEAK_TFLOPS.items() if card in device and p == family), None
    )
    batches = -(-args.frames // args.batch)
    gap_ms = 1000 * sorted(clock.gaps)[len(clock.gaps) // 2]
    print(
        f"device {device}; {args.model} width {args.width} at {size[0]}x{size[1]}; "
        f"batch {args.batch}; {args.precision}; channels-last {not args.no_channels_last}; "
        f"augmentation {'on' if augment.enabled else 'off'}"
    )
    print(f"forward GFLOPs per image {flops_per_image / 1e9:.2f} (multiply-add = 2)")
    print(
        f"epoch of {args.frames} frames: {seconds:.2f} s (epochs: "
        f"{', '.join(f'{e:.2f}' for e in clock.epochs)}) -> {per_s:.0f} images/s"
    )
    share = f" = {achieved / peak:.1%} of {peak:.0f} TFLOP/s peak ({family})" if peak else ""
    print(f"achieved {achieved:.1f} TFLOP/s{share}")
    print(
        f"median gap between batches {gap_ms:.2f} ms; x{batches} batches = "
        f"{gap_ms * batches / 1000:.2f} s per epoch outside the steps"
    )


if __name__ == "__main__":
    main()
