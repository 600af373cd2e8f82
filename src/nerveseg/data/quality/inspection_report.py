"""Writing what :func:`~nerveseg.data.quality.inspection.inspect_data` found: JSON, CSV, PNGs, HTML.

The out folder gets ``summary.json`` (every number), ``subjects.csv``, ``statistics.png``,
``contact_sheet.png`` and ``report.html``, a page that embeds the two pictures by relative path,
so the folder can be moved or zipped as a whole.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

import numpy as np

from nerveseg.data.folders import natural_key
from nerveseg.data.kaggle import KAGGLE_SHAPE
from nerveseg.data.quality.borders import SIDES
from nerveseg.data.quality.duplicates import DuplicateGroup
from nerveseg.data.quality.inspection import Inspection, histogram_moments, spread
from nerveseg.data.quality.inspection_figures import contact_sheet, statistics_figure
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
TOP_GROUPS = 20


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
    write_text(out / REPORT, report_html(inspection, summary))
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


def headline(summary: dict) -> list[tuple[str, str]]:
    """The few numbers worth reading first, as ``(label, value)`` text pairs."""
    per_subject = summary["frames_per_subject"]
    area = summary["mask_area"]
    light = summary["intensity"]
    groups = summary["duplicates"]
    sizes = ", ".join(f"{s['width']}x{s['height']} ({s['frames']})" for s in summary["image_sizes"])
    structures = summary["structures"]
    what = structures[0]["name"] if len(structures) == 1 else "labelled (any structure)"
    subjects = "sweeps of similar frames (names carry no subject)"
    return [
        ("frames", f"{summary['frames']:,}"),
        (subjects if summary["subjects_are_sweeps"] else "subjects", f"{summary['subjects']}"),
        ("frames per subject (min / median / max)", _three(per_subject, "{:g}")),
        ("empty masks", f"{summary['empty_frames']:,} ({summary['empty_fraction']:.1%})"),
        (
            "structures: frames showing it, share of pixels",
            "; ".join(
                f"{s['name']} {s['frames']:,} ({s['frame_fraction']:.0%}), {s['pixel_share']:.2%}"
                for s in structures
            ),
        ),
        (f"{what} area, px (min / median / max)", _three(area, "{:,.0f}")),
        ("intensity mean / std (0-1)", f"{light['mean']:.3f} / {light['std']:.3f}"),
        (
            "pixels at 255 / at 0",
            f"{light['saturated_fraction']:.3%} / {light['black_fraction']:.3%}",
        ),
        ("image sizes (frames)", sizes + ("" if summary["all_580x420"] else "; not all 580x420")),
        (
            "black borders in every frame, px (top / bottom / left / right)",
            _borders(summary["borders"]),
        ),
        (
            "near-duplicate groups",
            f"{groups['groups']} ({groups['contradictory_groups']} contradictory, "
            f"{groups['frames_in_groups']} frames)",
        ),
        ("failing files", f"{summary['failing_files']}"),
    ]


def _borders(sizes: list[dict]) -> str:
    """The letterbox borders of each size that has any, or ``none``."""
    shown = []
    for size in sizes:
        every, median = size["every_frame"], size["median_frame"]
        if any(every.values()) or any(median.values()):
            shown.append(
                f"{size['width']}x{size['height']}: {' / '.join(map(str, every.values()))} "
                f"(median frame {' / '.join(map(str, median.values()))})"
            )
    return "; ".join(shown) or "none"


def _three(stats: dict, pattern: str) -> str:
    if stats["min"] != stats["min"]:  # NaN: nothing to describe
        return "-"
    return " / ".join(pattern.format(stats[key]) for key in ("min", "median", "max"))


def summary_text(inspection: Inspection, report: Path | None = None) -> str:
    """A few plain lines for the terminal."""
    lines = [f"inspected {inspection.root} in {inspection.seconds:.1f} s"]
    lines += [f"  {label}: {value}" for label, value in headline(summarise(inspection))]
    lines += [f"warning: {text}" for text in inspection.warnings]
    if report is not None:
        lines.append(f"report: {report}")
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1.5em;
       max-width: 1500px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warnings { background: #fff4d6; border: 2px solid #e0a800; padding: 0.6em 1.2em; }
.ok { background: #e8f6e8; border: 2px solid #5cb85c; padding: 0.6em 1.2em; }
.conflict { color: #c62828; font-weight: bold; }
img { max-width: 100%; border: 1px solid #ddd; }
.scroll { max-height: 30em; overflow-y: auto; display: inline-block; }
"""


