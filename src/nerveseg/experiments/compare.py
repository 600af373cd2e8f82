"""Compare models honestly: same data, split, seed and budget; one table and one chart.

Each model spec (``segnet``, ``segnet:width=0.25``, ``unet:width=0.5,presence_head=true``)
becomes a run folder ``OUT/runs/<spec>`` trained by the same :func:`~nerveseg.training.train.train`
the CLI uses, with the spec's ``model.*`` settings on top of the shared preset and overrides.
Every run is then scored by :func:`~nerveseg.evaluation.evaluate.evaluate_run` at full resolution on the
same validation subjects, and profiled on this machine: parameters, GFLOPs per image at the
training size and at the Kaggle frame size, training images/s, inference ms/image at batch 1.

Finished runs are reused, so an interrupted comparison continues with the next model.

With several structures (``data.structures``) every figure is the mean over structures, and the
table adds each structure's validation score and Dice (at the training size, from each run's
``summary.json``) as ``val_score_<structure>`` and ``val_dice_<structure>`` columns.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from nerveseg import runs
from nerveseg.checkpoint import load_model
from nerveseg.config import load_config
from nerveseg.errors import ConfigError
from nerveseg.evaluation import evaluate_run
from nerveseg.files import atomic_write, write_json, write_text
from nerveseg.inference import OpenedPredictor, open_predictor
from nerveseg.models.profile import count_flops
from nerveseg.training import RunResult, continue_run

log = logging.getLogger(__name__)

# Each structure's columns: (figure in summary.json's val_structures, column header).
STRUCTURE_COLUMNS = (("score", "val score"), ("dice", "val Dice"))
# The Kaggle frame (420x580) rounded up to a size every registered model accepts (divisible by 32).
KAGGLE_FLOPS_SIZE = (448, 608)
RUNS = "runs"
TABLE_CSV = "compare.csv"
TABLE_MD = "compare.md"
TABLE_JSON = "compare.json"
CHART = "compare.png"


@dataclass
class ModelSpec:
    """A model name and its ``model.*`` settings, parsed from ``name:key=value,key=value``."""

    text: str
    settings: dict[str, str]

    @property
    def slug(self) -> str:
        """A folder name: ``segnet:width=0.25`` -> ``segnet-width0.25``."""
        return re.sub(
            r"[^A-Za-z0-9._-]+", "", self.text.replace(":", "-").replace(",", "-").replace("=", "")
        )

    def overrides(self) -> list[str]:
        """``width=0.25`` means ``model.width=0.25``; a dotted key is a full config key."""
        return [
            f"{key if '.' in key else 'model.' + key}={value}"
            for key, value in self.settings.items()
        ]


@dataclass
class CompareRow:
    """One line of the comparison table."""

    model: str
    parameters: int
    gflops_train_size: float
    gflops_kaggle_size: float
    train_images_per_s: float
    inference_ms: float
    epochs: int
    best_epoch: int
    score: float
    dice_nerve: float
    jaccard: float
    false_detection_rate: float
    all_empty_score: float
    run: str
    # Per structure (several structures only): {name: {"score": .., "dice": ..}}, validation.
    structures: dict[str, dict[str, float]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """A flat row for the CSV and JSON tables: ``val_score_vessel`` etc. per structure."""
        record = asdict(self)
        del record["structures"]
        for name, figures in self.structures.items():
            for figure, _ in STRUCTURE_COLUMNS:
                record[f"val_{figure}_{name}"] = figures.get(figure, float("nan"))
        return record


def parse_spec(text: str) -> ModelSpec:
    """``name[:key=value,...]`` -> :class:`ModelSpec`.

    Plain keys are ``model.*`` settings; dotted keys are any setting, so a comparison can also
    vary the input size: ``segnet:width=0.125,data.image_size=[96,128]``.
    """
    name, _, rest = text.strip().partition(":")
    if not name:
        raise ConfigError(f"model spec {text!r} has no model name (e.g. segnet:width=0.25)")
    settings = {"name": name}
    # Commas inside brackets belong to a list value: data.image_size=[96,128].
    for item in filter(None, (part.strip() for part in re.split(r",(?![^\[]*\])", rest))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"model spec {text!r}: {item!r} is not key=value (e.g. width=0.25)")
        settings[key] = value
    return ModelSpec(text.strip(), settings)


def compare_models(
    specs: list[str],
    out: Path,
    *,
    preset: str | None = None,
    overrides: list[str] | None = None,
    flags: dict[str, object] | None = None,
    inference_repeats: int = 20,
) -> list[CompareRow]:
    """Train (or reuse) one run per spec under the same config, then score and profile each.

    ``preset``, ``overrides`` and ``flags`` (typed settings such as ``{"data.root": path}``,
    see :func:`~nerveseg.config.load_config`) apply to every model; the spec's settings come
    last. Each
    config is validated before any training starts, so a typo fails in seconds, not hours.
    """
    out = Path(out)
    parsed = [parse_spec(text) for text in specs]
    if len({spec.slug for spec in parsed}) != len(parsed):
        raise ConfigError("the same model spec is listed twice")
    configs = [
        load_config(preset, [*(overrides or []), *spec.overrides()], flags) for spec in parsed
    ]
    rows = []
    for spec, config in zip(parsed, configs, strict=True):
        run = out / RUNS / spec.slug
        if continue_run(config, run).interrupted:
            raise KeyboardInterrupt
        rows.append(_profile_run(spec, run, inference_repeats))
        write_table(out, rows)
    return rows


def _profile_run(spec: ModelSpec, run: Path, repeats: int) -> CompareRow:
    result = RunResult.read(run)
    evaluation = evaluate_run(run)
    scores = evaluation.scores
    model, info = load_model(run / runs.MODEL)  # for its size; timing opens it as a predictor
    size = tuple(info.image_size)
    return CompareRow(
        model=spec.text,
        parameters=sum(p.numel() for p in model.parameters()),
        gflops_train_size=count_flops(model, size) / 1e9,
        gflops_kaggle_size=count_flops(model, KAGGLE_FLOPS_SIZE) / 1e9,
        train_images_per_s=result.train_images_per_s,
        inference_ms=inference_ms(open_predictor(run / runs.MODEL, device="cpu"), repeats),
        epochs=result.epochs_trained,
        best_epoch=result.best_epoch,
        score=scores.score,
        dice_nerve=scores.dice_nerve,
        jaccard=scores.jaccard,
        false_detection_rate=scores.false_detection_rate,
        all_empty_score=evaluation.all_empty_score,
        run=str(run),
        structures=result.val_structures,
    )


def inference_ms(opened: OpenedPredictor, repeats: int = 20) -> float:
    """Median milliseconds for one frame (batch 1) through the network."""
    predictor = opened.predictor
    frame = torch.randn(1, 1, *opened.info.image_size)
    for _ in range(3):
        predictor(frame)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor(frame)
        times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def write_table(out: Path, rows: list[CompareRow]) -> None:
    """``compare.csv``, ``compare.json``, ``compare.md`` and ``compare.png`` in ``out``."""
    records = [row.record() for row in rows]
    write_json(out / TABLE_JSON, records)
    # Runs of other structure sets may share a table: every column any row has, blank elsewhere.
    columns = list(dict.fromkeys(key for record in records for key in record))

    def write_csv(handle) -> None:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(records)

    atomic_write(out / TABLE_CSV, write_csv)
    write_text(out / TABLE_MD, markdown_table(rows))
    _chart(out / CHART, rows)


def markdown_table(rows: list[CompareRow]) -> str:
    """The table as Markdown; per-structure columns only when some run has several structures."""
    structures = list(dict.fromkeys(name for r in rows for name in r.structures))
    extra = [f"{label} {name}" for name in structures for _, label in STRUCTURE_COLUMNS]
    header = (
        "| model | params (M) | GFLOPs train size | GFLOPs 448x608 | train img/s | "
        "CPU ms/img | epochs (best) | score | Dice nerve | IoU | false det. | all-empty |"
        + "".join(f" {title} |" for title in extra)
        + "\n|---|"
        + "---:|" * (11 + len(extra))
        + "\n"
    )
    lines = [
        f"| {r.model} | {r.parameters / 1e6:.2f} | {r.gflops_train_size:.2f} | "
        f"{r.gflops_kaggle_size:.1f} | {r.train_images_per_s:.1f} | {r.inference_ms:.1f} | "
        f"{r.epochs} ({r.best_epoch}) | {r.score:.3f} | {r.dice_nerve:.3f} | {r.jaccard:.3f} | "
        f"{r.false_detection_rate:.3f} | {r.all_empty_score:.3f} |"
        + "".join(
            f" {_cell(r, name, figure)} |" for name in structures for figure, _ in STRUCTURE_COLUMNS
        )
        for r in rows
    ]
    return header + "\n".join(lines) + "\n"


def _cell(row: CompareRow, structure: str, figure: str) -> str:
    value = row.structures.get(structure, {}).get(figure)
    return "" if value is None else f"{value:.3f}"


def _chart(path: Path, rows: list[CompareRow]) -> None:
    """Quality beside cost: grouped bars of the scores, and score against CPU latency."""
    import matplotlib.pyplot as plt

    from nerveseg.plotting import save_figure

    names = [r.model for r in rows]
    fig, (bars, scatter) = plt.subplots(
        1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]}
    )
    metrics = (
        ("score", "competition score"),
        ("dice_nerve", "Dice on nerve frames"),
        ("false_detection_rate", "false detections"),
    )
    step = 0.8 / len(metrics)
    for k, (name, label) in enumerate(metrics):
        values = [getattr(r, name) for r in rows]
        positions = [i + (k - 1) * step for i in range(len(rows))]
        bars.bar(positions, values, width=step, label=label)
    bars.axhline(
        rows[0].all_empty_score, color="grey", linestyle="--", linewidth=1, label="all-empty score"
    )
    bars.set_xticks(range(len(rows)), names, rotation=20, ha="right", fontsize=8)
    bars.set_ylim(0, 1)
    bars.legend(fontsize=8, loc="upper right")
    bars.set_title("validation, full resolution")
    for r in rows:
        scatter.scatter(r.inference_ms, r.score, s=40)
        scatter.annotate(
            r.model,
            (r.inference_ms, r.score),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    scatter.set_xscale("log")
    scatter.set_xlabel("CPU ms per frame (batch 1, network only)")
    scatter.set_ylabel("competition score")
    scatter.set_title("quality against speed")
    save_figure(fig, path, dpi=110)
