"""The near-duplicate report: ``duplicate_groups.csv`` and a contact sheet of the worst groups.

:func:`report_duplicates` is what ``nerveseg clean`` does: load a labelled folder, find its
near-duplicate groups, write the report and say what each repairing policy would change.
Nothing in the data folder is touched.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from nerveseg.data.loading import load_set
from nerveseg.data.quality.cleaning import apply_policy
from nerveseg.data.quality.duplicates import (
    DEFAULT_THRESHOLD,
    DuplicateGroup,
    find_duplicate_groups,
    mask_coverage,
    pairwise_mask_iou,
)
from nerveseg.data.samples import discover_labelled
from nerveseg.data.structures import DEFAULT_LABELS, LabelMap
from nerveseg.data.sweeps import SWEEP_THRESHOLD, with_sweep_subjects
from nerveseg.errors import ConfigError, NervesegError
from nerveseg.files import write_text
from nerveseg.plotting import save_figure

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


# The policies that change something, and how many frames each would touch.
REPAIRING_POLICIES = ("drop", "union", "majority")


class Named(Protocol):
    name: str


@dataclass
class DuplicateReport:
    """What :func:`report_duplicates` found and wrote.

    Attributes:
        frames, subjects: how many were loaded.
        groups: every near-duplicate group (contradictory or not).
        affected: per repairing policy, the frames it would drop or change.
        csv_path, png_path: the report's files.
        load_seconds, group_seconds: time to decode the frames and to group them.
    """

    frames: int
    subjects: int
    groups: list[DuplicateGroup]
    affected: dict[str, int]
    csv_path: Path
    png_path: Path
    load_seconds: float
    group_seconds: float

    @property
    def contradictory(self) -> list[DuplicateGroup]:
        return [group for group in self.groups if group.contradictory]


def report_duplicates(
    data: Path,
    out: Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    size: tuple[int, int] = (96, 128),
    overwrite: bool = False,
    skip_bad: bool = False,
    labels: LabelMap = DEFAULT_LABELS,
    sweep_threshold: float = SWEEP_THRESHOLD,
) -> DuplicateReport:
    """Find near-duplicate frames with contradictory masks in ``data`` and report them in ``out``.

    Args:
        data: a labelled data folder (Kaggle layout or folders).
        out: the report folder; an earlier report there is replaced only with ``overwrite``.
        threshold: signature distance below which frames are duplicates.
        size: ``(height, width)`` the frames are compared at.
        skip_bad: leave out unusable files (listed) instead of stopping.
        labels: what the mask values mean (``data.structures``, ``data.ignore_values``).
        sweep_threshold: names without subjects are grouped into sweeps first, as training
            does, and duplicates are searched within each (:mod:`nerveseg.data.sweeps`).
    """
    if not threshold > 0:
        raise ConfigError(f"threshold must be > 0, got {threshold}")
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"size must be two positive numbers (height width), got {size}")
    check_report_folder(out, overwrite=overwrite)  # before minutes of decoding, not after
    start = time.perf_counter()
    samples = discover_labelled(Path(data), skip_bad=skip_bad)
    loaded = load_set(samples, tuple(size), labels=labels, skip_bad=skip_bad, progress=True)
    loaded = with_sweep_subjects(loaded, sweep_threshold)
    loaded_at = time.perf_counter()
    subjects = [sample.subject for sample in loaded.samples]
    groups = find_duplicate_groups(
        loaded.images, loaded.masks, subjects, threshold, names=labels.names
    )
    grouped_at = time.perf_counter()
    csv_path, png_path = write_clean_report(
        out, groups, loaded.samples, loaded.images, loaded.masks, overwrite=overwrite
    )
    affected = {}
    for policy in REPAIRING_POLICIES:
        result = apply_policy(loaded.masks, groups, policy)
        affected[policy] = result.dropped_frames + result.changed_frames
    return DuplicateReport(
        frames=len(loaded.samples),
        subjects=len(set(subjects)),
        groups=groups,
        affected=affected,
        csv_path=csv_path,
        png_path=png_path,
        load_seconds=loaded_at - start,
        group_seconds=grouped_at - loaded_at,
    )


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
    save_figure(fig, path)


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
