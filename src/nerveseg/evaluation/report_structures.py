"""The report's sections per structure: distributions, galleries, post-processing and its fit.

A one-structure run's page is :mod:`nerveseg.evaluation.report`'s, as it has always been, and
uses the sections here with no structure in their titles. A model of several structures gets
a metrics table with a row per structure and their mean, then each structure's sections under
its name: Dice histogram, calibration of its presence score, galleries (best, worst, false and
missed detections of that structure, each frame drawn with every structure in its colour), and
a table of each structure's post-processing with how it was fitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import nerveseg.evaluation.report_figures as figures
import nerveseg.evaluation.report_html as h
from nerveseg import runs
from nerveseg.data.images import read_image
from nerveseg.evaluation.fit import describe_value
from nerveseg.evaluation.holdout import HeldOut
from nerveseg.evaluation.scoring import FrameResult, predicted_mask
from nerveseg.metrics import Scores, mean_scores
from nerveseg.postprocess import PostprocessParams

GALLERY_SIZE = 8
METRIC_COLUMNS = {
    "score": "competition score",
    "dice_nerve": "Dice, frames with it",
    "jaccard": "IoU",
    "false_detection_rate": "false detections (empty frames)",
    "missed_rate": "missed",
}


@dataclass
class Scored:
    """One structure's held-out predictions, scored.

    Attributes:
        held: its predictions.
        params: the post-processing in use.
        results: one row per frame.
        table: ``(label, scores)`` rows: before fitting (when fitted), then in use.
    """

    held: HeldOut
    params: PostprocessParams
    results: list[FrameResult]
    table: list[tuple[str, Scores]]

    @property
    def name(self) -> str:
        return self.held.structure


def metrics(scored: list[Scored]) -> str:
    """Several structures: one row per structure and post-processing, their mean, and each
    structure's all-empty baseline (greyed)."""
    rows, baselines = [], []
    for item in scored:
        rows += [[item.name, label, *_values(s)] for label, s in item.table]
        counts = item.table[-1][1]
        empty = 1 - counts.nerve_images / counts.images
        baselines.append([item.name, "all masks empty", empty, 0, empty, 0, 1])
    mean = mean_scores({item.name: item.table[-1][1] for item in scored})
    rows.append(["mean over structures", scored[0].table[-1][0], *_values(mean)])
    counts = ", ".join(f"{item.table[-1][1].nerve_images} with a {item.name}" for item in scored)
    held = scored[0].held
    return h.section(
        "Metrics at full resolution",
        f"<p>{len(held)} {h.cell(held.source)} frames: {h.cell(counts)}. Each structure is "
        "scored on its own channel against its own truth, with its own post-processing. "
        f"Per-image values: {h.link(runs.PER_IMAGE, runs.PER_IMAGE)}.</p>",
        h.table(
            "metrics",
            ["structure", "post-processing", *METRIC_COLUMNS.values()],
            rows + baselines,
            baseline_rows=len(baselines),
        ),
    )


def _values(scores: Scores) -> list[float]:
    return [getattr(scores, key) for key in METRIC_COLUMNS]


def structure_sections(item: Scored, scored: list[Scored], out: Path) -> list[str]:
    """One structure's distributions and galleries, titled with its name."""
    return [
        *distributions(item, out, suffix=f"_{item.name}", title=f": {item.name}"),
        galleries(item, out, scored, suffix=f"_{item.name}", title=f"Galleries: {item.name}"),
    ]


def distributions(item: Scored, out: Path, *, suffix: str = "", title: str = "") -> list[str]:
    """The per-image Dice histogram and the reliability diagram, as page sections."""
    results, name = item.results, item.name
    present = np.array([r.truth_pixels > 0 for r in results])
    predicted = np.array([r.predicted_pixels > 0 for r in results])
    dice = np.array([r.dice for r in results])
    false_detections = int((predicted & ~present).sum())
    histogram, reliability = f"dice_histogram{suffix}.png", f"reliability{suffix}.png"
    figures.dice_histogram(
        dice[present], false_detections, int((~present).sum()), out / histogram, name
    )
    score_name = (
        "presence head probability"
        if item.held.presence is not None
        else "no presence head: the frame's highest pixel probability stands in"
    )
    scores = np.array([r.nerve_score for r in results])
    figures.reliability_diagram(scores, present, score_name, out / reliability, structure=name)
    return [
        h.figure(
            f"Per-image Dice{title}",
            histogram,
            f"Frames with a {name} only; false detections on empty frames are counted in the title.",
        ),
        h.figure(f"Calibration of '{name} present'", reliability, f"Score used: {score_name}."),
    ]


