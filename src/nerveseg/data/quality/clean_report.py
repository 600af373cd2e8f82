"""The near-duplicate report: ``duplicate_groups.csv`` and a contact sheet of the worst groups."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from nerveseg.data.quality.duplicates import DuplicateGroup, mask_coverage, pairwise_mask_iou
from nerveseg.errors import NervesegError
from nerveseg.files import atomic_path, write_text

REPORT_CSV = "duplicate_groups.csv"
REPORT_PNG = "duplicate_groups.png"
CSV_COLUMNS = (
    "group",
    "subject",
    "frames",
    "contradictory",
    "reason",
    "max_distance",
    "mask_areas",
    "size",
)
OUTLINE = "#00e5ff"
EMPTY_CAPTION = "#d62728"


class Named(Protocol):
    name: str


def check_report_folder(out_dir: Path, *, overwrite: bool = False) -> None:
    """Refuse a folder that is a file, or already holds a report, unless ``overwrite``.

    The CLI calls this before loading any data, so a refusal costs nothing.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NervesegError(f"{out_dir} exists and is not a folder; choose another report folder.")
    existing = [name for name in (REPORT_CSV, REPORT_PNG) if (out_dir / name).exists()]
    if existing and not overwrite:
        raise NervesegError(
            f"{out_dir} already holds a duplicate report ({', '.join(existing)}). Choose another "
            "folder, or pass --overwrite (overwrite=True) to replace it."
        )


def write_clean_report(
    out_dir: Path,
    groups: Sequence[DuplicateGroup],
    samples: Sequence[Named],
    images: np.ndarray,
    masks: np.ndarray,
    *,
    max_groups: int = 12,
    max_columns: int = 6,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write the groups as CSV and the worst contradictory ones as a PNG contact sheet.

    Args:
        out_dir: the report folder (created if missing).
        groups: from :func:`~nerveseg.data.quality.duplicates.find_duplicate_groups` on these arrays.
        samples: one per frame, for its ``name``.
        images: ``(N, h, w)`` uint8 frames the groups index into.
        masks: ``(N, h, w)`` masks in ``{0, 1}``; areas are counted in pixels at this size.
        max_groups: rows of the contact sheet.
        max_columns: frames shown per group; larger groups say how many more they have.
        overwrite: replace an earlier report in ``out_dir``.

    Returns:
        The paths of the CSV and the PNG.

    Raises:
        NervesegError: ``out_dir`` already holds a report and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    check_report_folder(out_dir, overwrite=overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    areas = np.asarray(masks).reshape(len(masks), -1).astype(bool).sum(axis=1)
    csv_path, png_path = out_dir / REPORT_CSV, out_dir / REPORT_PNG
    write_text(csv_path, _csv_text(groups, samples, areas, images.shape[1:]))
    numbered = [(n, g) for n, g in enumerate(groups, start=1) if g.contradictory]
    worst = sorted(numbered, key=lambda item: _severity(item[1], masks, areas))[:max_groups]
    _contact_sheet(png_path, worst, samples, images, masks, areas, max_columns)
    return csv_path, png_path


def _csv_text(
    groups: Sequence[DuplicateGroup],
    samples: Sequence[Named],
    areas: np.ndarray,
    shape: tuple[int, ...],
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    size = f"{shape[1]}x{shape[0]}"
    for number, group in enumerate(groups, start=1):
        writer.writerow(
            [
                number,
                group.subject,
                " ".join(samples[i].name for i in group.members),
                int(group.contradictory),
                group.reason,
                f"{group.max_distance:.4f}",
                " ".join(str(int(areas[i])) for i in group.members),
                size,
            ]
        )
    return buffer.getvalue()


def _severity(group: DuplicateGroup, masks: np.ndarray, areas: np.ndarray) -> tuple[float, float]:
    """Sort key, worst first: the least overlap of any two masks, then the surest duplicates.

    An empty mask beside a non-empty one counts as overlap 0.
    """
    labelled = [i for i in group.members if areas[i] > 0]
    if len(labelled) < len(group.members):
        lowest = 0.0
    else:
        lowest = float(pairwise_mask_iou(mask_coverage(masks[labelled])).min())
    return lowest, group.max_distance


def _contact_sheet(
    path: Path,
    groups: Sequence[tuple[int, DuplicateGroup]],
    samples: Sequence[Named],
    images: np.ndarray,
    masks: np.ndarray,
    areas: np.ndarray,
    max_columns: int,
) -> None:
    """Draw one row per ``(number, group)``: its frames, mask outlines, names and areas."""
    # A bare Figure renders with Agg and leaves pyplot's global backend alone.
    from matplotlib.figure import Figure

    height, width = images.shape[1:]
    columns = max([min(len(g.members), max_columns) for _, g in groups], default=1)
    cell_w = 3.0
    row_h = cell_w * height / width + 0.7  # the frame, its caption and the group's title
    fig = Figure(figsize=(cell_w * max(columns, 2), row_h * max(len(groups), 1) + 0.5))
    fig.set_layout_engine("constrained")
    if not groups:
        fig.suptitle("No contradictory near-duplicate groups found")
        fig.text(0.5, 0.4, "nothing to draw: see duplicate_groups.csv", ha="center")
    else:
        fig.suptitle("Contradictory near-duplicate groups, worst first (outline: the mask)")
        rows = fig.subfigures(len(groups), 1, squeeze=False)[:, 0]
        for row, (number, group) in zip(rows, groups, strict=True):
            row.suptitle(
                f"group {number}, subject {group.subject}: {group.reason}; "
                f"distance {group.max_distance:.3f}",
                fontsize=9,
                x=0.01,
                ha="left",
            )
            _draw_group(
                row.subplots(1, columns, squeeze=False)[0], group, samples, images, masks, areas
            )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _draw_group(axes, group, samples, images, masks, areas) -> None:
    """One frame per axis, with its mask outlined and its name and mask area as the caption."""
    shown = group.members[: len(axes)]
    for ax in axes:
        ax.set_axis_off()
    for column, (ax, index) in enumerate(zip(axes, shown, strict=False)):
        ax.imshow(images[index], cmap="gray", vmin=0, vmax=255)
        if areas[index]:
            ax.contour(masks[index], levels=[0.5], colors=OUTLINE, linewidths=1.2)
        caption = f"{samples[index].name}: " + (
            f"{int(areas[index])} px" if areas[index] else "empty mask"
        )
        if column == len(shown) - 1 and len(group.members) > len(shown):
            caption += f" (+{len(group.members) - len(shown)} more)"
        color = "black" if areas[index] else EMPTY_CAPTION
        ax.set_title(caption, fontsize=8, color=color, pad=2)