def report_html(inspection: Inspection, summary: dict) -> str:
    """A self-contained page: headline table, warnings, the two pictures and the tables."""
    e = html.escape
    root = e(str(inspection.root))
    if inspection.warnings:
        items = "".join(f"<li>{e(text)}</li>" for text in inspection.warnings)
        box = f'<div class="warnings"><strong>Warnings</strong><ul>{items}</ul></div>'
    else:
        box = '<div class="ok">No warnings: every file was readable and nothing looks off.</div>'
    numbers = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in headline(summary))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Inspection of {root}</title>
<style>{_STYLE}</style></head><body>
<h1>Data inspection: {root}</h1>
<p>{summary["frames"]:,} frames checked in {inspection.seconds:.1f} s. Areas and positions are
in original pixels; duplicates were searched at {inspection.size[1]}x{inspection.size[0]} (width x height).
All numbers are in <a href="{SUMMARY}">{SUMMARY}</a>.</p>
{box}
<h2>Headline</h2><table>{numbers}</table>
<h2>Statistics</h2><img src="{STATISTICS}" alt="statistics">
<h2>Contact sheet</h2><img src="{CONTACT_SHEET}" alt="contact sheet">
<h2>Subjects</h2><p>Also in <a href="{SUBJECTS}">{SUBJECTS}</a>.</p>
<div class="scroll">{_subjects_table(inspection)}</div>
<h2>Near-duplicate groups</h2>{_groups_table(inspection)}
<h2>Failing files</h2>{_failing_table(inspection)}
</body></html>
"""


def _subjects_table(inspection: Inspection) -> str:
    rows = []
    for row in inspection.subjects:
        median = "-" if np.isnan(row.median_area) else f"{row.median_area:,.0f}"
        rows.append(
            f"<tr><td>{html.escape(row.subject)}</td><td class=num>{row.frames}</td>"
            f"<td class=num>{row.empty_frames}</td><td class=num>{row.empty_fraction:.0%}</td>"
            f"<td class=num>{median}</td></tr>"
        )
    head = "<tr><th>subject</th><th>frames</th><th>empty</th><th>empty share</th>"
    return f"<table>{head}<th>median nerve area (px)</th></tr>{''.join(rows)}</table>"


def _groups_table(inspection: Inspection) -> str:
    groups = sorted_groups(inspection)
    if not groups:
        return "<p>None found.</p>"
    names = [sample.name for sample in inspection.samples]
    rows = []
    for group in groups[:TOP_GROUPS]:
        frames = ", ".join(names[i] for i in group.members)
        mark = '<span class="conflict">contradictory</span>' if group.contradictory else "alike"
        rows.append(
            f"<tr><td>{html.escape(group.subject)}</td><td>{html.escape(frames)}</td>"
            f"<td>{mark}</td><td>{html.escape(group.reason)}</td>"
            f"<td class=num>{group.max_distance:.3g}</td></tr>"
        )
    shown = f"the first {TOP_GROUPS} of " if len(groups) > TOP_GROUPS else ""
    note = f"<p>Showing {shown}{len(groups)} groups, contradictory first; all in {SUMMARY}.</p>"
    head = (
        "<tr><th>subject</th><th>frames</th><th>labels</th><th>why</th><th>max distance</th></tr>"
    )
    return f"{note}<table>{head}{''.join(rows)}</table>"


def _failing_table(inspection: Inspection) -> str:
    if not inspection.problems:
        return "<p>None: every file was readable and valid.</p>"
    rows = []
    for problem in inspection.problems:
        try:
            shown = problem.path.relative_to(inspection.root)
        except ValueError:
            shown = problem.path
        rows.append(
            f"<tr><td>{html.escape(str(shown))}</td><td>{html.escape(problem.reason)}</td></tr>"
        )
    return f"<table><tr><th>file</th><th>problem</th></tr>{''.join(rows)}</table>"
