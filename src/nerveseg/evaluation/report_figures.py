"""The report's figures as PNG files: curves, Dice histogram, reliability diagram, galleries.

Each function takes plain arrays and a path and writes one PNG; nothing here reads run folders.
Figures are saved by :func:`nerveseg.plotting.save_figure` (Agg backend, no display needed).

One structure is drawn as always: truth outlined in green, prediction in magenta. Several are
drawn each in its own colour (the colours of ``nerveseg live`` and of predict's indexed PNGs):
the truth as a tint, the prediction as an outline (:func:`structures_overlay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from scipy import ndimage

from nerveseg.inference.overlay import structure_colour
from nerveseg.plotting import DPI, save_figure

TRUTH_COLOUR = (0, 220, 0)  # green
PREDICTION_COLOUR = (255, 0, 255)  # magenta


def training_curves(
    histories: dict[str, list[dict[str, float]]], path: Path, all_empty: float | None = None
) -> None:
    """Losses, validation Dice on nerve frames and competition score per epoch, one line per
    run (``histories`` maps a label such as ``fold-0`` to its ``metrics.csv`` rows), with the
    all-empty prediction's score as a dotted line when ``all_empty`` is given."""
    panels = [
        ("Loss", [("train/loss", "train", "-"), ("val/loss", "validation", "--")]),
        ("Validation Dice, frames with a nerve", [("val/dice_nerve", None, "-")]),
        ("Validation competition score", [("val/score", None, "-")]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), dpi=DPI)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, series) in zip(axes, panels, strict=True):
        for i, (label, rows) in enumerate(histories.items()):
            for key, name, style in series:
                points = [(r["epoch"], r[key]) for r in rows if key in r]
                if not points:
                    continue
                x, y = zip(*points, strict=True)
                parts = [p for p in (label if len(histories) > 1 else None, name) if p]
                ax.plot(
                    x,
                    y,
                    style,
                    marker="o",
                    markersize=3,
                    color=colours[i % len(colours)],
                    label=" ".join(parts) or None,
                )
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if title.startswith("Validation"):
            ax.set_ylim(0, 1)
        if all_empty is not None and "score" in title:
            ax.axhline(all_empty, linestyle=":", color="grey", label="all masks empty")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    save_figure(fig, path)


def dice_histogram(
    dice_nerve: np.ndarray,
    false_detections: int,
    empty_frames: int,
    path: Path,
    structure: str = "nerve",
) -> None:
    """Per-image Dice on frames whose truth has the structure; false detections reported beside."""
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=DPI)
    ax.hist(dice_nerve, bins=np.linspace(0, 1, 21), color="#4a7bb7", edgecolor="white")
    missed = int(np.sum(dice_nerve == 0))
    ax.set_xlabel(f"Dice (frames with a {structure})")
    ax.set_ylabel("frames")
    ax.set_xlim(0, 1)
    found = f"mean Dice {np.mean(dice_nerve):.3f}, {missed} at 0" if dice_nerve.size else "no Dice"
    ax.set_title(
        f"{dice_nerve.size} frames with a {structure}: {found}\n"
        f"empty frames: {false_detections} of {empty_frames} with a false detection",
        fontsize=10,
    )
    ax.grid(alpha=0.3, axis="y")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    save_figure(fig, path)


def reliability_diagram(
    scores: np.ndarray,
    truth: np.ndarray,
    score_name: str,
    path: Path,
    bins: int = 10,
    structure: str = "nerve",
) -> None:
    """Observed share of frames with a nerve against the predicted score, in equal-width bins,
    with the number of frames per bin underneath."""
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(scores, edges) - 1, 0, bins - 1)
    centres = (edges[:-1] + edges[1:]) / 2
    counts = np.bincount(index, minlength=bins)
    observed = np.bincount(index, weights=truth.astype(float), minlength=bins)
    mean_score = np.bincount(index, weights=scores, minlength=bins)
    used = counts > 0
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5.5, 5.5), dpi=DPI, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    top.plot(
        mean_score[used] / counts[used],
        observed[used] / counts[used],
        "o-",
        color="#c0392b",
        label="model",
    )
    top.set_ylabel(f"share of frames with a {structure}")
    top.set_ylim(-0.02, 1.02)
    top.set_xlim(-0.02, 1.02)
    top.set_title(f"Reliability of the '{structure} present' score\n({score_name})", fontsize=10)
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.3)
    bottom.bar(centres, counts, width=1 / bins * 0.9, color="#7f8c8d")
    bottom.set_xlabel("predicted score")
    bottom.set_ylabel("frames")
    bottom.set_xlim(-0.02, 1.02)
    save_figure(fig, path)


