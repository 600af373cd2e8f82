"""The two pictures of ``nerveseg inspect``: a contact sheet of frames and a statistics panel.

Figures are built on :class:`matplotlib.figure.Figure` directly (the Agg canvas, no pyplot), so
nothing depends on a display or on global plotting state.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from nerveseg.data.images import read_image
from nerveseg.data.loading import read_full_mask
from nerveseg.data.quality.inspection import Inspection
from nerveseg.plotting import save_figure

OUTLINE = "#39ff14"  # neon green: visible on grey speckle, bright and dark alike
# Further structures (data.structures order): magenta, cyan, yellow ... all bright on grey.
OUTLINES = (OUTLINE, "#ff2bd6", "#00e5ff", "#ffe600", "#ff8c00", "#b388ff", "#ffffff", "#ff5252")
CONFLICT = "#d62728"
NERVE, EMPTY, SHARE = "#1f77b4", "#c7c7c7", "#ff7f0e"
MAX_SUBJECTS_SHOWN = 48  # two frames each: a sheet of at most 96 tiles
_TILE_INCHES = 2.1
_DPI = 100


def pick_frames(inspection: Inspection, per_subject: int) -> list[int]:
    """Up to ``per_subject`` frames of each subject, half with a nerve and half without.

    A subject with a contradictory duplicate group shows two of its members first, so the sheet
    shows the flaw; the other frames are spread evenly through the subject's sweep, and when one
    kind (nerve / empty) is short the other fills in. Only the first
    :data:`MAX_SUBJECTS_SHOWN` subjects are shown.
    """
    areas = inspection.frames.areas
    by_subject: dict[str, list[int]] = {}
    for index, sample in enumerate(inspection.samples):
        by_subject.setdefault(sample.subject, []).append(index)
    conflicts: dict[str, list[int]] = {}
    for group in inspection.duplicates:
        if group.contradictory:
            conflicts.setdefault(group.subject, group.members[:2])
    picked = []
    for row in inspection.subjects[:MAX_SUBJECTS_SHOWN]:
        chosen = conflicts.get(row.subject, [])[:per_subject]
        rest = [i for i in by_subject[row.subject] if i not in chosen]
        nerve = [i for i in rest if areas[i] > 0]
        empty = [i for i in rest if areas[i] == 0]
        wanted = per_subject - len(chosen)
        want_nerve = min(len(nerve), max(wanted - len(empty), (wanted + 1) // 2))
        chosen += _spaced(nerve, want_nerve) + _spaced(empty, wanted - want_nerve)
        picked += sorted(chosen)
    return picked


def _spaced(items: list[int], count: int) -> list[int]:
    """``count`` items spread evenly from first to last."""
    if count <= 0 or not items:
        return []
    positions = np.unique(np.linspace(0, len(items) - 1, min(count, len(items))).round())
    return [items[int(p)] for p in positions]


def contact_sheet(inspection: Inspection, path: Path) -> None:
    """A grid of full-resolution frames with each mask's outline, captioned name and area."""
    per_subject = 4 if len(inspection.subjects) <= 12 else 2
    picked = pick_frames(inspection, per_subject)
    columns = min(8, len(picked))
    rows = -(-len(picked) // columns)
    height, width = _common_shape(inspection)
    tile_height = _TILE_INCHES * height / width
    shown = min(len(inspection.subjects), MAX_SUBJECTS_SHOWN)
    title = (
        f"{len(picked)} of {len(inspection.samples)} frames: up to {per_subject} from each of "
        f"{shown} subjects"
        + (f" (of {len(inspection.subjects)})" if shown < len(inspection.subjects) else "")
        + f". Outlines: {_outline_legend(inspection)}; red caption: in a contradictory "
        "duplicate group."
    )
    title = textwrap.fill(title, width=columns * 24)  # ~24 characters of 10 pt fit a tile
    header = 0.2 + 0.18 * (title.count("\n") + 1)
    figure = Figure(figsize=(columns * _TILE_INCHES, rows * (tile_height + 0.28) + header))
    axes = figure.subplots(rows, columns, squeeze=False)
    figure.subplots_adjust(left=0.005, right=0.995, bottom=0.005, wspace=0.03)
    figure.subplots_adjust(top=1 - header / figure.get_figheight(), hspace=0.28 / tile_height)
    conflicted = {i for g in inspection.duplicates if g.contradictory for i in g.members}
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, index in zip(axes.flat, picked, strict=False):
        _tile(ax, inspection, index, conflict=index in conflicted)
    figure.suptitle(title, fontsize=10, y=1 - 0.08 / figure.get_figheight(), va="top")
    save_figure(figure, path, dpi=_DPI, tight=False)


def _tile(ax, inspection: Inspection, index: int, *, conflict: bool) -> None:
    sample = inspection.samples[index]
    shape = tuple(inspection.frames.shapes[index])
    image = read_image(sample.image_path)
    height, width = image.shape
    # A tile is ~210 px wide: halving a 580 px frame first makes drawing it 4x cheaper.
    small = np.asarray(Image.fromarray(image).reduce(max(1, width // 280)))
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)  # full-res pixel centres, as the contour
    ax.imshow(small, cmap="gray", vmin=0, vmax=255, extent=extent, interpolation="antialiased")
    area = int(inspection.frames.areas[index])
    if area:
        # Contour only the box around the mask (plus a margin so the outline closes): tracing
        # the whole frame cost ~40 ms a tile.
        top, left, bottom, right = inspection.frames.boxes[index].astype(int)
        rows = np.arange(max(top - 1, 0), min(bottom + 2, height))
        cols = np.arange(max(left - 1, 0), min(right + 2, width))
        mask = read_full_mask(sample, shape, labels=inspection.labels)[np.ix_(rows, cols)]
        for k in range(inspection.labels.count):
            plane = (mask >> k) & 1
            if plane.any():
                colour = OUTLINES[k % len(OUTLINES)]
                ax.contour(cols, rows, plane, levels=[0.5], colors=[colour], linewidths=1.3)
    caption = f"{sample.name}  ·  {area:,} px" if area else f"{sample.name}  ·  empty"
    # Text, not set_title: placing titles measures every axis and took half the drawing time.
    colour = CONFLICT if conflict else "black"
    ax.text(
        0.5,
        1.02,
        caption,
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=8,
        color=colour,
    )


def _outline_legend(inspection: Inspection) -> str:
    """``green nerve, magenta vessel``: which outline colour is which structure."""
    colours = ("green", "magenta", "cyan", "yellow", "orange", "violet", "white", "red")
    names = inspection.structures
    if len(names) == 1:
        return f"green, labelled {names[0]}"
    return ", ".join(f"{colours[k % len(colours)]} {name}" for k, name in enumerate(names))


def statistics_figure(inspection: Inspection, path: Path) -> None:
    """Per-subject frames, mask area histogram, mean mask with centroids, intensity spread."""
    # Fixed margins rather than constrained layout, which redraws the figure several times.
    figure = Figure(figsize=(15, 9.5))
    grid = figure.add_gridspec(
        2,
        3,
        height_ratios=(1, 1.15),
        left=0.05,
        right=0.95,
        bottom=0.07,
        top=0.96,
        hspace=0.32,
        wspace=0.3,
    )
    _subjects_panel(figure.add_subplot(grid[0, :]), inspection)
    _area_panel(figure.add_subplot(grid[1, 0]), inspection)
    _position_panel(figure, figure.add_subplot(grid[1, 1]), inspection)
    _intensity_panel(figure.add_subplot(grid[1, 2]), inspection)
    save_figure(figure, path, dpi=_DPI, tight=False)


def _subjects_panel(ax, inspection: Inspection) -> None:
    rows = inspection.subjects
    x = np.arange(len(rows))
    nerve = np.array([row.frames - row.empty_frames for row in rows])
    empty = np.array([row.empty_frames for row in rows])
    ax.bar(x, nerve, color=NERVE, label="frames with a nerve")
    ax.bar(x, empty, bottom=nerve, color=EMPTY, label="empty frames")
    ax.set_xticks(x, [row.subject for row in rows], rotation=90 if len(rows) > 20 else 0)
    ax.tick_params(axis="x", labelsize=8 if len(rows) > 30 else 9)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylim(0, max(row.frames for row in rows) * 1.25)  # the top strip holds the legend
    ax.set_xlabel("subject")
    ax.set_ylabel("frames")
    share = ax.twinx()
    share.plot(x, [row.empty_fraction for row in rows], "o", color=SHARE, ms=4, label="empty share")
    share.set_ylim(0, 1.25)
    share.set_yticks([0, 0.25, 0.5, 0.75, 1])
    share.set_ylabel("empty share (dots)", color=SHARE)
    handles = ax.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", ncol=3, fontsize=9, framealpha=0.9)
    total = len(inspection.samples)
    empty_share = (inspection.frames.areas == 0).mean()
    ax.set_title(
        f"Frames per subject: {total} frames, {len(rows)} subjects, {empty_share:.1%} empty"
    )


def _area_panel(ax, inspection: Inspection) -> None:
    areas = inspection.frames.areas[inspection.frames.areas > 0]
    ax.set_title("Nerve area (frames with a nerve)")
    ax.set_xlabel("pixels at original resolution")
    ax.set_ylabel("frames")
    if not areas.size:
        ax.text(0.5, 0.5, "no frame has a nerve", ha="center", va="center", transform=ax.transAxes)
        return
    ax.hist(areas, bins=30, color=NERVE)
    median = float(np.median(areas))
    ax.axvline(median, color="black", ls="--", lw=1, label=f"median {median:,.0f} px")
    ax.legend(fontsize=9)


def _position_panel(figure: Figure, ax, inspection: Inspection) -> None:
    height, width = _common_shape(inspection)
    picture = ax.imshow(
        inspection.mean_mask,
        cmap="magma",
        extent=(0, width, height, 0),
        vmin=0,
        vmax=max(float(inspection.mean_mask.max()), 0.01),  # all-empty data: black, not noise
        interpolation="bilinear",
    )
    figure.colorbar(picture, ax=ax, shrink=0.8, label="share of frames covering the pixel")
    fractions = inspection.frames.centroids / inspection.frames.shapes
    rows, cols = fractions[:, 0] * height, fractions[:, 1] * width
    if np.isfinite(rows).any():
        few = np.isfinite(rows).sum() < 200  # a handful of dots must stay visible on bright cover
        ax.scatter(
            cols,
            rows,
            s=14 if few else 3,
            c="#00e5ff",
            alpha=0.9 if few else 0.35,
            lw=0,
            label="mask centroids",
        )
        ax.legend(loc="lower right", fontsize=8, markerscale=4)
    else:
        ax.text(width / 2, height / 2, "no frame has a nerve", ha="center", color="white")
    ax.set_title("Mean mask and centroids")
    ax.set_xlabel("column (px)")
    ax.set_ylabel("row (px)")


def _intensity_panel(ax, inspection: Inspection) -> None:
    frames = inspection.frames
    bins = np.linspace(0, 1, 61)
    ax.hist(frames.means, bins=bins, histtype="stepfilled", alpha=0.6, label="frame mean")
    ax.hist(frames.stds, bins=bins, histtype="stepfilled", alpha=0.6, label="frame std")
    saturated = frames.histogram[255] / frames.histogram.sum()
    ax.set_title(f"Intensity per frame (in [0, 1]); {saturated:.2%} of pixels at 255")
    ax.set_xlabel("intensity")
    ax.set_ylabel("frames")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=9)


def _common_shape(inspection: Inspection) -> tuple[int, int]:
    """The most frequent ``(H, W)``, the frame all positions are drawn in."""
    shapes, counts = np.unique(inspection.frames.shapes, axis=0, return_counts=True)
    height, width = shapes[np.argmax(counts)]
    return int(height), int(width)
