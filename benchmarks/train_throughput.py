"""Training throughput of SegNet variants on this machine: images/s for a full training step.

A step here is what the Lightning module does per batch: uint8 -> float, kornia augmentation,
normalisation, forward, BCE + Dice loss, backward, Adam. Prints a table; asserts nothing.

    python benchmarks/train_throughput.py                      # default cases
    python benchmarks/train_throughput.py --width 1.0 --size 128 160 --steps 3
"""

from __future__ import annotations

import argparse
import time

import torch

from nerveseg.data.augment import AugmentConfig, augment_batch, build_augmentation
from nerveseg.losses import BCEDiceLoss
from nerveseg.models import build_model

DEFAULT_CASES = [(1.0, (128, 160)), (0.25, (128, 160)), (0.25, (96, 128))]


def measure(width: float, size: tuple[int, int], batch: int, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = build_model("segnet", width=width).train()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = BCEDiceLoss()
    augmentation = build_augmentation(AugmentConfig())
    images = torch.randint(0, 256, (batch, 1, *size), dtype=torch.uint8)
    masks = torch.zeros(batch, 1, *size)
    masks[:, :, size[0] // 3 : size[0] // 2, size[1] // 3 : size[1] // 2] = 1
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        x, y = augment_batch(augmentation, images.float() / 255.0, masks)
        loss = loss_fn(model((x - 0.4) / 0.2), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]
    return {"width": width, "size": size, "params": params, "images_per_s": batch / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, help="one width multiplier instead of the defaults")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    cases = DEFAULT_CASES
    if args.width is not None:
        cases = [(args.width, tuple(args.size or (128, 160)))]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"{'model':<18}{'size':>10}{'params':>12}{'train img/s':>14}")
    for width, size in cases:
        row = measure(width, size, args.batch, args.steps, args.warmup)
        name = f"segnet w={width:g}"
        print(
            f"{name:<18}{f'{size[0]}x{size[1]}':>10}{row['params'] / 1e6:>11.2f}M{row['images_per_s']:>14.1f}"
        )


if __name__ == "__main__":
    main()