@dataclass
class Tile:
    """One gallery entry: the frame and both masks at the original size, and a caption."""

    image: np.ndarray  # (H, W) uint8
    truth: np.ndarray  # (H, W) bool
    prediction: np.ndarray  # (H, W) bool
    caption: str


def gallery(tiles: list[Tile], title: str, path: Path, columns: int = 4) -> None:
    """Overlays in a grid: truth outlined in green, prediction in magenta."""
    fig, axes = _tile_grid(tiles, columns, header_inches=0.6)
    for ax, tile in zip(axes.ravel(), tiles, strict=False):
        ax.imshow(overlay(tile.image, tile.truth, tile.prediction))
        ax.set_title(tile.caption, fontsize=8)
    fig.suptitle(f"{title}   (green: truth, magenta: prediction)", fontsize=11)
    save_figure(fig, path)


def _tile_grid(tiles: list, columns: int, header_inches: float):
    """An empty grid of frame-shaped panels (axes off) for ``tiles``, sized by the first frame."""
    rows = max(1, -(-len(tiles) // columns))
    height, width = tiles[0].image.shape if tiles else (420, 580)
    tile_w = 3.4
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(tile_w * columns, tile_w * height / width * rows + header_inches + 0.25 * rows),
        dpi=DPI,
        squeeze=False,
    )
    for ax in axes.ravel():
        ax.axis("off")
    return fig, axes


def overlay(image: np.ndarray, truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8: the grey frame with both masks' outlines drawn on it."""
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.uint8)
    thickness = max(1, round(max(image.shape) / 290))  # 2 px on a 580-wide frame
    for mask, colour in ((truth, TRUTH_COLOUR), (prediction, PREDICTION_COLOUR)):
        rgb[outline(mask, thickness)] = colour
    return rgb


def outline(mask: np.ndarray, thickness: int = 2) -> np.ndarray:
    """Pixels of ``mask`` within ``thickness`` of its border.

    ``mask`` is read as bool: a packed uint8 truth would otherwise index rows, not pixels.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask
    inner = ndimage.binary_erosion(mask, iterations=thickness, border_value=0)
    return mask & ~inner


@dataclass
class StructuresTile:
    """A gallery entry of a model with several structures: ``(S, H, W)`` bool masks."""

    image: np.ndarray  # (H, W) uint8
    truths: np.ndarray  # (S, H, W) bool
    predictions: np.ndarray  # (S, H, W) bool
    caption: str


def structures_gallery(
    tiles: list[StructuresTile], names: list[str], title: str, path: Path, columns: int = 4
) -> None:
    """Overlays in a grid, every structure in its colour: truth tinted, prediction outlined."""
    fig, axes = _tile_grid(tiles, columns, header_inches=0.9)
    for ax, tile in zip(axes.ravel(), tiles, strict=False):
        ax.imshow(structures_overlay(tile.image, tile.truths, tile.predictions))
        ax.set_title(tile.caption, fontsize=8)
    legend = [
        Patch(color=np.array(structure_colour(k)) / 255, label=name) for k, name in enumerate(names)
    ]
    fig.legend(handles=legend, loc="lower center", ncol=len(names), fontsize=9, frameon=False)
    fig.suptitle(f"{title}   (tint: truth, outline: prediction)", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(fig, path)


def structures_overlay(
    image: np.ndarray, truths: np.ndarray, predictions: np.ndarray, tint: float = 0.35
) -> np.ndarray:
    """``(H, W, 3)`` uint8: the grey frame, each structure's truth tinted in its colour and its
    prediction outlined in the same colour."""
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float32)
    for k, truth in enumerate(truths):
        colour = np.array(structure_colour(k), dtype=np.float32)
        rgb[truth] = (1 - tint) * rgb[truth] + tint * colour
    thickness = max(1, round(max(image.shape) / 290))
    for k, prediction in enumerate(predictions):
        rgb[outline(prediction, thickness)] = structure_colour(k)
    return rgb.round().astype(np.uint8)
