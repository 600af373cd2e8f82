"""Writing what :func:`~nerveseg.data.quality.inspection.inspect_data` found: JSON, CSV, PNGs, HTML.

The out folder gets ``summary.json`` (every number), ``subjects.csv``, ``statistics.png``,
``contact_sheet.png`` and ``report.html``, a page that embeds the two pictures by relative path,
so the folder can be moved or zipped as a whole. The page itself is
:mod:`nerveseg.data.quality.inspection_html`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from nerveseg.data.folders import natural_key
from nerveseg.data.kaggle import KAGGLE_SHAPE
from nerveseg.data.quality.borders import SIDES
from nerveseg.data.quality.duplicates import DuplicateGroup
from nerveseg.data.quality.frame_stats import histogram_moments, spread
from nerveseg.data.quality.inspection import Inspection
from nerveseg.data.quality.inspection_figures import contact_sheet, statistics_figure
from nerveseg.data.quality.inspection_html import headline, report_html
from nerveseg.errors import NervesegError
from nerveseg.files import write_json, write_text

SUMMARY, SUBJECTS, STATISTICS, CONTACT_SHEET, REPORT = (
    "summary.json",
    "subjects.csv",
    "statistics.png",
    "contact_sheet.png",
    "report.html",
)
OUTPUTS = (SUMMARY, SUBJECTS, STATISTICS, CONTACT_SHEET, REPORT)


def prepare_out(out: Path, *, overwrite: bool = False) -> None:
    """Refuse to replace an earlier inspection unless asked; other files are never touched.

    Raises:
        NervesegError: ``out`` is a file, or already holds inspection files and not ``overwrite``.
    """
    if out.exists() and not out.is_dir():
        raise NervesegError(f"{out} exists and is not a folder; choose another --out.")
    existing = [name for name in OUTPUTS if (out / name).exists()]
    if existing and not overwrite:
        raise NervesegError(
            f"{out} already holds an inspection ({', '.join(existing)}); pass --overwrite to "
            "replace it or choose another --out."
        )


def write_inspection(inspection: Inspection, out: Path, *, overwrite: bool = False) -> Path:
    """Write every output file into ``out``; returns the path of ``report.html``.

    Raises:
        NervesegError: see :func:`prepare_out`.
    """
    out = Path(out)
    prepare_out(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(inspection)
    write_json(out / SUMMARY, summary)
    write_text(out / SUBJECTS, subjects_csv(inspection))
    statistics_figure(inspection, out / STATISTICS)
    contact_sheet(inspection, out / CONTACT_SHEET)
    page = report_html(
        inspection,
        summary,
        summary_file=SUMMARY,
        subjects_file=SUBJECTS,
        statistics_file=STATISTICS,
        contact_sheet_file=CONTACT_SHEET,
    )
    write_text(out / REPORT, page)
    return out / REPORT


def summarise(inspection: Inspection) -> dict:
    """All statistics as JSON values (NaN where undefined); areas and positions in original pixels."""
    frames = inspection.frames
    areas = frames.areas
    nonempty = areas[areas > 0]
    counts, edges = np.histogram(nonempty, bins=20) if nonempty.size else ([], [])
    shapes, shape_counts = np.unique(frames.shapes, axis=0, return_counts=True)
    order = np.argsort(-shape_counts, kind="stable")
    sizes = [(int(shapes[i][0]), int(shapes[i][1]), int(shape_counts[i])) for i in order]
    pixels = frames.histogram.sum()
    mean, std = histogram_moments(frames.histogram)
    return {
        "data": str(inspection.root),
        "seconds": round(inspection.seconds, 2),
        "frames": len(inspection.samples),
        "failing_files": len(inspection.problems),
        "subjects": len(inspection.subjects),
        "frames_per_subject": spread([row.frames for row in inspection.subjects]),
        "single_frame_subjects": [row.subject for row in inspection.subjects if row.frames == 1],
        "empty_frames": int((areas == 0).sum()),
        "empty_fraction": float((areas == 0).mean()),
        "mask_area": {
            "unit": "pixels at original resolution, frames with a nerve only",
            **spread(nonempty),
            "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
        },
        "mask_position": {
            "centroid_row_fraction": spread(frames.centroids[:, 0] / frames.shapes[:, 0]),
            "centroid_column_fraction": spread(frames.centroids[:, 1] / frames.shapes[:, 1]),
            "box_height": spread(frames.boxes[:, 2] - frames.boxes[:, 0] + 1),
            "box_width": spread(frames.boxes[:, 3] - frames.boxes[:, 1] + 1),
            "extent": _extent(frames.boxes),
            "mean_mask_peak": float(inspection.mean_mask.max()),
        },
        "intensity": {
            "mean": mean,
            "std": std,
            "saturated_fraction": float(frames.histogram[255] / pixels),
            "black_fraction": float(frames.histogram[0] / pixels),
            "frame_mean": spread(frames.means),
            "frame_std": spread(frames.stds),
            "frames_over_1_percent_saturated": int((frames.saturated > 0.01).sum()),
            "at_inspection_size": dict(
                zip(("mean", "std"), inspection.training_intensity, strict=True)
            ),
        },
        "inspection_size": list(inspection.size),
        "image_sizes": [{"width": w, "height": h, "frames": n} for h, w, n in sizes],
        "borders": [{"width": w, "height": h, **_border(inspection, h, w)} for h, w, _ in sizes],
        "structures": _structures(inspection),
        "subjects_are_sweeps": inspection.sweeps,
        "all_580x420": [size[:2] for size in sizes] == [KAGGLE_SHAPE],
        "duplicates": _duplicates_summary(inspection),
        "per_subject": [
            {
                "subject": row.subject,
                "frames": row.frames,
                "empty_frames": row.empty_frames,
                "empty_fraction": row.empty_fraction,
                "median_area": row.median_area,
            }
            for row in inspection.subjects
        ],
        "failing": [{"path": str(p.path), "reason": p.reason} for p in inspection.problems],
        "warnings": list(inspection.warnings),
    }


def _border(inspection: Inspection, height: int, width: int) -> dict[str, dict[str, int]]:
    """Black rows and columns of one size: in every frame, and in the median frame."""
    for found in inspection.borders:
        if (found.height, found.width) == (height, width):
            return {
                "every_frame": dict(zip(SIDES, found.every_frame, strict=True)),
                "median_frame": dict(zip(SIDES, found.median_frame, strict=True)),
            }
    none = dict.fromkeys(SIDES, 0)
    return {"every_frame": none, "median_frame": dict(none)}


def _structures(inspection: Inspection) -> list[dict]:
    """Per structure: frames showing it and its share of all pixels, areas in original pixels."""
    frames = inspection.frames
    pixels = float((frames.shapes[:, 0] * frames.shapes[:, 1]).sum())
    rows = []
    for k, name in enumerate(inspection.structures):
        areas = frames.structure_areas[:, k]
        rows.append(
            {
                "name": name,
                "frames": int((areas > 0).sum()),
                "frame_fraction": float((areas > 0).mean()),
                "pixel_share": float(areas.sum() / pixels),
                "area": spread(areas[areas > 0]),
            }
        )
    return rows


def _extent(boxes: np.ndarray) -> dict[str, float]:
    """The smallest box holding every mask: where in the frame nerves are ever drawn."""
    if np.isnan(boxes).all():
        return dict.fromkeys(("top", "left", "bottom", "right"), float("nan"))
    top, left = np.nanmin(boxes[:, :2], axis=0)
    bottom, right = np.nanmax(boxes[:, 2:], axis=0)
    return {"top": float(top), "left": float(left), "bottom": float(bottom), "right": float(right)}


def sorted_groups(inspection: Inspection) -> list[DuplicateGroup]:
    """Contradictory groups first, then larger ones: the order a person should review them."""
    names = [sample.name for sample in inspection.samples]
    return sorted(
        inspection.duplicates,
        key=lambda g: (not g.contradictory, -len(g.members), natural_key(names[g.members[0]])),
    )


def _duplicates_summary(inspection: Inspection) -> dict:
    names = [sample.name for sample in inspection.samples]
    groups = sorted_groups(inspection)
    return {
        "groups": len(groups),
        "contradictory_groups": sum(g.contradictory for g in groups),
        "frames_in_groups": sum(len(g.members) for g in groups),
        "list": [
            {
                "subject": g.subject,
                "frames": [names[i] for i in g.members],
                "contradictory": g.contradictory,
                "reason": g.reason,
                "max_distance": g.max_distance,
            }
            for g in groups
        ],
    }


def subjects_csv(inspection: Inspection) -> str:
    """The per-subject table as CSV text: frames, empty frames and share, median nerve area."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["subject", "frames", "empty_frames", "empty_fraction", "median_area"])
    for row in inspection.subjects:
        median = "" if np.isnan(row.median_area) else f"{row.median_area:.1f}"
        writer.writerow(
            [row.subject, row.frames, row.empty_frames, f"{row.empty_fraction:.4f}", median]
        )
    return buffer.getvalue()


def summary_text(inspection: Inspection, report: Path | None = None) -> str:
    """A few plain lines for the terminal."""
    lines = [f"inspected {inspection.root} in {inspection.seconds:.1f} s"]
    lines += [f"  {label}: {value}" for label, value in headline(summarise(inspection))]
    lines += [f"warning: {text}" for text in inspection.warnings]
    if report is not None:
        lines.append(f"report: {report}")
    return "\n".join(lines)
