"""``build_report(run)``: one HTML page per run, with its PNGs beside it in ``RUN/report/``.

The page uses relative paths only, so the folder can be opened straight from disk, zipped or
copied. It shows the metrics at full resolution on held-out frames (validation, or out-of-fold
for a cross-validation folder) before and after the fitted post-processing, training curves
(per fold for a cross-validation folder), the distribution of per-image Dice, the calibration
of the "nerve present" score, galleries of the best, worst, false and missed detections, and
the run's settings. The table is computed afresh from the same predictions as the figures, so
it never disagrees with them (an ``evaluation.json`` may predate a refit).

A small script on the page checks, once loaded, that every image decoded and every expected
table is there, and says so in a banner and in the page title (see :mod:`nerveseg.evaluation.report_html`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import nerveseg.evaluation.report_figures as figures
import nerveseg.evaluation.report_html as h
from nerveseg import runs
from nerveseg.data.images import read_image
from nerveseg.evaluation.fit import describe_value
from nerveseg.evaluation.holdout import HeldOut, predict_holdout
from nerveseg.evaluation.scoring import FrameResult, predicted_mask, score_frames, write_per_image
from nerveseg.files import write_text
from nerveseg.metrics import Scores
from nerveseg.postprocess import PostprocessParams
from nerveseg.training.metrics_log import merge_sessions

PAGE = "report.html"
GALLERY_SIZE = 8


@runs.holding_run
def build_report(
    run: Path, *, tta: bool = False, batch_size: int = 16, device: str = "auto"
) -> Path:
    """Write ``RUN/report/report.html`` (plus PNGs and ``per_image.csv``); return its path."""
    run = Path(run)
    out = run / runs.REPORT_DIR
    held = predict_holdout(run, device=device, tta=tta, batch_size=batch_size)
    out.mkdir(parents=True, exist_ok=True)  # only once the run is known to predict
    fitted = (run / runs.POSTPROCESS).is_file()
    params = held.postprocess
    results, scores = score_frames(held, params)
    table = [("fitted post-processing" if fitted else "model file post-processing", scores)]
    if fitted:
        _, before = score_frames(held, held.info.postprocess)
        table.insert(0, ("model file post-processing (before fitting)", before))
    write_per_image(out / runs.PER_IMAGE, results)

    sections = [_metrics(table, held)]
    histories = _histories(run)
    if histories:
        figures.training_curves(histories, out / "curves.png", _all_empty_val(run))
        sections.append(h.figure("Training", "curves.png", "Per epoch, at the training size."))
    sections += _distributions(results, held.presence is not None, out)
    sections.append(_galleries(held, params, results, out))
    sections.append(_settings(run, held, tta, params, fitted))
    tables = ["metrics", "postprocess"] + (["fit-steps"] if fitted else [])
    page = out / PAGE
    write_text(page, h.page(f"nerveseg report: {run.resolve().name}", sections, tables))
    return page


def _metrics(table: list[tuple[str, Scores]], held: HeldOut) -> str:
    columns = {
        "score": "competition score",
        "dice_nerve": "Dice, nerve frames",
        "jaccard": "IoU",
        "false_detection_rate": "false detections (empty frames)",
        "missed_rate": "missed nerves",
    }
    rows = [[name, *(getattr(s, key) for key in columns)] for name, s in table]
    counts = table[-1][1]
    empty_share = 1 - counts.nerve_images / counts.images
    rows.append(["all masks empty", empty_share, 0, empty_share, 0, 1])
    return h.section(
        "Metrics at full resolution",
        f"<p>{len(held)} {h.cell(held.source)} frames, {counts.nerve_images} with a nerve. "
        f"Per-image values: {h.link(runs.PER_IMAGE, runs.PER_IMAGE)}.</p>",
        h.table("metrics", ["", *columns.values()], rows, baseline_rows=1),
    )


def _histories(run: Path) -> dict[str, list[dict[str, float]]]:
    folders = runs.fold_dirs(run) if runs.is_cross_validation(run) else [run]
    histories = {}
    for folder in folders:
        if (folder / runs.METRICS).is_file() or (folder / runs.LOGS).is_dir():
            histories[folder.name] = merge_sessions(folder)
    return {k: v for k, v in histories.items() if v}


def _all_empty_val(run: Path) -> float | None:
    """The all-empty score on the validation frames, from ``summary.json`` (one run only)."""
    path = run / runs.SUMMARY
    return runs.read_json(path).get("all_empty_val_score") if path.is_file() else None


def _distributions(results: list[FrameResult], has_presence: bool, out: Path) -> list[str]:
    """The per-image Dice histogram and the reliability diagram, as page sections."""
    nerve = np.array([r.truth_pixels > 0 for r in results])
    predicted = np.array([r.predicted_pixels > 0 for r in results])
    dice = np.array([r.dice for r in results])
    false_detections = int((predicted & ~nerve).sum())
    figures.dice_histogram(
        dice[nerve], false_detections, int((~nerve).sum()), out / "dice_histogram.png"
    )
    score_name = (
        "presence head probability"
        if has_presence
        else "no presence head: the frame's highest pixel probability stands in"
    )
    scores = np.array([r.nerve_score for r in results])
    figures.reliability_diagram(scores, nerve, score_name, out / "reliability.png")
    return [
        h.figure(
            "Per-image Dice",
            "dice_histogram.png",
            "Frames with a nerve only; false detections on empty frames are counted in the title.",
        ),
        h.figure("Calibration of 'nerve present'", "reliability.png", f"Score used: {score_name}."),
    ]


def _galleries(
    held: HeldOut, params: PostprocessParams, results: list[FrameResult], out: Path
) -> str:
    with_nerve = [r for r in results if r.truth_pixels and r.predicted_pixels]
    false = [r for r in results if not r.truth_pixels and r.predicted_pixels]
    missed = [r for r in results if r.truth_pixels and not r.predicted_pixels]
    picks = {
        "best": ("Best", sorted(with_nerve, key=lambda r: -r.dice)),
        "worst": ("Worst (nerve predicted)", sorted(with_nerve, key=lambda r: r.dice)),
        "false": (
            "False detections on empty frames",
            sorted(false, key=lambda r: -r.predicted_pixels),
        ),
        "missed": ("Missed nerves", sorted(missed, key=lambda r: -r.truth_pixels)),
    }
    parts = []
    for key, (title, chosen) in picks.items():
        parts.append(h.heading(title))
        if not chosen:
            parts.append(h.paragraph("none"))
            continue
        tiles = [_tile(held, params, r, key) for r in chosen[:GALLERY_SIZE]]
        label = f"{title}: {len(tiles)} of {len(chosen)}"
        figures.gallery(tiles, label, out / f"gallery_{key}.png")
        parts.append(h.image(f"gallery_{key}.png", title))
    return h.section("Galleries", *parts)


def _tile(held: HeldOut, params: PostprocessParams, result: FrameResult, kind: str) -> figures.Tile:
    i = result.index
    mask = predicted_mask(held, params, i)
    caption = {
        "false": f"{result.name}: {result.predicted_pixels} px predicted",
        "missed": f"{result.name}: {result.truth_pixels} px missed",
    }.get(kind, f"{result.name}: Dice {result.dice:.2f}")
    caption += f", score {result.nerve_score:.2f}"
    return figures.Tile(read_image(held.samples[i].image_path), held.truth(i), mask, caption)


def _settings(run: Path, held: HeldOut, tta: bool, params: PostprocessParams, fitted: bool) -> str:
    info = held.info
    folds = len(runs.fold_dirs(run)) if runs.is_cross_validation(run) else 0
    height, width = info.image_size
    facts = [
        ("run", str(run.resolve())),
        ("model", f"{info.model_name} {info.model_kwargs}, input {width}x{height}"),
        ("models", f"{folds} folds" if folds else f"one (best epoch {info.epoch})"),
        ("held-out frames", f"{len(held)} ({held.source})"),
        ("test-time augmentation", "horizontal flip" if tta else "none"),
        ("prediction time", f"{held.seconds_per_frame * 1000:.1f} ms per frame on this machine"),
        (
            "post-processing",
            f"{runs.POSTPROCESS} (fitted)" if fitted else "the model file's values",
        ),
    ]
    parts = [
        h.facts("run-facts", facts),
        h.heading("Post-processing in use"),
        h.facts("postprocess", list(params.to_dict().items())),
    ]
    if fitted:
        parts += _fit_steps(run)
    return h.section("Run and settings", *parts)


def _fit_steps(run: Path) -> list[str]:
    fit = runs.read_json(run / runs.POSTPROCESS).get("fit", {})
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
        h.table("fit-steps", ["step", "value", "score", "Dice (nerve frames)"], rows),
    ]
