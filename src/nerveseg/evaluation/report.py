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

A model of several structures (nerve, vessel ...) gets the same page per structure: one metrics
table with a row per structure and their mean, each structure's Dice histogram, calibration and
galleries (every structure drawn in its own colour on each frame), and its post-processing and
fit (:mod:`nerveseg.evaluation.report_structures`).
"""

from __future__ import annotations

from pathlib import Path

import nerveseg.evaluation.report_figures as figures
import nerveseg.evaluation.report_html as h
import nerveseg.evaluation.report_structures as several
from nerveseg import runs
from nerveseg.evaluation.holdout import HeldOut, predict_holdout
from nerveseg.evaluation.report_structures import Scored
from nerveseg.evaluation.scoring import score_frames, write_structures_per_image
from nerveseg.files import write_text
from nerveseg.metrics import Scores
from nerveseg.postprocess import PostprocessParams
from nerveseg.training.metrics_log import merge_sessions

PAGE = "report.html"


@runs.holding_run
def build_report(
    run: Path, *, tta: bool = False, batch_size: int = 16, device: str = "auto"
) -> Path:
    """Write ``RUN/report/report.html`` (plus PNGs and ``per_image.csv``); return its path."""
    run = Path(run)
    out = run / runs.REPORT_DIR
    structures = predict_holdout(run, device=device, tta=tta, batch_size=batch_size)
    out.mkdir(parents=True, exist_ok=True)  # only once the run is known to predict
    fitted = (run / runs.POSTPROCESS).is_file()
    scored = [_score(held, fitted) for held in structures]
    write_structures_per_image(out / runs.PER_IMAGE, {s.held.structure: s.results for s in scored})

    single = len(scored) == 1
    sections = [_metrics(scored[0].table, scored[0].held) if single else several.metrics(scored)]
    histories = _histories(run)
    if histories:
        figures.training_curves(histories, out / "curves.png", _all_empty_val(run))
        sections.append(h.figure("Training", "curves.png", "Per epoch, at the training size."))
    if single:
        (one,) = scored
        sections += several.distributions(one, out)
        sections.append(several.galleries(one, out))
        sections.append(_settings(run, one.held, tta, one.params, fitted))
        tables = ["metrics", "postprocess"] + (["fit-steps"] if fitted else [])
    else:
        for item in scored:
            sections += several.structure_sections(item, scored, out)
        names = ", ".join(item.name for item in scored)
        facts = [*_facts(run, scored[0].held, tta, fitted), ("structures", names)]
        sections.append(several.settings(run, scored, fitted, facts))
        tables = several.expected_tables(scored, fitted)
    page = out / PAGE
    write_text(page, h.page(f"nerveseg report: {run.resolve().name}", sections, tables))
    return page


def _score(held: HeldOut, fitted: bool) -> Scored:
    """One structure's results under the post-processing in use (and before fitting)."""
    results, scores = score_frames(held, held.postprocess)
    table = [("fitted post-processing" if fitted else "model file post-processing", scores)]
    if fitted:
        _, before = score_frames(held, held.info.postprocess)
        table.insert(0, ("model file post-processing (before fitting)", before))
    return Scored(held, held.postprocess, results, table)


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


def _settings(run: Path, held: HeldOut, tta: bool, params: PostprocessParams, fitted: bool) -> str:
    parts = [
        h.facts("run-facts", _facts(run, held, tta, fitted)),
        h.heading("Post-processing in use"),
        h.facts("postprocess", list(params.to_dict().items())),
    ]
    if fitted:
        parts += several.fit_steps(runs.read_json(run / runs.POSTPROCESS).get("fit", {}))
    return h.section("Run and settings", *parts)


def _facts(run: Path, held: HeldOut, tta: bool, fitted: bool) -> list[tuple[str, str]]:
    """The run's model, frames, augmentation, speed and where its post-processing comes from."""
    info = held.info
    folds = len(runs.fold_dirs(run)) if runs.is_cross_validation(run) else 0
    height, width = info.image_size
    return [
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
