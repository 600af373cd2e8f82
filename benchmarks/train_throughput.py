"""Training throughput of the networks on this machine: images/s for a full training step.

A step here is what the Lightning module does per batch: uint8 -> float, kornia augmentation,
normalisation, forward, BCE + Dice loss, backward, Adam. Each case runs in fp32, in bf16
autocast (what ``train.precision=bf16-mixed`` does) and in bf16 with the NHWC layout
(``train.channels_last``), so the table says whether this CPU multiplies bf16 natively (about 2x
faster) or emulates it (many times slower: keep ``--arithmetic fp32`` there, it takes minutes).
Prints a table; asserts nothing.

    python benchmarks/train_throughput.py                      # default cases
    python benchmarks/train_throughput.py --width 1.0 --size 128 160 --steps 3
    python benchmarks/train_throughput.py --arithmetic fp32    # fp32 only
    # the cpu preset's network against SegNet at the same width and size
    python benchmarks/train_throughput.py --model attention_unet segnet --width 0.25 --arithmetic bf16-nhwc
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time

import torch

from nerveseg.data.augment import AugmentConfig, augment_batch, build_augmentation
from nerveseg.losses import BCEDiceLoss
from nerveseg.models import build_model

DEFAULT_CASES = [(1.0, (128, 160)), (0.25, (128, 160)), (0.25, (96, 128))]
ARITHMETIC = {"fp32": (False, False), "bf16": (True, False), "bf16-nhwc": (True, True)}


def measure(
    model_name: str,
    width: float,
    size: tuple[int, int],
    batch: int,
    steps: int,
    warmup: int,
    arithmetic: str = "fp32",
) -> dict:
    bf16, nhwc = ARITHMETIC[arithmetic]
    torch.manual_seed(0)
    model = build_model(model_name, width=width).train()
    if nhwc:
        model = model.to(memory_format=torch.channels_last)
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
        x = (x - 0.4) / 0.2
        if nhwc:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with autocast:
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]
    return {
        "model": model_name,
        "width": width,
        "size": size,
        "arithmetic": arithmetic,
        "params": params,
        "images_per_s": batch / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", nargs="+", default=["segnet"], help="network names (model.name), in turn"
    )
    parser.add_argument("--width", type=float, help="one width multiplier instead of the defaults")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--arithmetic", choices=[*ARITHMETIC, "all"], default="all", help="default: all three"
    )
    args = parser.parse_args()
    arithmetics = list(ARITHMETIC) if args.arithmetic == "all" else [args.arithmetic]
    cases = DEFAULT_CASES
    if args.width is not None:
        cases = [(args.width, tuple(args.size or (128, 160)))]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"{'model':<24}{'size':>10}{'params':>12}{'arithmetic':>12}{'train img/s':>14}")
    for model_name, (width, size) in itertools.product(args.model, cases):
        for arithmetic in arithmetics:
            row = measure(model_name, width, size, args.batch, args.steps, args.warmup, arithmetic)
            name = f"{model_name} w={width:g}"
            print(
                f"{name:<24}{f'{size[0]}x{size[1]}':>10}{row['params'] / 1e6:>11.2f}M"
                f"{arithmetic:>12}{row['images_per_s']:>14.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
