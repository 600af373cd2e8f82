"""Print where `make demo` put everything and how well the model did (``python -m nerveseg.cli.demo_summary DIR``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summarize_demo(demo: Path) -> str:
    """A short human summary of a demo folder made by ``make demo``."""
    run = demo / "run"
    summary = json.loads((run / "summary.json").read_text())
    evaluation = json.loads((run / "evaluation.json").read_text())
    beats = evaluation["score"] > evaluation["all_empty_score"]
    lines = [
        "",
        "nerveseg demo finished",
        f"  synthetic data      {demo / 'data'} (train/, test/, train_masks.csv)",
        f"  run folder          {run} (config.yaml, metrics.csv, checkpoints/, model.pt)",
        f"  predictions         {demo / 'predictions'} (masks/, submission.csv)",
        "",
        f"  validation frames   {evaluation['images']} ({evaluation['nerve_images']} with a nerve), "
        "scored at full resolution",
        f"  competition score   {_number(evaluation['score'])}  (all-empty prediction: "
        f"{_number(evaluation['all_empty_score'])}; {'beaten' if beats else 'NOT beaten'})",
        f"  Dice, nerve frames  {_number(evaluation['dice_nerve'])}",
        f"  IoU / pixel acc.    {_number(evaluation['jaccard'])} / "
        f"{_number(evaluation['pixel_accuracy'], 4)}",
        f"  false detections    {_number(evaluation['false_detection_rate'])} of empty frames",
        f"  training            {summary['epochs_trained']} epochs, best at epoch "
        f"{summary['best_epoch']}, {_number(summary['train_images_per_s'], 1)} images/s, "
        f"{summary['seconds']:.0f} s",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize_demo(Path(sys.argv[1] if len(sys.argv) > 1 else "demo")))
