"""Real Kaggle frames above synthetic ones, to judge the generator by eye; prints its speed.

    python benchmarks/synth_contact_sheet.py [--out PNG] [--real DIR]

Generates a small synthetic set at full 580x420 size in a temporary folder (timing the whole
``generate_dataset`` call, TIFF writes included), then draws the real sample's training frames and
a mix of synthetic frames with and without the nerve, each mask outlined.
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from nerveseg.data.synth import SynthConfig, generate_dataset
from nerveseg.files import atomic_path

REPO = Path(__file__).resolve().parents[1]
COLUMNS = 3
OUTLINE_RGB = (255, 64, 64)


def parse_args() -> argparse.Namespace:
    """The command line: where to write the sheet, where the real sample is, what to generate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs/images/synth_vs_real.png")
    parser.add_argument("--real", type=Path, default=REPO / "../shared/data/kaggle_nerve_sample")
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--frames-per-subject", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=3, help="rows of synthetic frames")
    return parser.parse_args()


def real_frames(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The real sample's labelled training frames as (title, image, mask)."""
    frames = []
    for mask_path in sorted((folder / "train").glob("*_mask.tif")):
        image_path = mask_path.with_name(mask_path.name.replace("_mask", ""))
        image, mask = np.array(Image.open(image_path)), np.array(Image.open(mask_path)) > 0
        frames.append((f"real {image_path.stem}", image, mask))
    return frames


def synthetic_frames(root: Path, count: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """About two thirds frames with the nerve and one third empty, spread over the subjects."""
    with open(root / "train_masks.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with_nerve = [r for r in rows if r["pixels"]]
    empty = [r for r in rows if not r["pixels"]]
    n_empty = count // 3
    picks = [
        with_nerve[i] for i in np.linspace(0, len(with_nerve) - 1, count - n_empty).astype(int)
    ]
    picks += [empty[i] for i in np.linspace(0, len(empty) - 1, n_empty).astype(int)]
    frames = []
    for row in picks:
        stem = f"{row['subject']}_{row['img']}"
        image = np.array(Image.open(root / "train" / f"{stem}.tif"))
        mask = np.array(Image.open(root / "train" / f"{stem}_mask.tif")) > 0
        label = "nerve" if mask.any() else "empty"
        frames.append((f"synthetic {stem} ({label})", image, mask))
    return frames


def draw(frames: list[tuple[str, np.ndarray, np.ndarray]], out: Path) -> None:
    """A grid of frames, each with its mask outlined in a thin line."""
    rows = -(-len(frames) // COLUMNS)
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(16, rows * 16 / COLUMNS * 420 / 580 + 0.4))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, (title, image, mask) in zip(np.atleast_1d(axes).ravel(), frames, strict=False):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        if mask.any():
            ax.contour(mask, levels=[0.5], colors=[np.divide(OUTLINE_RGB, 255)], linewidths=0.9)
        ax.set_title(title, fontsize=9)
    figure.tight_layout(pad=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=100)
    plt.close(figure)
    # 63 greys and the outline red halve the file with no visible loss.
    palette = Image.new("P", (1, 1))
    greys = [round(i * 255 / 62) for i in range(63)]
    palette.putpalette([v for g in greys for v in (g, g, g)] + list(OUTLINE_RGB))
    sheet = Image.open(buffer).convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG", optimize=True)


def main() -> None:
    """Time the generator on a small full-size set, then draw real and synthetic frames."""
    args = parse_args()
    config = SynthConfig(
        subjects=args.subjects,
        frames_per_subject=args.frames_per_subject,
        test_frames=0,
        seed=args.seed,
    )
    frames = []
    if (args.real / "train").is_dir():
        frames += real_frames(args.real)
    else:
        print(f"no real sample at {args.real}: showing synthetic frames only")
    with tempfile.TemporaryDirectory() as tmp:
        summary = generate_dataset(Path(tmp) / "synth", config)
        total, size = summary.train_frames + summary.test_frames, f"{config.width}x{config.height}"
        print(
            f"generated {total} frames at {size} in {summary.seconds:.2f} s "
            f"({total / summary.seconds:.0f} frames/s, TIFF writes included); "
            f"{summary.empty_frames / summary.train_frames:.0%} empty"
        )
        frames += synthetic_frames(summary.root, args.rows * COLUMNS)
    draw(frames, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
