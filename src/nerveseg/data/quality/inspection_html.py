"""The inspection's ``report.html``: one self-contained page a person reads first.

Its own module because the page is presentation only: it renders the summary and the
:class:`~nerveseg.data.quality.inspection.Inspection` that
:mod:`nerveseg.data.quality.inspection_report` computed, and links the files that module writes
beside it by the names it is given, so computing the numbers and laying them out change apart.
:func:`headline` lives here too: it is the page's first table and the terminal's summary lines.
"""

from __future__ import annotations

import html

import numpy as np

from nerveseg.data.quality.inspection import Inspection

TOP_GROUPS = 20


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


def report_html(
    inspection: Inspection,
    summary: dict,
    *,
    summary_file: str,
    subjects_file: str,
    statistics_file: str,
    contact_sheet_file: str,
) -> str:
    """A self-contained page: headline table, warnings, the two pictures and the tables.

    Args:
        inspection: what :func:`~nerveseg.data.quality.inspection.inspect_data` found.
        summary: its :func:`~nerveseg.data.quality.inspection_report.summarise` numbers.
        summary_file, subjects_file, statistics_file, contact_sheet_file: the names of the
            files beside the page, linked and embedded by relative path.
    """
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
All numbers are in <a href="{summary_file}">{summary_file}</a>.</p>
{box}
<h2>Headline</h2><table>{numbers}</table>
<h2>Statistics</h2><img src="{statistics_file}" alt="statistics">
<h2>Contact sheet</h2><img src="{contact_sheet_file}" alt="contact sheet">
<h2>Subjects</h2><p>Also in <a href="{subjects_file}">{subjects_file}</a>.</p>
<div class="scroll">{_subjects_table(inspection)}</div>
<h2>Near-duplicate groups</h2>{_groups_table(summary, summary_file)}
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


def _groups_table(summary: dict, summary_file: str) -> str:
    """The summary's near-duplicate groups (already in review order), the first few."""
    groups = summary["duplicates"]["list"]
    if not groups:
        return "<p>None found.</p>"
    rows = []
    for group in groups[:TOP_GROUPS]:
        frames = ", ".join(group["frames"])
        mark = '<span class="conflict">contradictory</span>' if group["contradictory"] else "alike"
        rows.append(
            f"<tr><td>{html.escape(group['subject'])}</td><td>{html.escape(frames)}</td>"
            f"<td>{mark}</td><td>{html.escape(group['reason'])}</td>"
            f"<td class=num>{group['max_distance']:.3g}</td></tr>"
        )
    shown = f"the first {TOP_GROUPS} of " if len(groups) > TOP_GROUPS else ""
    note = (
        f"<p>Showing {shown}{len(groups)} groups, contradictory first; all in {summary_file}.</p>"
    )
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
