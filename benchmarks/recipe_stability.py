"""Validation curves of the demo recipe, with and without weight averaging and a budget schedule.

Trains the demo preset (SegNet width 0.25 at 96x128 on the demo's synthetic set) for a fixed
number of epochs (no wall-clock budget, so the curves do not depend on the machine's load) once
per recipe, and prints per epoch: the validation score, Dice on nerve frames, the false-detection
rate and the validation loss; then the largest epoch-to-epoch change of the score after the first
third of training and the lowest score after the best epoch, beside the all-empty score.

A diagnostic column, ``recal``, is the score of the same weights after their BatchNorm statistics
are re-estimated on the (un-augmented) training frames: where ``score`` collapses and ``recal``
does not, the running BatchNorm statistics, not the weights, caused the collapse.

    python benchmarks/recipe_stability.py --epochs 12 [--out benchmarks/out/recipe]

Prints a table per recipe and writes ``curves.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import lightning as L
import numpy as np
import torch

from nerveseg.config import load_config
from nerveseg.data.synth import generate_dataset
from nerveseg.metrics import dice
from nerveseg.models.outputs import split_output
from nerveseg.postprocess import postprocess_batch
from nerveseg.training import train

# The recipe before weight averaging, spelled out (the defaults are now the last one).
PLATEAU = ["train.ema_epochs=0", "optim.scheduler=plateau", "train.grad_clip_norm=0"]
RECIPES = {
    "adam-plateau (before)": PLATEAU,
    "no augmentation": [*PLATEAU, "augment.enabled=false"],
    "ema+warmup_cosine+clip": [
        "train.ema_epochs=1",
        "optim.scheduler=warmup_cosine",
        "train.grad_clip_norm=1",
    ],
}


class RecalibratedScore(L.Callback):
    """At each validation: the score with BatchNorm statistics re-estimated on clean frames.

    At the start of validation, so that with weight averaging it sees the averaged weights
    (the averaging callback swaps them in first and back at the end).
    """

    def __init__(self) -> None:
        self.scores: list[float] = []

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        data = trainer.datamodule
        model = copy.deepcopy(module.model)
        normalise = lambda x: (x.float() / 255.0 - module.mean) / module.std  # noqa: E731
        with torch.no_grad():
            model.train()
            for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
                bn.reset_running_stats()
                bn.momentum = None  # a plain average over the pass
            for start in range(0, len(data.train_set), 32):
                model(normalise(data.train_set.images[start : start + 32]))
            model.eval()
            scores = []
            for start in range(0, len(data.val_set), 32):
                images = normalise(data.val_set.images[start : start + 32])
                truth = data.val_set.masks[start : start + 32, 0] > 0
                logits, _ = split_output(model(images))
                predicted = postprocess_batch(torch.sigmoid(logits[:, 0]), module.postprocess)
                scores.append(dice(predicted, truth).float())
        self.scores.append(float(torch.cat(scores).mean()))


def read_metrics(run: Path) -> list[dict[str, float]]:
    import csv

    with open(run / "metrics.csv", newline="") as handle:
        rows = [{k: float(v) for k, v in r.items() if v} for r in csv.DictReader(handle)]
    return [r for r in rows if "val/score" in r]


def summarise(name: str, rows: list[dict], recal: list[float], all_empty: float) -> dict:
    scores = np.array([r["val/score"] for r in rows])
    third = len(scores) // 3
    jumps = np.abs(np.diff(scores[third:])) if len(scores) - third > 1 else np.array([0.0])
    best = int(scores.argmax())
    print(f"\n{name}")
    print("epoch  score  recal  dice_nerve  false_det  val_loss")
    for i, row in enumerate(rows):
        print(
            f"{i:5d}  {row['val/score']:.3f}  {recal[i]:.3f}  {row.get('val/dice_nerve', float('nan')):10.3f}"
            f"  {row.get('val/false_detection_rate', float('nan')):9.3f}  {row['val/loss']:8.3f}"
        )
    summary = {
        "recipe": name,
        "best_epoch": best,
        "best_score": float(scores.max()),
        "max_change_after_first_third": float(jumps.max()),
        "min_score_after_best": float(scores[best:].min()),
        "all_empty": all_empty,
        "scores": scores.round(4).tolist(),
        "recalibrated": np.round(recal, 4).tolist(),
    }
    print(
        f"best {summary['best_score']:.3f} at epoch {best}; largest change after epoch {third}: "
        f"{summary['max_change_after_first_third']:.3f}; lowest after best "
        f"{summary['min_score_after_best']:.3f} (all-empty {all_empty:.3f})"
    )
    return summary


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for summary in summaries:
        (line,) = axis.plot(summary["scores"], marker="o", label=summary["recipe"])
        axis.plot(summary["recalibrated"], ls=":", color=line.get_color())
    axis.axhline(summaries[0]["all_empty"], color="grey", ls="--", label="all-empty score")
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation score (dotted: BatchNorm re-estimated)")
    axis.set_ylim(0, 1)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/recipe"))
    parser.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated names")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "data"
    if not (data / "train").is_dir():
        generate_dataset(data, load_config("demo").synth)
    summaries = []
    for name in args.recipes.split(","):
        overrides = [
            f"data.root={data}", f"train.epochs={args.epochs}", "train.max_minutes=0",
            f"train.patience={args.epochs}", "train.progress_bar=false",
            f"train.seed={args.seed}", *RECIPES[name],
        ]  # fmt: skip
        run = args.out / f"run-{name.split(' ')[0]}-seed{args.seed}"
        recal = RecalibratedScore()
        result = train(load_config("demo", overrides), run, overwrite=True, callbacks=[recal])
        summaries.append(
            summarise(name, read_metrics(run), recal.scores, result.all_empty_val_score)
        )
    (args.out / f"summary-seed{args.seed}.json").write_text(json.dumps(summaries, indent=2))
    plot(summaries, args.out / f"curves-seed{args.seed}.png")
    print(f"\ncurves: {args.out / f'curves-seed{args.seed}.png'}")


if __name__ == "__main__":
    main()
