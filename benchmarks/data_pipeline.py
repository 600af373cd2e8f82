"""Is the data path ever the bottleneck? Times each stage of a training batch, and the cache.

Per batch of cached uint8 frames (what ``FramesDataModule`` serves):

1. fetch: the DataLoader gathers a batch from the in-memory tensors (the only CPU work a GPU
   run does per batch, apart from launching kernels);
2. to float + augmentation (kornia, on the batch's device: on a GPU run this is GPU work);
3. the model's step: forward, BCE + Dice, backward, Adam.

With ``--data DIR`` it also times the first load of a folder (decode + resize + cache write)
against a cache hit. Prints tables; asserts nothing.

    python benchmarks/data_pipeline.py
    python benchmarks/data_pipeline.py --data /tmp/synth47 --size 128 160
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from nerveseg.data.augment import AugmentConfig, augment_batch, build_augmentation
from nerveseg.data.cache import load_set_cached
from nerveseg.data.samples import discover_labelled
from nerveseg.losses import BCEDiceLoss
from nerveseg.models import build_model
from nerveseg.training.datamodule import CachedFrames, EpochShuffle, _already_batched

KAGGLE_FRAMES = 5_635


def median_ms(action, repeats: int, warmup: int = 1) -> float:
    times = []
    for step in range(warmup + repeats):
        start = time.perf_counter()
        action()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def batch_stages(size: tuple[int, int], batch: int, widths: list[float], steps: int) -> None:
    frames = 1024
    images = torch.randint(0, 256, (frames, 1, *size), dtype=torch.uint8)
    masks = torch.zeros(frames, 1, *size, dtype=torch.uint8)
    masks[:, :, size[0] // 3 : size[0] // 2, size[1] // 3 : size[1] // 2] = 1
    loader = DataLoader(
        CachedFrames(images, masks),
        batch_size=batch,
        sampler=EpochShuffle(frames, 0),
        collate_fn=_already_batched,
    )
    batches = iter(loader)
    fetch = median_ms(lambda: next(batches), repeats=50)
    augmentation = build_augmentation(AugmentConfig())
    x_u8, y_u8 = images[:batch], masks[:batch]

    def augment():
        return augment_batch(augmentation, x_u8.float() / 255.0, y_u8.float())

    augment_ms = median_ms(augment, repeats=5)
    x, y = augment()
    print(
        f"\nper batch of {batch} at {size[0]}x{size[1]} on CPU ({torch.get_num_threads()} threads)"
    )
    print(f"{'stage':<34}{'ms/batch':>10}{'share':>8}")
    for width in widths:
        model = build_model("segnet", width=width).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        loss_fn = BCEDiceLoss()

        def step(model=model, optimizer=optimizer, loss_fn=loss_fn):
            loss = loss_fn(model((x - 0.4) / 0.2), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        step_ms = median_ms(step, repeats=steps)
        total = fetch + augment_ms + step_ms
        print(f"segnet width {width}")
        for name, value in (
            ("  fetch (DataLoader, uint8)", fetch),
            ("  to float + augmentation", augment_ms),
            ("  model step (fwd+loss+bwd+Adam)", step_ms),
        ):
            print(f"{name:<34}{value:>10.1f}{value / total:>8.1%}")
    epoch_batches = -(-KAGGLE_FRAMES // batch)
    print(
        f"fetch for a whole {KAGGLE_FRAMES}-frame epoch: {fetch * epoch_batches / 1000:.2f} s "
        f"of CPU time ({epoch_batches} batches); a GPU run does only this on the CPU."
    )


def cache_timing(root: Path, size: tuple[int, int]) -> None:
    samples = discover_labelled(root)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        loaded = load_set_cached(samples, size, cache_dir=Path(folder))
        miss = time.perf_counter() - start
        start = time.perf_counter()
        load_set_cached(discover_labelled(root), size, cache_dir=Path(folder))
        hit = time.perf_counter() - start
        entry = next(Path(folder).glob("*.npz"))
        megabytes = entry.stat().st_size / 1e6
    in_memory = (loaded.images.nbytes + loaded.masks.nbytes) / 1e6
    print(f"\ncache on {len(loaded.samples)} frames of {root} at {size[0]}x{size[1]}")
    print(f"  first load (decode + resize + write): {miss:6.1f} s")
    print(f"  cache hit (discovery + read):         {hit:6.2f} s")
    print(f"  entry on disk {megabytes:.0f} MB; images + masks in memory {in_memory:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=[128, 160], metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.25])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--data", type=Path, help="also time a first load against a cache hit")
    args = parser.parse_args()
    size = tuple(args.size)
    batch_stages(size, args.batch, args.widths, args.steps)
    if args.data:
        cache_timing(args.data, size)


if __name__ == "__main__":
    main()