def galleries(
    item: Scored,
    out: Path,
    scored: list[Scored] | None = None,
    *,
    suffix: str = "",
    title: str = "Galleries",
) -> str:
    """Best, worst, false and missed detections of ``item``'s structure.

    With ``scored`` (every structure) each frame shows all structures in their colours;
    without, the structure alone, truth in green and prediction in magenta.
    """
    results, name = item.results, item.name
    hit = [r for r in results if r.truth_pixels and r.predicted_pixels]
    false = [r for r in results if not r.truth_pixels and r.predicted_pixels]
    missed = [r for r in results if r.truth_pixels and not r.predicted_pixels]
    picks = {
        "best": ("Best", sorted(hit, key=lambda r: -r.dice)),
        "worst": (f"Worst ({name} predicted)", sorted(hit, key=lambda r: r.dice)),
        "false": (
            "False detections on empty frames",
            sorted(false, key=lambda r: -r.predicted_pixels),
        ),
        "missed": (f"Missed {name}s", sorted(missed, key=lambda r: -r.truth_pixels)),
    }
    parts = []
    for key, (heading, chosen) in picks.items():
        parts.append(h.heading(heading))
        if not chosen:
            parts.append(h.paragraph("none"))
            continue
        label = f"{heading}: {min(len(chosen), GALLERY_SIZE)} of {len(chosen)}"
        file = f"gallery{suffix}_{key}.png"
        if scored is None:
            tiles = [_tile(item, r, key) for r in chosen[:GALLERY_SIZE]]
            figures.gallery(tiles, label, out / file)
        else:
            several = [_structures_tile(scored, item, r, key) for r in chosen[:GALLERY_SIZE]]
            names = [s.name for s in scored]
            figures.structures_gallery(several, names, f"{name}: {label}", out / file)
        parts.append(h.image(file, heading))
    return h.section(title, *parts)


def _caption(result: FrameResult, kind: str) -> str:
    caption = {
        "false": f"{result.name}: {result.predicted_pixels} px predicted",
        "missed": f"{result.name}: {result.truth_pixels} px missed",
    }.get(kind, f"{result.name}: Dice {result.dice:.2f}")
    return caption + f", score {result.nerve_score:.2f}"


def _tile(item: Scored, result: FrameResult, kind: str) -> figures.Tile:
    i, held = result.index, item.held
    mask = predicted_mask(held, item.params, i)
    image = read_image(held.samples[i].image_path)
    return figures.Tile(image, held.truth(i), mask, _caption(result, kind))


def _structures_tile(
    scored: list[Scored], item: Scored, result: FrameResult, kind: str
) -> figures.StructuresTile:
    i = result.index
    truths = np.stack([s.held.truth(i) for s in scored])
    predictions = np.stack([predicted_mask(s.held, s.params, i) for s in scored])
    image = read_image(item.held.samples[i].image_path)
    return figures.StructuresTile(image, truths, predictions, _caption(result, kind))


def settings(run: Path, scored: list[Scored], fitted: bool, facts: list[tuple[str, str]]) -> str:
    """The run's facts, each structure's post-processing side by side, and each one's fit."""
    names = [item.name for item in scored]
    keys = list(scored[0].params.to_dict())
    rows = [[key, *(item.params.to_dict()[key] for item in scored)] for key in keys]
    parts = [
        h.facts("run-facts", facts),
        h.heading("Post-processing in use"),
        h.table("postprocess", ["", *names], rows),
    ]
    if fitted:
        fits = runs.read_json(run / runs.POSTPROCESS).get("fit", {})
        for name in names:
            parts.append(h.heading(name))
            parts += fit_steps(fits.get(name, {}), f"fit-steps-{name}")
    return h.section("Run and settings", *parts)


def expected_tables(scored: list[Scored], fitted: bool) -> list[str]:
    """The tables the page's self-check requires, for several structures."""
    steps = [f"fit-steps-{item.name}" for item in scored] if fitted else []
    return ["metrics", "postprocess", *steps]


def fit_steps(fit: dict, table_id: str = "fit-steps") -> list[str]:
    """How a structure's post-processing was fitted (its ``fit`` in ``postprocess.json``)."""
    start = fit.get("start", {})
    rows = [["start (model file)", "", start.get("score"), start.get("dice_nerve")]]
    for step in fit.get("steps", []):
        choice = f"{describe_value(step['chosen'])} ({'kept' if step['kept'] else 'unchanged'})"
        rows.append([step["step"], choice, step["score"], step["dice_nerve"]])
    note = (
        f"On {fit.get('frames')} {fit.get('source')} frames, greedily in this order; a step is "
        f"kept when its gain beats {h.cell(fit.get('margin'))} and its own standard error."
    )
    return [
        h.heading("How it was fitted"),
        h.paragraph(note),
        h.table(table_id, ["step", "value", "score", "Dice (nerve frames)"], rows),
    ]
